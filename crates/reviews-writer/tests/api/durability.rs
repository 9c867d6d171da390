//! SPEC §6 durability and the primary's failures: consistency tokens meet
//! the replica, a stopped primary means prompt 503s and then recovery, and
//! an acknowledged write survives a crash.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use awc::http::StatusCode;
use platform::consistency::Lsn;
use test_support::{StopMode, TestCluster};

use crate::helpers::{
    Answer, TestApp, WriterAnswer as _, client_with_timeout, read, review_body, spawn_app,
    spawn_app_on, unique_title,
};

/// The pool bounds of the fault tests; the client waits a little longer, so
/// a request that outlives them is a failure, not a slow success.
const POOL_BOUND_MS: u64 = 1_000;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(8);

async fn spawn_fault_app(cluster: &TestCluster) -> TestApp {
    spawn_app_on(cluster, |settings| {
        settings.database.wait_timeout_ms = POOL_BOUND_MS;
        settings.database.connect_timeout_ms = POOL_BOUND_MS;
        settings.database.recycle_timeout_ms = POOL_BOUND_MS;
    })
    .await
}

/// Runs a blocking cluster operation (pg_ctl) off the test's runtime so the
/// requests in flight keep going.
async fn off_runtime(cluster: &Arc<TestCluster>, op: fn(&TestCluster)) {
    let cluster = Arc::clone(cluster);
    actix_web::rt::task::spawn_blocking(move || op(&cluster))
        .await
        .expect("cluster operation");
}

/// One POST with a bounded client, the title doubling as the
/// `Idempotency-Key`; a client timeout panics.
async fn bounded_post(app: &TestApp, client: &awc::Client, token: &str, title: &str) -> Answer {
    let key = title.replace(' ', "_");
    let sent = client
        .post(app.url("/reviews"))
        .bearer_auth(token)
        .insert_header(("idempotency-key", key.as_str()))
        .send_json(&review_body(title))
        .await;
    match sent {
        Ok(res) => read(res).await,
        Err(e) => panic!("POST {title:?} got no answer within {CLIENT_TIMEOUT:?}: {e}"),
    }
}

#[actix_web::test]
async fn a_replica_that_has_replayed_up_to_the_token_has_the_written_row() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let replica = app.db.replica_client().await;
    for i in 0..3 {
        let answer = app
            .create_review(&editor.token, &unique_title(&format!("Replicated {i}")))
            .await;
        let id = answer.created_id();
        let token = answer.consistency_token();
        assert!(token.lsn > Lsn(0));
        // What read-your-writes relies on: once a replica has replayed up to
        // the token, the write is there. (The token may lie past the write's
        // own commit when other databases of the cluster write meanwhile;
        // that only makes a reader wait a little longer.)
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let replayed: String = replica
                .query_one("SELECT pg_last_wal_replay_lsn()::text", &[])
                .await
                .expect("replay position")
                .get(0);
            if replayed.parse::<Lsn>().expect("an LSN") >= token.lsn {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the replica never replayed up to token {}",
                token.lsn
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        let rows = replica
            .query("SELECT 1 FROM reviews WHERE id = $1", &[&id])
            .await
            .expect("replica query");
        assert_eq!(
            rows.len(),
            1,
            "review {id} is missing on a replica past token {}",
            token.lsn
        );
        let timeline: i32 = app
            .db
            .primary_client()
            .await
            .query_one("SELECT timeline_id FROM pg_control_checkpoint()", &[])
            .await
            .expect("timeline")
            .get(0);
        assert_eq!(i64::from(token.timeline), i64::from(timeline));
    }

    // Updates and retractions carry tokens too, and they move forward.
    let answer = app.create_review(&editor.token, "Tokens move").await;
    let id = answer.created_id();
    let first = answer.consistency_token();
    let patched = app
        .patch_review(
            &editor.token,
            id,
            &serde_json::json!({ "title": "Moved" }),
            None,
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let second = patched.consistency_token();
    let deleted = app.delete_review(&editor.token, id).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    let third = deleted.consistency_token();
    assert!(first.lsn < second.lsn && second.lsn < third.lsn);
}

#[actix_web::test]
async fn a_stopped_primary_gets_prompt_503s_then_service_resumes_and_no_acknowledged_write_is_lost()
{
    let cluster = Arc::new(test_support::dedicated_cluster());
    let app = Rc::new(spawn_fault_app(&cluster).await);
    let editor = app.new_editor("editor").await;
    let client = client_with_timeout(CLIENT_TIMEOUT);
    let stop = Arc::new(AtomicBool::new(false));

    // Four writers post until told to stop, each with unique titles.
    let mut writers = Vec::new();
    for w in 0..4 {
        let (app, client, token, stop) = (
            Rc::clone(&app),
            client.clone(),
            editor.token.clone(),
            Arc::clone(&stop),
        );
        writers.push(actix_web::rt::spawn(async move {
            let mut answers = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let title = format!("Fault w{w} n{n} {}", uuid::Uuid::new_v4().simple());
                n += 1;
                let answer = bounded_post(&app, &client, &token, &title).await;
                answers.push((title, answer));
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
            answers
        }));
    }

    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    off_runtime(&cluster, |c| c.primary().stop(StopMode::Fast)).await;
    // Let the writers meet the dead primary for a while.
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    // A request made now, with the primary certainly down, is a prompt 503.
    let down = bounded_post(&app, &client, &editor.token, "While down").await;
    down.assert_problem(503, "service_unavailable");
    assert!(down.header("retry-after").is_some(), "{:?}", down.headers);
    assert!(
        !down.body.to_string().contains("postgres"),
        "no internals in a 5xx: {:?}",
        down.body
    );
    let ready = app.get("/readyz", None).await;
    assert_eq!(
        ready.status, 503,
        "not ready without a primary: {:?}",
        ready.body
    );
    off_runtime(&cluster, |c| c.primary().start()).await;

    // The writer recovers by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = bounded_post(&app, &client, &editor.token, &unique_title("After")).await;
        if answer.status == StatusCode::CREATED {
            break;
        }
        answer.assert_problem(503, "service_unavailable");
        assert!(Instant::now() < deadline, "the writer never recovered");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);

    let mut acknowledged = HashMap::new();
    let mut unavailable = Vec::new();
    for writer in writers {
        for (title, answer) in writer.await.expect("writer task") {
            match answer.status.as_u16() {
                201 => {
                    assert_eq!(answer.body["title"], title.as_str());
                    acknowledged.insert(answer.created_id(), title);
                }
                503 => {
                    answer.assert_problem(503, "service_unavailable");
                    assert!(answer.header("retry-after").is_some());
                    unavailable.push(title);
                }
                other => panic!("{title}: unexpected {other} {:?}", answer.body),
            }
        }
    }
    assert!(!acknowledged.is_empty(), "some writes succeeded");
    assert!(
        !unavailable.is_empty(),
        "some writes met the stopped primary"
    );

    // A client retrying a 503 with the same key resolves the unknown
    // outcome: a replay if it committed, a creation if not; never stuck.
    for title in &unavailable {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = bounded_post(&app, &client, &editor.token, title).await;
            if answer.status == StatusCode::CREATED {
                assert_eq!(answer.body["title"], title.as_str());
                acknowledged.insert(answer.created_id(), title.clone());
                break;
            }
            assert!(
                matches!(answer.status.as_u16(), 409 | 503),
                "retry of {title}: {} {:?}",
                answer.status,
                answer.body
            );
            assert!(
                Instant::now() < deadline,
                "retry of {title} never settled: {:?}",
                answer.body
            );
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let db = app.db.primary_client().await;
    for (id, title) in &acknowledged {
        let rows = db
            .query("SELECT id FROM reviews WHERE title = $1", &[title])
            .await
            .expect("query");
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(
            ids,
            vec![*id],
            "{title} present exactly once, as acknowledged"
        );
    }
    let duplicated: i64 = db
        .query_one(
            "SELECT count(*) FROM (SELECT title FROM reviews GROUP BY title HAVING count(*) > 1) d",
            &[],
        )
        .await
        .expect("query")
        .get(0);
    assert_eq!(duplicated, 0);
}

#[actix_web::test]
async fn acknowledged_writes_survive_an_immediate_shutdown_of_the_primary() {
    let cluster = Arc::new(test_support::dedicated_cluster());
    let app = spawn_fault_app(&cluster).await;
    let editor = app.new_editor("editor").await;
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let title = unique_title(&format!("Durable {i}"));
        let id = app.create_review(&editor.token, &title).await.created_id();
        acknowledged.push((id, title));
    }
    // Updates and retractions are writes too.
    let (patched_id, _) = acknowledged[0].clone();
    let patched = app
        .patch_review(
            &editor.token,
            patched_id,
            &serde_json::json!({ "summary": "durable edit" }),
            None,
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let (retracted_id, _) = acknowledged[1].clone();
    assert_eq!(
        app.delete_review(&editor.token, retracted_id).await.status,
        204
    );

    off_runtime(&cluster, |c| c.primary().stop(StopMode::Immediate)).await;
    off_runtime(&cluster, |c| c.primary().start()).await;

    let db = app.db.primary_client().await;
    for (id, title) in &acknowledged {
        let found: i64 = db
            .query_one(
                "SELECT count(*) FROM reviews WHERE id = $1 AND title = $2",
                &[id, title],
            )
            .await
            .expect("query")
            .get(0);
        assert_eq!(found, 1, "{title} lost");
    }
    let summary: String = db
        .query_one("SELECT summary FROM reviews WHERE id = $1", &[&patched_id])
        .await
        .expect("query")
        .get(0);
    assert_eq!(summary, "durable edit");
    let retracted: bool = db
        .query_one(
            "SELECT deleted_at IS NOT NULL FROM reviews WHERE id = $1",
            &[&retracted_id],
        )
        .await
        .expect("query")
        .get(0);
    assert!(retracted);

    // And the running writer serves again after the crash.
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = client_with_timeout(CLIENT_TIMEOUT);
    loop {
        let answer = bounded_post(&app, &client, &editor.token, &unique_title("Again")).await;
        if answer.status == StatusCode::CREATED {
            break;
        }
        answer.assert_problem(503, "service_unavailable");
        assert!(Instant::now() < deadline, "the writer never recovered");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stands in for a primary that dies right after a COMMIT: the writer's
/// next query, reading the WAL position for `X-Consistency-Token`, fails
/// while `failing` (a function of this test's database shadows the
/// built-in one), and works again once the shadow only passes through.
async fn position_query_fails(app: &TestApp, failing: bool) {
    let body = if failing {
        "BEGIN RAISE EXCEPTION 'the primary is gone'; END"
    } else {
        "BEGIN RETURN pg_catalog.pg_current_wal_insert_lsn(); END"
    };
    let db = app.db.primary_client().await;
    db.batch_execute(&format!(
        "CREATE OR REPLACE FUNCTION public.pg_current_wal_insert_lsn() RETURNS pg_lsn
             LANGUAGE plpgsql AS $$ {body} $$;
         ALTER DATABASE {} SET search_path = public, pg_catalog;",
        app.db.name()
    ))
    .await
    .expect("shadow function");
    // The setting applies to new sessions: the writer's pool reconnects.
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'reviews-writer'",
        &[],
    )
    .await
    .expect("terminate");
}

#[actix_web::test]
async fn a_keyed_create_whose_token_is_lost_after_commit_answers_503_and_its_retry_replays_it_with_a_token()
 {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    position_query_fails(&app, true).await;
    let title = unique_title("Token lost");
    let body = review_body(&title);
    let db = app.db.primary_client().await;
    let stored = || {
        let (db, title) = (&db, &title);
        async move {
            db.query_one("SELECT count(*) FROM reviews WHERE title = $1", &[title])
                .await
                .expect("count")
                .get::<_, i64>(0)
        }
    };
    // Never a 201 without its token: 503 + Retry-After until the review is
    // committed (a first attempt may also meet a connection the pool has
    // not yet noticed is gone, and fail before COMMIT).
    for attempt in 1.. {
        let answer = app.post_review(&editor.token, &body, Some("lost-1")).await;
        answer.assert_problem(503, "service_unavailable");
        assert!(
            answer.header("retry-after").is_some(),
            "{:?}",
            answer.headers
        );
        if stored().await == 1 {
            break;
        }
        assert!(attempt < 5, "the review was never committed");
    }
    // Without a key a retry could create it twice: the committed write is
    // acknowledged, without a token.
    let keyless = loop {
        let answer = app
            .post_review(&editor.token, &review_body(&unique_title("No key")), None)
            .await;
        if answer.status != StatusCode::SERVICE_UNAVAILABLE {
            break answer;
        }
    };
    assert_eq!(keyless.status, StatusCode::CREATED, "{:?}", keyless.body);
    assert_eq!(keyless.header("x-consistency-token"), None);

    // The primary is back: the same key replays the first answer, token
    // included, and the review exists once.
    position_query_fails(&app, false).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let replay = loop {
        let answer = app.post_review(&editor.token, &body, Some("lost-1")).await;
        if answer.status == StatusCode::CREATED || Instant::now() > deadline {
            break answer;
        }
        answer.assert_problem(503, "service_unavailable");
    };
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body["title"], title.as_str());
    assert!(replay.consistency_token().lsn > Lsn(0));
    assert_eq!(stored().await, 1);
    let id: i64 = db
        .query_one("SELECT id FROM reviews WHERE title = $1", &[&title])
        .await
        .expect("id")
        .get(0);
    assert_eq!(replay.created_id(), id);
}

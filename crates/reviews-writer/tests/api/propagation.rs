//! `GET /reviews/{id}/propagation` (SPEC §10.4): the review's last write
//! position and, per region (a replica's `application_name`), whether its
//! replicas have replayed it, against the real streaming replica — with
//! replay paused, on a cluster of its own.

use std::time::{Duration, Instant};

use platform::consistency::Lsn;
use serde_json::{Value, json};
use test_support::TestCluster;

use crate::helpers::{Answer, Editor, TestApp, WriterAnswer as _, spawn_app, spawn_app_on};

/// How long a replica may take to replay and report a write.
const REPLAY_DEADLINE: Duration = Duration::from_secs(30);

fn write_position(answer: &Answer) -> Lsn {
    answer.body["write_position"]
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("no write_position in {:?}", answer.body))
}

/// The entry of `region`, asserting the shape of every entry.
fn region<'a>(answer: &'a Answer, name: &str) -> Option<&'a Value> {
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let regions = answer.body["regions"].as_array().expect("regions");
    for entry in regions {
        assert!(entry["region"].is_string(), "{entry}");
        assert!(entry["visible"].is_boolean(), "{entry}");
        assert!(
            entry["replay_lag_ms"].is_null() || entry["replay_lag_ms"].as_f64().is_some(),
            "{entry}"
        );
        let checked_at = entry["checked_at"].as_str().expect("checked_at");
        time::OffsetDateTime::parse(checked_at, &time::format_description::well_known::Rfc3339)
            .expect("checked_at is RFC 3339");
    }
    regions.iter().find(|entry| entry["region"] == name)
}

/// Asks until `region` reports `visible` as `want`; returns that answer.
async fn until_visible(app: &TestApp, editor: &Editor, id: i64, name: &str, want: bool) -> Answer {
    let deadline = Instant::now() + REPLAY_DEADLINE;
    loop {
        let answer = app.propagation(&editor.token, id).await;
        if region(&answer, name).is_some_and(|entry| entry["visible"] == want) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never became visible={want}: {:?}",
            answer.body
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The name the test replica streams under: the contract is
/// `application_name=<region>`; a replica that sets none shows as
/// `walreceiver`.
async fn replica_name(app: &TestApp) -> String {
    let names: Vec<String> = app
        .db
        .primary_client()
        .await
        .query(
            "SELECT DISTINCT application_name FROM pg_stat_replication WHERE state = 'streaming'",
            &[],
        )
        .await
        .expect("pg_stat_replication")
        .iter()
        .map(|row| row.get(0))
        .collect();
    names.into_iter().next().expect("the test replica streams")
}

#[actix_web::test]
async fn a_write_becomes_visible_in_the_replicas_region_once_replayed() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let created = app.create_review(&editor.token, "Propagating").await;
    let id = created.created_id();
    let token = created.consistency_token();
    let name = replica_name(&app).await;

    let answer = until_visible(&app, &editor, id, &name, true).await;
    let position = write_position(&answer);
    // Recorded after COMMIT, before the token was read.
    assert!(
        position > Lsn(0) && position <= token.lsn,
        "{position} vs {}",
        token.lsn
    );
    let entry = region(&answer, &name).expect("the replica's region");
    assert!(entry["replay_lag_ms"].as_f64().is_none_or(|ms| ms >= 0.0));

    // The position follows the last write.
    let patched = app
        .patch_review(&editor.token, id, &json!({ "title": "Propagated" }), None)
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let answer = app.propagation(&editor.token, id).await;
    assert!(write_position(&answer) > position);
    assert!(write_position(&answer) <= patched.consistency_token().lsn);
    until_visible(&app, &editor, id, &name, true).await;
}

#[actix_web::test]
async fn only_the_author_or_an_admin_sees_a_live_reviews_propagation() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let other = app.new_editor("editor").await;
    let id = app
        .create_review(&editor.token, "Whose propagation")
        .await
        .created_id();

    app.propagation(&other.token, id)
        .await
        .assert_problem(403, "forbidden");
    let admin = app.propagation(&app.admin.token, id).await;
    assert_eq!(admin.status, 200, "{:?}", admin.body);
    let unauthenticated = app.get(&format!("/reviews/{id}/propagation"), None).await;
    assert_eq!(unauthenticated.status, 401, "{:?}", unauthenticated.body);
    for missing in ["0", "x", "999999999"] {
        app.get(
            &format!("/reviews/{missing}/propagation"),
            Some(&editor.token),
        )
        .await
        .assert_problem(404, "not_found");
    }
    let retracted = app.delete_review(&editor.token, id).await;
    assert_eq!(retracted.status, 204, "{:?}", retracted.body);
    app.propagation(&editor.token, id)
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn a_region_whose_replica_has_paused_replay_does_not_show_the_write_until_it_resumes() {
    let cluster = test_support::dedicated_cluster();
    name_replica(&cluster, "eu").await;
    let app = spawn_app_on(&cluster, |_| {}).await;
    let editor = app.new_editor("editor").await;
    let id = app
        .create_review(&editor.token, "Paused region")
        .await
        .created_id();
    until_visible(&app, &editor, id, "eu", true).await;

    cluster.replica().pause_replay().await;
    let patched = app
        .patch_review(
            &editor.token,
            id,
            &json!({ "summary": "While paused" }),
            None,
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    // However long the primary waits, the paused replica never has it.
    for _ in 0..5 {
        let answer = app.propagation(&editor.token, id).await;
        let entry = region(&answer, "eu").expect("the paused replica still streams");
        assert_eq!(entry["visible"], false, "{:?}", answer.body);
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    }

    cluster.replica().resume_replay().await;
    until_visible(&app, &editor, id, "eu", true).await;
}

/// Has the cluster's replica stream as `region`: the contract of every
/// replica, `application_name=<region>` in its `primary_conninfo`.
async fn name_replica(cluster: &TestCluster, region: &str) {
    let control = cluster
        .replica()
        .connect("postgres")
        .await
        .expect("the replica's unix socket answers");
    let conninfo: String = control
        .query_one("SHOW primary_conninfo", &[])
        .await
        .expect("primary_conninfo")
        .get(0);
    // ALTER SYSTEM runs alone, outside any transaction block; the reload
    // restarts the WAL receiver with the new name.
    control
        .batch_execute(&format!(
            "ALTER SYSTEM SET primary_conninfo = '{} application_name={region}'",
            conninfo.replace('\'', "''")
        ))
        .await
        .expect("the replica takes a region name");
    control
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .expect("reloaded");
}

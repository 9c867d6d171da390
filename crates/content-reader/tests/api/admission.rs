//! The reader's bound on uncached database work (SPEC §10.2): past it a
//! miss is refused at once with 503 + `Retry-After`, while cached reads
//! and single-flight followers go on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::helpers::{ReaderAnswer as _, lock_reviews, spawn_app, spawn_app_on, unique_word};

#[actix_web::test]
async fn past_its_bound_a_reader_refuses_misses_at_once_but_serves_cached_reads_and_followers() {
    let app = spawn_app_on(test_support::cluster(), |settings| {
        settings.routing.max_concurrent_reads = 1;
        settings.routing.queue_wait_ms = 50;
        // The held read waits for a lock, not for a timeout.
        settings.database.statement_timeout_ms = 60_000;
    })
    .await;
    let id = app.publish_titled("Cached before the flood").await.body["id"]
        .as_i64()
        .expect("id");
    app.wait_listed(id).await;
    app.eventually("/content", |a| a.served_from() == "cache")
        .await;

    // A lock on `reviews` replayed on the replica holds every read of
    // reviews there: the one permit is taken by the first search and kept.
    // A commit that changes no content flushes the lock to the replica,
    // so the cached list stays current.
    let mut locker = app.db.primary_client().await;
    let lock = lock_reviews(&mut locker).await;
    app.sql("BEGIN; SELECT txid_current(); COMMIT;").await;
    app.wait_for_replayed_lock().await;

    let held_path = format!("/content?q={}", unique_word("held"));
    let reads_before = app.metric(&app.reader, "rcr_db_reads_total", &[]).await;
    let released = AtomicBool::new(false);
    let answer_after = |path: String| {
        let (app, released) = (&app, &released);
        async move {
            let answer = app.get(&path).await;
            (answer, released.load(Ordering::SeqCst))
        }
    };
    let leader = answer_after(held_path.clone());
    let while_held = async {
        app.wait_for_metric("rcr_db_reads_total", reads_before + 1.0)
            .await;
        // Another miss: no permit, so refused once the queue wait is over.
        let refused = app
            .get(&format!("/content?q={}", unique_word("refused")))
            .await;
        let follower = answer_after(held_path.clone());
        let cached = app.get("/content").await;
        let refusals = app
            .metric(&app.reader, "rcr_db_read_refusals_total", &[])
            .await;
        let released_at_once = async {
            // Time for the follower to join the held read's flight (one
            // arriving later still passes: it reads alone once the permit
            // is free).
            tokio::time::sleep(Duration::from_millis(500)).await;
            released.store(true, Ordering::SeqCst);
            lock.rollback().await.expect("lock released");
        };
        let ((follower, follower_after_release), ()) = tokio::join!(follower, released_at_once);
        (refused, cached, refusals, follower, follower_after_release)
    };
    let ((held, held_after_release), (refused, cached, refusals, follower, follower_after)) =
        tokio::join!(leader, while_held);

    refused.assert_problem(503, "service_unavailable");
    assert_eq!(
        refused.header("retry-after"),
        Some("1"),
        "{:?}",
        refused.headers
    );
    assert_eq!(refused.served_from(), "none", "nothing was read");
    assert_eq!(refusals, 1.0);
    assert_eq!(cached.status.as_u16(), 200, "{:?}", cached.body);
    assert_eq!(cached.served_from(), "cache");
    for (answer, after_release, who) in [
        (held, held_after_release, "the held read"),
        (follower, follower_after, "its follower"),
    ] {
        assert_eq!(answer.status.as_u16(), 200, "{who}: {:?}", answer.body);
        assert!(after_release, "{who} answered before the lock was released");
    }
    assert_eq!(
        app.metric(&app.reader, "rcr_db_read_refusals_total", &[])
            .await,
        1.0,
        "the follower took no permit"
    );
}

#[actix_web::test]
async fn pool_connections_run_with_the_statement_timeout_and_without_jit() {
    let app = spawn_app().await;
    let mut database = app.reader_settings.database.clone();
    database.url = platform::settings::Secret::new(app.db.replica_url());
    let pool =
        platform::db::pool(&database, "settings-test", platform::db::Role::Any).expect("pool");
    let client = pool.get().await.expect("connection");
    let show = |name: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(&format!("SHOW {name}"), &[])
                .await
                .expect("shown")
                .get::<_, String>(0)
        }
    };
    // A search over a large data set crossed jit_above_cost and spent most
    // of its time compiling (docs/BENCHMARKS.md, "Search in tiers").
    assert_eq!(show("jit").await, "off");
    // SHOW names whole seconds in seconds.
    let timeout = app.reader_settings.database.statement_timeout_ms;
    let expected = if timeout % 1000 == 0 {
        format!("{}s", timeout / 1000)
    } else {
        format!("{timeout}ms")
    };
    assert_eq!(show("statement_timeout").await, expected);
}

#[actix_web::test]
async fn statements_sent_together_report_the_error_that_aborted_the_transaction() {
    let app = spawn_app().await;
    let mut client = app.db.replica_client().await;
    // The first statement fails (what a statement timeout does to a page
    // query); the one sent with it then finds the transaction aborted
    // (25P02). Whatever order they are polled in, the first's error is
    // the one reported: a timeout must stay a 503, not become a 500.
    for _ in 0..20 {
        let tx = client.transaction().await.expect("transaction");
        let failed = content_reader::queries::together(
            tx.query("SELECT 1 / 0", &[]),
            tx.query("SELECT 1", &[]),
        )
        .await
        .expect_err("division by zero");
        assert_eq!(
            failed.code(),
            Some(&tokio_postgres::error::SqlState::DIVISION_BY_ZERO),
            "{failed}"
        );
        tx.rollback().await.expect("rolled back");
    }
}

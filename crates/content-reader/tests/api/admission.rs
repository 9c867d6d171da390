//! The reader's bound on uncached database work (SPEC §10.2): past it a
//! miss is refused at once with 503 + `Retry-After`, while cached reads
//! and single-flight followers go on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::helpers::{ReaderAnswer as _, lock_reviews, spawn_app_on, unique_word};

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

//! The regional cache (SPEC §6): Redis down and back, single flight.

use std::time::{Duration, Instant};

use awc::http::Method;
use futures_util::future::join_all;

use crate::helpers::{
    EVENTUALLY, Reader, ReaderAnswer as _, TestApp, spawn_app, spawn_app_on, unique_word,
};
use crate::replicas::fresh_list_path;

const HIT_REDIS: &[&str] = &["outcome=\"hit_redis\""];

/// Asks `first` for a fresh path (a miss it stores in Redis), then
/// `second` for the same path; whether `second` found it in Redis.
async fn shared_through_redis(app: &TestApp, first: &Reader, second: &Reader) -> bool {
    let path = fresh_list_path();
    let before = app
        .metric(second, "rcr_cache_lookups_total", HIT_REDIS)
        .await;
    let a = app.request_on(first, Method::GET, &path, &[]).await;
    assert_eq!(a.status.as_u16(), 200, "{:?}", a.body);
    let b = app.request_on(second, Method::GET, &path, &[]).await;
    assert_eq!(b.status.as_u16(), 200, "{:?}", b.body);
    let after = app
        .metric(second, "rcr_cache_lookups_total", HIT_REDIS)
        .await;
    after > before
}

#[actix_web::test]
async fn with_redis_stopped_every_request_still_answers_200_and_hits_resume_when_it_is_back() {
    let cluster = test_support::dedicated_cluster();
    let app = spawn_app_on(&cluster, |_| {}).await;
    let id = app.publish_titled("Cached or not").await.body["id"]
        .as_i64()
        .expect("id");
    app.wait_listed(id).await;
    // A second instance of the region's reader shares its Redis.
    let other = app.another_reader().await;
    let deadline = Instant::now() + EVENTUALLY;
    while !shared_through_redis(&app, &app.reader, &other).await {
        assert!(Instant::now() < deadline, "Redis never shared an entry");
    }

    cluster.redis().stop();
    let repeated = fresh_list_path();
    for round in 0..15 {
        for reader in [&app.reader, &other] {
            for path in [
                fresh_list_path(),
                repeated.clone(),
                format!("/content/{id}"),
            ] {
                let answer = app.request_on(reader, Method::GET, &path, &[]).await;
                assert_eq!(
                    answer.status.as_u16(),
                    200,
                    "round {round} {path}: {:?}",
                    answer.body
                );
                assert!(
                    ["replica:r1", "cache"].contains(&answer.served_from()),
                    "{}",
                    answer.served_from()
                );
                assert!(answer.ids_or_id().contains(&id));
            }
        }
    }
    // Writes and read-your-writes do not need Redis either.
    let written = app.publish_titled("Written while Redis is down").await;
    let new_id = written.body["id"].as_i64().expect("id");
    let list = app
        .get_after(&fresh_list_path(), &written.consistency_token())
        .await;
    assert_eq!(list.status.as_u16(), 200, "{:?}", list.body);
    assert!(list.ids().contains(&new_id));
    let errors = app
        .metric(&app.reader, "rcr_cache_redis_errors_total", &[])
        .await;
    assert!(errors >= 1.0, "Redis failures are counted");

    cluster.redis().start();
    let deadline = Instant::now() + EVENTUALLY;
    while !shared_through_redis(&app, &app.reader, &other).await {
        assert!(
            Instant::now() < deadline,
            "Redis hits never resumed after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn fifty_concurrent_requests_for_one_cold_key_make_one_database_read() {
    let app = spawn_app().await;
    let id = app.publish_titled("Single flight").await.body["id"]
        .as_i64()
        .expect("id");
    app.wait_listed(id).await;
    // Let the reader's version poll settle on the write (no assertion on
    // time: this only keeps the cache generation from moving mid-burst).
    tokio::time::sleep(Duration::from_millis(500)).await;

    let path = format!("/content?q={}", unique_word("cold"));
    let before = app.metric(&app.reader, "rcr_db_reads_total", &[]).await;
    let answers = join_all((0..50).map(|_| app.get(&path))).await;
    let after = app.metric(&app.reader, "rcr_db_reads_total", &[]).await;
    let first = &answers[0];
    for answer in &answers {
        assert_eq!(answer.status.as_u16(), 200, "{:?}", answer.body);
        assert_eq!(answer.body, first.body);
        assert_eq!(answer.header("etag"), first.header("etag"));
    }
    assert_eq!(
        after - before,
        1.0,
        "50 concurrent misses made {} database reads",
        after - before
    );
}

//! Invalidation by surrogate key (SPEC §10.5): a write evicts the pages
//! it changes — its review, its subject, comparisons, the lists and
//! searches showing it or that it enters — and leaves every other page a
//! hit, in memory and through the region's Redis; a gap in the change
//! feed drops everything older.

use std::time::{Duration, Instant};

use awc::http::Method;
use serde_json::{Value, json};

use crate::helpers::{
    EVENTUALLY, ReaderAnswer as _, TestApp, lock_reviews, review_body, spawn_app, unique_word,
};

/// A review of a subject of its own (brand `Testbrand`, model `model`).
fn review_of(model: &str, title: &str) -> Value {
    let mut body = review_body(title);
    body["subject"] = json!({ "kind": "camera", "brand": "Testbrand", "model": model });
    body
}

/// Publishes a review of its own subject: its id and the subject's slug.
async fn publish_alone(app: &TestApp, title: &str) -> (i64, String) {
    let model = unique_word("m");
    let answer = app.publish(&review_of(&model, title)).await;
    let id = answer.body["id"].as_i64().expect("id");
    let slug = answer.body["subject"]["slug"]
        .as_str()
        .expect("subject slug")
        .to_owned();
    (id, slug)
}

/// Publishes a review of its own subject and waits until its page is
/// listed and served from the cache: its id and page.
async fn cached_review(app: &TestApp, title: &str) -> (i64, String) {
    let (id, _) = publish_alone(app, title).await;
    app.wait_listed(id).await;
    let path = format!("/content/{id}");
    cached(app, &path).await;
    (id, path)
}

/// Asks for `path` until an answer comes from the cache; panics if none
/// does in time. The second request of a path normally does.
async fn cached(app: &TestApp, path: &str) -> Value {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let answer = app.get(path).await;
        assert_eq!(answer.status.as_u16(), 200, "{path}: {:?}", answer.body);
        if answer.served_from() == "cache" {
            return answer.body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} was never served from the cache"
        );
    }
}

/// Asserts that each of `paths` is still answered from the cache.
async fn still_cached(app: &TestApp, paths: &[impl AsRef<str>]) {
    for path in paths {
        let answer = app.get(path.as_ref()).await;
        let path = path.as_ref();
        assert_eq!(
            answer.served_from(),
            "cache",
            "{path}: {:?}",
            answer.headers
        );
    }
}

const BY_KEY: &[&str] = &["reason=\"key\""];
const BY_RESET: &[&str] = &["reason=\"reset\""];

#[actix_web::test]
async fn a_write_to_one_review_changes_every_page_showing_it_and_leaves_the_others_hits() {
    let app = spawn_app().await;
    let word = unique_word("zq");
    let b_word = unique_word("zq");
    let new_word = unique_word("zq");
    let (a, a_subject) = publish_alone(&app, &format!("Review A {word}")).await;
    let (b, b_subject) = publish_alone(&app, &format!("Review B {b_word}")).await;
    app.wait_listed(a).await;
    app.wait_listed(b).await;
    let pages = [
        format!("/content/{a}"),
        format!("/content/subjects/{a_subject}"),
        "/content?limit=100".to_owned(),
        format!("/content/compare?subjects={a_subject},{b_subject}"),
        format!("/content?q={word}"),
        // Empty until the edit gives A this word.
        format!("/content?q={new_word}"),
    ];
    // Pages that do not show A, and that A's edit cannot make show it.
    let others = [
        format!("/content/{b}"),
        format!("/content?subject={b_subject}"),
        format!("/content?q={b_word}"),
    ];
    for path in pages.iter().chain(&others) {
        cached(&app, path).await;
    }
    let invalidated = app
        .metric(&app.reader, "rcr_cache_invalidated_total", BY_KEY)
        .await;

    let edited = app
        .write(
            Method::PATCH,
            &format!("/reviews/{a}"),
            Some(&json!({ "title": format!("Review A after {new_word}") })),
        )
        .await;
    assert_eq!(edited.status.as_u16(), 200, "{:?}", edited.body);

    // Every page showing A changes without a token (bounded staleness)…
    let shows_edit = |a: &crate::helpers::Answer| a.body.to_string().contains("Review A after");
    for path in &pages[..4] {
        app.eventually(path, shows_edit).await;
    }
    app.eventually(&pages[4], |answer| !answer.ids().contains(&a))
        .await;
    app.eventually(&pages[5], |answer| answer.ids() == [a])
        .await;
    // …while B's page, the list of B's subject and the search for B's
    // word, which the edit did not touch, are still the entries read
    // before the write.
    still_cached(&app, &others).await;
    let b_page = app.get(&others[0]).await;
    assert_eq!(b_page.body["title"], format!("Review B {b_word}"));
    let after = app
        .metric(&app.reader, "rcr_cache_invalidated_total", BY_KEY)
        .await;
    assert!(
        after > invalidated,
        "entries invalidated by key are counted"
    );
}

#[actix_web::test]
async fn a_publish_changes_the_lists_it_enters_and_leaves_another_brands_list_a_hit() {
    let app = spawn_app().await;
    let brand = unique_word("Brand");
    let mut body = review_body("Of another brand");
    body["subject"] = json!({ "kind": "lens", "brand": brand, "model": unique_word("m") });
    let other = app.publish(&body).await.body["id"].as_i64().expect("id");
    app.wait_listed(other).await;
    let of_brand = format!("/content?brand={}", brand.to_lowercase());
    let lenses_of_brand = format!("/content/subjects?brand={brand}");
    for path in [
        &of_brand,
        &lenses_of_brand,
        &"/content?limit=100".to_owned(),
    ] {
        cached(&app, path).await;
    }
    let (new, _) = publish_alone(&app, "Review of Testbrand").await;
    app.eventually("/content?limit=100", |answer| answer.ids().contains(&new))
        .await;
    // A Testbrand review cannot enter another brand's list or catalog…
    still_cached(&app, &[&of_brand, &lenses_of_brand]).await;
    // …and a review of that brand (spelt in capitals) enters both.
    body["subject"]["brand"] = json!(brand.to_uppercase());
    body["subject"]["model"] = json!(unique_word("m"));
    let same = app.publish(&body).await;
    let same_id = same.body["id"].as_i64().expect("id");
    let same_subject = same.body["subject"]["slug"].as_str().expect("slug");
    app.eventually(&of_brand, |answer| answer.ids().contains(&same_id))
        .await;
    app.eventually(&lenses_of_brand, |answer| {
        answer.data().iter().any(|s| s["slug"] == same_subject)
    })
    .await;
}

#[actix_web::test]
async fn entries_shared_through_redis_are_invalidated_by_each_reader_of_the_region() {
    let app = spawn_app().await;
    let (a, _) = publish_alone(&app, "Shared before").await;
    app.wait_listed(a).await;
    let other = app.another_reader().await;
    let path = "/content?limit=100";
    // The first reader reads and stores the page; the second finds it in
    // Redis (or in memory after that).
    cached(&app, path).await;
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let answer = app.request_on(&other, Method::GET, path, &[]).await;
        if answer.served_from() == "cache" {
            assert!(answer.ids().contains(&a));
            break;
        }
        assert!(Instant::now() < deadline, "the second reader never hit");
    }
    let (c, _) = publish_alone(&app, "Shared too").await;
    for reader in [&app.reader, &other] {
        let deadline = Instant::now() + EVENTUALLY;
        loop {
            let answer = app.request_on(reader, Method::GET, path, &[]).await;
            if answer.ids().contains(&c) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} kept serving the list from before the write",
                reader.address
            );
        }
    }
}

#[actix_web::test]
async fn a_gap_in_the_change_feed_drops_every_older_entry() {
    let app = spawn_app().await;
    let (b, path) = cached_review(&app, "Cached before the gap").await;
    let resets = app
        .metric(&app.reader, "rcr_cache_invalidated_total", BY_RESET)
        .await;
    // A version without its feed row: what purged rows or a reader that
    // was away look like.
    app.bump_version().await;
    let answer = app
        .eventually(&path, |answer| answer.served_from() != "cache")
        .await;
    assert_eq!(answer.body["id"], b);
    let after = app
        .metric(&app.reader, "rcr_cache_invalidated_total", BY_RESET)
        .await;
    assert!(after > resets, "the reset is counted");
    // And the page is cached again afterwards.
    cached(&app, &path).await;
}

#[actix_web::test]
async fn a_miss_that_joins_a_read_begun_before_a_change_to_its_page_answers_the_change() {
    let app = spawn_app().await;
    let (id, subject) = publish_alone(&app, "Read across a change").await;
    app.wait_listed(id).await;
    let path = format!("/content/{id}");

    // The replica's replay of a lock on `reviews` holds the first read
    // after its snapshot is taken (`lock_reviews`).
    let mut locker = app.db.primary_client().await;
    let lock = lock_reviews(&mut locker).await;
    app.sql("BEGIN; SELECT txid_current(); COMMIT;").await;
    app.wait_for_replayed_lock().await;
    let reads = app.metric(&app.reader, "rcr_db_reads_total", &[]).await;

    let first = app.get(&path);
    let joined = async {
        app.wait_for_metric("rcr_db_reads_total", reads + 1.0).await;
        // A change the held snapshot does not have, applied by the reader
        // before the next request for the page arrives: the subject renamed
        // (a table the lock does not hold), and a version without a feed
        // row, which drops everything older.
        app.sql(&format!(
            "UPDATE subjects SET model = 'Renamed' WHERE slug = '{subject}'"
        ))
        .await;
        let version = app.bump_version().await;
        app.wait_for_metric("rcr_feed_version_applied", version as f64)
            .await;
        let release = async {
            // Time for the request to join the held read's flight.
            tokio::time::sleep(Duration::from_millis(300)).await;
            lock.rollback().await.expect("lock released");
        };
        tokio::join!(app.get(&path), release).0
    };
    let (first, joined) = tokio::join!(first, joined);

    assert_eq!(first.status.as_u16(), 200, "{:?}", first.body);
    assert_eq!(joined.status.as_u16(), 200, "{:?}", joined.body);
    assert_eq!(
        joined.body["subject"]["model"], "Renamed",
        "a request after the change got the read from before it"
    );
}

#[actix_web::test]
async fn a_reader_that_cannot_read_the_change_feed_stops_serving_older_entries_within_max_lag() {
    // max_lag 1 s (the tests' setting), far below the TTL.
    let app = spawn_app().await;
    let (id, path) = cached_review(&app, "Cached before the feed broke").await;
    // The feed unreadable on the replica while reviews are not: then a
    // change the feed would have named, made straight in the database.
    app.sql("ALTER TABLE content_changes RENAME TO content_changes_away")
        .await;
    app.sql(&format!(
        "UPDATE reviews SET title = 'Changed unseen' WHERE id = {id}"
    ))
    .await;
    app.bump_version().await;
    let answer = app
        .eventually(&path, |a| a.body["title"] == "Changed unseen")
        .await;
    assert_ne!(answer.served_from(), "cache");
    app.sql("ALTER TABLE content_changes_away RENAME TO content_changes")
        .await;
}

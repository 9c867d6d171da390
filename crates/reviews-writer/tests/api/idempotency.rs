//! `Idempotency-Key` on `POST /reviews` (SPEC §4).

use futures_util::future::join_all;
use serde_json::json;

use std::time::{Duration, Instant};

use crate::helpers::{WriterAnswer as _, review_body, spawn_app, spawn_app_on, unique_title};

#[actix_web::test]
async fn the_same_key_and_body_replay_the_first_answer_whatever_the_formatting() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let first = app
        .post_raw_review(
            &editor.token,
            "application/json",
            br#"{"title":"Replayed","body":"Text","subject":{"kind":"camera","brand":"Nikon","model":"Zf"},"rating":7.5}"#.to_vec(),
            &[("idempotency-key", "replay-1")],
        )
        .await;
    let id = first.created_id();
    assert_eq!(first.header("idempotent-replayed"), None);

    // Same document: other key order, other whitespace.
    let again = app
        .post_raw_review(
            &editor.token,
            "application/json",
            b"{ \"rating\": 7.5,\n  \"subject\": {\"model\": \"Zf\", \"brand\": \"Nikon\", \"kind\": \"camera\"},\n  \"body\": \"Text\", \"title\": \"Replayed\" }".to_vec(),
            &[("idempotency-key", "replay-1")],
        )
        .await;
    assert_eq!(again.status, 201, "{:?}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), first.header("etag"));
    assert_eq!(app.review_count().await, 1);
    assert_eq!(again.created_id(), id);
}

#[actix_web::test]
async fn the_same_key_with_another_body_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    app.post_review(&editor.token, &review_body("Original"), Some("reuse-me"))
        .await
        .created_id();
    app.post_review(
        &editor.token,
        &review_body("Something else"),
        Some("reuse-me"),
    )
    .await
    .assert_problem(422, "idempotency_key_reused");
    assert_eq!(app.review_count().await, 1);
}

#[actix_web::test]
async fn twenty_parallel_posts_with_one_key_make_one_review_and_answer_it_or_409() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let body = review_body(&unique_title("Once"));
    let answers =
        join_all((0..20).map(|_| app.post_review(&editor.token, &body, Some("one-key-for-all"))))
            .await;
    let created: Vec<_> = answers.iter().filter(|a| a.status == 201).collect();
    assert!(!created.is_empty(), "{answers:?}");
    for answer in &answers {
        match answer.status.as_u16() {
            201 => assert_eq!(answer.body, created[0].body, "one review for all 201s"),
            409 => answer.assert_problem(409, "idempotency_key_in_flight"),
            other => panic!("unexpected {other}: {:?}", answer.body),
        }
    }
    let originals = created
        .iter()
        .filter(|a| a.header("idempotent-replayed").is_none())
        .count();
    assert!(originals <= 1, "only one answer is not a replay");
    assert_eq!(app.review_count().await, 1);

    // Once settled, the key replays.
    let later = app
        .post_review(&editor.token, &body, Some("one-key-for-all"))
        .await;
    assert_eq!(later.status, 201, "{:?}", later.body);
    assert_eq!(later.header("idempotent-replayed"), Some("true"));
    assert_eq!(later.body, created[0].body);
}

#[actix_web::test]
async fn keys_belong_to_one_editor() {
    let app = spawn_app().await;
    let one = app.new_editor("editor").await;
    let two = app.new_editor("editor").await;
    let body = review_body("Shared key");
    let first = app.post_review(&one.token, &body, Some("shared")).await;
    let second = app.post_review(&two.token, &body, Some("shared")).await;
    let (a, b) = (first.created_id(), second.created_id());
    assert_ne!(a, b);
    assert_eq!(second.header("idempotent-replayed"), None);
    assert_eq!(second.body["editor"]["id"], two.id);
    // And another body from the second editor is not "reused" by the first.
    let third = app
        .post_review(&two.token, &review_body("Other"), Some("shared"))
        .await;
    third.assert_problem(422, "idempotency_key_reused");
    assert_eq!(app.review_count().await, 2);
}

#[actix_web::test]
async fn a_key_outside_one_to_255_visible_ascii_characters_is_a_bad_request() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let body = serde_json::to_vec(&review_body("Keyed")).expect("json");
    let too_long = "k".repeat(256);
    for key in ["", "has space", "tab\there", too_long.as_str()] {
        app.post_raw_review(
            &editor.token,
            "application/json",
            body.clone(),
            &[("idempotency-key", key)],
        )
        .await
        .assert_problem(400, "bad_request");
    }
    assert_eq!(app.review_count().await, 0);
    let longest = "k".repeat(255);
    app.post_raw_review(
        &editor.token,
        "application/json",
        body,
        &[("idempotency-key", longest.as_str())],
    )
    .await
    .created_id();
}

#[actix_web::test]
async fn the_same_key_with_the_same_invalid_body_answers_the_same_422_twice() {
    // A 422 is not a write: whether the key remembers it or not, the answer
    // to the same key and body is the same 422, never a 5xx.
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let mut bad = review_body("Bad");
    bad["rating"] = json!(42);
    for _ in 0..2 {
        app.post_review(&editor.token, &bad, Some("bad-then"))
            .await
            .assert_invalid_field("rating");
    }
    assert_eq!(app.review_count().await, 0);
}

#[actix_web::test]
async fn an_expired_key_is_purged_by_the_service_and_may_be_used_again() {
    let app = spawn_app_on(test_support::cluster(), |settings| {
        settings.idempotency.ttl_s = 1;
        settings.idempotency.purge_interval_s = 1;
    })
    .await;
    let editor = app.new_editor("editor").await;
    app.post_review(
        &editor.token,
        &review_body("First life"),
        Some("short-lived"),
    )
    .await
    .created_id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while app
        .count("SELECT count(*) FROM idempotency_keys", &[])
        .await
        > 0
    {
        assert!(
            Instant::now() < deadline,
            "the expired key was never purged"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    let again = app
        .post_review(
            &editor.token,
            &review_body("Second life"),
            Some("short-lived"),
        )
        .await;
    again.created_id();
    assert_eq!(again.header("idempotent-replayed"), None);
    assert_eq!(app.review_count().await, 2);
}

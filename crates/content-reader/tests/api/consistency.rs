//! Read-your-writes with `X-Consistency-Token` (SPEC §6).

use awc::http::Method;
use platform::consistency::{ConsistencyToken, Lsn, TokenKey};
use serde_json::json;

use crate::helpers::{CONSISTENCY_SECRET, ReaderAnswer as _, spawn_app, unique_word};

#[actix_web::test]
async fn without_a_token_a_published_review_appears_once_the_replica_has_it() {
    let app = spawn_app().await;
    let title = unique_word("Eventually ");
    let id = app.publish_titled(&title).await.body["id"]
        .as_i64()
        .expect("id");
    let seen = app.eventually("/content", |a| a.ids().contains(&id)).await;
    assert_eq!(
        seen.header("cache-control"),
        Some(crate::http_caching::PUBLIC_CACHE)
    );
}

#[actix_web::test]
async fn the_very_next_read_with_a_writes_token_shows_the_write_even_over_a_cached_answer() {
    let app = spawn_app().await;
    let before = app.publish_titled("Already there").await;
    app.wait_listed(before.body["id"].as_i64().expect("id"))
        .await;
    // Warm the cache with the list as it is now.
    let cached = app
        .eventually("/content", |a| a.served_from() == "cache")
        .await;

    let written = app.publish_titled("Fresh off the writer").await;
    let token = written.consistency_token();
    let id = written.body["id"].as_i64().expect("id");
    let slug = written.body["slug"].as_str().expect("slug").to_owned();

    let list = app.get_after("/content", &token).await;
    assert_eq!(list.status.as_u16(), 200, "{:?}", list.body);
    assert!(
        list.ids().contains(&id),
        "the write is in the list (was cached: {:?}); got {:?} from {}",
        cached.ids(),
        list.ids(),
        list.served_from()
    );
    assert_eq!(list.header("cache-control"), Some("private, no-store"));
    assert!(
        ["replica:r1", "primary", "cache"].contains(&list.served_from()),
        "{}",
        list.served_from()
    );
    let detail = app.get_after(&format!("/content/{slug}"), &token).await;
    assert_eq!(detail.status.as_u16(), 200, "{:?}", detail.body);
    assert_eq!(detail.body["title"], "Fresh off the writer");
    assert_eq!(detail.header("cache-control"), Some("private, no-store"));
    let subject = written.body["subject"]["slug"].as_str().expect("subject");
    let subject = app
        .get_after(&format!("/content/subjects/{subject}"), &token)
        .await;
    assert_eq!(subject.status.as_u16(), 200, "{:?}", subject.body);
    assert!(
        subject.body["reviews"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["id"] == id)),
        "{:?}",
        subject.body
    );

    // An edit, then a retraction: each visible on the next read.
    let edited = app
        .write(
            Method::PATCH,
            &format!("/reviews/{id}"),
            Some(&json!({ "title": "Fresh, and edited" })),
        )
        .await;
    assert_eq!(edited.status.as_u16(), 200, "{:?}", edited.body);
    let detail = app
        .get_after(&format!("/content/{slug}"), &edited.consistency_token())
        .await;
    assert_eq!(detail.body["title"], "Fresh, and edited");
    let retracted = app
        .write(Method::DELETE, &format!("/reviews/{id}"), None)
        .await;
    assert_eq!(retracted.status.as_u16(), 204, "{:?}", retracted.body);
    let token = retracted.consistency_token();
    let gone = app.get_after(&format!("/content/{slug}"), &token).await;
    gone.assert_problem(404, "not_found");
    let list = app.get_after("/content", &token).await;
    assert!(!list.ids().contains(&id), "{:?}", list.ids());
}

#[actix_web::test]
async fn a_garbled_or_forged_consistency_token_is_a_400() {
    let app = spawn_app().await;
    let written = app.publish_titled("Token holder").await;
    let real = written.consistency_token();

    let other_key = TokenKey::new(b"another-secret-that-is-long-enough-0123456789").expect("key");
    let genuine = TokenKey::new(CONSISTENCY_SECRET.as_bytes())
        .expect("key")
        .verify(&real)
        .expect("the writer's token verifies");
    let forged_small = other_key.sign(&ConsistencyToken {
        lsn: Lsn(1),
        ..genuine
    });
    let forged_huge = other_key.sign(&ConsistencyToken {
        lsn: Lsn(u64::MAX),
        ..genuine
    });
    let mut flipped: Vec<char> = real.chars().collect();
    let at = flipped.len() / 3;
    flipped[at] = if flipped[at] == 'A' { 'B' } else { 'A' };
    let flipped: String = flipped.into_iter().collect();
    let long = "A".repeat(5_000);
    for bad in [
        "garbage",
        "",
        "   ",
        "!!!!",
        long.as_str(),
        forged_small.as_str(),
        forged_huge.as_str(),
        flipped.as_str(),
        &real[..real.len() - 1],
        &format!("{real}A"),
    ] {
        for path in ["/content", "/content/subjects", "/content/some-review"] {
            let answer = app.get_with(path, &[("x-consistency-token", bad)]).await;
            let shown: String = bad.chars().take(20).collect();
            answer.assert_problem(400, "invalid_consistency_token");
            assert_eq!(answer.header("x-region"), Some("eu"), "{shown}");
            assert!(answer.header("x-served-from").is_some(), "{shown}");
        }
    }
    // The genuine token is accepted.
    let ok = app.get_after("/content", &real).await;
    assert_eq!(ok.status.as_u16(), 200, "{:?}", ok.body);
}

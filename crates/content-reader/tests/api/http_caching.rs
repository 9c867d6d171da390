//! Headers on every answer, conditional GET and the regional cache seen
//! from outside.

use awc::http::Method;
use serde_json::json;

use crate::helpers::{ReaderAnswer as _, TestApp, spawn_app};

pub const PUBLIC_CACHE: &str = "public, max-age=5, stale-while-revalidate=30, stale-if-error=600";

fn assert_common_headers(answer: &crate::helpers::Answer, what: &str) {
    assert_eq!(answer.header("x-region"), Some("eu"), "{what}");
    assert!(
        answer.header("x-request-id").is_some_and(|v| !v.is_empty()),
        "{what}"
    );
    assert_eq!(
        answer.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    let served = answer.served_from();
    assert!(
        ["cache", "replica:r1", "primary", "none"].contains(&served),
        "{what}: X-Served-From {served}"
    );
}

async fn published(app: &TestApp, title: &str) -> (i64, String, String) {
    let answer = app.publish_titled(title).await;
    let id = answer.body["id"].as_i64().expect("id");
    let slug = answer.body["slug"].as_str().expect("slug").to_owned();
    let subject = answer.body["subject"]["slug"]
        .as_str()
        .expect("subject")
        .to_owned();
    app.wait_listed(id).await;
    (id, slug, subject)
}

#[actix_web::test]
async fn every_answer_names_region_and_source_and_every_200_is_cacheable_by_a_cdn() {
    let app = spawn_app().await;
    let (id, slug, subject) = published(&app, "Headers everywhere").await;
    for path in [
        "/content".to_owned(),
        format!("/content/{slug}"),
        format!("/content/{id}"),
        "/content/subjects".to_owned(),
        format!("/content/subjects/{subject}"),
    ] {
        let answer = app.get(&path).await;
        assert_eq!(answer.status.as_u16(), 200, "{path}: {:?}", answer.body);
        assert_common_headers(&answer, &path);
        assert_ne!(answer.served_from(), "none", "{path}");
        let etag = answer.header("etag").expect("ETag");
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
            "{path}: a strong ETag, not {etag}"
        );
        assert_eq!(answer.header("cache-control"), Some(PUBLIC_CACHE), "{path}");
        assert!(answer.header("surrogate-key").is_some(), "{path}");
    }
    let list = app.get("/content").await;
    assert!(
        list.header("surrogate-key")
            .is_some_and(|k| k.split(' ').any(|k| k == "list")),
        "{:?}",
        list.headers
    );
    let detail = app.get(&format!("/content/{slug}")).await;
    let keys: Vec<&str> = detail
        .header("surrogate-key")
        .unwrap_or_default()
        .split(' ')
        .collect();
    assert!(keys.contains(&format!("review:{id}").as_str()), "{keys:?}");
    assert!(
        keys.contains(&format!("subject:{subject}").as_str()),
        "{keys:?}"
    );

    // Errors carry the headers too; those that read nothing say so.
    for (path, status) in [
        ("/content?limit=0", 400),
        ("/content?cursor=nope", 400),
        ("/content/no-such-review", 404),
        ("/nowhere", 404),
    ] {
        let answer = app.get(path).await;
        assert_eq!(answer.status.as_u16(), status, "{path}");
        assert_common_headers(&answer, path);
    }
    let bad = app.get("/content?limit=0").await;
    assert_eq!(bad.header("x-served-from"), Some("none"));
    let token = app
        .get_with("/content", &[("x-consistency-token", "garbage")])
        .await;
    assert_common_headers(&token, "bad token");
    assert_eq!(token.header("x-served-from"), Some("none"));
}

#[actix_web::test]
async fn a_repeated_request_is_answered_from_the_cache() {
    let app = spawn_app().await;
    published(&app, "Cache me").await;
    let first = app.get("/content?kind=camera").await;
    assert_eq!(first.status.as_u16(), 200);
    let again = app
        .eventually("/content?kind=camera", |a| a.served_from() == "cache")
        .await;
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("etag"), first.header("etag"));
}

#[actix_web::test]
async fn if_none_match_with_the_etag_is_a_304_and_a_write_changes_the_etag() {
    let app = spawn_app().await;
    let (id, slug, _) = published(&app, "Conditional requests").await;
    let first = app.get("/content").await;
    let etag = first.header("etag").expect("ETag").to_owned();

    let not_modified = app.get_with("/content", &[("if-none-match", &etag)]).await;
    assert_eq!(not_modified.status.as_u16(), 304);
    assert_eq!(not_modified.body, serde_json::Value::Null);
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
    assert_eq!(not_modified.header("x-region"), Some("eu"));
    assert!(not_modified.header("x-served-from").is_some());
    let listed = format!("\"nope\", {etag}");
    let among = app
        .get_with("/content", &[("if-none-match", &listed)])
        .await;
    assert_eq!(among.status.as_u16(), 304);
    let other = app
        .get_with("/content", &[("if-none-match", "\"something-else\"")])
        .await;
    assert_eq!(other.status.as_u16(), 200);
    assert_eq!(other.body, first.body);

    let detail = app.get(&format!("/content/{slug}")).await;
    let detail_etag = detail.header("etag").expect("ETag").to_owned();
    assert_ne!(detail_etag, etag);

    // A new review changes the list; once the reader sees it, the old ETag
    // no longer matches.
    let newer = app.publish_titled("A newer review").await;
    let newer_id = newer.body["id"].as_i64().expect("id");
    let changed = app
        .eventually("/content", |a| a.ids().contains(&newer_id))
        .await;
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    let stale = app.get_with("/content", &[("if-none-match", &etag)]).await;
    assert_eq!(stale.status.as_u16(), 200);

    // An edit changes the review's own ETag.
    let edited = app
        .write(
            Method::PATCH,
            &format!("/reviews/{id}"),
            Some(&json!({ "title": "Conditional requests, revised" })),
        )
        .await;
    assert_eq!(edited.status.as_u16(), 200, "{:?}", edited.body);
    let after = app
        .eventually(&format!("/content/{slug}"), |a| {
            a.body["title"] == "Conditional requests, revised"
        })
        .await;
    assert_ne!(after.header("etag"), Some(detail_etag.as_str()));
    let stale = app
        .get_with(
            &format!("/content/{slug}"),
            &[("if-none-match", &detail_etag)],
        )
        .await;
    assert_eq!(stale.status.as_u16(), 200);
}

#[actix_web::test]
async fn if_none_match_uses_the_weak_comparison_so_a_w_prefixed_etag_still_matches() {
    // RFC 9110 §13.1.2: If-None-Match compares weakly. A CDN that compresses
    // an answer turns its ETag into W/"…" and revalidates with that.
    let app = spawn_app().await;
    published(&app, "Weak validators").await;
    let first = app.get("/content").await;
    let etag = first.header("etag").expect("ETag").to_owned();
    let weak = format!("W/{etag}");
    let answer = app.get_with("/content", &[("if-none-match", &weak)]).await;
    assert_eq!(answer.status.as_u16(), 304, "If-None-Match: {weak}");
}

#[actix_web::test]
async fn a_404_names_the_node_it_looked_on_and_none_only_where_nothing_was_read() {
    let app = spawn_app().await;
    let (_, _, subject) = published(&app, "Found elsewhere").await;
    for path in [
        "/content/no-such-review".to_owned(),
        "/content/987654321".to_owned(),
        "/content/subjects/no-such-subject".to_owned(),
        format!("/content/compare?subjects={subject},no-such-subject"),
    ] {
        let answer = app.get(&path).await;
        answer.assert_problem(404, "not_found");
        assert_eq!(answer.served_from(), "replica:r1", "{path}");
    }
    // Refused before any read: a name no review can have, a bad parameter.
    for (path, status) in [("/content/Not_A_Slug", 404), ("/content?limit=0", 400)] {
        let answer = app.get(path).await;
        assert_eq!(answer.status.as_u16(), status, "{path}");
        assert_eq!(answer.served_from(), "none", "{path}");
    }
}

#[actix_web::test]
async fn error_answers_to_a_token_carrying_request_are_private_too() {
    let app = spawn_app().await;
    let token = app
        .publish_titled("Token for errors")
        .await
        .consistency_token();
    for (path, token, status) in [
        ("/content/no-such-review", token.as_str(), 404),
        ("/content?limit=0", token.as_str(), 400),
        ("/content", "garbage", 400),
    ] {
        let answer = app.get_with(path, &[("x-consistency-token", token)]).await;
        assert_eq!(answer.status.as_u16(), status, "{path}: {:?}", answer.body);
        assert_eq!(
            answer.header("cache-control"),
            Some("private, no-store"),
            "{path}"
        );
        assert_common_headers(&answer, path);
    }
    let missing = app
        .get_with(
            "/content/no-such-review",
            &[("x-consistency-token", &token)],
        )
        .await;
    assert!(
        ["replica:r1", "primary"].contains(&missing.served_from()),
        "{}",
        missing.served_from()
    );
}

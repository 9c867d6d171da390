//! The change feed (SPEC §10.4): a `content_changes` row per content
//! version, written with the change, naming what it changed; none for a
//! write that fails or changes nothing; read back the way readers will
//! (`platform::changes::since`, from the replica); and purged once old.

use std::time::{Duration, Instant};

use platform::settings::{DatabaseSettings, Secret};
use serde_json::json;

use platform::surrogate::SurrogateKey;

use crate::helpers::{TestApp, WriterAnswer as _, assert_moved, spawn_app, spawn_app_on};

/// Asserts the feed has grown by exactly one row since `before` rows: the
/// current content version, naming what a write that moved review `id` of
/// `subjects` changed ([`assert_moved`]). The row's keys.
async fn assert_one_new_row(
    app: &TestApp,
    before: usize,
    id: i64,
    subjects: &[&str],
) -> Vec<String> {
    let feed = app.feed().await;
    assert_eq!(feed.len(), before + 1, "{feed:?}");
    let (version, stored) = feed.last().expect("a row");
    assert_eq!(*version, app.content_version().await);
    assert_moved(stored, id, subjects);
    stored.clone()
}

#[actix_web::test]
async fn every_write_adds_one_feed_row_at_the_new_content_version_naming_what_it_changed() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    assert!(app.feed().await.is_empty());

    let created = app.create_review(&editor.token, "Feed create").await;
    let id = created.created_id();
    let stored = assert_one_new_row(&app, 0, id, &["fujifilm-x-t5"]).await;
    assert_eq!(
        created.header("surrogate-key"),
        Some(stored.join(" ").as_str()),
        "the feed names what the answer names"
    );

    let moved = app
        .patch_review(
            &editor.token,
            id,
            &json!({ "subject": { "kind": "camera", "brand": "Sony", "model": "A7 IV" } }),
            None,
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    // Both the subject it left and the one it joined.
    assert_one_new_row(&app, 1, id, &["fujifilm-x-t5", "sony-a7-iv"]).await;

    let retracted = app.delete_review(&editor.token, id).await;
    assert_eq!(retracted.status, 204, "{:?}", retracted.body);
    assert_one_new_row(&app, 2, id, &["sony-a7-iv"]).await;

    let mut scheduled = crate::helpers::review_body("Feed scheduled");
    scheduled["publish_at"] = json!(in_a_day());
    let answer = app.post_review(&editor.token, &scheduled, None).await;
    let id = answer.created_id();
    assert_one_new_row(&app, 3, id, &["fujifilm-x-t5"]).await;

    // Versions follow each other: each write made exactly one.
    let versions: Vec<i64> = app.feed().await.iter().map(|(v, _)| *v).collect();
    assert!(
        versions.windows(2).all(|w| w[1] == w[0] + 1),
        "{versions:?}"
    );
}

#[actix_web::test]
async fn a_text_edit_names_the_words_it_changed_and_a_draft_only_its_own_page() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let id = app
        .create_review(&editor.token, "Feed words")
        .await
        .created_id();
    let before = app.feed().await.len();
    // One word more in the summary: the opening and the whole review gain
    // it; a search for any other word is not concerned, nor is any list.
    let body = json!({ "summary": "A small camera with a big zq7 sensor." });
    let edited = app.patch_review(&editor.token, id, &body, None).await;
    assert_eq!(edited.status, 200, "{:?}", edited.body);
    let expected = [
        format!("review:{id}"),
        "subject:fujifilm-x-t5".to_owned(),
        "phrase".to_owned(),
        SurrogateKey::word("zq7").to_string(),
    ];
    let feed = app.feed().await;
    assert_eq!(feed.len(), before + 1);
    assert_eq!(feed[before].1, expected);
    assert_eq!(
        edited.header("surrogate-key"),
        Some(expected.join(" ").as_str())
    );

    let mut draft = crate::helpers::review_body("Feed draft");
    draft["status"] = json!("draft");
    let id = app
        .post_review(&editor.token, &draft, None)
        .await
        .created_id();
    let own_page = [format!("review:{id}"), "subject:fujifilm-x-t5".to_owned()];
    let edited = app.patch_review(&editor.token, id, &body, None).await;
    assert_eq!(edited.status, 200, "{:?}", edited.body);
    let feed = app.feed().await;
    assert_eq!(feed.len(), before + 3);
    assert_eq!(feed[before + 1].1, own_page, "created as a draft");
    assert_eq!(feed[before + 2].1, own_page, "a draft edited");
}

#[actix_web::test]
async fn a_refused_write_or_an_empty_patch_adds_no_feed_row() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let other = app.new_editor("editor").await;
    let id = app
        .create_review(&editor.token, "Feed refusals")
        .await
        .created_id();
    let before = app.feed().await;
    let version = app.content_version().await;

    let stale = app
        .patch_review(&editor.token, id, &json!({ "title": "x" }), Some("\"9\""))
        .await;
    stale.assert_problem(412, "precondition_failed");
    let invalid = app
        .patch_review(&editor.token, id, &json!({ "title": "" }), None)
        .await;
    invalid.assert_invalid_field("title");
    let forbidden = app.delete_review(&other.token, id).await;
    assert_eq!(forbidden.status, 403, "{:?}", forbidden.body);
    let mut bad = crate::helpers::review_body("Feed refused create");
    bad["status"] = json!("scheduled");
    app.post_review(&editor.token, &bad, None)
        .await
        .assert_invalid_field("publish_at");
    let empty = app.patch_review(&editor.token, id, &json!({}), None).await;
    assert_eq!(empty.status, 200, "{:?}", empty.body);

    assert_eq!(app.feed().await, before);
    assert_eq!(app.content_version().await, version);
}

#[actix_web::test]
async fn readers_list_the_feed_from_their_replica_after_a_version() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let answer = app
            .create_review(&editor.token, &format!("Feed replica {i}"))
            .await;
        ids.push(answer.created_id());
    }
    let first = app.feed().await[0].0;
    let replica = platform::db::pool(
        &DatabaseSettings {
            url: Secret::new(app.db.replica_url()),
            pool_size: 1,
            ..DatabaseSettings::default()
        },
        "feed-test",
        platform::db::Role::Any,
    )
    .expect("replica pool");
    let client = replica.get().await.expect("replica connection");
    // The replica gets there within the replication lag.
    let deadline = Instant::now() + Duration::from_secs(30);
    let changes = loop {
        let changes = platform::changes::since(&client, first, 10)
            .await
            .expect("the feed reads");
        if changes.len() == 2 || Instant::now() > deadline {
            break changes;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    };
    // After the first version: the second and third writes, in order.
    let versions: Vec<i64> = changes.iter().map(|c| c.version).collect();
    assert_eq!(versions, [first + 1, first + 2]);
    let reviews: Vec<String> = changes
        .iter()
        .map(|c| c.surrogate_keys.iter().next().expect("a key").to_string())
        .collect();
    assert_eq!(
        reviews,
        [format!("review:{}", ids[1]), format!("review:{}", ids[2])]
    );
    assert!(changes[0].at <= changes[1].at);
    let one = platform::changes::since(&client, first, 1).await.unwrap();
    assert_eq!(one.len(), 1, "limit");
    assert_eq!(one[0], changes[0]);
}

#[actix_web::test]
async fn feed_rows_older_than_the_retention_are_purged_in_batches_and_younger_ones_kept() {
    let app = spawn_app_on(test_support::cluster(), |settings| {
        settings.changes.purge_interval_s = 1;
    })
    .await;
    let editor = app.new_editor("editor").await;
    // More old rows than one batch deletes, then one within the retention,
    // at the versions writes would have given them.
    let old = 2 * reviews_writer::purge::FEED_BATCH + 500;
    app.db
        .primary_client()
        .await
        .batch_execute(&format!(
            "INSERT INTO content_changes (version, at, surrogate_keys)
             SELECT g, now() - interval '8 days' + make_interval(secs => g), '{{list}}'
               FROM generate_series(1, {old}) AS g;
             INSERT INTO content_changes (version, at, surrogate_keys)
             VALUES ({old} + 1, now() - interval '6 days', '{{list}}');
             UPDATE content_state SET version = {old} + 1;"
        ))
        .await
        .expect("old rows");
    let id = app
        .create_review(&editor.token, "Feed purge")
        .await
        .created_id();

    let deadline = Instant::now() + Duration::from_secs(30);
    while app
        .count(
            "SELECT count(*) FROM content_changes WHERE at < now() - interval '7 days'",
            &[],
        )
        .await
        > 0
    {
        assert!(Instant::now() < deadline, "old feed rows were not purged");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let left = app.feed().await;
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left[0], (old + 1, vec!["list".to_owned()]));
    assert_eq!(left[1].0, old + 2);
    assert_moved(&left[1].1, id, &["fujifilm-x-t5"]);
}

/// A publish time a day from now, RFC 3339.
pub fn in_a_day() -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339")
}

//! Embargoes (SPEC §10.4): a future `publish_at` schedules a review, which
//! becomes public at that instant with nobody acting then; PATCH
//! reschedules, publishes now or unschedules; what contradicts itself is a
//! 422 naming the field. And the database's one definition of "public",
//! which the reader's indexes keep serving.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::helpers::{Editor, TestApp, WriterAnswer as _, review_body, spawn_app};

/// `now + ahead`, to the second, as RFC 3339.
fn from_now(ahead: time::Duration) -> String {
    let at = OffsetDateTime::now_utc() + ahead;
    at.replace_nanosecond(0)
        .expect("whole seconds")
        .format(&Rfc3339)
        .expect("RFC 3339")
}

fn instant(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().expect("a timestamp"), &Rfc3339).expect("RFC 3339")
}

async fn create_scheduled(app: &TestApp, editor: &Editor, title: &str, at: &str) -> Value {
    let mut body = review_body(title);
    body["publish_at"] = json!(at);
    let answer = app.post_review(&editor.token, &body, None).await;
    answer.created_id();
    answer.body
}

/// What the database says about review `id`: whether it is public, the
/// status it shows, the status and publish time it stores.
async fn stored(app: &TestApp, id: i64) -> (bool, String, String, Option<OffsetDateTime>) {
    let row = app
        .db
        .primary_client()
        .await
        .query_one(
            "SELECT rcr_is_public(status, publish_at, deleted_at),
                    rcr_review_status(status, publish_at), status, publish_at
               FROM reviews WHERE id = $1",
            &[&id],
        )
        .await
        .expect("the review");
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

#[actix_web::test]
async fn a_future_publish_at_schedules_the_review_and_keeps_it_from_readers_until_then() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let at = from_now(time::Duration::days(1));
    let review = create_scheduled(&app, &editor, "Under embargo", &at).await;
    let id = review["id"].as_i64().expect("id");
    assert_eq!(review["status"], "scheduled");
    assert_eq!(instant(&review["published_at"]), instant(&json!(at)));

    let (public, shown, status, publish_at) = stored(&app, id).await;
    assert!(!public);
    assert_eq!(
        (shown.as_str(), status.as_str()),
        ("scheduled", "scheduled")
    );
    assert_eq!(publish_at, Some(instant(&json!(at))));

    // The editor sees and edits it as a draft.
    let read = app.get_review(&editor.token, id).await;
    assert_eq!(read.body, review);
    let listed = app.list_reviews(&editor.token, "").await;
    assert_eq!(listed.body["data"][0]["status"], "scheduled");
    let edited = app
        .patch_review(
            &editor.token,
            id,
            &json!({ "title": "Still under embargo" }),
            None,
        )
        .await;
    assert_eq!(edited.body["status"], "scheduled", "{:?}", edited.body);
    assert_eq!(edited.body["published_at"], review["published_at"]);
}

#[actix_web::test]
async fn a_scheduled_review_becomes_public_at_its_publish_at_without_a_write() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let at = from_now(time::Duration::seconds(2));
    let review = create_scheduled(&app, &editor, "Lapsing embargo", &at).await;
    let id = review["id"].as_i64().expect("id");
    assert!(!stored(&app, id).await.0);
    let version = app.content_version().await;

    actix_web::rt::time::sleep(Duration::from_millis(2_500)).await;
    let (public, shown, status, _) = stored(&app, id).await;
    assert!(public, "public once its time has come");
    assert_eq!(
        (shown.as_str(), status.as_str()),
        ("published", "scheduled")
    );
    assert_eq!(app.content_version().await, version, "nothing was written");
    let read = app.get_review(&editor.token, id).await;
    assert_eq!(read.body["status"], "published");
    assert_eq!(read.body["published_at"], review["published_at"]);

    // Publishing it keeps the date it has been public since.
    let published = app
        .patch_review(&editor.token, id, &json!({ "status": "published" }), None)
        .await;
    assert_eq!(
        published.body["status"], "published",
        "{:?}",
        published.body
    );
    assert_eq!(published.body["published_at"], review["published_at"]);
    assert_eq!(stored(&app, id).await.3, None);
}

#[actix_web::test]
async fn a_patch_reschedules_publishes_now_or_unschedules() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let id = app
        .create_review(&editor.token, "Rescheduled")
        .await
        .created_id();
    let patch = async |body: Value| {
        let answer = app.patch_review(&editor.token, id, &body, None).await;
        assert_eq!(answer.status, 200, "{body}: {:?}", answer.body);
        answer.body
    };

    // A published review under embargo again, until then.
    let later = from_now(time::Duration::days(3));
    let scheduled = patch(json!({ "publish_at": later })).await;
    assert_eq!(scheduled["status"], "scheduled");
    assert_eq!(instant(&scheduled["published_at"]), instant(&json!(later)));
    assert!(!stored(&app, id).await.0);

    // null: published now.
    let before = OffsetDateTime::now_utc() - time::Duration::seconds(5);
    let now = patch(json!({ "publish_at": null })).await;
    assert_eq!(now["status"], "published");
    let published_at = instant(&now["published_at"]);
    assert!(published_at > before && published_at < instant(&json!(later)));
    assert_eq!(
        stored(&app, id).await,
        (true, "published".into(), "published".into(), None)
    );

    // A draft unschedules.
    patch(json!({ "publish_at": later })).await;
    let draft = patch(json!({ "status": "draft" })).await;
    assert_eq!(draft["status"], "draft");
    assert!(draft["published_at"].is_null());
    assert_eq!(
        stored(&app, id).await,
        (false, "draft".into(), "draft".into(), None)
    );
}

#[actix_web::test]
async fn a_draft_may_be_scheduled_and_a_past_publish_at_then_publishes_it_now() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let mut body = review_body("Draft to schedule");
    body["status"] = json!("draft");
    let id = app
        .post_review(&editor.token, &body, None)
        .await
        .created_id();
    let later = from_now(time::Duration::days(3));
    let scheduled = app
        .patch_review(
            &editor.token,
            id,
            &json!({ "status": "scheduled", "publish_at": later }),
            None,
        )
        .await;
    assert_eq!(
        scheduled.body["status"], "scheduled",
        "{:?}",
        scheduled.body
    );
    let before = OffsetDateTime::now_utc() - time::Duration::seconds(5);
    let past = from_now(-time::Duration::days(3));
    let now = app
        .patch_review(&editor.token, id, &json!({ "publish_at": past }), None)
        .await;
    assert_eq!(now.body["status"], "published", "{:?}", now.body);
    assert!(
        instant(&now.body["published_at"]) > before,
        "now, not the past time"
    );
}

#[actix_web::test]
async fn a_past_publish_at_publishes_at_once() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let before = OffsetDateTime::now_utc() - time::Duration::seconds(5);
    let past = from_now(-time::Duration::days(30));
    let review = create_scheduled(&app, &editor, "Already due", &past).await;
    assert_eq!(review["status"], "published");
    assert!(instant(&review["published_at"]) > before);
}

#[actix_web::test]
async fn bad_or_contradictory_publish_times_are_422_naming_the_field() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let future = from_now(time::Duration::days(1));
    let past = from_now(-time::Duration::days(1));
    let too_far = from_now(time::Duration::days(400));
    for (status, publish_at, field) in [
        (None, json!("tomorrow"), "publish_at"),
        (None, json!("2030-01-01"), "publish_at"),
        (None, json!(42), "publish_at"),
        (None, json!(too_far), "publish_at"),
        (Some("scheduled"), Value::Null, "publish_at"),
        (Some("scheduled"), json!(past), "publish_at"),
        (Some("draft"), json!(future), "publish_at"),
        (Some("published"), json!(future), "status"),
    ] {
        let mut body = review_body("Refused embargo");
        body["publish_at"] = publish_at.clone();
        if let Some(status) = status {
            body["status"] = json!(status);
        }
        let answer = app.post_review(&editor.token, &body, None).await;
        answer.assert_invalid_field(field);
        assert_eq!(answer.error_fields(), [field], "{status:?} {publish_at}");
    }
    assert_eq!(app.review_count().await, 0);

    let id = app
        .create_review(&editor.token, "Patched embargo")
        .await
        .created_id();
    for (body, field) in [
        (json!({ "status": "scheduled" }), "publish_at"),
        (json!({ "publish_at": "soon" }), "publish_at"),
        (
            json!({ "status": "draft", "publish_at": future }),
            "publish_at",
        ),
        (
            json!({ "status": "published", "publish_at": future }),
            "status",
        ),
    ] {
        app.patch_review(&editor.token, id, &body, None)
            .await
            .assert_invalid_field(field);
    }
    let unchanged = app.get_review(&editor.token, id).await;
    assert_eq!(unchanged.body["version"], 1);
}

#[actix_web::test]
async fn the_public_predicate_and_the_shown_status_agree_for_every_state() {
    let app = spawn_app().await;
    let rows = app
        .db
        .primary_client()
        .await
        .query(
            "SELECT s, p, d, rcr_is_public(s, p, d), rcr_review_status(s, p)
               FROM unnest(ARRAY['draft', 'scheduled', 'published']) AS s,
                    unnest(ARRAY[NULL, now() - interval '1 minute', now() + interval '1 minute']::timestamptz[]) AS p,
                    unnest(ARRAY[NULL, now()]::timestamptz[]) AS d",
            &[],
        )
        .await
        .expect("every combination");
    assert_eq!(rows.len(), 18);
    let now = OffsetDateTime::now_utc();
    for row in rows {
        let (status, publish_at, deleted_at): (
            String,
            Option<OffsetDateTime>,
            Option<OffsetDateTime>,
        ) = (row.get(0), row.get(1), row.get(2));
        let (public, shown): (bool, String) = (row.get(3), row.get(4));
        let due = publish_at.is_some_and(|at| at <= now);
        let expected =
            deleted_at.is_none() && (status == "published" || (status == "scheduled" && due));
        assert_eq!(public, expected, "{status} {publish_at:?} {deleted_at:?}");
        assert_eq!(public, deleted_at.is_none() && shown == "published");
    }
}

#[actix_web::test]
async fn the_public_indexes_serve_both_the_published_filter_and_the_public_predicate() {
    let app = spawn_app().await;
    let client = app.db.primary_client().await;
    // Too few rows for the planner to prefer an index on its own.
    client
        .batch_execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
        .await
        .expect("planner settings");
    for filter in [
        "r.status = 'published' AND r.deleted_at IS NULL",
        platform::content::PUBLIC_REVIEW,
    ] {
        for (order, index) in [
            (
                "r.published_at DESC, r.id DESC",
                "reviews_public_newest_idx",
            ),
            (
                "coalesce(r.rating, -1) DESC, r.id DESC",
                "reviews_public_rating_idx",
            ),
        ] {
            let sql = format!(
                "EXPLAIN SELECT r.id FROM reviews r WHERE {filter} ORDER BY {order} LIMIT 20"
            );
            let plan: Vec<String> = client
                .query(&sql, &[])
                .await
                .expect("a plan")
                .iter()
                .map(|row| row.get(0))
                .collect();
            assert!(
                plan.iter().any(|line| line.contains(index)),
                "{filter} ordered by {order} does not use {index}:\n{}",
                plan.join("\n")
            );
        }
    }
    let next: Option<OffsetDateTime> = client
        .query_one(platform::content::NEXT_EMBARGO, &[])
        .await
        .expect("the next embargo")
        .get(0);
    assert_eq!(next, None);
}

//! `PATCH` and `DELETE /reviews/{id}`: partial updates, `If-Match`,
//! authorship, retraction.

use serde_json::json;

use crate::helpers::{WriterAnswer as _, assert_moved, spawn_app};

#[actix_web::test]
async fn a_partial_update_changes_only_the_given_fields_and_bumps_the_version() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let created = app.create_review(&editor.token, "Before").await;
    let id = created.created_id();
    let answer = app
        .patch_review(
            &editor.token,
            id,
            &json!({ "title": "After", "pros": ["light"], "rating": null }),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let review = &answer.body;
    assert_eq!(review["title"], "After");
    assert_eq!(review["pros"], json!(["light"]));
    assert!(review["rating"].is_null(), "rating: null clears it");
    assert_eq!(review["body"], created.body["body"]);
    assert_eq!(review["cons"], created.body["cons"]);
    assert_eq!(review["summary"], created.body["summary"]);
    assert_eq!(review["slug"], created.body["slug"], "slugs never change");
    assert_eq!(review["published_at"], created.body["published_at"]);
    assert_eq!(review["version"], 2);
    assert_eq!(answer.etag_version(), 2);
    assert!(answer.header("x-consistency-token").is_some());
    // It moved: its lists' filters, the lists and its words too.
    let keys = answer.header("surrogate-key").expect("Surrogate-Key");
    assert_moved(&keys.split(' ').collect::<Vec<_>>(), id, &["fujifilm-x-t5"]);

    let read = app.get_review(&editor.token, id).await;
    assert_eq!(read.body, answer.body);
}

#[actix_web::test]
async fn a_patch_may_move_a_review_to_another_subject() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let created = app.create_review(&editor.token, "Moving").await;
    let id = created.created_id();
    let answer = app
        .patch_review(
            &editor.token,
            id,
            &json!({ "subject": { "kind": "lens", "brand": "Canon", "model": "RF 50mm F1.8 STM", "specs": { "focal_min_mm": 50, "focal_max_mm": 50, "max_aperture": 1.8, "mount": "RF" } } }),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["subject"]["kind"], "lens");
    assert_eq!(answer.body["subject"]["slug"], "canon-rf-50mm-f1-8-stm");
    assert_eq!(answer.body["subject"]["specs"]["max_aperture"], 1.8);
    // Both subject pages changed: a CDN must purge the old one too.
    let keys = answer.header("surrogate-key").expect("Surrogate-Key");
    let old_subject = created.body["subject"]["slug"].as_str().expect("slug");
    assert_eq!(old_subject, "fujifilm-x-t5");
    assert_moved(
        &keys.split(' ').collect::<Vec<_>>(),
        id,
        &["canon-rf-50mm-f1-8-stm", old_subject],
    );
}

#[actix_web::test]
async fn a_matching_if_match_is_honoured_and_a_stale_one_is_412_and_changes_nothing() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let id = app
        .create_review(&editor.token, "Versioned")
        .await
        .created_id();
    let ok = app
        .patch_review(
            &editor.token,
            id,
            &json!({ "summary": "v2" }),
            Some("\"1\""),
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.header("etag"), Some("\"2\""));

    let before = app.get_review(&editor.token, id).await;
    let version_before = app.content_version().await;
    let audit_before = app.audit_actions().await;
    app.patch_review(
        &editor.token,
        id,
        &json!({ "summary": "lost update" }),
        Some("\"1\""),
    )
    .await
    .assert_problem(412, "precondition_failed");
    let after = app.get_review(&editor.token, id).await;
    assert_eq!(after.body, before.body, "nothing changed");
    assert_eq!(after.body["summary"], "v2");
    assert_eq!(app.content_version().await, version_before);
    assert_eq!(app.audit_actions().await, audit_before);
}

#[actix_web::test]
async fn another_editors_patch_and_delete_are_forbidden_but_an_admins_are_not() {
    let app = spawn_app().await;
    let author = app.new_editor("editor").await;
    let intruder = app.new_editor("editor").await;
    let id = app.create_review(&author.token, "Mine").await.created_id();
    let before = app.get_review(&author.token, id).await;

    app.patch_review(&intruder.token, id, &json!({ "title": "Theirs" }), None)
        .await
        .assert_problem(403, "forbidden");
    app.delete_review(&intruder.token, id)
        .await
        .assert_problem(403, "forbidden");
    let after = app.get_review(&author.token, id).await;
    assert_eq!(after.body, before.body);

    let by_admin = app
        .patch_review(
            &app.admin.token,
            id,
            &json!({ "title": "Edited by admin" }),
            None,
        )
        .await;
    assert_eq!(by_admin.status, 200, "{:?}", by_admin.body);
    assert_eq!(by_admin.body["editor"]["id"], author.id, "authorship stays");
    let deleted = app.delete_review(&app.admin.token, id).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
}

#[actix_web::test]
async fn a_retracted_review_is_gone_for_get_patch_and_delete() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let created = app.create_review(&editor.token, "Short-lived").await;
    let id = created.created_id();
    let deleted = app.delete_review(&editor.token, id).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    assert!(deleted.body.is_null());
    assert!(deleted.header("x-consistency-token").is_some());
    let subject = created.body["subject"]["slug"].as_str().expect("slug");
    // It moved: its lists' filters, the lists and its words too.
    let keys = deleted.header("surrogate-key").expect("Surrogate-Key");
    assert_moved(&keys.split(' ').collect::<Vec<_>>(), id, &[subject]);

    app.get_review(&editor.token, id)
        .await
        .assert_problem_status(404);
    app.patch_review(&editor.token, id, &json!({ "title": "Back" }), None)
        .await
        .assert_problem_status(404);
    app.delete_review(&editor.token, id)
        .await
        .assert_problem_status(404);
    app.request(
        awc::http::Method::PATCH,
        "/reviews/abc",
        Some(&editor.token),
        Some(&json!({ "title": "x" })),
        &[],
    )
    .await
    .assert_problem_status(404);
    // Soft delete: the row stays, marked.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM reviews WHERE id = $1 AND deleted_at IS NOT NULL",
            &[&id]
        )
        .await,
        1
    );
}

#[actix_web::test]
async fn patch_bodies_are_held_to_the_same_rules() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let id = app.create_review(&editor.token, "Rules").await.created_id();
    let answer = app
        .patch_review(
            &editor.token,
            id,
            &json!({ "title": "", "rating": 11, "language": "fr" }),
            None,
        )
        .await;
    answer.assert_invalid_field("title");
    answer.assert_invalid_field("rating");
    answer.assert_invalid_field("language");
    app.patch_review(&editor.token, id, &json!({ "version": 9 }), None)
        .await
        .assert_problem(422, "unknown_field");
    let read = app.get_review(&editor.token, id).await;
    assert_eq!(read.body["version"], 1);
    assert_eq!(read.body["title"], "Rules");
}

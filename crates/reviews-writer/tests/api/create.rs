//! `POST /reviews`: what a created review looks like, slugs, subjects, and
//! what the write leaves behind (audit, content version).

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{WriterAnswer as _, assert_moved, review_body, spawn_app, unique_title};

#[actix_web::test]
async fn a_published_review_is_created_with_location_etag_and_surrogate_keys() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let answer = app
        .post_review(&editor.token, &review_body("Fujifilm X-T5 review"), None)
        .await;
    let id = answer.created_id();
    let review = &answer.body;
    let slug = review["slug"].as_str().expect("slug");
    assert_eq!(slug, "fujifilm-x-t5-review");
    assert_eq!(
        answer.header("location"),
        Some(format!("/content/{slug}").as_str())
    );
    assert_eq!(review["url"], format!("/content/{slug}"));
    assert_eq!(answer.header("etag"), Some("\"1\""));
    assert_eq!(review["version"], 1);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let subject_slug = review["subject"]["slug"].as_str().expect("subject slug");
    assert_eq!(subject_slug, "fujifilm-x-t5");
    // It moved: its lists' filters, the lists and its words too.
    let keys = answer.header("surrogate-key").expect("Surrogate-Key");
    assert_moved(&keys.split(' ').collect::<Vec<_>>(), id, &[subject_slug]);
    assert!(answer.header("x-consistency-token").is_some());
    assert!(answer.header("x-request-id").is_some());

    assert_eq!(review["subject"]["kind"], "camera");
    assert_eq!(review["subject"]["brand"], "Fujifilm");
    assert_eq!(review["subject"]["model"], "X-T5");
    assert!(review["subject"]["id"].is_i64());
    assert_eq!(review["subject"]["specs"]["mount"], "X");
    assert_eq!(review["subject"]["specs"]["megapixels"], 40.2);
    assert_eq!(review["subject"]["specs"]["release_year"], 2022);
    assert!(
        review["subject"]["specs"].get("focal_min_mm").is_none(),
        "only known specs: {review:?}"
    );
    assert_eq!(review["editor"]["id"], editor.id);
    assert_eq!(review["editor"]["name"], "Editor Name");
    assert!(
        !answer.body.to_string().contains(&editor.email),
        "no editor email anywhere: {review:?}"
    );
    assert_eq!(review["title"], "Fujifilm X-T5 review");
    assert_eq!(review["summary"], "A small camera with a big sensor.");
    assert_eq!(review["body"], "## Handling\n\nDials everywhere.");
    assert_eq!(review["rating"], 8.5);
    assert_eq!(review["pros"], json!(["dials", "resolution"]));
    assert_eq!(review["cons"], json!(["battery"]));
    assert_eq!(
        review["image_urls"],
        json!(["https://img.example.com/xt5.jpg"])
    );
    assert_eq!(review["language"], "en");
    assert_eq!(review["status"], "published");
    assert!(review["published_at"].is_string(), "{review:?}");
    assert!(review["created_at"].is_string());
    assert!(review["updated_at"].is_string());

    // What the writer answers is what a later read shows.
    let read = app.get_review(&editor.token, id).await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.body, answer.body);
    assert_eq!(read.header("etag"), Some("\"1\""));
}

#[actix_web::test]
async fn a_minimal_review_gets_the_documented_defaults() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let answer = app
        .post_review(
            &editor.token,
            &json!({
                "subject": { "kind": "lens", "brand": "Sigma", "model": "35mm F1.4 DG DN Art" },
                "title": "Sigma 35 Art",
                "body": "Sharp."
            }),
            None,
        )
        .await;
    answer.created_id();
    let review = &answer.body;
    assert_eq!(review["language"], "es");
    assert_eq!(review["status"], "published");
    assert!(review["published_at"].is_string());
    assert!(review["rating"].is_null());
    assert_eq!(review["pros"], json!([]));
    assert_eq!(review["cons"], json!([]));
    assert_eq!(review["image_urls"], json!([]));
    assert_eq!(review["subject"]["kind"], "lens");
    assert_eq!(review["subject"]["slug"], "sigma-35mm-f1-4-dg-dn-art");
}

#[actix_web::test]
async fn a_draft_has_no_published_at_until_a_patch_publishes_it() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let mut body = review_body("Draft first");
    body["status"] = json!("draft");
    let created = app.post_review(&editor.token, &body, None).await;
    let id = created.created_id();
    assert_eq!(created.body["status"], "draft");
    assert!(created.body["published_at"].is_null(), "{:?}", created.body);

    let published = app
        .patch_review(&editor.token, id, &json!({ "status": "published" }), None)
        .await;
    assert_eq!(published.status, 200, "{:?}", published.body);
    assert_eq!(published.body["status"], "published");
    assert!(published.body["published_at"].is_string());
    assert_eq!(published.body["version"], 2);
    assert_eq!(published.header("etag"), Some("\"2\""));
    assert_eq!(published.body["slug"], created.body["slug"]);
}

#[actix_web::test]
async fn titles_make_accent_folded_slugs_and_collisions_get_numbered() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let first = app
        .create_review(&editor.token, "Cámara Ñandú: ¡Qué tal!")
        .await;
    let second = app
        .create_review(&editor.token, "Cámara Ñandú: ¡Qué tal!")
        .await;
    let third = app
        .create_review(&editor.token, "camara nandu que tal")
        .await;
    assert_eq!(first.body["slug"], "camara-nandu-que-tal");
    assert_eq!(second.body["slug"], "camara-nandu-que-tal-2");
    assert_eq!(third.body["slug"], "camara-nandu-que-tal-3");
    assert_eq!(
        second.header("location"),
        Some("/content/camara-nandu-que-tal-2")
    );
}

#[actix_web::test]
async fn a_title_of_digits_or_a_reserved_word_never_makes_a_bad_slug() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    for title in ["2024", "subjects", "compare", "!!!", "日本語"] {
        let answer = app.create_review(&editor.token, title).await;
        let slug = answer.body["slug"].as_str().expect("slug").to_owned();
        assert!(
            !slug.is_empty()
                && slug.len() <= 120
                && slug
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !slug.chars().all(|c| c.is_ascii_digit() || c == '-')
                && slug != "subjects"
                && slug != "compare",
            "title {title:?} made slug {slug:?}"
        );
    }
    let long = app.create_review(&editor.token, &"a".repeat(200)).await;
    assert!(long.body["slug"].as_str().expect("slug").len() <= 120);
}

#[actix_web::test]
async fn the_same_subject_is_reused_whatever_the_case_of_its_brand_and_model() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let first = app.create_review(&editor.token, "One").await;
    let mut body = review_body("Two");
    body["subject"]["brand"] = json!("FUJIFILM");
    body["subject"]["model"] = json!("x-t5");
    let second = app.post_review(&editor.token, &body, None).await;
    second.created_id();
    assert_eq!(second.body["subject"]["id"], first.body["subject"]["id"]);
    assert_eq!(second.body["subject"]["slug"], "fujifilm-x-t5");
    assert_eq!(app.count("SELECT count(*) FROM subjects", &[]).await, 1);

    // Another kind with the same names is another subject, with its own slug.
    let mut lens = review_body("Three");
    lens["subject"] = json!({ "kind": "lens", "brand": "Fujifilm", "model": "X-T5" });
    let third = app.post_review(&editor.token, &lens, None).await;
    third.created_id();
    assert_ne!(third.body["subject"]["id"], first.body["subject"]["id"]);
    assert_eq!(third.body["subject"]["slug"], "fujifilm-x-t5-2");
    assert_eq!(app.count("SELECT count(*) FROM subjects", &[]).await, 2);
}

#[actix_web::test]
async fn a_later_review_fills_in_unknown_specs_but_never_overwrites_known_ones() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let lens = |title: &str, specs: Value| {
        let mut body = review_body(title);
        body["subject"] =
            json!({ "kind": "lens", "brand": "Sigma", "model": "Art", "specs": specs });
        body
    };
    let first = app
        .post_review(
            &editor.token,
            &lens("One", json!({ "focal_min_mm": 24 })),
            None,
        )
        .await;
    first.created_id();
    let second = app
        .post_review(
            &editor.token,
            &lens("Two", json!({ "focal_min_mm": 35, "max_aperture": 1.4 })),
            None,
        )
        .await;
    second.created_id();
    assert_eq!(second.body["subject"]["specs"]["focal_min_mm"], 24.0);
    assert_eq!(second.body["subject"]["specs"]["max_aperture"], 1.4);

    // A filled-in maximum below the known minimum would break the catalog's
    // check: the review is still created and the catalog keeps what it had.
    let third = app
        .post_review(
            &editor.token,
            &lens("Three", json!({ "focal_max_mm": 10 })),
            None,
        )
        .await;
    third.created_id();
    assert!(
        third.body["subject"]["specs"].get("focal_max_mm").is_none(),
        "{:?}",
        third.body
    );
    assert_eq!(app.count("SELECT count(*) FROM subjects", &[]).await, 1);
}

#[actix_web::test]
async fn a_hundred_parallel_posts_with_distinct_keys_make_a_hundred_reviews_and_one_subject() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let bodies: Vec<_> = (0..100)
        .map(|i| {
            let mut body = review_body(&format!("Parallel {i}"));
            // A subject nobody used before: all hundred race to create it.
            body["subject"] = json!({ "kind": "camera", "brand": "Leica", "model": "Q3" });
            body
        })
        .collect();
    let keys: Vec<String> = (0..100).map(|i| format!("parallel-key-{i}")).collect();
    let answers = join_all(
        bodies
            .iter()
            .zip(&keys)
            .map(|(body, key)| app.post_review(&editor.token, body, Some(key))),
    )
    .await;
    let mut ids: Vec<i64> = answers.iter().map(|a| a.created_id()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 100);
    assert_eq!(app.review_count().await, 100);
    assert_eq!(app.count("SELECT count(*) FROM subjects", &[]).await, 1);
    assert!(
        answers
            .iter()
            .all(|a| a.body["subject"]["id"] == answers[0].body["subject"]["id"])
    );
}

#[actix_web::test]
async fn parallel_posts_with_one_title_get_one_numbered_slug_each() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let body = review_body("Same Title");
    let answers = join_all((0..60).map(|_| app.post_review(&editor.token, &body, None))).await;
    let mut slugs: Vec<String> = answers
        .iter()
        .map(|a| {
            a.created_id();
            a.body["slug"].as_str().expect("slug").to_owned()
        })
        .collect();
    slugs.sort();
    let mut expected: Vec<String> = (1..=60)
        .map(|n| {
            if n == 1 {
                "same-title".to_owned()
            } else {
                format!("same-title-{n}")
            }
        })
        .collect();
    expected.sort();
    assert_eq!(slugs, expected);
}

#[actix_web::test]
async fn every_write_is_audited_and_bumps_the_content_version() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let version_before = app.content_version().await;
    let audit_before = app.audit_actions().await.len();

    let id = app
        .create_review(&editor.token, &unique_title("Audited"))
        .await
        .created_id();
    let patched = app
        .patch_review(
            &editor.token,
            id,
            &json!({ "title": "Audited again" }),
            None,
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let deleted = app.delete_review(&editor.token, id).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);

    assert_eq!(app.content_version().await, version_before + 3);
    let actions = app.audit_actions().await;
    assert_eq!(
        actions[audit_before..],
        ["review_created", "review_updated", "review_retracted"],
        "{actions:?}"
    );
    let rows = app
        .db
        .primary_client()
        .await
        .query(
            "SELECT actor_id, entity_id FROM audit_log WHERE action LIKE 'review_%' ORDER BY id",
            &[],
        )
        .await
        .expect("audit rows");
    for row in rows {
        assert_eq!(row.get::<_, Option<i64>>(0), Some(editor.id));
        assert_eq!(row.get::<_, Option<String>>(1), Some(id.to_string()));
    }
}

#[actix_web::test]
async fn a_refused_write_changes_neither_the_content_version_nor_the_audit_log() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let version_before = app.content_version().await;
    let audit_before = app.audit_actions().await;
    let mut body = review_body("Bad");
    body["rating"] = json!(11);
    app.post_review(&editor.token, &body, None)
        .await
        .assert_invalid_field("rating");
    assert_eq!(app.content_version().await, version_before);
    assert_eq!(app.audit_actions().await, audit_before);
    assert_eq!(app.review_count().await, 0);
}

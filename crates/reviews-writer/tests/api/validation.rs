//! Every rule of SPEC §3 on a review body, the JSON rules of §4, and random
//! JSON thrown at `POST /reviews`: always a 4xx problem naming the field,
//! never a 5xx.

use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use crate::helpers::{WriterAnswer as _, review_body, spawn_app};

/// `review_body` with `path` (dotted; `[i]` not needed) set to `value`.
fn with(path: &str, value: Value) -> Value {
    let mut body = review_body("Valid title");
    let mut target = &mut body;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            target[part] = value;
            break;
        }
        target = &mut target[part];
    }
    body
}

/// `review_body` without the field at `path`.
fn without(path: &str) -> Value {
    let mut body = review_body("Valid title");
    let (parent, field) = path.rsplit_once('.').unwrap_or(("", path));
    let target = if parent.is_empty() {
        &mut body
    } else {
        parent.split('.').fold(&mut body, |t, p| &mut t[p])
    };
    target.as_object_mut().expect("object").remove(field);
    body
}

fn strings(n: usize, item: &str) -> Value {
    json!(vec![item; n])
}

#[actix_web::test]
async fn every_limit_of_spec_3_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let long_pro = "p".repeat(201);
    let cases: Vec<(Value, &str)> = vec![
        (with("title", json!("")), "title"),
        (with("title", json!("t".repeat(201))), "title"),
        (with("title", json!("   \t  ")), "title"),
        (with("title", json!("bell\u{7}title")), "title"),
        (with("title", json!("nul\u{0}title")), "title"),
        (with("title", json!(5)), "title"),
        (without("title"), "title"),
        (with("summary", json!("s".repeat(501))), "summary"),
        (with("body", json!("")), "body"),
        (with("body", json!("  \n ")), "body"),
        (with("body", json!("b".repeat(100_001))), "body"),
        (without("body"), "body"),
        (with("rating", json!(10.5)), "rating"),
        (with("rating", json!(-0.5)), "rating"),
        (with("rating", json!(7.3)), "rating"),
        (with("rating", json!("8")), "rating"),
        (with("pros", strings(21, "fine")), "pros"),
        (
            with("pros", json!(["a", "b", "c", long_pro.as_str()])),
            "pros[3]",
        ),
        (with("pros", json!("not a list")), "pros"),
        (with("cons", json!(["ok", ""])), "cons[1]"),
        (with("cons", json!(["   "])), "cons[0]"),
        (with("cons", json!([1])), "cons[0]"),
        (
            with("image_urls", json!(["http://img.example.com/a.jpg"])),
            "image_urls[0]",
        ),
        (
            with(
                "image_urls",
                json!(["https://ok.example.com/a.jpg", "javascript:alert(1)"]),
            ),
            "image_urls[1]",
        ),
        (with("image_urls", json!(["not a url"])), "image_urls[0]"),
        (
            with("image_urls", strings(21, "https://img.example.com/a.jpg")),
            "image_urls",
        ),
        (with("language", json!("fr")), "language"),
        (with("language", json!("")), "language"),
        (with("status", json!("gone")), "status"),
        (with("subject.kind", json!("phone")), "subject.kind"),
        (with("subject.brand", json!("")), "subject.brand"),
        (with("subject.brand", json!("   ")), "subject.brand"),
        (
            with("subject.brand", json!("b".repeat(101))),
            "subject.brand",
        ),
        (with("subject.model", json!("\u{1b}[31m")), "subject.model"),
        (without("subject.model"), "subject.model"),
        (without("subject"), "subject"),
        (with("subject", json!("Fujifilm X-T5")), "subject"),
        // serde would fill a struct from an array, positionally.
        (
            with("subject", json!(["camera", "Sony", "A7 IV"])),
            "subject",
        ),
        (with("subject.specs", json!([null, null])), "subject.specs"),
        (
            with("subject.specs.megapixels", json!(-1)),
            "subject.specs.megapixels",
        ),
        (
            with("subject.specs.megapixels", json!("forty")),
            "subject.specs.megapixels",
        ),
        (
            with("subject.specs.release_year", json!(1700)),
            "subject.specs.release_year",
        ),
        (
            with("subject.specs.mount", json!("m".repeat(51))),
            "subject.specs.mount",
        ),
    ];
    for (body, field) in cases {
        let answer = app.post_review(&editor.token, &body, None).await;
        assert_eq!(
            answer.status, 422,
            "{field}: expected 422, got {} {:?}",
            answer.status, answer.body
        );
        answer.assert_invalid_field(field);
    }
    assert_eq!(app.review_count().await, 0);
}

#[actix_web::test]
async fn lens_specs_on_a_camera_and_an_inverted_focal_range_are_refused() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let mut camera_with_focal = review_body("Mixed");
    camera_with_focal["subject"]["specs"]["focal_min_mm"] = json!(24);
    let mut inverted = review_body("Inverted");
    inverted["subject"] = json!({
        "kind": "lens", "brand": "Tamron", "model": "28-75",
        "specs": { "focal_min_mm": 75, "focal_max_mm": 28 }
    });
    for body in [camera_with_focal, inverted] {
        let answer = app.post_review(&editor.token, &body, None).await;
        answer.assert_problem(422, "validation_failed");
        assert!(
            answer
                .error_fields()
                .iter()
                .any(|f| f.starts_with("subject.specs")),
            "{:?}",
            answer.body
        );
    }
    assert_eq!(app.review_count().await, 0);
}

#[actix_web::test]
async fn every_violation_is_listed_in_one_answer() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let body = json!({
        "subject": { "kind": "phone", "brand": "", "model": "M" },
        "title": "",
        "body": "",
        "rating": 10.5,
        "pros": ["a", "b", "c", "p".repeat(201)],
        "image_urls": ["http://insecure.example.com/x.jpg"],
        "language": "fr",
        "status": "gone"
    });
    let answer = app.post_review(&editor.token, &body, None).await;
    for field in [
        "subject.kind",
        "subject.brand",
        "title",
        "body",
        "rating",
        "pros[3]",
        "image_urls[0]",
        "language",
        "status",
    ] {
        answer.assert_invalid_field(field);
    }
    for error in answer.body["errors"].as_array().expect("errors") {
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{error:?}"
        );
    }
}

#[actix_web::test]
async fn unknown_fields_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    for (body, name) in [
        (with("editor_id", json!(1)), "editor_id"),
        (with("version", json!(7)), "version"),
        (
            with("created_at", json!("2020-01-01T00:00:00Z")),
            "created_at",
        ),
        (with("subject.color", json!("black")), "color"),
        (with("subject.specs.iso_max", json!(51200)), "iso_max"),
    ] {
        let answer = app.post_review(&editor.token, &body, None).await;
        answer.assert_problem(422, "unknown_field");
        let named = answer.error_fields().iter().any(|f| f.contains(name))
            || answer.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains(name));
        assert!(named, "{name} not named: {:?}", answer.body);
    }
    assert_eq!(app.review_count().await, 0);
}

#[actix_web::test]
async fn malformed_oversized_and_non_json_bodies_are_4xx_problems() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let token = editor.token.as_str();
    app.post_raw_review(token, "application/json", b"{\"title\":".to_vec(), &[])
        .await
        .assert_problem(400, "malformed_json");
    app.post_raw_review(token, "application/json", Vec::new(), &[])
        .await
        .assert_problem(400, "malformed_json");
    app.post_raw_review(token, "application/json", b"{} trailing".to_vec(), &[])
        .await
        .assert_problem(400, "malformed_json");
    app.post_raw_review(token, "application/json", vec![0xff, 0xfe, b'{', b'}'], &[])
        .await
        .assert_problem_status(400);
    let valid = serde_json::to_vec(&review_body("Typed")).expect("json");
    app.post_raw_review(token, "text/plain", valid.clone(), &[])
        .await
        .assert_problem(415, "unsupported_media_type");
    app.post_raw_review(
        token,
        "application/x-www-form-urlencoded",
        b"title=x".to_vec(),
        &[],
    )
    .await
    .assert_problem(415, "unsupported_media_type");
    for top in ["[1,2]", "\"a string\"", "42", "null"] {
        app.post_raw_review(token, "application/json", top.as_bytes().to_vec(), &[])
            .await
            .assert_problem(422, "validation_failed");
    }
    // Deep nesting is read without recursing into it: unfinished, it is a
    // syntax error (400); finished, it is no object (422).
    let deep = "[".repeat(10_000);
    let closed = format!("{deep}{}", "]".repeat(10_000));
    app.post_raw_review(token, "application/json", deep.into_bytes(), &[])
        .await
        .assert_problem(400, "malformed_json");
    app.post_raw_review(token, "application/json", closed.into_bytes(), &[])
        .await
        .assert_problem_status(422);

    // A 1 MB body (under the 1 MiB limit) whose `body` breaks §3's length.
    let one_mb = with("body", json!("b".repeat(1_000_000 - 1_000)));
    let answer = app.post_review(token, &one_mb, None).await;
    answer.assert_invalid_field("body");
    // Over 1 MiB: refused before parsing.
    let huge = with("body", json!("b".repeat(2 * 1024 * 1024)));
    app.post_review(token, &huge, None)
        .await
        .assert_problem(413, "payload_too_large");
    let just_over = with("body", json!("b".repeat(1024 * 1024)));
    app.post_review(token, &just_over, None)
        .await
        .assert_problem_status(413);
    assert_eq!(app.review_count().await, 0);

    // JSON with a charset parameter is still JSON.
    let ok = app
        .post_raw_review(token, "application/json; charset=utf-8", valid, &[])
        .await;
    ok.created_id();
}

/// Arbitrary JSON, nested a few levels, with keys that are sometimes the
/// real field names.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0_u32..30).prop_map(|n| json!(f64::from(n) / 2.0)),
        "\\PC{0,40}".prop_map(Value::String),
        "[\\x00-\\x1f ]{0,5}".prop_map(Value::String),
        prop_oneof![
            Just("camera"),
            Just("lens"),
            Just("draft"),
            Just("published"),
            Just("es"),
            Just("https://x.example.com/a.jpg"),
        ]
        .prop_map(|s| Value::String(s.into())),
        (0_usize..3).prop_map(|n| Value::String("x".repeat([201, 501, 100_001][n]))),
    ];
    let key = prop_oneof![
        prop_oneof![
            Just("subject"),
            Just("kind"),
            Just("brand"),
            Just("model"),
            Just("specs"),
            Just("megapixels"),
            Just("focal_min_mm"),
            Just("title"),
            Just("body"),
            Just("rating"),
            Just("pros"),
            Just("image_urls"),
            Just("language"),
            Just("status"),
        ]
        .prop_map(str::to_owned),
        "\\PC{0,12}",
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A valid body with one field replaced by arbitrary JSON or removed.
fn arb_mutation() -> impl Strategy<Value = Value> {
    let paths = prop_oneof![
        Just("subject"),
        Just("subject.kind"),
        Just("subject.brand"),
        Just("subject.model"),
        Just("subject.specs"),
        Just("subject.specs.megapixels"),
        Just("subject.specs.release_year"),
        Just("subject.specs.focal_max_mm"),
        Just("title"),
        Just("summary"),
        Just("body"),
        Just("rating"),
        Just("pros"),
        Just("cons"),
        Just("image_urls"),
        Just("language"),
        Just("status"),
    ];
    (paths, proptest::option::of(arb_json())).prop_map(|(path, value)| match value {
        Some(value) => with(path, value),
        None => without(path),
    })
}

#[actix_web::test]
async fn random_json_thrown_at_post_reviews_never_gets_a_5xx() {
    // The values are drawn up front (no shrinking), then sent one by one:
    // every answer must be a 201 or a 4xx problem, never a 5xx.
    let mut runner = TestRunner::new(Config::with_cases(48));
    let mut values = Vec::new();
    for _ in 0..48 {
        values.push(arb_json().new_tree(&mut runner).expect("value").current());
        values.push(
            arb_mutation()
                .new_tree(&mut runner)
                .expect("value")
                .current(),
        );
    }
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    for value in &values {
        let answer = app.post_review(&editor.token, value, None).await;
        let status = answer.status.as_u16();
        assert!(
            status == 201 || (400..500).contains(&status),
            "{status} for {value}: {:?}",
            answer.body
        );
        if status != 201 {
            answer.assert_problem_status(status);
        }
    }
}

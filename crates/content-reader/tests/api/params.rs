//! Bad query parameters: a 400 problem+json naming the parameter, never a
//! 5xx, whatever the input.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::helpers::{Answer, ReaderAnswer as _, TestApp, spawn_app};

/// Percent-encodes everything but unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn assert_names(answer: &Answer, field: &str, what: &str) {
    assert_eq!(
        answer.status.as_u16(),
        400,
        "{what}: {} {:?}",
        answer.status,
        answer.body
    );
    answer.assert_invalid_parameter(field);
    assert_eq!(answer.header("x-region"), Some("eu"), "{what}");
    assert_eq!(answer.header("x-served-from"), Some("none"), "{what}");
    let text = answer.body.to_string().to_lowercase();
    for leak in ["select ", "syntax error", "postgres", "panicked"] {
        assert!(!text.contains(leak), "{what} leaks {leak}: {text}");
    }
}

const SQL: &str = "'; DROP TABLE reviews; --";
const HTML: &str = "<script>alert(1)</script>";

#[actix_web::test]
async fn every_invalid_list_parameter_is_a_400_naming_it() {
    let app = spawn_app().await;
    let ten_kb = "x".repeat(10 * 1024);
    let ten_kb_digits = "9".repeat(10 * 1024);
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("q", vec!["", "   ", &ten_kb, "\u{1}sony", &ten_kb_digits]),
        ("kind", vec!["phone", "", SQL, HTML, &ten_kb]),
        ("brand", vec!["", " ", &ten_kb, "So\u{7}ny"]),
        (
            "subject",
            vec![
                "Not A Slug",
                "",
                "1234",
                SQL,
                HTML,
                &ten_kb,
                "sony--a7",
                "ç-slug",
            ],
        ),
        (
            "editor",
            vec![
                "-1",
                "0",
                "abc",
                "99999999999999999999",
                "1.5",
                "",
                SQL,
                &ten_kb_digits,
            ],
        ),
        ("language", vec!["fr", "", "español", SQL, HTML]),
        (
            "rating_min",
            vec![
                "-1",
                "-0.5",
                "11",
                "10.5",
                "NaN",
                "inf",
                "abc",
                "1e400",
                "",
                SQL,
                &ten_kb_digits,
            ],
        ),
        (
            "rating_max",
            vec!["-1", "11", "NaN", "-inf", "x", "", HTML, &ten_kb_digits],
        ),
        (
            "published_after",
            vec![
                "yesterday",
                "2024-13-01",
                "2024-02-30",
                "2024-1-1",
                "",
                "0",
                "-1",
                SQL,
                &ten_kb_digits,
                &ten_kb,
            ],
        ),
        (
            "published_before",
            vec![
                "tomorrow",
                "2024-00-10",
                "2024-02-10T25:00:00Z",
                "",
                HTML,
                &ten_kb,
            ],
        ),
        ("sort", vec!["best", "", "NEWEST", SQL, HTML, &ten_kb]),
        (
            "limit",
            vec![
                "0",
                "-1",
                "101",
                "abc",
                "99999999999999999999",
                "1.5",
                "",
                SQL,
                &ten_kb_digits,
            ],
        ),
    ];
    for (name, values) in cases {
        for value in values {
            let q = query(&[(name, value)]);
            let answer = app.get(&format!("/content?{q}")).await;
            let shown: String = value.chars().take(30).collect();
            assert_names(&answer, name, &format!("{name}={shown}"));
        }
    }
    // Relevance needs a query to rank by.
    assert_names(
        &app.get("/content?sort=relevance").await,
        "sort",
        "relevance",
    );
    // Ranges must not be inverted.
    assert_names(
        &app.get("/content?rating_min=8&rating_max=7").await,
        "rating_min",
        "inverted ratings",
    );
    assert_names(
        &app.get("/content?published_after=2024-02-01&published_before=2024-01-01")
            .await,
        "published_after",
        "inverted dates",
    );
    // Unknown and repeated parameters.
    assert_names(&app.get("/content?bogus=1").await, "bogus", "unknown");
    assert_names(&app.get("/content?page=2").await, "page", "unknown");
    assert_names(
        &app.get("/content?kind=camera&kind=lens").await,
        "kind",
        "repeated",
    );
    assert_names(
        &app.get("/content?limit=1&limit=1").await,
        "limit",
        "repeated",
    );
}

#[actix_web::test]
async fn valid_edge_values_of_every_list_parameter_are_accepted() {
    let app = spawn_app().await;
    let q201 = "a".repeat(200);
    for q in [
        query(&[("limit", "1")]),
        query(&[("limit", "100")]),
        query(&[("rating_min", "0"), ("rating_max", "10")]),
        query(&[("rating_min", "7.5"), ("rating_max", "7.5")]),
        query(&[
            ("published_after", "2024-01-01"),
            ("published_before", "2024-01-01"),
        ]),
        query(&[("published_after", "2024-01-01T10:00:00+02:00")]),
        query(&[("q", &q201)]),
        query(&[("q", SQL)]),
        query(&[("q", HTML)]),
        query(&[("q", "\"full frame\" or sony -canon")]),
        query(&[("q", "カメラ 📷")]),
        query(&[("brand", SQL)]),
        query(&[("kind", "lens"), ("sort", "oldest")]),
        query(&[("language", "pt"), ("sort", "rating")]),
        query(&[("editor", "9223372036854775807")]),
    ] {
        let answer = app.get(&format!("/content?{q}")).await;
        assert_eq!(answer.status.as_u16(), 200, "{q}: {:?}", answer.body);
        assert!(answer.body["data"].is_array(), "{q}");
    }
}

#[actix_web::test]
async fn invalid_parameters_of_the_other_routes_are_400s_naming_them() {
    let app = spawn_app().await;
    let ten_kb = "x".repeat(10 * 1024);
    for (path, field) in [
        ("/content/subjects?kind=phone".to_owned(), "kind"),
        ("/content/subjects?limit=0".to_owned(), "limit"),
        ("/content/subjects?limit=101".to_owned(), "limit"),
        ("/content/subjects?q=".to_owned(), "q"),
        (format!("/content/subjects?q={ten_kb}"), "q"),
        ("/content/subjects?brand=".to_owned(), "brand"),
        ("/content/subjects?sort=newest".to_owned(), "sort"),
        ("/content/subjects?kind=lens&kind=lens".to_owned(), "kind"),
        ("/content/some-review?expand=all".to_owned(), "expand"),
        ("/content/42?limit=1".to_owned(), "limit"),
        ("/content/subjects/sony-a7-iv?x=1".to_owned(), "x"),
        ("/content/compare".to_owned(), "subjects"),
        ("/content/compare?subjects=".to_owned(), "subjects"),
        ("/content/compare?subjects=a,b&limit=2".to_owned(), "limit"),
        (
            format!("/content/compare?subjects=a,{}", encode(SQL)),
            "subjects",
        ),
        (
            format!("/content/compare?subjects={},b", encode(HTML)),
            "subjects",
        ),
    ] {
        let answer = app.get(&path).await;
        let shown: String = path.chars().take(60).collect();
        assert_names(&answer, field, &shown);
    }
}

#[actix_web::test]
async fn text_parameters_that_are_not_utf8_are_400s_not_searched_for() {
    let app = spawn_app().await;
    // The query decoder would turn these into U+FFFD and search for that.
    for (path, field) in [
        ("/content?q=%ff%fe", "q"),
        ("/content?q=caf%e9", "q"),
        ("/content?brand=%c0%af", "brand"),
        ("/content/subjects?q=sony%80", "q"),
        ("/content/subjects?brand=%ed%a0%80", "brand"),
    ] {
        assert_names(&app.get(path).await, field, path);
    }
    // Percent-encoded UTF-8 is still fine.
    let accepted = app.get("/content?q=c%C3%A1mara").await;
    assert_eq!(accepted.status.as_u16(), 200, "{:?}", accepted.body);
}

/// One random parameter: a known name or noise, and any kind of value.
fn pair() -> impl Strategy<Value = (String, String)> {
    let names = prop_oneof![
        4 => proptest::sample::select(vec![
            "q", "kind", "brand", "subject", "editor", "language", "rating_min",
            "rating_max", "published_after", "published_before", "sort", "limit", "cursor",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,12}",
        1 => "[a-z_]{1,16}",
    ];
    let values = prop_oneof![
        3 => "\\PC{0,40}",
        1 => "[0-9.eE+-]{0,24}",
        1 => proptest::sample::select(vec![
            "'", "\"", "';--", "' OR '1'='1", "%", "_", "\\", "$1", "<b>", "&amp;", "\0",
            "\u{202e}", "💥", "NaN", "-0", "1e309", "2024-02-30", "newest", "relevance",
            "camera", "es",
        ])
        .prop_map(str::to_owned),
        // Up to 10 kB of UTF-8.
        1 => (proptest::sample::select(vec!['a', '9', 'é', '\'', ' ', '💥']), 1_000usize..10_240)
            .prop_map(|(c, bytes)| std::iter::repeat_n(c, bytes / c.len_utf8()).collect::<String>()),
    ];
    (names, values)
}

fn random_path(pairs: &[(String, String)]) -> String {
    let q = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!("/content?{q}")
}

async fn status_of(app: &TestApp, path: &str) -> (u16, Answer) {
    let answer = app.get(path).await;
    (answer.status.as_u16(), answer)
}

#[test]
fn random_query_strings_never_get_a_5xx() {
    let system = actix_web::rt::System::new();
    let app = system.block_on(async {
        let app = spawn_app().await;
        let published = app
            .publish_titled("Cámara de prueba para consultas aleatorias")
            .await;
        app.wait_listed(published.body["id"].as_i64().expect("id"))
            .await;
        app
    });
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&proptest::collection::vec(pair(), 0..5), |pairs| {
        let path = random_path(&pairs);
        // Beyond what an HTTP client can put in a request line at all.
        prop_assume!(path.len() < 65_000);
        let (status, answer) = system.block_on(status_of(&app, &path));
        prop_assert!(status < 500, "{status} for {path:.200}: {:?}", answer.body);
        if status == 400 {
            prop_assert_eq!(
                answer.header("content-type"),
                Some("application/problem+json")
            );
            prop_assert!(
                answer.body["errors"][0]["field"].is_string(),
                "{:?}",
                answer.body
            );
        } else {
            prop_assert_eq!(status, 200, "{:?}", answer.body);
        }
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

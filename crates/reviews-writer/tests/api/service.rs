//! What every service serves (SPEC §4 "every service") and the shared HTTP
//! conventions, as the writer shows them.

use awc::http::Method;

use crate::helpers::{WriterAnswer as _, spawn_app};

#[actix_web::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", None).await.status, 200);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);

    let editor = app.new_editor("editor").await;
    app.create_review(&editor.token, "Counted").await;
    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, 200);
    let text = metrics.body.as_str().expect("text exposition").to_owned();
    assert!(text.contains("rcr_reviews_written_total"), "{text}");

    let doc = app.get("/openapi.json", None).await;
    assert_eq!(doc.status, 200, "{:?}", doc.body);
    assert!(
        doc.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{:?}",
        doc.body["openapi"]
    );
    let paths = &doc.body["paths"];
    for (path, methods) in [
        ("/reviews", &["get", "post"][..]),
        ("/reviews/{id}", &["get", "patch", "delete"][..]),
    ] {
        for method in methods {
            assert!(
                paths[path][method].is_object(),
                "{method} {path} missing from the OpenAPI document"
            );
        }
    }
}

#[actix_web::test]
async fn every_answer_carries_a_request_id_and_nosniff_and_unknown_routes_are_problems() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let created = app.create_review(&editor.token, "Headers").await;
    assert!(
        created
            .header("x-request-id")
            .is_some_and(|v| !v.is_empty())
    );
    assert_eq!(created.header("x-content-type-options"), Some("nosniff"));

    let echoed = app
        .request(
            Method::GET,
            "/reviews",
            Some(&editor.token),
            None,
            &[("x-request-id", "trace-writer-1")],
        )
        .await;
    assert_eq!(echoed.header("x-request-id"), Some("trace-writer-1"));

    let missing = app.get("/nope", None).await;
    missing.assert_problem(404, "not_found");
    assert_eq!(missing.header("x-content-type-options"), Some("nosniff"));
    let wrong = app
        .request(Method::PUT, "/reviews", Some(&editor.token), None, &[])
        .await;
    wrong.assert_problem(405, "method_not_allowed");
    assert!(wrong.header("allow").is_some(), "{:?}", wrong.headers);
}

#[actix_web::test]
async fn read_only_routes_answer_head_and_other_methods_get_405_with_allow() {
    // Found by the contract fuzzing (tests/contract.rs): TRACE /healthz was
    // a 404 instead of a 405, and HEAD /reviews a 405 whose Allow listed HEAD.
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        for method in [Method::TRACE, Method::POST, Method::DELETE] {
            let answer = app.request(method.clone(), path, None, None, &[]).await;
            answer.assert_problem(405, "method_not_allowed");
            assert_eq!(answer.header("allow"), Some("GET, HEAD"), "{method} {path}");
        }
    }
    let editor = app.new_editor("editor").await;
    let id = app.create_review(&editor.token, "Head").await.created_id();
    let review = format!("/reviews/{id}");
    for path in ["/reviews", review.as_str(), "/healthz", "/openapi.json"] {
        let answer = app
            .request(Method::HEAD, path, Some(&editor.token), None, &[])
            .await;
        assert_eq!(answer.status.as_u16(), 200, "HEAD {path}");
    }
}

//! SPEC §4's conventions as the auth service shows them.

use awc::http::Method;
use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn malformed_bodies_get_4xx_problems_never_500() {
    let app = spawn_app().await;
    app.post_raw(
        "/auth/login",
        "application/json",
        b"{\"email\":".to_vec(),
        &[],
    )
    .await
    .assert_problem(400, "malformed_json");
    app.post_raw("/auth/login", "text/plain", b"{}".to_vec(), &[])
        .await
        .assert_problem(415, "unsupported_media_type");
    app.post_raw(
        "/auth/login",
        "application/x-www-form-urlencoded",
        b"email=a".to_vec(),
        &[],
    )
    .await
    .assert_problem(415, "unsupported_media_type");
    let huge = format!(
        "{{\"email\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(2 * 1024 * 1024)
    );
    app.post_raw("/auth/login", "application/json", huge.into_bytes(), &[])
        .await
        .assert_problem(413, "payload_too_large");
    app.post_raw("/auth/login", "application/json", Vec::new(), &[])
        .await
        .assert_problem(400, "malformed_json");
    app.post_raw("/auth/login", "application/json", b"[1,2]".to_vec(), &[])
        .await
        .assert_problem(422, "validation_failed");
    // Deep nesting is read without recursing into it: unfinished, it is a
    // syntax error (400); finished, it is no object (422).
    let deep = "[".repeat(10_000);
    app.post_raw(
        "/auth/login",
        "application/json",
        deep.clone().into_bytes(),
        &[],
    )
    .await
    .assert_problem(400, "malformed_json");
    let closed = format!("{deep}{}", "]".repeat(10_000));
    app.post_raw("/auth/login", "application/json", closed.into_bytes(), &[])
        .await
        .assert_problem(422, "validation_failed");
    app.post(
        "/auth/login",
        None,
        &json!({ "email": "a@b.co", "password": "x", "extra": true }),
    )
    .await
    .assert_problem(422, "unknown_field");
}

#[actix_web::test]
async fn unknown_paths_and_methods_are_problems() {
    let app = spawn_app().await;
    app.get("/nope", None)
        .await
        .assert_problem(404, "not_found");
    let answer = app.get("/auth/login", None).await;
    answer.assert_problem(405, "method_not_allowed");
    assert_eq!(answer.header("allow"), Some("POST"));
}

#[actix_web::test]
async fn every_answer_carries_a_request_id_and_nosniff() {
    let app = spawn_app().await;
    let answer = app.get("/healthz", None).await;
    assert_eq!(answer.status, 200);
    assert!(answer.header("x-request-id").is_some_and(|v| !v.is_empty()));
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));

    let client = awc::Client::default();
    let res = client
        .get(app.url("/nope"))
        .insert_header(("x-request-id", "trace-123"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        res.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("trace-123")
    );
    let res = client
        .get(app.url("/healthz"))
        .insert_header(("x-request-id", "bad id with spaces"))
        .send()
        .await
        .expect("sent");
    let echoed = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(!echoed.is_empty() && echoed != "bad id with spaces");
}

#[actix_web::test]
async fn health_readiness_metrics_and_openapi_are_served() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz", None).await.status, 200);
    app.login("nobody@example.com", "wrong password!").await;
    let client = awc::Client::default();
    let mut res = client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    let text = String::from_utf8(res.body().await.expect("body").to_vec()).expect("utf8");
    assert!(text.contains("rcr_http_requests_total"), "{text}");
    assert!(text.contains("rcr_logins_total"), "{text}");
    assert!(text.contains("rcr_db_pool_connections"), "{text}");
    assert!(text.contains("route=\"/auth/login\""), "{text}");
    let doc = app.get("/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    assert!(
        doc.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    // Every route the service mounts is described.
    for path in [
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/me",
        "/auth/me/password",
        "/auth/editors",
        "/auth/editors/{id}",
        "/auth/password-reset",
        "/auth/me/sessions",
        "/auth/me/sessions/{sid}",
        "/auth/me/audit",
        "/auth/editors/{id}/password-reset",
        "/auth/editors/{id}/sessions",
        "/auth/editors/{id}/sessions/{sid}",
        "/auth/editors/{id}/audit",
        "/.well-known/jwks.json",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc.body["paths"].get(path).is_some(), "{path} undocumented");
    }
}

#[actix_web::test]
async fn read_only_routes_answer_head_and_other_methods_get_405_with_allow() {
    // Found by the contract fuzzing (tests/contract.rs): TRACE /healthz was
    // a 404 instead of a 405, and HEAD /auth/me a 405 whose Allow listed HEAD.
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, _, _) = app.create_editor("editor").await;
    let client = awc::Client::default();
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        for method in [Method::TRACE, Method::POST, Method::DELETE] {
            let res = client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .expect("answer");
            assert_eq!(res.status().as_u16(), 405, "{method} {path}");
            assert_eq!(
                res.headers().get("allow").and_then(|v| v.to_str().ok()),
                Some("GET, HEAD"),
                "{method} {path}"
            );
        }
    }
    let editor = format!("/auth/editors/{id}");
    let sessions = format!("/auth/editors/{id}/sessions");
    let trail = format!("/auth/editors/{id}/audit");
    for path in [
        "/auth/me",
        "/auth/me/sessions",
        "/auth/me/audit",
        "/auth/editors",
        editor.as_str(),
        sessions.as_str(),
        trail.as_str(),
        "/.well-known/jwks.json",
        "/healthz",
        "/openapi.json",
    ] {
        let res = client
            .request(Method::HEAD, app.url(path))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("answer");
        assert_eq!(res.status().as_u16(), 200, "HEAD {path}");
    }
}

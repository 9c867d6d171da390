use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, spawn_app, spawn_app_with, unique_email};

#[actix_web::test]
async fn an_editor_logs_in_and_reads_their_own_account() {
    let app = spawn_app().await;
    let answer = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(answer.body["expires_in"], 900);
    assert_eq!(answer.body["editor"]["email"], ADMIN_EMAIL);
    assert_eq!(answer.body["editor"]["role"], "admin");
    assert!(answer.body["editor"].get("password_hash").is_none());
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let token = answer.body["access_token"].as_str().expect("token");

    let me = app.get("/auth/me", Some(token)).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["email"], ADMIN_EMAIL);
    assert!(me.body["last_login_at"].is_string());
    app.assert_audited("login_succeeded").await;
}

#[actix_web::test]
async fn login_is_case_insensitive_on_the_email() {
    let app = spawn_app().await;
    let answer = app.login(&ADMIN_EMAIL.to_uppercase(), ADMIN_PASSWORD).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
}

#[actix_web::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    let unknown = app
        .login(&unique_email("nobody"), "whatever password")
        .await;
    let wrong = app.login(ADMIN_EMAIL, "not the password at all").await;
    unknown.assert_problem(401, "invalid_credentials");
    wrong.assert_problem(401, "invalid_credentials");
    let strip = |mut v: serde_json::Value| {
        v.as_object_mut().expect("object").remove("request_id");
        v
    };
    assert_eq!(strip(unknown.body), strip(wrong.body));
    assert!(
        app.audit_actions()
            .await
            .iter()
            .filter(|a| *a == "login_failed")
            .count()
            >= 2
    );
}

#[actix_web::test]
async fn a_login_email_with_a_nul_character_is_an_unknown_email_not_a_server_error() {
    let app = spawn_app().await;
    // PostgreSQL text cannot hold NUL: looking it up would fail the query.
    for email in ["a\u{0}@example.com", &format!("{ADMIN_EMAIL}\u{0}")] {
        let answer = app.login(email, ADMIN_PASSWORD).await;
        answer.assert_problem(401, "invalid_credentials");
    }
}

#[actix_web::test]
async fn repeated_failures_for_one_email_are_throttled_with_retry_after() {
    let app = spawn_app_with(|s| s.throttle.per_email = 3).await;
    let (_, email, password) = app.create_editor("editor").await;
    for _ in 0..3 {
        app.login(&email, "wrong password here")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    // Even the right password is refused while throttled.
    let answer = app.login(&email, &password).await;
    answer.assert_problem(429, "too_many_requests");
    let retry: u64 = answer
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry), "{retry}");
}

#[actix_web::test]
async fn repeated_failures_from_one_ip_are_throttled_across_emails() {
    let app = spawn_app_with(|s| s.throttle.per_ip = 4).await;
    let ip = format!("203.0.113.{}", rand_octet());
    for _ in 0..4 {
        app.login_from(&unique_email("spray"), "wrong password here", &ip)
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let answer = app
        .login_from(&unique_email("spray"), "wrong password here", &ip)
        .await;
    answer.assert_problem(429, "too_many_requests");
    assert!(answer.header("retry-after").is_some());
    // Another address is not affected.
    let other = format!("198.51.100.{}", rand_octet());
    let unaffected = app.login_from(ADMIN_EMAIL, ADMIN_PASSWORD, &other).await;
    assert_eq!(unaffected.status, 200, "{:?}", unaffected.body);
}

fn rand_octet() -> u8 {
    (uuid::Uuid::new_v4().as_bytes()[0] % 250) + 1
}

#[actix_web::test]
async fn a_disabled_editor_cannot_log_in() {
    let app = spawn_app().await;
    let (id, email, password) = app.create_editor("editor").await;
    app.disable_editor(id).await;
    app.login(&email, &password)
        .await
        .assert_problem(403, "account_disabled");
}

#[actix_web::test]
async fn the_login_body_is_held_to_the_json_rules() {
    let app = spawn_app().await;
    app.post("/auth/login", None, &json!({ "email": ADMIN_EMAIL }))
        .await
        .assert_problem(422, "validation_failed");
    app.post(
        "/auth/login",
        None,
        &json!({ "email": ADMIN_EMAIL, "password": "x", "role": "admin" }),
    )
    .await
    .assert_problem(422, "unknown_field");
    app.post("/auth/login", None, &json!({ "email": 5, "password": "x" }))
        .await
        .assert_problem(422, "validation_failed");
}

//! Password resets an admin issues and an editor spends.

use awc::http::Method;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, logs, spawn_app, spawn_app_with};

const NEW_PASSWORD: &str = "a freshly reset password";

/// A refused reset's body without its request id, to compare refusals.
fn refusal(app_answer: test_support::http::Answer) -> Value {
    app_answer.assert_problem(400, "invalid_reset_token");
    let mut body = app_answer.body;
    body.as_object_mut().expect("object").remove("request_id");
    body
}

#[actix_web::test]
async fn a_reset_token_sets_the_password_once_and_ends_every_session() {
    let app = spawn_app().await;
    let (id, email, password) = app.create_editor("editor").await;
    let (_, laptop) = app.tokens(&email, &password).await;
    let (_, phone) = app.tokens(&email, &password).await;

    let admin = app.admin_token().await;
    let path = format!("/auth/editors/{id}/password-reset");
    let issued = app.call(Method::POST, &path, Some(&admin), &[], None).await;
    assert_eq!(issued.status, 201, "{:?}", issued.body);
    assert_eq!(issued.header("cache-control"), Some("no-store"));
    let token = issued.body["reset_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(token.len(), 43);
    let expires_at = time::OffsetDateTime::parse(
        issued.body["expires_at"].as_str().expect("expiry"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    let in_a_day = time::OffsetDateTime::now_utc() + time::Duration::hours(24);
    assert!((expires_at - in_a_day).abs() < time::Duration::minutes(1));

    let reset = app.reset_password(&token, NEW_PASSWORD).await;
    assert_eq!(reset.status, 204, "{:?}", reset.body);
    for refresh in [laptop, phone] {
        app.refresh(&refresh)
            .await
            .assert_problem(401, "refresh_token_invalid");
    }
    app.login(&email, &password)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(app.login(&email, NEW_PASSWORD).await.status, 200);
    // Used once, it is gone.
    refusal(app.reset_password(&token, "yet another new password").await);
    assert_eq!(app.login(&email, NEW_PASSWORD).await.status, 200);
    app.assert_audited("password_reset_issued").await;
    app.assert_audited("password_reset_used").await;
}

#[actix_web::test]
async fn expired_used_superseded_and_unknown_reset_tokens_get_one_answer() {
    let app = spawn_app().await;
    let (id, email, password) = app.create_editor("editor").await;

    let superseded = app.issue_reset(id).await;
    let newest = app.issue_reset(id).await;
    let superseded = refusal(app.reset_password(&superseded, NEW_PASSWORD).await);
    assert_eq!(app.login(&email, &password).await.status, 200);

    // The newest one works once.
    assert_eq!(app.reset_password(&newest, NEW_PASSWORD).await.status, 204);
    let used = refusal(app.reset_password(&newest, "another new password").await);

    let expiring = app.issue_reset(id).await;
    expire_resets(&app, id).await;
    let expired = refusal(app.reset_password(&expiring, "another new password").await);
    assert_eq!(app.login(&email, NEW_PASSWORD).await.status, 200);

    let unknown = refusal(
        app.reset_password("no such token at all", NEW_PASSWORD)
            .await,
    );
    let empty = refusal(app.reset_password("", NEW_PASSWORD).await);
    let huge = refusal(app.reset_password(&"x".repeat(10_000), NEW_PASSWORD).await);
    for other in [&used, &expired, &unknown, &empty, &huge] {
        assert_eq!(&superseded, other);
    }
    assert_eq!(
        superseded["detail"],
        "the reset token is invalid, expired or already used"
    );
}

/// Moves the editor's pending reset a day into the past.
async fn expire_resets(app: &TestApp, id: i64) {
    let changed = app
        .db()
        .await
        .execute(
            "UPDATE password_resets SET created_at = now() - interval '2 days',
                    expires_at = now() - interval '1 day' WHERE editor_id = $1",
            &[&id],
        )
        .await
        .expect("expired");
    assert_eq!(changed, 1);
}

#[actix_web::test]
async fn a_new_password_that_breaks_the_rules_is_a_422_and_keeps_the_token() {
    let app = spawn_app().await;
    let (id, email, _) = app.create_editor("editor").await;
    let token = app.issue_reset(id).await;
    let short = app.reset_password(&token, "short").await;
    short.assert_problem(422, "validation_failed");
    assert_eq!(short.body["errors"][0]["field"], "new_password");
    app.post(
        "/auth/password-reset",
        None,
        &json!({ "token": token, "new_password": NEW_PASSWORD, "email": email }),
    )
    .await
    .assert_problem(422, "unknown_field");
    assert_eq!(app.reset_password(&token, NEW_PASSWORD).await.status, 204);
}

#[actix_web::test]
async fn failed_resets_from_one_address_are_throttled_like_logins() {
    let app = spawn_app_with(|s| s.throttle.per_ip = 3).await;
    let ip = format!("192.0.2.{}", (uuid::Uuid::new_v4().as_bytes()[0] % 250) + 1);
    let from_ip = [("x-forwarded-for", ip.as_str())];
    let guess = json!({ "token": "a guessed token", "new_password": NEW_PASSWORD });
    for _ in 0..3 {
        app.call(
            Method::POST,
            "/auth/password-reset",
            None,
            &from_ip,
            Some(&guess),
        )
        .await
        .assert_problem(400, "invalid_reset_token");
    }
    let throttled = app
        .call(
            Method::POST,
            "/auth/password-reset",
            None,
            &from_ip,
            Some(&guess),
        )
        .await;
    throttled.assert_problem(429, "too_many_requests");
    assert!(throttled.header("retry-after").is_some());
    // The same counter as logins: that address cannot log in either.
    app.login_from(ADMIN_EMAIL, ADMIN_PASSWORD, &ip)
        .await
        .assert_problem(429, "too_many_requests");
}

#[actix_web::test]
async fn disabling_an_account_cancels_its_reset_and_refuses_new_ones() {
    let app = spawn_app().await;
    let (id, _, _) = app.create_editor("editor").await;
    let pending = app.issue_reset(id).await;
    app.disable_editor(id).await;
    let admin = app.admin_token().await;
    let path = format!("/auth/editors/{id}/password-reset");
    app.call(Method::POST, &path, Some(&admin), &[], None)
        .await
        .assert_problem(409, "conflict");
    let enabled = app
        .send_json(
            Method::PATCH,
            &format!("/auth/editors/{id}"),
            Some(&admin),
            &json!({ "disabled": false }),
        )
        .await;
    assert_eq!(enabled.status, 200);
    refusal(app.reset_password(&pending, NEW_PASSWORD).await);
}

#[actix_web::test]
async fn changing_the_password_cancels_a_pending_reset() {
    let app = spawn_app().await;
    let (id, email, password) = app.create_editor("editor").await;
    let pending = app.issue_reset(id).await;
    let (access, _) = app.tokens(&email, &password).await;
    let changed = app
        .send_json(
            Method::PUT,
            "/auth/me/password",
            Some(&access),
            &json!({ "current_password": password, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(changed.status, 204, "{:?}", changed.body);
    refusal(app.reset_password(&pending, "another new password").await);
}

#[actix_web::test]
async fn unknown_editors_get_no_reset_token() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for path in [
        "/auth/editors/999999/password-reset",
        "/auth/editors/abc/password-reset",
    ] {
        app.call(Method::POST, path, Some(&admin), &[], None)
            .await
            .assert_problem(404, "not_found");
    }
}

#[actix_web::test]
async fn no_answer_audit_row_or_log_line_carries_a_reset_token_a_password_or_a_hash() {
    let app = spawn_app().await;
    let (id, email, password) = app.create_editor("editor").await;
    let (_, refresh) = app.tokens(&email, &password).await;
    let token = app.issue_reset(id).await;
    let token_hash = Sha256::digest(token.as_bytes());

    let reset = app.reset_password(&token, NEW_PASSWORD).await;
    assert_eq!(reset.status, 204);
    let answers = [
        reset,
        app.reset_password(&token, NEW_PASSWORD).await,
        app.get(
            &format!("/auth/editors/{id}/audit"),
            Some(&app.admin_token().await),
        )
        .await,
        app.get(
            &format!("/auth/editors/{id}"),
            Some(&app.admin_token().await),
        )
        .await,
    ];
    let request_id = answers[0].header("x-request-id").expect("id").to_owned();

    let password_hash: String = app
        .db()
        .await
        .query_one("SELECT password_hash FROM editors WHERE id = $1", &[&id])
        .await
        .expect("editor")
        .get(0);
    let audit: Vec<String> = app
        .db()
        .await
        .query("SELECT row_to_json(a)::text FROM audit_log a", &[])
        .await
        .expect("audit rows")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let hex: String = token_hash.iter().map(|b| format!("{b:02x}")).collect();
    let secrets = [
        token.clone(),
        hex,
        STANDARD.encode(token_hash),
        URL_SAFE_NO_PAD.encode(token_hash),
        password,
        NEW_PASSWORD.to_owned(),
        password_hash,
        refresh,
    ];
    let logs = logs();
    assert!(
        logs.contains(&request_id),
        "the capture holds this test's lines"
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a log line carries {secret}"
        );
        for answer in &answers {
            let text = format!("{:?} {}", answer.headers, answer.body);
            assert!(
                !text.contains(secret.as_str()),
                "an answer carries {secret}"
            );
        }
        for row in &audit {
            assert!(!row.contains(secret.as_str()), "{row} carries {secret}");
        }
    }
}

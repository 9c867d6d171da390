//! Who may call the writer: bearer tokens verified from auth's JWKS,
//! disabled editors refused, rotated keys picked up without a restart.

use awc::http::Method;
use serde_json::json;

use crate::helpers::{
    AuthService, EDITOR_PASSWORD, ISSUER, WriterAnswer as _, post_login, review_body, spawn_app,
    start_auth,
};

#[actix_web::test]
async fn a_missing_or_bad_token_is_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let body = review_body("Anonymous");
    let missing = app
        .request(Method::POST, "/reviews", None, Some(&body), &[])
        .await;
    missing.assert_problem(401, "unauthorized");
    assert!(
        missing
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{:?}",
        missing.headers
    );
    for token in ["garbage", "a.b.c", &format!("{}x", app.admin.token)] {
        let answer = app.post_review(token, &body, None).await;
        answer.assert_problem(401, "invalid_token");
        assert!(
            answer
                .header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{:?}",
            answer.headers
        );
    }
    let list = app.get("/reviews", None).await;
    list.assert_problem(401, "unauthorized");
    app.get("/reviews/1", Some("nope"))
        .await
        .assert_problem(401, "invalid_token");
    assert_eq!(app.review_count().await, 0);
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[actix_web::test]
async fn a_token_signed_by_an_unknown_key_is_refused() {
    let app = spawn_app().await;
    let now = now();
    let claims = json!({
        "iss": ISSUER, "aud": "rcr-api", "sub": app.admin.id.to_string(),
        "role": "admin", "iat": now, "nbf": now, "exp": now + 600, "jti": "x"
    });
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"not the signing key"),
    )
    .expect("encoded");
    app.post_review(&forged, &review_body("Forged"), None)
        .await
        .assert_problem(401, "invalid_token");
    assert_eq!(app.review_count().await, 0);
}

#[actix_web::test]
async fn a_token_for_another_audience_or_issuer_or_already_expired_is_refused() {
    // Signed with auth's real key and kid, so only the claims are wrong.
    let app = spawn_app().await;
    let keyring = auth::keys::Keyring::load(&app.auth.settings.tokens.active_key_file, None)
        .expect("auth's key");
    let key = keyring.active.encoding;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(keyring.active.kid);
    let now = now();
    let good = json!({
        "iss": ISSUER, "aud": "rcr-api", "sub": app.admin.id.to_string(),
        "role": "admin", "iat": now, "nbf": now, "exp": now + 600, "jti": "y"
    });
    let sign =
        |claims: &serde_json::Value| jsonwebtoken::encode(&header, claims, &key).expect("signed");
    // The control: these claims, so signed, are accepted.
    app.post_review(&sign(&good), &review_body("Self-signed"), None)
        .await
        .created_id();
    for (name, value) in [
        ("aud", json!("another-api")),
        ("iss", json!("http://evil.test")),
        ("exp", json!(now - 3600)),
        ("nbf", json!(now + 3600)),
    ] {
        let mut claims = good.clone();
        claims[name] = value;
        app.post_review(&sign(&claims), &review_body("Wrong claim"), None)
            .await
            .assert_problem(401, "invalid_token");
    }
    assert_eq!(app.review_count().await, 1);
}

#[actix_web::test]
async fn a_disabled_editor_cannot_write_or_read_even_with_a_valid_token() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let id = app
        .create_review(&editor.token, "Before disabling")
        .await
        .created_id();
    let before = app.get_review(&editor.token, id).await;
    let version_before = app.content_version().await;
    app.disable_editor(editor.id).await;
    let audit_before = app.audit_actions().await;

    app.post_review(&editor.token, &review_body("After"), None)
        .await
        .assert_problem(403, "account_disabled");
    app.post_review(&editor.token, &review_body("After"), Some("disabled-key"))
        .await
        .assert_problem(403, "account_disabled");
    app.patch_review(&editor.token, id, &json!({ "title": "Changed" }), None)
        .await
        .assert_problem(403, "account_disabled");
    app.delete_review(&editor.token, id)
        .await
        .assert_problem(403, "account_disabled");
    app.get_review(&editor.token, id)
        .await
        .assert_problem(403, "account_disabled");
    app.list_reviews(&editor.token, "")
        .await
        .assert_problem(403, "account_disabled");

    assert_eq!(app.review_count().await, 1, "nothing written");
    assert_eq!(app.content_version().await, version_before);
    assert_eq!(app.audit_actions().await, audit_before);
    assert_eq!(
        app.count("SELECT count(*) FROM idempotency_keys", &[])
            .await,
        0
    );
    let after = app.get_review(&app.admin.token, id).await;
    assert_eq!(after.body, before.body, "the review is untouched");
}

#[actix_web::test]
async fn a_token_signed_by_a_newly_rotated_key_is_accepted_without_restarting_the_writer() {
    let app = spawn_app().await;
    let editor = app.new_editor("editor").await;
    let old_token = editor.token.clone();
    // The writer has fetched and cached the first key.
    app.create_review(&old_token, "Signed by A").await;

    // Rotate: stop auth, start it again on the same port with key B active
    // and key A previous.
    app.auth.handle.stop(true).await;
    let new_key = app.keys_dir().join("b.pem");
    auth::keys::generate_file(&new_key).expect("key B written");
    let mut settings = app.auth.settings.clone();
    settings.tokens.previous_key_file = Some(settings.tokens.active_key_file.clone());
    settings.tokens.active_key_file = new_key;
    settings.http.port = app.auth.port;
    let rotated: AuthService = start_auth(settings).await;
    assert_eq!(rotated.port, app.auth.port);

    let answer = post_login(
        &awc::Client::default(),
        &rotated.address,
        &editor.email,
        EDITOR_PASSWORD,
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let new_token = answer.body["access_token"].as_str().expect("token");
    let old_kid = jsonwebtoken::decode_header(&old_token).expect("header").kid;
    let new_kid = jsonwebtoken::decode_header(new_token).expect("header").kid;
    assert_ne!(old_kid, new_kid, "the new token is signed by key B");

    let with_b = app
        .post_review(new_token, &review_body("Signed by B"), None)
        .await;
    with_b.created_id();
    // The previous key still verifies until its tokens expire.
    app.create_review(&old_token, "Signed by A again").await;
    assert_eq!(app.review_count().await, 3);
}

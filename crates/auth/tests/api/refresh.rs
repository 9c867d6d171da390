use serde_json::json;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn a_refresh_rotates_the_pair_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    let (_, email, password) = app.create_editor("editor").await;
    let (_, first) = app.tokens(&email, &password).await;

    let rotated = app
        .post("/auth/refresh", None, &json!({ "refresh_token": first }))
        .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let second = rotated.body["refresh_token"]
        .as_str()
        .expect("new refresh")
        .to_owned();
    assert_ne!(second, first);
    let access = rotated.body["access_token"].as_str().expect("access");
    assert_eq!(app.get("/auth/me", Some(access)).await.status, 200);

    // The first token again: a reuse. The whole family goes, including the
    // token that was legitimately rotated to.
    app.post("/auth/refresh", None, &json!({ "refresh_token": first }))
        .await
        .assert_problem(401, "refresh_token_reused");
    app.post("/auth/refresh", None, &json!({ "refresh_token": second }))
        .await
        .assert_problem(401, "refresh_token_invalid");
    app.assert_audited("refresh_token_reused").await;
}

#[actix_web::test]
async fn an_unknown_or_garbled_refresh_token_is_refused() {
    let app = spawn_app().await;
    app.post(
        "/auth/refresh",
        None,
        &json!({ "refresh_token": "nonsense" }),
    )
    .await
    .assert_problem(401, "refresh_token_invalid");
    app.post(
        "/auth/refresh",
        None,
        &json!({ "refresh_token": "x".repeat(10_000) }),
    )
    .await
    .assert_problem(401, "refresh_token_invalid");
}

#[actix_web::test]
async fn a_disabled_editor_cannot_refresh() {
    let app = spawn_app().await;
    let (id, email, password) = app.create_editor("editor").await;
    let (_, refresh) = app.tokens(&email, &password).await;
    app.disable_editor(id).await;
    // Disabling revoked the token already.
    app.post("/auth/refresh", None, &json!({ "refresh_token": refresh }))
        .await
        .assert_problem(401, "refresh_token_invalid");
}

#[actix_web::test]
async fn logout_revokes_the_refresh_token() {
    let app = spawn_app().await;
    let (_, email, password) = app.create_editor("editor").await;
    let (access, refresh) = app.tokens(&email, &password).await;
    let out = app
        .post(
            "/auth/logout",
            Some(&access),
            &json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(out.status, 204, "{:?}", out.body);
    app.post("/auth/refresh", None, &json!({ "refresh_token": refresh }))
        .await
        .assert_problem(401, "refresh_token_invalid");
    // Logout needs an access token.
    app.post("/auth/logout", None, &json!({ "refresh_token": refresh }))
        .await
        .assert_problem(401, "unauthorized");
}

#[actix_web::test]
async fn a_password_change_revokes_refresh_tokens_and_replaces_the_password() {
    let app = spawn_app().await;
    let (_, email, password) = app.create_editor("editor").await;
    let (access, refresh) = app.tokens(&email, &password).await;
    let (_, other_session) = app.tokens(&email, &password).await;

    let wrong = app
        .send_json(
            awc::http::Method::PUT,
            "/auth/me/password",
            Some(&access),
            &json!({ "current_password": "not my password!", "new_password": "a brand new password" }),
        )
        .await;
    wrong.assert_problem(422, "validation_failed");
    let short = app
        .send_json(
            awc::http::Method::PUT,
            "/auth/me/password",
            Some(&access),
            &json!({ "current_password": password, "new_password": "short" }),
        )
        .await;
    short.assert_problem(422, "validation_failed");
    assert_eq!(short.body["errors"][0]["field"], "new_password");

    let changed = app
        .send_json(
            awc::http::Method::PUT,
            "/auth/me/password",
            Some(&access),
            &json!({ "current_password": password, "new_password": "a brand new password" }),
        )
        .await;
    assert_eq!(changed.status, 204, "{:?}", changed.body);
    for token in [refresh, other_session] {
        app.post("/auth/refresh", None, &json!({ "refresh_token": token }))
            .await
            .assert_problem(401, "refresh_token_invalid");
    }
    app.login(&email, &password)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(app.login(&email, "a brand new password").await.status, 200);
    app.assert_audited("password_changed").await;
}

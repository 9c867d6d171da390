use crate::helpers::spawn_app;

#[actix_web::test]
async fn the_jwks_publishes_the_active_and_previous_keys() {
    // Start with one key, then rotate: the old one becomes previous.
    let app = spawn_app().await;
    let (_, email, password) = app.create_editor("editor").await;
    let (old_token, _) = app.tokens(&email, &password).await;
    let one = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(one.body["keys"].as_array().map(Vec::len), Some(1));
    let old_kid = one.body["keys"][0]["kid"].as_str().expect("kid").to_owned();
    assert_eq!(one.body["keys"][0]["kty"], "OKP");
    assert_eq!(one.body["keys"][0]["alg"], "EdDSA");
    assert!(one.body["keys"][0].get("d").is_none(), "no private part");

    let new_key = app.keys_dir.path().join("next.pem");
    auth::keys::generate_file(&new_key).expect("new key");
    let mut settings = app.settings.clone();
    settings.tokens.previous_key_file = Some(settings.tokens.active_key_file.clone());
    settings.tokens.active_key_file = new_key;
    let rotated = auth::build(settings).await.expect("rotated app");
    let address = format!("http://127.0.0.1:{}", rotated.port());
    actix_web::rt::spawn(rotated.run_until_stopped());

    let client = awc::Client::default();
    let mut res = client
        .get(format!("{address}/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks");
    let jwks: serde_json::Value =
        serde_json::from_slice(&res.body().await.expect("body")).expect("json");
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[1], old_kid);

    // A token signed by the previous key still works on the rotated service.
    let res = client
        .get(format!("{address}/auth/me"))
        .bearer_auth(&old_token)
        .send()
        .await
        .expect("me");
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn a_disabled_editor_with_a_valid_access_token_is_refused() {
    let app = spawn_app().await;
    let (id, email, password) = app.create_editor("editor").await;
    let (token, _) = app.tokens(&email, &password).await;
    app.disable_editor(id).await;
    app.get("/auth/me", Some(&token))
        .await
        .assert_problem(403, "account_disabled");
}

#[actix_web::test]
async fn bad_access_tokens_get_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    for token in ["garbage", "a.b.c", &"x".repeat(100_000)] {
        let answer = app.get("/auth/me", Some(token)).await;
        answer.assert_problem(401, "invalid_token");
        assert!(
            answer
                .header("www-authenticate")
                .is_some_and(|v| v.contains("error=\"invalid_token\""))
        );
    }
}

#[actix_web::test]
async fn the_create_admin_command_makes_an_admin_who_can_log_in() {
    let app = spawn_app().await;
    let file = app.keys_dir.path().join("admin-password");
    std::fs::write(&file, "a password from a file\n").expect("written");
    auth::admin::create_admin(&app.settings, "Root@Example.com", "Root", Some(&file))
        .await
        .expect("created");
    let answer = app
        .login("root@example.com", "a password from a file")
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["editor"]["role"], "admin");
    // Again: the existing account is reported and left as it is.
    auth::admin::create_admin(&app.settings, "root@example.com", "Root", None)
        .await
        .expect("existing admin is not an error");
    assert_eq!(
        app.login("root@example.com", "a password from a file")
            .await
            .status,
        200
    );
    app.assert_audited("admin_created_by_command").await;
}

#[actix_web::test]
async fn migrating_an_up_to_date_database_changes_nothing() {
    let app = spawn_app().await;
    auth::admin::migrate(&app.settings)
        .await
        .expect("re-run is fine");
    assert_eq!(app.get("/readyz", None).await.status, 200);
}

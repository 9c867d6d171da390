use awc::http::Method;
use serde_json::json;

use crate::helpers::{spawn_app, unique_email};

#[actix_web::test]
async fn an_admin_creates_reads_lists_and_changes_editors() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let email = unique_email("new");
    let created = app
        .post(
            "/auth/editors",
            Some(&admin),
            &json!({ "email": email, "name": "Ana Souza", "password": "twelve chars ok", "role": "editor" }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_i64().expect("id");
    assert_eq!(
        created.header("location"),
        Some(format!("/auth/editors/{id}").as_str())
    );
    assert_eq!(created.body["role"], "editor");
    assert_eq!(created.body["disabled"], false);
    assert!(created.body.get("password_hash").is_none());

    let read = app.get(&format!("/auth/editors/{id}"), Some(&admin)).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["name"], "Ana Souza");

    let renamed = app
        .send_json(
            Method::PATCH,
            &format!("/auth/editors/{id}"),
            Some(&admin),
            &json!({ "name": "Ana S.", "role": "admin" }),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(renamed.body["name"], "Ana S.");
    assert_eq!(renamed.body["role"], "admin");

    let list = app.get("/auth/editors?limit=1", Some(&admin)).await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1));
    let cursor = list.body["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let next = app
        .get(
            &format!("/auth/editors?limit=1&cursor={cursor}"),
            Some(&admin),
        )
        .await;
    assert_eq!(next.status, 200);
    assert_eq!(next.body["data"][0]["id"], id);
    assert!(next.body["next_cursor"].is_null());

    let actions = app.audit_actions().await;
    assert!(actions.contains(&"editor_created".to_owned()));
    assert!(actions.contains(&"editor_updated".to_owned()));
}

#[actix_web::test]
async fn an_email_is_taken_whatever_its_case() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let email = unique_email("dup");
    let body = |e: &str| json!({ "email": e, "name": "Dup", "password": "twelve chars ok" });
    assert_eq!(
        app.post("/auth/editors", Some(&admin), &body(&email))
            .await
            .status,
        201
    );
    app.post("/auth/editors", Some(&admin), &body(&email.to_uppercase()))
        .await
        .assert_problem(409, "email_taken");
}

#[actix_web::test]
async fn invalid_editor_fields_are_all_reported() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let answer = app
        .post(
            "/auth/editors",
            Some(&admin),
            &json!({ "email": "not-an-email", "name": "  ", "password": "short", "role": "root" }),
        )
        .await;
    answer.assert_problem(422, "validation_failed");
    let fields: Vec<&str> = answer.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    for field in ["email", "name", "password", "role"] {
        assert!(fields.contains(&field), "{field} missing from {fields:?}");
    }
}

#[actix_web::test]
async fn editors_cannot_administer_accounts() {
    let app = spawn_app().await;
    let (id, email, password) = app.create_editor("editor").await;
    let (token, _) = app.tokens(&email, &password).await;
    app.get("/auth/editors", Some(&token))
        .await
        .assert_problem(403, "forbidden");
    app.get(&format!("/auth/editors/{id}"), Some(&token))
        .await
        .assert_problem(403, "forbidden");
    app.post(
        "/auth/editors",
        Some(&token),
        &json!({ "email": unique_email("x"), "name": "X", "password": "twelve chars ok" }),
    )
    .await
    .assert_problem(403, "forbidden");
    app.send_json(
        Method::PATCH,
        &format!("/auth/editors/{id}"),
        Some(&token),
        &json!({ "role": "admin" }),
    )
    .await
    .assert_problem(403, "forbidden");
    // Without a token: 401 with a Bearer challenge.
    let anonymous = app.get("/auth/editors", None).await;
    anonymous.assert_problem(401, "unauthorized");
    assert!(
        anonymous
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer"))
    );
}

#[actix_web::test]
async fn a_demoted_admin_loses_administration_at_once() {
    let app = spawn_app().await;
    let (id, email, password) = app.create_editor("admin").await;
    let (their_token, _) = app.tokens(&email, &password).await;
    let admin = app.admin_token().await;
    let demoted = app
        .send_json(
            Method::PATCH,
            &format!("/auth/editors/{id}"),
            Some(&admin),
            &json!({ "role": "editor" }),
        )
        .await;
    assert_eq!(demoted.status, 200);
    // Their access token still says admin; the database says otherwise.
    app.get("/auth/editors", Some(&their_token))
        .await
        .assert_problem(403, "forbidden");
}

#[actix_web::test]
async fn an_admin_cannot_disable_or_demote_themselves() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let me = app.get("/auth/me", Some(&admin)).await;
    let id = me.body["id"].as_i64().expect("id");
    app.send_json(
        Method::PATCH,
        &format!("/auth/editors/{id}"),
        Some(&admin),
        &json!({ "disabled": true }),
    )
    .await
    .assert_problem(409, "conflict");
}

#[actix_web::test]
async fn unknown_editors_and_bad_parameters_are_4xx() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.get("/auth/editors/999999", Some(&admin))
        .await
        .assert_problem(404, "not_found");
    app.get("/auth/editors/abc", Some(&admin))
        .await
        .assert_problem(404, "not_found");
    app.get("/auth/editors?limit=0", Some(&admin))
        .await
        .assert_problem(400, "invalid_parameter");
    app.get("/auth/editors?limit=abc", Some(&admin))
        .await
        .assert_problem(400, "invalid_parameter");
    app.get("/auth/editors?cursor=%%%", Some(&admin))
        .await
        .assert_problem(400, "invalid_cursor");
    app.get("/auth/editors?bogus=1", Some(&admin))
        .await
        .assert_problem(400, "invalid_parameter");
    app.send_json(
        Method::PATCH,
        "/auth/editors/1",
        Some(&admin),
        &json!({ "email": "x@y.zz" }),
    )
    .await
    .assert_problem(422, "unknown_field");
}

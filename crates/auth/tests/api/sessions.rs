//! Sessions: what a login records, listing and ending them.

use awc::http::Method;
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, ids, keys, logs, spawn_app};

fn at(value: &serde_json::Value) -> time::OffsetDateTime {
    let text = value.as_str().expect("a time");
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339")
}

/// Logs in with a user agent and an address; (access, refresh).
async fn login_as(app: &TestApp, email: &str, password: &str, agent: &str) -> (String, String) {
    let answer = app
        .call(
            Method::POST,
            "/auth/login",
            None,
            &[("user-agent", agent), ("x-forwarded-for", "198.51.100.7")],
            Some(&json!({ "email": email, "password": password })),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let token = |name: &str| answer.body[name].as_str().expect("token").to_owned();
    (token("access_token"), token("refresh_token"))
}

#[actix_web::test]
async fn a_login_records_its_agent_and_address_and_a_refresh_its_last_use() {
    let app = spawn_app().await;
    let (_, email, password) = app.create_editor("editor").await;
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let agent = format!("Mozilla/5.0 ({marker}) {}", "x".repeat(400));
    let (access, refresh) = login_as(&app, &email, &password, &agent).await;

    let listed = app.get("/auth/me/sessions", Some(&access)).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.header("cache-control"), Some("no-store"));
    assert!(listed.body["next_cursor"].is_null());
    let session = &listed.body["data"][0];
    let shown = session["user_agent"].as_str().expect("agent");
    assert_eq!(shown.chars().count(), 200);
    assert!(agent.starts_with(shown));
    assert_eq!(session["client_ip"], "198.51.100.7");
    assert_eq!(session["current"], true);
    assert_eq!(session["created_at"], session["last_used_at"]);
    assert_eq!(
        keys(session),
        [
            "client_ip",
            "created_at",
            "current",
            "id",
            "last_used_at",
            "user_agent"
        ]
    );

    let refreshed = app.refresh(&refresh).await;
    assert_eq!(refreshed.status, 200, "{:?}", refreshed.body);
    let new_access = refreshed.body["access_token"].as_str().expect("access");
    let after = app.get("/auth/me/sessions", Some(new_access)).await;
    let same = &after.body["data"][0];
    assert_eq!(same["id"], session["id"], "a refresh stays in its session");
    assert_eq!(same["current"], true);
    assert_eq!(same["created_at"], session["created_at"]);
    assert!(at(&same["last_used_at"]) > at(&session["last_used_at"]));
    // The agent is a client's text: it is never logged.
    assert!(!logs().contains(&marker));
}

#[actix_web::test]
async fn ending_a_session_makes_its_refresh_token_401_at_once() {
    let app = spawn_app().await;
    let (_, email, password) = app.create_editor("editor").await;
    let (laptop, laptop_refresh) = login_as(&app, &email, &password, "laptop").await;
    let (_, phone_refresh) = login_as(&app, &email, &password, "phone").await;
    let sessions = app.get("/auth/me/sessions", Some(&laptop)).await;
    let phone = sessions.body["data"][0]["id"].as_i64().expect("phone's id");
    assert_eq!(sessions.body["data"][0]["user_agent"], "phone");
    assert_eq!(sessions.body["data"][1]["current"], true);

    let ended = app
        .delete(&format!("/auth/me/sessions/{phone}"), Some(&laptop))
        .await;
    assert_eq!(ended.status, 204, "{:?}", ended.body);
    app.refresh(&phone_refresh)
        .await
        .assert_problem(401, "refresh_token_invalid");
    assert_eq!(app.refresh(&laptop_refresh).await.status, 200);
    // Ended once, it is gone.
    app.delete(&format!("/auth/me/sessions/{phone}"), Some(&laptop))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.session_ids("/auth/me/sessions", &laptop).await.len(), 1);
    app.assert_audited("session_ended").await;
}

#[actix_web::test]
async fn the_current_session_can_end_itself_and_its_access_token_runs_out_on_its_own() {
    let app = spawn_app().await;
    let (_, email, password) = app.create_editor("editor").await;
    let (access, refresh) = app.tokens(&email, &password).await;
    let current = app.session_ids("/auth/me/sessions", &access).await[0];
    let ended = app
        .delete(&format!("/auth/me/sessions/{current}"), Some(&access))
        .await;
    assert_eq!(ended.status, 204);
    app.refresh(&refresh)
        .await
        .assert_problem(401, "refresh_token_invalid");
    // Access tokens are verified by signature until they expire.
    assert_eq!(app.get("/auth/me", Some(&access)).await.status, 200);
    assert!(
        app.session_ids("/auth/me/sessions", &access)
            .await
            .is_empty()
    );
}

#[actix_web::test]
async fn ending_the_other_sessions_keeps_the_current_one() {
    let app = spawn_app().await;
    let (_, email, password) = app.create_editor("editor").await;
    let (_, first) = app.tokens(&email, &password).await;
    let (_, second) = app.tokens(&email, &password).await;
    let (access, refresh) = app.tokens(&email, &password).await;
    let ended = app.delete("/auth/me/sessions", Some(&access)).await;
    assert_eq!(ended.status, 204, "{:?}", ended.body);
    for other in [first, second] {
        app.refresh(&other)
            .await
            .assert_problem(401, "refresh_token_invalid");
    }
    assert_eq!(app.refresh(&refresh).await.status, 200);
    app.assert_audited("sessions_ended").await;
}

#[actix_web::test]
async fn another_editors_session_is_not_found() {
    let app = spawn_app().await;
    let (_, ana, ana_password) = app.create_editor("editor").await;
    let (_, bea, bea_password) = app.create_editor("editor").await;
    let (ana_access, _) = app.tokens(&ana, &ana_password).await;
    let (bea_access, bea_refresh) = app.tokens(&bea, &bea_password).await;
    let beas = app.session_ids("/auth/me/sessions", &bea_access).await[0];
    let path = format!("/auth/me/sessions/{beas}");
    app.delete(&path, Some(&ana_access))
        .await
        .assert_problem(404, "not_found");
    for unknown in ["/auth/me/sessions/999999", "/auth/me/sessions/abc"] {
        app.delete(unknown, Some(&ana_access))
            .await
            .assert_problem(404, "not_found");
    }
    assert_eq!(app.refresh(&bea_refresh).await.status, 200);
    // Nor can an admin reach it under another editor's id.
    let ana_id = app.get("/auth/me", Some(&ana_access)).await.body["id"]
        .as_i64()
        .expect("id");
    let admin = app.admin_token().await;
    let path = format!("/auth/editors/{ana_id}/sessions/{beas}");
    app.delete(&path, Some(&admin))
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn an_admin_lists_and_ends_an_editors_sessions() {
    let app = spawn_app().await;
    let (id, email, password) = app.create_editor("editor").await;
    let (_, first) = app.tokens(&email, &password).await;
    let (_, second) = app.tokens(&email, &password).await;
    let admin = app.admin_token().await;
    let path = format!("/auth/editors/{id}/sessions");
    let listed = app.get(&path, Some(&admin)).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let sessions = ids(&listed.body["data"]);
    assert_eq!(sessions.len(), 2);
    assert!(listed.body["data"][0]["current"] == false);

    let one = app
        .delete(&format!("{path}/{}", sessions[0]), Some(&admin))
        .await;
    assert_eq!(one.status, 204, "{:?}", one.body);
    app.refresh(&second)
        .await
        .assert_problem(401, "refresh_token_invalid");
    let all = app.delete(&path, Some(&admin)).await;
    assert_eq!(all.status, 204, "{:?}", all.body);
    app.refresh(&first)
        .await
        .assert_problem(401, "refresh_token_invalid");
    assert!(app.session_ids(&path, &admin).await.is_empty());
    app.get("/auth/editors/999999/sessions", Some(&admin))
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn an_admin_ending_their_own_sessions_keeps_the_one_they_act_from() {
    let app = spawn_app().await;
    let (_, older) = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (admin, refresh) = app.tokens(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let id = app.get("/auth/me", Some(&admin)).await.body["id"]
        .as_i64()
        .expect("id");
    let ended = app
        .delete(&format!("/auth/editors/{id}/sessions"), Some(&admin))
        .await;
    assert_eq!(ended.status, 204, "{:?}", ended.body);
    app.refresh(&older)
        .await
        .assert_problem(401, "refresh_token_invalid");
    assert_eq!(app.refresh(&refresh).await.status, 200);
}

#[actix_web::test]
async fn sessions_page_newest_first_with_a_signed_cursor() {
    let app = spawn_app().await;
    let (id, email, password) = app.create_editor("editor").await;
    for _ in 0..2 {
        app.tokens(&email, &password).await;
    }
    let (access, _) = app.tokens(&email, &password).await;
    let first = app.get("/auth/me/sessions?limit=2", Some(&access)).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let page_one = ids(&first.body["data"]);
    assert_eq!(page_one.len(), 2);
    assert!(page_one[0] > page_one[1]);
    assert_eq!(first.body["data"][0]["current"], true);
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(
            &format!("/auth/me/sessions?limit=2&cursor={cursor}"),
            Some(&access),
        )
        .await;
    let page_two = ids(&second.body["data"]);
    assert_eq!(page_two.len(), 1);
    assert!(page_two[0] < page_one[1]);
    assert!(second.body["next_cursor"].is_null());

    // A cursor pages the list it came from only.
    let admin = app.admin_token().await;
    let other_list = format!("/auth/editors/{}/sessions?cursor={cursor}", id + 1_000);
    app.get(&other_list, Some(&admin))
        .await
        .assert_problem(400, "invalid_cursor");
    let tampered = format!("/auth/me/sessions?cursor=A{cursor}");
    app.get(&tampered, Some(&access))
        .await
        .assert_problem(400, "invalid_cursor");
    for bad in ["/auth/me/sessions?limit=0", "/auth/me/sessions?bogus=1"] {
        app.get(bad, Some(&access))
            .await
            .assert_problem(400, "invalid_parameter");
    }
}

/// An access token as auth signed them before sessions existed: no `sid`.
fn token_without_a_session(app: &TestApp, editor_id: i64) -> String {
    let keys = auth::keys::Keyring::load(&app.keys_dir.active(), None).expect("key");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = platform::jwt::Claims {
        iss: app.settings.tokens.issuer.clone(),
        aud: app.settings.tokens.audience.clone(),
        sub: editor_id.to_string(),
        role: "editor".into(),
        iat: now,
        nbf: now,
        exp: now + 60,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(keys.active.kid.clone());
    jsonwebtoken::encode(&header, &claims, &keys.active.encoding).expect("signed")
}

#[actix_web::test]
async fn a_token_from_before_sessions_works_but_names_no_current_session() {
    let app = spawn_app().await;
    let (id, email, password) = app.create_editor("editor").await;
    let (_, refresh) = app.tokens(&email, &password).await;
    let old = token_without_a_session(&app, id);
    let listed = app.get("/auth/me/sessions", Some(&old)).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["data"][0]["current"], false);
    // Which session to keep is unknown: nothing is ended.
    app.delete("/auth/me/sessions", Some(&old))
        .await
        .assert_problem(409, "conflict");
    assert_eq!(app.refresh(&refresh).await.status, 200);
}

#[actix_web::test]
async fn editors_cannot_reach_other_accounts_sessions_resets_or_trails() {
    let app = spawn_app().await;
    let (id, email, password) = app.create_editor("editor").await;
    let (token, _) = app.tokens(&email, &password).await;
    let admin_id = app
        .get("/auth/me", Some(&app.admin_token().await))
        .await
        .body["id"]
        .as_i64()
        .expect("id");
    for target in [id, admin_id] {
        for (method, path) in [
            (
                Method::POST,
                format!("/auth/editors/{target}/password-reset"),
            ),
            (Method::GET, format!("/auth/editors/{target}/sessions")),
            (Method::DELETE, format!("/auth/editors/{target}/sessions")),
            (Method::DELETE, format!("/auth/editors/{target}/sessions/1")),
            (Method::GET, format!("/auth/editors/{target}/audit")),
        ] {
            app.call(method.clone(), &path, Some(&token), &[], None)
                .await
                .assert_problem(403, "forbidden");
            app.call(method, &path, None, &[], None)
                .await
                .assert_problem(401, "unauthorized");
        }
    }
    for (method, path) in [
        (Method::GET, "/auth/me/sessions"),
        (Method::DELETE, "/auth/me/sessions"),
        (Method::DELETE, "/auth/me/sessions/1"),
        (Method::GET, "/auth/me/audit"),
    ] {
        app.call(method, path, None, &[], None)
            .await
            .assert_problem(401, "unauthorized");
    }
}

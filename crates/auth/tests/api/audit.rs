//! Reading the audit trail, and the log that cannot be rewritten.

use serde_json::Value;

use crate::helpers::{TestApp, ids, keys, spawn_app};

/// The actions of a page of a trail, in order.
fn actions(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|row| row["action"].as_str().expect("action"))
        .collect()
}

/// An editor who was created, logged in twice and failed once; (id,
/// their access token, the admin's).
async fn editor_with_a_history(app: &TestApp) -> (i64, String, String) {
    let (id, email, password) = app.create_editor("editor").await;
    app.tokens(&email, &password).await;
    app.login(&email, "not the right password")
        .await
        .assert_problem(401, "invalid_credentials");
    let (access, _) = app.tokens(&email, &password).await;
    (id, access, app.admin_token().await)
}

#[actix_web::test]
async fn an_editor_reads_their_own_trail_newest_first_without_details() {
    let app = spawn_app().await;
    let (id, access, _) = editor_with_a_history(&app).await;
    let trail = app.get("/auth/me/audit", Some(&access)).await;
    assert_eq!(trail.status, 200, "{:?}", trail.body);
    assert_eq!(trail.header("cache-control"), Some("no-store"));
    // Their logins (as actor) and their creation (about them); the failed
    // login names no account, so it is in nobody's trail.
    assert_eq!(
        actions(&trail.body),
        ["login_succeeded", "login_succeeded", "editor_created"]
    );
    let rows = ids(&trail.body["data"]);
    assert!(rows.windows(2).all(|w| w[0] > w[1]), "newest first");
    let created = &trail.body["data"][2];
    assert_eq!(created["entity"], "editor");
    assert_eq!(created["entity_id"], id.to_string());
    assert_ne!(created["actor_id"], id);
    let login = &trail.body["data"][0];
    assert_eq!(login["actor_id"], id);
    assert!(login["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(
        keys(login),
        [
            "action",
            "actor_id",
            "at",
            "client_ip",
            "entity",
            "entity_id",
            "id",
            "request_id"
        ]
    );
    assert!(trail.body["next_cursor"].is_null());
}

#[actix_web::test]
async fn an_admin_reads_any_editors_trail_and_editors_read_only_their_own() {
    let app = spawn_app().await;
    let (id, access, admin) = editor_with_a_history(&app).await;
    let theirs = app
        .get(&format!("/auth/editors/{id}/audit"), Some(&admin))
        .await;
    assert_eq!(theirs.status, 200, "{:?}", theirs.body);
    let own = app.get("/auth/me/audit", Some(&access)).await;
    assert_eq!(theirs.body["data"], own.body["data"]);
    app.get(&format!("/auth/editors/{id}/audit"), Some(&access))
        .await
        .assert_problem(403, "forbidden");
    app.get("/auth/editors/999999/audit", Some(&admin))
        .await
        .assert_problem(404, "not_found");
}

#[actix_web::test]
async fn the_trail_filters_by_action_and_inclusive_time_range() {
    let app = spawn_app().await;
    let (_, access, _) = editor_with_a_history(&app).await;
    let logins = app
        .get("/auth/me/audit?action=login_succeeded", Some(&access))
        .await;
    assert_eq!(
        actions(&logins.body),
        ["login_succeeded", "login_succeeded"]
    );
    let none = app
        .get("/auth/me/audit?action=no_such_action", Some(&access))
        .await;
    assert_eq!(none.status, 200);
    assert!(actions(&none.body).is_empty());

    // The newest row's own time bounds it on both sides (ranges are
    // inclusive), and in RFC 3339 as in YYYY-MM-DD.
    let newest = logins.body["data"][0]["at"]
        .as_str()
        .expect("at")
        .to_owned();
    let exact = app
        .get(
            &format!("/auth/me/audit?since={newest}&until={newest}"),
            Some(&access),
        )
        .await;
    assert_eq!(ids(&exact.body["data"]), ids(&logins.body["data"])[..1]);
    let today = &newest[..10];
    let future = app
        .get("/auth/me/audit?since=2999-01-01", Some(&access))
        .await;
    assert!(actions(&future.body).is_empty());
    let past = app
        .get("/auth/me/audit?until=2000-01-01", Some(&access))
        .await;
    assert!(actions(&past.body).is_empty());
    let from_today = app
        .get(&format!("/auth/me/audit?since={today}"), Some(&access))
        .await;
    assert_eq!(actions(&from_today.body).len(), 3);
}

#[actix_web::test]
async fn bad_trail_parameters_are_400_naming_them() {
    let app = spawn_app().await;
    let (id, access, admin) = editor_with_a_history(&app).await;
    for (query, name) in [
        ("since=2024-02-01&until=2024-01-01", "since"),
        ("since=yesterday", "since"),
        ("until=2024-13-01", "until"),
        ("action=Login", "action"),
        ("limit=101", "limit"),
    ] {
        let answer = app
            .get(&format!("/auth/me/audit?{query}"), Some(&access))
            .await;
        answer.assert_problem(400, "invalid_parameter");
        assert_eq!(answer.body["errors"][0]["field"], name, "{query}");
    }
    app.get("/auth/me/audit?details=1", Some(&access))
        .await
        .assert_problem(400, "invalid_parameter");
    app.get(&format!("/auth/editors/{id}/audit?editor=1"), Some(&admin))
        .await
        .assert_problem(400, "invalid_parameter");
}

#[actix_web::test]
async fn the_trail_pages_with_a_cursor_bound_to_its_filters() {
    let app = spawn_app().await;
    let (id, access, admin) = editor_with_a_history(&app).await;
    let first = app.get("/auth/me/audit?limit=2", Some(&access)).await;
    assert_eq!(actions(&first.body).len(), 2);
    let cursor = first.body["next_cursor"].as_str().expect("more").to_owned();
    let second = app
        .get(
            &format!("/auth/me/audit?limit=2&cursor={cursor}"),
            Some(&access),
        )
        .await;
    assert_eq!(actions(&second.body), ["editor_created"]);
    assert!(second.body["next_cursor"].is_null());
    let everything = app.get("/auth/me/audit", Some(&access)).await;
    let paged = [ids(&first.body["data"]), ids(&second.body["data"])].concat();
    assert_eq!(paged, ids(&everything.body["data"]));

    // Another filter, or another editor's trail, refuses the cursor.
    for other in [
        format!("/auth/me/audit?action=login_succeeded&cursor={cursor}"),
        format!("/auth/me/audit?since=2000-01-01&cursor={cursor}"),
    ] {
        app.get(&other, Some(&access))
            .await
            .assert_problem(400, "invalid_cursor");
    }
    let admins_own = app
        .get(
            &format!("/auth/editors/{}/audit?cursor={cursor}", id - 1),
            Some(&admin),
        )
        .await;
    admins_own.assert_problem(400, "invalid_cursor");
    // The same trail through the admin route shares the cursor.
    let same = app
        .get(
            &format!("/auth/editors/{id}/audit?limit=2&cursor={cursor}"),
            Some(&admin),
        )
        .await;
    assert_eq!(same.body["data"], second.body["data"]);
}

#[actix_web::test]
async fn the_audit_log_refuses_truncate_update_and_delete() {
    let app = spawn_app().await;
    editor_with_a_history(&app).await;
    let db = app.db().await;
    for statement in [
        "TRUNCATE audit_log",
        "TRUNCATE editors CASCADE",
        "UPDATE audit_log SET action = 'nothing_happened'",
        "DELETE FROM audit_log",
    ] {
        let refused = db.batch_execute(statement).await.expect_err(statement);
        let code = refused.as_db_error().map(|e| e.code().code());
        assert_eq!(code, Some("42501"), "{statement}: {refused}");
    }
    let rows: i64 = db
        .query_one("SELECT count(*) FROM audit_log", &[])
        .await
        .expect("count")
        .get(0);
    assert!(rows >= 4);
}

#[actix_web::test]
async fn the_accounts_migration_runs_again_without_changing_anything() {
    let app = spawn_app().await;
    let (_, email, password) = app.create_editor("editor").await;
    app.tokens(&email, &password).await;
    let db = app.db().await;
    let count = || async {
        let row = db
            .query_one(
                "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM password_resets)",
                &[],
            )
            .await
            .expect("counts");
        (row.get::<_, i64>(0), row.get::<_, i64>(1))
    };
    let before = count().await;
    let migration = include_str!("../../../../migrations/V5__accounts.sql");
    for _ in 0..2 {
        db.batch_execute(migration).await.expect("re-run");
    }
    assert_eq!(count().await, before);
}

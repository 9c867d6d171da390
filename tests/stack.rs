//! The stack as a user meets it: started by the same launcher as
//! `make run` (two regions, two readers each, a temporary folder, free
//! ports), the README walk-through through the gateways, a reader killed
//! under load, a restart that keeps the data, and a clean stop.

mod common;

use common::{Gateway, StopOnDrop, start_stack, wait_until};
use serde_json::json;

#[test]
fn the_stack_runs_the_walkthrough_survives_a_dead_reader_and_restarts_with_its_data() {
    let (stack, started) = start_stack("stack-test", &["sa", "eu"], 2);
    let _guard = StopOnDrop(&stack);
    assert!(started.started_now);
    let state = stack.state_dir().to_path_buf();
    let layout = started.layout.clone();
    let gw = Gateway { layout: &layout };

    // Walk-through: admin creates an editor, who publishes; read back in eu.
    let admin = gw.login(&started.admin_email, &started.admin_password);
    let editor = gw.new_editor(&admin, "ana@example.com", "Ana Souza");
    let review = json!({
        "subject": { "kind": "camera", "brand": "Sony", "model": "A7 IV", "specs": { "megapixels": 33 } },
        "title": "La cámara híbrida definitiva", "body": "Excelente para foto y video.", "rating": 9, "language": "es"
    });
    let published = gw.call(
        "sa",
        "POST",
        "/reviews",
        Some(&editor),
        &[("Idempotency-Key", "walkthrough-1")],
        Some(&review),
    );
    assert_eq!(published.status, 201, "{:?}", published.body);
    let slug = published.body["slug"].as_str().expect("slug").to_owned();
    let token = published
        .header("x-consistency-token")
        .expect("consistency token")
        .to_owned();
    let read = gw.call(
        "eu",
        "GET",
        &format!("/content/{slug}"),
        None,
        &[("X-Consistency-Token", &token)],
        None,
    );
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.header("x-region"), Some("eu"));
    assert_eq!(read.body["title"], "La cámara híbrida definitiva");

    let second = json!({ "subject": { "kind": "camera", "brand": "Nikon", "model": "Z6 III" }, "title": "Nikon Z6 III", "body": "Muy buena.", "rating": 8 });
    assert_eq!(
        gw.call("sa", "POST", "/reviews", Some(&editor), &[], Some(&second))
            .status,
        201
    );
    wait_until("search in eu", || {
        let found = gw.call("eu", "GET", "/content?q=camara", None, &[], None);
        found.status == 200 && found.body["data"].as_array().is_some_and(|d| !d.is_empty())
    });
    wait_until("compare in eu", || {
        gw.call(
            "eu",
            "GET",
            "/content/compare?subjects=sony-a7-iv,nikon-z6-iii",
            None,
            &[],
            None,
        )
        .status
            == 200
    });
    accounts_walkthrough(&gw, &admin);
    let gone = gw.call("sa", "GET", "/nope", None, &[], None);
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.header("content-type"),
        Some("application/problem+json")
    );
    // A reader of eu dies while its gateway is busy.
    let pid_file = state.join("run/reader-eu-1.pid");
    let pid = std::fs::read_to_string(&pid_file).expect("reader pid");
    let mut statuses = Vec::new();
    for i in 0..200 {
        if i == 50 {
            let killed = std::process::Command::new("kill")
                .args(["-KILL", pid.trim()])
                .status()
                .expect("kill");
            assert!(killed.success());
        }
        statuses.push(
            gw.call(
                "eu",
                "GET",
                &format!("/content?limit={}", i % 20 + 1),
                None,
                &[],
                None,
            )
            .status,
        );
    }
    let server_errors = statuses.iter().filter(|s| **s >= 500).count();
    // Requests are sequential: at most the one in flight on the killed
    // process may fail.
    assert!(server_errors <= 1, "{server_errors} 5xx: {statuses:?}");
    assert!(statuses.iter().skip(60).all(|s| *s == 200), "{statuses:?}");
    // Stop, start again: the review is still there.
    stack.stop().expect("stops");
    assert!(!stack.is_running());
    let again = stack.start().unwrap_or_else(|e| panic!("restarts: {e}"));
    assert!(again.started_now);
    wait_until("the review after restart", || {
        gw.call("eu", "GET", &format!("/content/{slug}"), None, &[], None)
            .status
            == 200
    });
    // Running it again while it runs changes nothing.
    assert!(!stack.start().expect("second start").started_now);
    stack.clean().expect("cleans");
    assert!(!state.exists());
}

/// Walk-through steps 9 to 11: the admin resets Ana's password, Ana ends
/// her other sessions, the admin reads her trail.
fn accounts_walkthrough(gw: &Gateway, admin: &str) {
    let editors = gw.call("sa", "GET", "/auth/editors", Some(admin), &[], None);
    let ana = editors.body["data"]
        .as_array()
        .and_then(|all| all.iter().find(|e| e["email"] == "ana@example.com"))
        .and_then(|e| e["id"].as_i64())
        .expect("Ana is listed");
    let path = format!("/auth/editors/{ana}/password-reset");
    let issued = gw.call("sa", "POST", &path, Some(admin), &[], None);
    assert_eq!(issued.status, 201, "{:?}", issued.body);
    let reset =
        json!({ "token": issued.body["reset_token"], "new_password": "another long password" });
    let spent = gw.call(
        "sa",
        "POST",
        "/auth/password-reset",
        None,
        &[],
        Some(&reset),
    );
    assert_eq!(spent.status, 204, "{:?}", spent.body);

    let login = json!({ "email": "ana@example.com", "password": "another long password" });
    let phone = [("User-Agent", "phone")];
    let on_phone = gw.call("sa", "POST", "/auth/login", None, &phone, Some(&login));
    assert_eq!(on_phone.status, 200, "{:?}", on_phone.body);
    let editor = gw.login("ana@example.com", "another long password");
    let sessions = gw.call("sa", "GET", "/auth/me/sessions", Some(&editor), &[], None);
    let live = sessions.body["data"].as_array().expect("sessions");
    assert_eq!(live.len(), 2, "{:?}", sessions.body);
    assert_eq!(live[0]["current"], true);
    assert_eq!(live[1]["user_agent"], "phone");
    let ended = gw.call(
        "sa",
        "DELETE",
        "/auth/me/sessions",
        Some(&editor),
        &[],
        None,
    );
    assert_eq!(ended.status, 204, "{:?}", ended.body);

    let trail = gw.call(
        "sa",
        "GET",
        &format!("/auth/editors/{ana}/audit?limit=5"),
        Some(admin),
        &[],
        None,
    );
    assert_eq!(trail.status, 200, "{:?}", trail.body);
    let actions: Vec<&str> = trail.body["data"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|row| row["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "sessions_ended",
            "login_succeeded",
            "login_succeeded",
            "password_reset_used",
            "password_reset_issued"
        ]
    );
}

//! The stack as a user meets it: started by the same launcher as
//! `make run` (two regions, two readers each, a temporary folder, free
//! ports), the README walk-through through the gateways, a reader killed
//! under load, a restart that keeps the data, and a clean stop.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use local_stack::{Layout, Options, Stack, http_request};
use serde_json::{Value, json};

/// The folder holding the workspace's debug binaries (this test's own
/// executable lives in `target/debug/deps`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/debug")
        .to_path_buf()
}

struct Gateway<'a> {
    layout: &'a Layout,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Gateway<'_> {
    fn call(
        &self,
        region: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let port = self.layout.gateways[region];
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        let text = body.map(Value::to_string);
        if text.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let (status, headers, body) =
            http_request(port, method, path, &headers, text.as_deref()).expect("gateway answers");
        let body = serde_json::from_str(&body).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    fn login(&self, email: &str, password: &str) -> String {
        let reply = self.call(
            "sa",
            "POST",
            "/auth/login",
            None,
            &[],
            Some(&json!({ "email": email, "password": password })),
        );
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }
}

/// Stops the stack however the test ends, so no server outlives it.
struct StopOnDrop<'a>(&'a Stack);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.stop();
    }
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn the_stack_runs_the_walkthrough_survives_a_dead_reader_and_restarts_with_its_data() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let state = std::env::temp_dir().join(format!("rcr-stack-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let stack = Stack::new(Options {
        root,
        state_dir: state.clone(),
        bin_dir: bin_dir(),
        regions: vec!["sa".into(), "eu".into()],
        readers_per_region: 2,
        free_ports: true,
        docs_assets: false,
    });
    let _guard = StopOnDrop(&stack);
    let started = stack
        .start()
        .unwrap_or_else(|e| panic!("stack starts: {e}"));
    assert!(started.started_now);
    let layout = started.layout.clone();
    let gw = Gateway { layout: &layout };

    // Walk-through: admin creates an editor, who publishes; read back in eu.
    let admin = gw.login(&started.admin_email, &started.admin_password);
    let created = gw.call(
        "sa",
        "POST",
        "/auth/editors",
        Some(&admin),
        &[],
        Some(&json!({
            "email": "ana@example.com", "name": "Ana Souza", "password": "a long enough password"
        })),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    let editor = gw.login("ana@example.com", "a long enough password");
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

//! What every system test needs: a stack started by the launcher in a
//! temporary folder on free ports, stopped however the test ends, and
//! typed calls to its gateways over the launcher's HTTP client.

#![allow(dead_code, reason = "each test binary uses part of this module")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use local_stack::edge::Edge;
use local_stack::wan::WanProfile;
use local_stack::{Layout, Options, Stack, Started, http};
use serde_json::{Value, json};

/// The folder holding the workspace's debug binaries (this test's own
/// executable lives in `target/debug/deps`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/debug")
        .to_path_buf()
}

/// The password of every editor a system test creates.
pub const EDITOR_PASSWORD: &str = "a long enough password";

pub struct Gateway<'a> {
    pub layout: &'a Layout,
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Gateway<'_> {
    pub fn call(
        &self,
        region: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let text = body.map(Value::to_string);
        self.send(region, method, path, token, extra, text.as_deref())
    }

    /// A JSON request whose body is sent as written (malformed on purpose).
    pub fn raw_body(
        &self,
        region: &str,
        method: &str,
        path: &str,
        token: &str,
        body: &str,
    ) -> Reply {
        self.send(region, method, path, Some(token), &[], Some(body))
    }

    fn send(
        &self,
        region: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        extra: &[(&str, &str)],
        text: Option<&str>,
    ) -> Reply {
        let port = self.layout.gateways[region];
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        if text.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let answer = http::request(port, method, path, &headers, text).expect("gateway answers");
        Reply {
            status: answer.status,
            body: serde_json::from_str(&answer.body).unwrap_or(Value::Null),
            headers: answer.headers,
        }
    }

    /// Creates an editor through the admin API (password
    /// [`EDITOR_PASSWORD`]) and logs it in: its access token.
    pub fn new_editor(&self, admin: &str, email: &str, name: &str) -> String {
        let created = self.call(
            "sa",
            "POST",
            "/auth/editors",
            Some(admin),
            &[],
            Some(&json!({ "email": email, "name": name, "password": EDITOR_PASSWORD })),
        );
        assert_eq!(created.status, 201, "{:?}", created.body);
        self.login(email, EDITOR_PASSWORD)
    }

    pub fn login(&self, email: &str, password: &str) -> String {
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
pub struct StopOnDrop<'a>(pub &'a Stack);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.stop();
    }
}

pub fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// Prefix of every system test's stack folder (`<prefix><pid>-<name>`):
/// those of exited test processes (databases of hundreds of MB each) are
/// removed at the next run; a failed test's stays until then, for its logs.
const STACK_PREFIX: &str = "rcr-system-";

/// A stack of its own for one test: `regions` with `readers` readers each,
/// in a temporary folder named after `name`, on free ports, started. The
/// suites' loads come from one address, so its gateways do not limit rates
/// (the edge test has limits of its own: [`start_stack_with`]).
pub fn start_stack(name: &str, regions: &[&str], readers: usize) -> (Stack, Started) {
    start_stack_with(name, regions, readers, Edge::unlimited())
}

/// [`start_stack`] with the gateways' edge settings given.
pub fn start_stack_with(
    name: &str,
    regions: &[&str],
    readers: usize,
    edge: Edge,
) -> (Stack, Started) {
    start_stack_as(name, regions, readers, edge, None)
}

/// [`start_stack`] continents apart: every cross-region link delayed as
/// `wan` says (SPEC §10.4).
pub fn start_stack_apart(name: &str, regions: &[&str], wan: WanProfile) -> (Stack, Started) {
    start_stack_as(name, regions, 1, Edge::unlimited(), Some(wan))
}

fn start_stack_as(
    name: &str,
    regions: &[&str],
    readers: usize,
    edge: Edge,
    wan: Option<WanProfile>,
) -> (Stack, Started) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(|| local_stack::remove_stale_temp_dirs(STACK_PREFIX));
    let state = std::env::temp_dir().join(format!("{STACK_PREFIX}{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let stack = Stack::new(Options {
        root,
        state_dir: state,
        bin_dir: bin_dir(),
        regions: regions.iter().map(|r| (*r).to_owned()).collect(),
        readers_per_region: readers,
        free_ports: true,
        docs_assets: false,
        edge,
        wan,
        monitoring: false,
    });
    let started = stack
        .start()
        .unwrap_or_else(|e| panic!("stack starts: {e}"));
    (stack, started)
}

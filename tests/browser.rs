//! A real browser: Debian's Chromium, driven by playwright-core
//! (`tests/browser/drive.mjs`), meets the gateways the way the frontend
//! team's pages will (SPEC §10.1).
//!
//! The walk-through runs from a page on another origin: this test serves
//! `tests/browser/page.html` from a port of its own on 127.0.0.1, an
//! origin the stack's CORS allow-list admits, and the page `fetch`es the
//! README walk-through through the gateways of two regions. So Chromium
//! sends real preflights, enforces the gateways' CORS answers and lets the
//! page read only the headers they expose — the consistency token among
//! them, which makes reading back in Europe at once possible.
//!
//! The second test renders a gateway's `/docs` (Swagger UI showing the
//! three OpenAPI documents) and saves a screenshot of each document in
//! `<target>/browser/`, beside one of the walk-through page.
//!
//! Nothing is skipped: without node, Chromium or the npm packages
//! (`make deps`, i.e. `deploy/local/install-deps.sh --browser`) both tests
//! fail saying what is missing.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError, mpsc};
use std::time::Duration;

use common::{StopOnDrop, start_stack, wait_until};
use serde_json::{Value, json};

/// Each test starts a stack of its own; on a small machine they take turns.
static ONE_STACK_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The target directory (the test executable is in `<target>/debug/deps`).
fn target_dir() -> PathBuf {
    common::bin_dir()
        .parent()
        .expect("the target directory")
        .to_path_buf()
}

/// Where screenshots go: `<target>/browser/`.
fn artifacts_dir() -> PathBuf {
    target_dir().join("browser")
}

/// What driving Chromium takes, each checked with a message saying how to
/// get it.
struct Browser {
    node: PathBuf,
    chromium: PathBuf,
    /// Holds `node_modules/playwright-core`.
    modules: PathBuf,
}

const INSTALL: &str = "run `make deps` (deploy/local/install-deps.sh --browser)";

impl Browser {
    fn find() -> Self {
        let node = PathBuf::from(std::env::var_os("RCR_NODE").unwrap_or_else(|| "node".into()));
        let version = Command::new(&node).arg("--version").output();
        assert!(
            version.as_ref().is_ok_and(|v| v.status.success()),
            "node cannot run ({}): {INSTALL}",
            node.display()
        );
        let chromium = PathBuf::from(
            std::env::var_os("RCR_CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()),
        );
        let runs = Command::new(&chromium)
            .args(["--headless", "--no-sandbox", "--version"])
            .stdin(Stdio::null())
            .output();
        assert!(
            runs.as_ref().is_ok_and(|v| v.status.success()),
            "Chromium cannot run at {} ({runs:?}): {INSTALL}",
            chromium.display()
        );
        let modules = target_dir().join("tools/browser");
        assert!(
            modules
                .join("node_modules/playwright-core/package.json")
                .is_file(),
            "playwright-core is not installed in {}: {INSTALL}",
            modules.display()
        );
        Self {
            node,
            chromium,
            modules,
        }
    }

    /// Runs `drive.mjs <mode>` with `config` (plus Chromium's path and the
    /// artifacts folder): its outcome, after checking that the browser
    /// itself reported no error.
    fn drive(&self, mode: &str, config: Value) -> Value {
        let mut config = config;
        config["chromium"] = json!(self.chromium);
        config["artifacts"] = json!(artifacts_dir());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/drive.mjs");
        let child = Command::new(&self.node)
            .arg(script)
            .arg(mode)
            .env("RCR_BROWSER_CONFIG", config.to_string())
            .env("RCR_BROWSER_MODULES", &self.modules)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        let pid = child.id();
        let (done, outcome) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(child.wait_with_output());
        });
        // drive.mjs gives up after 90 s itself; this is the backstop.
        let Ok(output) = outcome.recv_timeout(Duration::from_secs(150)) else {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("drive.mjs {mode} did not finish in 150 s");
        };
        let output = output.expect("drive.mjs runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "drive.mjs {mode} failed ({}):\n{stderr}\n{stdout}",
            output.status
        );
        let outcome: Value = stdout
            .lines()
            .last()
            .and_then(|line| serde_json::from_str(line).ok())
            .unwrap_or_else(|| panic!("drive.mjs {mode} printed no outcome:\n{stderr}\n{stdout}"));
        eprintln!("===== Chromium {mode} =====\n{outcome:#}");
        assert!(
            outcome.get("error").is_none(),
            "Chromium failed in {mode}: {}\nconsole: {:#}\nfailed requests: {:#}",
            outcome["error"].as_str().unwrap_or_default(),
            outcome["console"],
            outcome["failedRequests"]
        );
        assert_eq!(
            outcome["pageErrors"],
            json!([]),
            "the page threw: {outcome:#}"
        );
        outcome
    }
}

/// Serves `tests/browser/page.html` and its script on a port of its own:
/// the page's origin, `http://127.0.0.1:<port>`.
fn serve_page() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the page");
    let port = listener.local_addr().expect("its address").port();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &dir);
        }
    });
    port
}

/// One request of the page server: GET `/` or `/walkthrough.js`, else 404.
fn answer(mut stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let file = match request_line.split_whitespace().nth(1) {
        Some("/") => Some(("page.html", "text/html; charset=utf-8")),
        Some("/walkthrough.js") => Some(("walkthrough.js", "text/javascript; charset=utf-8")),
        _ => None,
    };
    let (status, kind, body) = match file {
        Some((name, kind)) => ("200 OK", kind, std::fs::read(dir.join(name))?),
        None => ("404 Not Found", "text/plain", b"not found".to_vec()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)
}

/// The record of one step of the page's walk-through.
fn step<'a>(records: &'a [Value], name: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["step"] == name)
        .unwrap_or_else(|| panic!("no step {name:?} in {records:#?}"))
}

/// Asserts a step's status, showing the whole record when it differs.
fn expect(records: &[Value], name: &str, status: u16) -> Value {
    let record = step(records, name);
    assert_eq!(record["status"], json!(status), "step {name:?}: {record:#}");
    record.clone()
}

#[test]
fn a_page_on_another_origin_runs_the_walkthrough_through_two_regions_in_chromium() {
    let browser = Browser::find();
    let _turn = ONE_STACK_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let (stack, started) = start_stack("browser-walkthrough", &["sa", "eu"], 1);
    let guard = StopOnDrop(&stack);
    let layout = &started.layout;
    let page_origin = format!("http://127.0.0.1:{}", serve_page());
    let sa = format!("http://127.0.0.1:{}", layout.gateways["sa"]);
    let eu = format!("http://127.0.0.1:{}", layout.gateways["eu"]);

    let outcome = browser.drive(
        "walkthrough",
        json!({
            "page": format!("{page_origin}/"),
            "sa": sa,
            "eu": eu,
            "adminEmail": started.admin_email,
            "adminPassword": started.admin_password,
        }),
    );
    let records = outcome["result"].as_array().expect("the page's records");

    // Every request left the page's own origin for a gateway's, and the
    // browser let the page read every answer.
    for record in records {
        assert!(record.get("error").is_none(), "refused: {record:#}");
        assert_eq!(record["origin"], json!(page_origin));
        assert!(
            !record["url"]
                .as_str()
                .unwrap_or_default()
                .starts_with(&page_origin)
        );
    }
    expect(records, "admin login", 200);
    expect(records, "create editor", 201);
    expect(records, "editor login", 200);
    let published = expect(records, "publish", 201);
    let headers = &published["headers"];
    assert!(headers["x-consistency-token"].is_string(), "{published:#}");
    assert!(headers["etag"].is_string(), "{published:#}");
    assert_eq!(
        headers["location"],
        json!("/content/la-camara-hibrida-definitiva")
    );
    let replayed = expect(records, "publish again", 201);
    assert_eq!(replayed["headers"]["idempotent-replayed"], json!("true"));
    assert_eq!(replayed["body"]["id"], published["body"]["id"]);

    let read = expect(records, "read in eu", 200);
    assert_eq!(read["headers"]["x-region"], json!("eu"));
    assert_eq!(read["body"]["title"], json!("La cámara híbrida definitiva"));
    assert_eq!(read["body"]["editor"]["name"], json!("Ana Souza"));
    let found = expect(records, "search in eu", 200);
    assert!(
        found["body"]["data"].as_array().is_some_and(|d| d
            .iter()
            .any(|r| r["slug"] == "la-camara-hibrida-definitiva")),
        "{found:#}"
    );
    let second = expect(records, "publish second", 201);
    assert!(second["headers"]["x-consistency-token"].is_string());
    let compared = expect(records, "compare in eu", 200);
    let slugs: Vec<_> = compared["body"]["subjects"]
        .as_array()
        .expect("subjects")
        .iter()
        .map(|s| s["subject"]["slug"].clone())
        .collect();
    assert_eq!(slugs, [json!("sony-a7-iv"), json!("nikon-z6-iii")]);
    expect(records, "own reviews", 200);
    let retracted = expect(records, "retract", 204);
    assert!(retracted["headers"]["x-consistency-token"].is_string());
    let gone = expect(records, "gone in eu", 404);
    assert_eq!(gone["body"]["code"], json!("not_found"));
    assert_eq!(gone["headers"]["x-region"], json!("eu"));

    // The browser asked first (preflights: bearer tokens and JSON bodies are
    // not "simple" requests), and the gateway answered them itself.
    let log = stack.state_dir().join("logs/gateway-sa.access.log");
    wait_until("the preflights in the gateway's access log", || {
        std::fs::read_to_string(&log).is_ok_and(|text| {
            text.lines().any(|line| {
                line.contains(r#""method":"OPTIONS","uri":"/reviews""#)
                    && line.contains(r#""status":204"#)
            })
        })
    });
    drop(guard);
    stack.clean().expect("the stack's folder is removed");
}

/// Puts Swagger UI (`swagger-ui-dist`, pinned in deploy/nginx/docs and
/// installed into `<target>/tools/docs` by install-deps) where the gateway
/// serves `/docs/assets/` from. `start_stack` leaves the assets out: the
/// other system tests do not need them, and they would cost each an npm
/// install.
fn install_docs_assets(state: &Path) {
    let dist = target_dir().join("tools/docs/node_modules/swagger-ui-dist");
    assert!(
        dist.join("swagger-ui-bundle.js").is_file(),
        "swagger-ui-dist is not installed in {}: {INSTALL}",
        dist.display()
    );
    let assets = state.join("docs/assets");
    std::fs::create_dir_all(&assets).expect("the docs' assets folder");
    for entry in std::fs::read_dir(&dist).expect("swagger-ui-dist").flatten() {
        let path = entry.path();
        let wanted = path
            .extension()
            .is_some_and(|e| e == "js" || e == "css" || e == "png");
        if wanted {
            std::fs::copy(&path, assets.join(entry.file_name())).expect("an asset copied");
        }
    }
    // nginx's workers may run as another user.
    let opened = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&assets)
        .status();
    assert!(opened.is_ok_and(|s| s.success()));
}

#[test]
fn the_docs_page_renders_the_three_openapi_documents_in_chromium() {
    let browser = Browser::find();
    let _turn = ONE_STACK_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let (stack, started) = start_stack("browser-docs", &["sa"], 1);
    let guard = StopOnDrop(&stack);
    install_docs_assets(stack.state_dir());
    let docs = format!("http://127.0.0.1:{}/docs", started.layout.gateways["sa"]);

    let outcome = browser.drive("docs", json!({ "docs": docs }));
    let result = &outcome["result"];
    assert_eq!(result["fallbackShown"], json!(false), "{outcome:#}");
    let documents = result["documents"].as_array().expect("documents");
    for (document, service) in documents
        .iter()
        .zip(["auth", "reviews-writer", "content-reader"])
    {
        let title = document["title"].as_str().unwrap_or_default();
        assert!(
            title.contains(&format!("RandomCameraReviews {service}")),
            "{document:#}"
        );
        assert!(
            document["operations"].as_u64().unwrap_or(0) >= 5,
            "{document:#}"
        );
        let shot = PathBuf::from(document["screenshot"].as_str().expect("a screenshot"));
        assert!(
            std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000),
            "{} is missing or empty",
            shot.display()
        );
    }
    assert_eq!(documents.len(), 3);
    assert_eq!(outcome["failedRequests"], json!([]), "{outcome:#}");
    drop(guard);
    stack.clean().expect("the stack's folder is removed");
}

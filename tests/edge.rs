//! The edge as browsers, attackers and SREs meet it (SPEC §10.1, §10.2),
//! through the gateways of a stack of its own: CORS, HTTPS with HSTS, the
//! per-address rate limits, and error answers that carry what clients and
//! SREs rely on (problem+json, `private, no-store` for token-carrying
//! requests, the request id in the service's log line).

mod common;

use std::process::Command;

use common::{Gateway, Reply, StopOnDrop, start_stack_with, wait_until};
use local_stack::edge::{Edge, Limit};
use local_stack::{Component, Layout, Stack};
use serde_json::json;

/// An origin the local stack allows (`http://localhost:*`) and one it
/// does not.
const ALLOWED: &str = "http://localhost:5173";
const OTHER: &str = "https://evil.example";

fn limited() -> Edge {
    let limit = |rate: &str, burst| Limit {
        rate: rate.to_owned(),
        burst,
    };
    Edge {
        login: limit("1r/s", 5),
        write: limit("2r/s", 10),
        search: limit("5r/s", 10),
        // The test's requests come from loopback; X-Forwarded-For from it
        // names other clients (as a CDN in front would).
        trusted_proxies: vec!["127.0.0.1".to_owned()],
        ..Edge::default()
    }
}

#[test]
fn the_edge_grants_cors_serves_https_limits_rates_and_keeps_errors_private() {
    let (stack, started) = start_stack_with("edge-test", &["sa", "eu"], 1, limited());
    let _guard = StopOnDrop(&stack);
    let layout = started.layout.clone();
    let gw = Gateway { layout: &layout };
    let admin = gw.login(&started.admin_email, &started.admin_password);
    let editor = gw.new_editor(&admin, "edge@example.com", "Edge Tester");

    cors(&gw, &editor);
    https(&stack, &layout);
    json_syntax_errors(&gw, &editor);
    token_carrying_errors_are_private(&gw, &editor);
    a_dependency_down_is_logged_with_the_request_id(&stack, &gw, &editor);
    rate_limits(&gw, &editor);
}

fn preflight(gw: &Gateway, path: &str, origin: &str) -> Reply {
    gw.call(
        "eu",
        "OPTIONS",
        path,
        None,
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type, idempotency-key",
            ),
        ],
        None,
    )
}

fn cors(gw: &Gateway, editor: &str) {
    let granted = preflight(gw, "/reviews", ALLOWED);
    assert_eq!(granted.status, 204);
    assert_eq!(granted.header("access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(granted.header("vary"), Some("Origin"));
    assert_eq!(granted.header("access-control-max-age"), Some("600"));
    let methods = granted
        .header("access-control-allow-methods")
        .unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    let allowed = granted
        .header("access-control-allow-headers")
        .unwrap_or_default();
    for name in [
        "Authorization",
        "Idempotency-Key",
        "X-Consistency-Token",
        "If-Match",
    ] {
        assert!(allowed.contains(name), "{name} in {allowed}");
    }
    let refused = preflight(gw, "/auth/login", OTHER);
    assert_eq!(refused.status, 204, "never a 405");
    assert_eq!(refused.header("access-control-allow-origin"), None);
    // Public reads: any origin, and browser code may read the headers
    // read-your-writes needs — on errors too.
    let list = gw.call("eu", "GET", "/content", None, &[("Origin", OTHER)], None);
    assert_eq!(list.status, 200);
    assert_eq!(list.header("access-control-allow-origin"), Some("*"));
    let missing = gw.call(
        "eu",
        "GET",
        "/content/no-such-review",
        None,
        &[("Origin", OTHER)],
        None,
    );
    assert_eq!(missing.status, 404);
    // The node that was asked says so, also on a 404.
    assert_eq!(missing.header("x-served-from"), Some("replica:eu-1"));
    // The gateway's own pages carry a request id too.
    let docs = gw.call("eu", "GET", "/docs", None, &[], None);
    assert!(
        docs.header("x-request-id").is_some(),
        "/docs has a request id"
    );
    assert_eq!(missing.header("access-control-allow-origin"), Some("*"));
    let write = gw.call(
        "sa",
        "POST",
        "/reviews",
        Some(editor),
        &[("Origin", ALLOWED)],
        Some(&json!({})),
    );
    assert_eq!(write.status, 422);
    assert_eq!(write.header("access-control-allow-origin"), Some(ALLOWED));
    for reply in [&list, &missing, &write] {
        let exposed = reply
            .header("access-control-expose-headers")
            .unwrap_or_default();
        for name in [
            "X-Consistency-Token",
            "ETag",
            "Location",
            "X-Request-Id",
            "Retry-After",
        ] {
            assert!(exposed.contains(name), "{name} exposed: {exposed}");
        }
    }
}

/// `curl` over HTTPS, trusting the stack's CA: (status, response headers).
fn curl_https(ca: &std::path::Path, url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "--cacert"])
        .arg(ca)
        .arg(url)
        .output()
        .expect("curl runs (make deps installs it)");
    assert!(out.status.success(), "curl {url}: {out:?}");
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head)
}

fn https(stack: &Stack, layout: &Layout) {
    let url = layout.gateway_https_url("eu").expect("https port");
    let (status, head) = curl_https(&stack.ca_cert(), &format!("{url}/content"));
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("strict-transport-security: max-age="),
        "{head}"
    );
    // The certificate names localhost too.
    let port = layout.gateways_tls["eu"];
    let (status, _) = curl_https(&stack.ca_cert(), &format!("https://localhost:{port}/docs"));
    assert_eq!(status, 200);
    let plain = Gateway { layout }.call("eu", "GET", "/content", None, &[], None);
    assert_eq!(
        plain.header("strict-transport-security"),
        None,
        "not over HTTP"
    );
}

fn json_syntax_errors(gw: &Gateway, editor: &str) {
    for body in [
        r#"{"title":"#,
        r#"{"a":1}{"b":2}"#,
        r#"{"title": "x", "nope"#,
    ] {
        let reply = gw.raw_body("sa", "POST", "/reviews", editor, body);
        assert_eq!(reply.status, 400, "{body}: {:?}", reply.body);
        assert_eq!(reply.body["code"], "malformed_json", "{body}");
        let detail = reply.body["detail"].as_str().unwrap_or_default();
        assert!(!detail.contains("title.title"), "{detail}");
    }
}

fn token_carrying_errors_are_private(gw: &Gateway, editor: &str) {
    let published = gw.call(
        "sa",
        "POST",
        "/reviews",
        Some(editor),
        &[],
        Some(&json!({
            "subject": { "kind": "lens", "brand": "Sigma", "model": "35mm F1.4 DG DN" },
            "title": "Sigma 35 mm", "body": "Nítida.", "rating": 8.5
        })),
    );
    assert_eq!(published.status, 201, "{:?}", published.body);
    let token = published
        .header("x-consistency-token")
        .expect("token")
        .to_owned();
    for (path, status) in [
        ("/content/no-such-review", 404),
        ("/content?limit=abc", 400),
        ("/content/subjects/no-such-subject", 404),
    ] {
        let reply = gw.call(
            "eu",
            "GET",
            path,
            None,
            &[("X-Consistency-Token", &token)],
            None,
        );
        assert_eq!(reply.status, status, "{path}");
        assert_eq!(
            reply.header("cache-control"),
            Some("private, no-store"),
            "{path}"
        );
    }
}

fn a_dependency_down_is_logged_with_the_request_id(stack: &Stack, gw: &Gateway, editor: &str) {
    stack.kill(&Component::Primary).expect("primary killed");
    let reply = gw.call(
        "sa",
        "POST",
        "/reviews",
        Some(editor),
        &[("X-Request-Id", "edge-test-primary-down")],
        Some(&json!({
            "subject": { "kind": "camera", "brand": "Fujifilm", "model": "X-T5" },
            "title": "X-T5", "body": "Compacta."
        })),
    );
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert!(reply.header("retry-after").is_some());
    let log = stack.state_dir().join("logs/writer.log");
    wait_until("the writer's log line", || {
        std::fs::read_to_string(&log).is_ok_and(|text| {
            text.lines().any(|line| {
                line.contains("\"level\":\"WARN\"")
                    && line.contains("\"request.id\":\"edge-test-primary-down\"")
                    && line.contains("\"error\":")
            })
        })
    });
    stack.restart(&Component::Primary).expect("primary back");
    wait_until("writes again", || {
        gw.call("sa", "GET", "/reviews", Some(editor), &[], None)
            .status
            == 200
    });
}

/// Sends `count` requests as fast as they go: the statuses seen.
fn burst(count: usize, mut send: impl FnMut(usize) -> Reply) -> Vec<Reply> {
    (0..count).map(&mut send).collect()
}

fn assert_limited(what: &str, replies: &[Reply], fine: &[u16]) {
    let limited: Vec<&Reply> = replies.iter().filter(|r| r.status == 429).collect();
    assert!(
        limited.len() > replies.len() / 2,
        "{what}: only {} of {} limited",
        limited.len(),
        replies.len()
    );
    for reply in &limited {
        assert_eq!(reply.body["code"], "too_many_requests", "{what}");
        assert_eq!(reply.header("retry-after"), Some("1"), "{what}");
        assert!(
            reply
                .header("content-type")
                .is_some_and(|t| t.starts_with("application/problem+json")),
            "{what}"
        );
    }
    for reply in replies {
        assert!(
            reply.status == 429 || fine.contains(&reply.status),
            "{what}: {} {:?}",
            reply.status,
            reply.body
        );
    }
}

fn rate_limits(gw: &Gateway, editor: &str) {
    let logins = burst(200, |_| {
        gw.call(
            "sa",
            "POST",
            "/auth/login",
            None,
            &[],
            Some(&json!({ "email": "nobody@example.com", "password": "not the password" })),
        )
    });
    // The service's own throttle (10 failures per email) answers 429 too.
    assert_limited("200 logins", &logins, &[401]);
    let writes = burst(200, |_| {
        gw.call(
            "sa",
            "POST",
            "/reviews",
            Some(editor),
            &[],
            Some(&json!({})),
        )
    });
    assert_limited("200 writes", &writes, &[422]);
    let searches = burst(2_000, |i| {
        gw.call(
            "eu",
            "GET",
            &format!("/content?q=camara{i}"),
            None,
            &[],
            None,
        )
    });
    assert_limited("2,000 searches", &searches, &[200]);
    // Limits are per client: another address (named by a trusted proxy) is
    // not held back by this one's flood, and plain reads are not limited.
    let other = gw.call(
        "eu",
        "GET",
        "/content?q=camara",
        None,
        &[("X-Forwarded-For", "198.51.100.7")],
        None,
    );
    assert_eq!(other.status, 200, "{:?}", other.body);
    assert_eq!(
        gw.call("eu", "GET", "/content", None, &[], None).status,
        200
    );
}

//! The one HTTP client of the launcher and the system tests (ureq): plain
//! HTTP to a port on loopback, every answer handed back as it came,
//! whatever its status.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ureq::http::{Request, request::Builder};
use ureq::{Agent, AsSendBody};

use crate::process::StackError;

/// An answer: status, header names (lowercase) with their values, body
/// (bytes that are not UTF-8 replaced, which no answer here should have).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The agent every request goes through.
fn agent() -> &'static Agent {
    static AGENT: OnceLock<Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        Agent::config_builder()
            // A 4xx or 5xx is an answer to look at, not an error.
            .http_status_as_error(false)
            // A redirect is an answer too: callers check what the gateway
            // says, not where it points.
            .max_redirects(0)
            // Each request on a connection of its own, as a client that
            // closes after every answer: a connection kept idle in a pool
            // could be one the server has closed (a process killed by a
            // fault test, a gateway's keep-alive timeout), and a write sent
            // on it would fail for a reason of the client's making.
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            // As long as any answer on loopback may take (bounded waits in
            // the services are shorter), per read.
            .timeout_per_read(Some(Duration::from_secs(10)))
            .build()
            .new_agent()
    })
}

/// `GET path` on 127.0.0.1:`port`.
pub fn get(port: u16, path: &str) -> Result<Answer, StackError> {
    request(port, "GET", path, &[], None)
}

/// `method path` on 127.0.0.1:`port` with `headers` and, when given, a
/// `body` (its length sent as `Content-Length`).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Answer, StackError> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    match body {
        Some(body) => send(port, builder, body),
        None => send(port, builder, ()),
    }
}

fn send(port: u16, builder: Builder, body: impl AsSendBody) -> Result<Answer, StackError> {
    let err = |e: &dyn std::fmt::Display| StackError::new(format!("port {port}: {e}"));
    let request = builder.body(body).map_err(|e| err(&e))?;
    let mut response = agent().run(request).map_err(|e| err(&e))?;
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    let body = response.body_mut().read_to_vec().map_err(|e| err(&e))?;
    Ok(Answer {
        status: response.status().as_u16(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Polls `GET path` until it answers 200, for at most `timeout`.
pub fn wait_ok(port: u16, path: &str, timeout: Duration) -> Result<(), StackError> {
    let deadline = Instant::now() + timeout;
    let mut last = StackError::new("not started");
    while Instant::now() < deadline {
        match get(port, path) {
            Ok(answer) if answer.status == 200 => return Ok(()),
            Ok(answer) => last = StackError::new(format!("status {}", answer.status)),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last)
}

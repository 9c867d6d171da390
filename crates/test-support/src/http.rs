//! Talking to a service under test over HTTP: answers read whole, the
//! problem+json checks every service's errors must pass, and logging in.
//!
//! Only what is the same for every service lives here; a suite adds its
//! own accessors to [`Answer`] with an extension trait.

use std::time::Duration;

use actix_web::web::Bytes;
use awc::error::PayloadError;
use awc::http::StatusCode;
use awc::http::header::HeaderMap;
use futures_util::Stream;
use serde_json::{Value, json};

/// The largest body [`read`] accepts. Well above any answer a test asks
/// for: a test fails on its assertions, never on the size of a body.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// An answer: status, headers and the parsed body (`Null` when empty, a
/// JSON string when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// A header's value, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer with `status` and `code`.
    pub fn assert_problem(&self, status: u16, code: &str) {
        self.assert_problem_status(status);
        assert_eq!(self.body["code"], code, "{:?}", self.body);
    }

    /// Asserts a problem+json answer with `status`, whatever its code: the
    /// media type, the status repeated in the body, and a request id.
    pub fn assert_problem_status(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{:?}",
            self.body
        );
        assert_eq!(self.body["status"], status, "{:?}", self.body);
        assert!(
            self.body["request_id"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{:?}",
            self.body
        );
    }
}

/// Reads a whole answer.
pub async fn read<S>(mut res: awc::ClientResponse<S>) -> Answer
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.body().limit(BODY_LIMIT).await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// Sends raw bytes as the body of `req` with `content_type` and extra
/// `headers` (malformed-body tests), and reads the answer.
pub async fn send_raw(
    req: awc::ClientRequest,
    content_type: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = req.insert_header(("content-type", content_type));
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    read(req.send_body(body).await.expect("request sent")).await
}

/// Sends `req` with a bearer `token`, extra `headers` and a JSON `body`
/// when given, and reads the answer.
pub async fn send(
    mut req: awc::ClientRequest,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Answer {
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    let sent = match body {
        Some(body) => req.send_json(body).await,
        None => req.send().await,
    };
    read(sent.expect("request sent")).await
}

/// A client bounded by `timeout`: a hang is a failure, not a stuck suite.
pub fn client_with_timeout(timeout: Duration) -> awc::Client {
    awc::Client::builder().timeout(timeout).finish()
}

/// `POST /auth/login` on the auth service at `auth` (`http://host:port`),
/// whatever the outcome.
pub async fn post_login(client: &awc::Client, auth: &str, email: &str, password: &str) -> Answer {
    read(
        client
            .post(format!("{auth}/auth/login"))
            .send_json(&json!({ "email": email, "password": password }))
            .await
            .expect("login sent"),
    )
    .await
}

/// Logs in through the auth service at `auth`, asserting 200, and returns
/// the access token.
pub async fn login(client: &awc::Client, auth: &str, email: &str, password: &str) -> String {
    let answer = post_login(client, auth, email, password).await;
    assert_eq!(answer.status, StatusCode::OK, "login: {:?}", answer.body);
    answer.body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

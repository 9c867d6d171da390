//! The conventions of SPEC §4 that every service shares, in one place:
//! request ids, security headers, one log line and metrics per request,
//! problem+json for every error (including the framework's own), JSON bodies
//! with a size limit, a read deadline and unknown fields refused.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use domain::ErrorCode;
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize as _;
use serde::de::DeserializeOwned;

use crate::metrics::Metrics;
use crate::problem::{Cause, PROBLEM_JSON, Problem};
use crate::request_id;

/// Limits on request bodies, shared through app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    /// Reading the whole body must finish within this: a client trickling
    /// bytes must not hold a worker forever.
    pub read_timeout: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            read_timeout: Duration::from_secs(10),
        }
    }
}

/// Headers a service adds to every answer, errors included (the reader's
/// `X-Region`, and `X-Served-From: none` where a handler set none).
/// Registered as app data; applied by [`conventions`].
#[derive(Debug, Clone, Default)]
pub struct AnswerHeaders {
    pub always: Vec<(header::HeaderName, HeaderValue)>,
    pub unless_set: Vec<(header::HeaderName, HeaderValue)>,
}

/// Middleware for every service: wraps the whole app.
///
/// It gives the request its id (echoing a valid incoming one), runs the rest
/// of the chain with that id in scope, turns any error answer that is not
/// already problem+json (framework defaults) into one, adds the headers every
/// answer carries, records metrics and writes the log lines.
pub async fn conventions(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id::from_request(&req);
    request_id::remember(&req, &id);
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let extra = req.app_data::<web::Data<AnswerHeaders>>().cloned();
    let method = req.method().clone();
    // SPEC §4/§10.2: an answer to a request carrying a consistency token is
    // tied to one client's write — errors included — so no shared cache may
    // keep it.
    let private = req.headers().contains_key("x-consistency-token");

    // Errors normally become answers inside the route; one escaping a
    // middleware goes on to actix as it is.
    let res = request_id::scope(id.clone(), next.call(req)).await?;
    let mut res = as_problem(res, &id).await;
    add_answer_headers(
        res.headers_mut(),
        &id,
        private,
        extra.as_ref().map(|e| e.get_ref()),
    );

    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status();
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        let labels = [route.as_str(), method.as_str(), status.as_str()];
        metrics.http_requests.with_label_values(&labels).inc();
        metrics
            .http_duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }
    if let Some(Cause(cause)) = res.response().extensions().get::<Cause>() {
        log_cause(&id, &route, status, cause);
    }
    // Plain `&str` fields: recorded as strings, not through `Display`.
    tracing::info!(
        request.id = id.as_str(),
        http.route = route.as_str(),
        http.method = method.as_str(),
        http.status = status.as_u16(),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    Ok(res)
}

/// The answer, with an error answer that is not problem+json yet (a
/// framework default) replaced by one of the same status (keeping `Allow`).
async fn as_problem<B>(res: ServiceResponse<B>, id: &str) -> ServiceResponse<EitherBody<B>> {
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return res.map_into_left_body();
    }
    let mut problem = Problem::for_status(status);
    if let Some(allow) = res.headers().get(header::ALLOW).cloned() {
        problem = problem.header(header::ALLOW, allow);
    }
    let replacement = request_id::scope(id.to_owned(), async move { problem.to_response() }).await;
    res.into_response(replacement).map_into_right_body()
}

/// The headers every answer carries: `X-Request-Id`, `nosniff`,
/// `private, no-store` for a token-carrying request, and the service's own.
fn add_answer_headers(
    headers: &mut header::HeaderMap,
    id: &str,
    private: bool,
    extra: Option<&AnswerHeaders>,
) {
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(header::HeaderName::from_static("x-request-id"), value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if private {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
    if let Some(extra) = extra {
        for (name, value) in &extra.always {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &extra.unless_set {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
}

/// The cause of an error answer (a dependency down, a bug), logged here
/// once with the request id; the client only ever sees the id.
fn log_cause(id: &str, route: &str, status: StatusCode, cause: &str) {
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        tracing::error!(
            request.id = id,
            http.route = route,
            error = cause,
            "internal error"
        );
    } else {
        tracing::warn!(
            request.id = id,
            http.route = route,
            error = cause,
            "dependency unavailable"
        );
    }
}

/// Default service: a problem+json 404 for every unknown path.
pub async fn not_found() -> Problem {
    Problem::new(ErrorCode::NotFound).detail("no such resource")
}

/// A 405 naming the methods a resource allows.
pub fn method_not_allowed(allow: &'static str) -> Problem {
    Problem::new(ErrorCode::MethodNotAllowed)
        .detail(format!("this resource allows {allow}"))
        .header(header::ALLOW, HeaderValue::from_static(allow))
}

/// Extractor configuration so that query and path errors are problem+json.
pub fn configure_extractors(cfg: &mut web::ServiceConfig, limits: BodyLimits) {
    cfg.app_data(web::Data::new(limits))
        .app_data(web::QueryConfig::default().error_handler(|err, _| {
            Problem::new(ErrorCode::InvalidParameter)
                .detail(err.to_string())
                .into()
        }))
        .app_data(web::PathConfig::default().error_handler(|err, _| {
            Problem::new(ErrorCode::NotFound)
                .detail(format!("invalid path: {err}"))
                .into()
        }))
        .app_data(web::PayloadConfig::new(limits.max_bytes));
}

/// The address of the client: the peer, or the last hop of
/// `X-Forwarded-For` when the peer is a trusted proxy (the gateway).
pub fn client_ip(req: &HttpRequest, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    match peer {
        Some(ip) if trusted.contains(&ip) => req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
            .or(Some(ip)),
        other => other,
    }
}

/// The request id that the middleware assigned to `req`.
pub fn request_id_of(req: &HttpRequest) -> String {
    req.extensions()
        .get::<request_id::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// A JSON request body, held to SPEC §4's rules: `application/json` only
/// (415), at most the configured size (413), read within the configured time
/// (408), syntax errors 400, well-formed JSON of the wrong shape 422 naming
/// the field (unknown fields included, via `deny_unknown_fields` on `T`).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json_body(req, payload);
        Box::pin(async move { parse_json(&body.await?).map(JsonBody) })
    }
}

/// A JSON body as [`JsonBody`] reads it, plus the SHA-256 of its canonical
/// form (keys sorted, no insignificant whitespace), so that two requests
/// carrying the same document compare equal however they were formatted —
/// what an `Idempotency-Key` check needs.
#[derive(Debug)]
pub struct JsonWithDigest<T> {
    pub value: T,
    pub digest: [u8; 32],
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonWithDigest<T> {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json_body(req, payload);
        Box::pin(async move {
            let body = body.await?;
            let value = parse_json(&body)?;
            // Parsing into `T` succeeded, so the document is valid JSON.
            let canonical: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|_| Problem::new(ErrorCode::MalformedJson))?;
            let bytes = serde_json::to_vec(&canonical).unwrap_or_default();
            let digest = <sha2::Sha256 as sha2::Digest>::digest(&bytes).into();
            Ok(Self { value, digest })
        })
    }
}

/// Reads a JSON request body under [`BodyLimits`]: media type (415), size
/// (413), read deadline (408).
fn read_json_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalBoxFuture<'static, Result<web::Bytes, Problem>> {
    let limits = req
        .app_data::<web::Data<BodyLimits>>()
        .map_or_else(BodyLimits::default, |l| *l.get_ref());
    let is_json = matches!(req.mime_type(), Ok(Some(m)) if m.essence_str() == "application/json");
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload.take();
    Box::pin(async move {
        if !is_json {
            return Err(Problem::new(ErrorCode::UnsupportedMediaType)
                .detail("request bodies must be application/json"));
        }
        if declared_len.is_some_and(|n| n > limits.max_bytes) {
            return Err(too_large(limits.max_bytes));
        }
        let read = async {
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    Problem::new(ErrorCode::BadRequest)
                        .detail(format!("could not read the request body: {e}"))
                })?;
                if body.len() + chunk.len() > limits.max_bytes {
                    return Err(too_large(limits.max_bytes));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body.freeze())
        };
        tokio::time::timeout(limits.read_timeout, read)
            .await
            .map_err(|_| {
                Problem::new(ErrorCode::BadRequest)
                    .with_status(StatusCode::REQUEST_TIMEOUT)
                    .detail("the request body was not received in time")
            })?
    })
}

fn too_large(max: usize) -> Problem {
    Problem::new(ErrorCode::PayloadTooLarge)
        .detail(format!("request bodies are limited to {max} bytes"))
}

/// Parses a JSON document into `T`, classifying failures as SPEC §4 asks:
/// anything that is not exactly one well-formed JSON document (truncated,
/// trailing data, a syntax error anywhere) is a 400 naming the syntax
/// error, even where a field that `T` refuses comes first; only then is
/// the document read as `T` (wrong shapes and unknown fields: 422).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    if body.is_empty() {
        return Err(Problem::new(ErrorCode::MalformedJson).detail("the request body is empty"));
    }
    check_syntax(body)?;
    // Every body is a JSON object; serde would also fill a struct from an
    // array, positionally (`[]` read as an empty patch).
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Problem::new(ErrorCode::ValidationFailed)
            .detail("the body must be a JSON object")
            .field("body", "must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        classify(&inner, &path)
    })
}

/// One well-formed JSON document and nothing after it, or a 400 saying
/// what is wrong and where.
fn check_syntax(body: &[u8]) -> Result<(), Problem> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde::de::IgnoredAny::deserialize(&mut de)
        .and_then(|_| de.end())
        .map_err(|err| {
            let detail = if err.classify() == serde_json::error::Category::Eof {
                format!("malformed JSON: the document ends early ({err})")
            } else if err.to_string().starts_with("trailing characters") {
                format!("malformed JSON: unexpected data after the document ({err})")
            } else {
                format!("malformed JSON: {err}")
            };
            Problem::new(ErrorCode::MalformedJson).detail(detail)
        })
}

fn classify(err: &serde_json::Error, path: &str) -> Problem {
    use serde_json::error::Category;
    let message = err.to_string();
    let message = message
        .rfind(" at line ")
        .map_or(message.as_str(), |i| &message[..i])
        .to_owned();
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            Problem::new(ErrorCode::MalformedJson).detail(format!("malformed JSON: {message}"))
        }
        Category::Data => {
            let parent = if path == "." { "" } else { path };
            let join = |name: &str| {
                if parent.is_empty() {
                    name.to_owned()
                } else {
                    format!("{parent}.{name}")
                }
            };
            if let Some(name) = backticked(&message, "unknown field `") {
                // The path already ends at the unknown key (it is where the
                // error happened); only a missing field's path stops at
                // its parent.
                let field = if parent == name || parent.ends_with(&format!(".{name}")) {
                    parent.to_owned()
                } else {
                    join(name)
                };
                Problem::new(ErrorCode::UnknownField)
                    .detail(format!("unknown field `{field}`"))
                    .field(field, "unknown field")
            } else if let Some(name) = backticked(&message, "missing field `") {
                let field = join(name);
                Problem::new(ErrorCode::ValidationFailed)
                    .detail(format!("`{field}` is required"))
                    .field(field, "is required")
            } else {
                let field = if parent.is_empty() { "body" } else { parent };
                Problem::new(ErrorCode::ValidationFailed)
                    .detail(format!("`{field}`: {message}"))
                    .field(field, message)
            }
        }
    }
}

fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist to be deserialised")]
    struct Inner {
        kind: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist to be deserialised")]
    struct Outer {
        name: String,
        count: Option<u32>,
        inner: Option<Inner>,
    }

    fn code(body: &str) -> (ErrorCode, String) {
        let p = parse_json::<Outer>(body.as_bytes()).expect_err("should fail");
        let text = format!("{p}");
        (p.code(), text)
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        assert_eq!(code("{").0, ErrorCode::MalformedJson);
        assert_eq!(code("").0, ErrorCode::MalformedJson);
        assert_eq!(code(r#"{"name":"a"} x"#).0, ErrorCode::MalformedJson);
    }

    #[test]
    fn an_array_is_not_an_object_body_even_where_every_field_is_optional() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[expect(dead_code, reason = "fields exist to be deserialised")]
        struct Patch {
            name: Option<String>,
        }
        for body in ["[]", " [\"x\"]", "\"text\"", "3"] {
            let p = parse_json::<Patch>(body.as_bytes()).expect_err(body);
            assert_eq!(p.code(), ErrorCode::ValidationFailed, "{body}");
        }
        assert!(parse_json::<Patch>(b" {}").is_ok());
    }

    #[test]
    fn an_unknown_field_is_named_with_its_path_once() {
        for (body, field) in [
            (
                r#"{"name":"a","inner":{"kind":"x","editor_id":1}}"#,
                "inner.editor_id",
            ),
            (r#"{"title":"x"}"#, "title"),
        ] {
            let p = parse_json::<Outer>(body.as_bytes()).expect_err(body);
            assert_eq!(p.code(), ErrorCode::UnknownField, "{body}");
            let text = p.to_string();
            assert!(
                text.ends_with(&format!("unknown field `{field}`")),
                "{text}"
            );
        }
    }

    #[test]
    fn truncated_or_trailing_json_is_a_syntax_error_even_after_an_unknown_field() {
        for body in [
            r#"{"title":"#,
            r#"{"title": 1"#,
            r#"{"a":1}{"b":2}"#,
            r#"{"name":"a"} x"#,
        ] {
            let p = parse_json::<Outer>(body.as_bytes()).expect_err(body);
            assert_eq!(p.code(), ErrorCode::MalformedJson, "{body}: {p}");
            assert!(p.to_string().contains("malformed JSON"), "{p}");
        }
    }

    #[test]
    fn a_wrong_type_is_a_validation_failure_naming_the_field() {
        let (c, text) = code(r#"{"name":"a","count":"x"}"#);
        assert_eq!(c, ErrorCode::ValidationFailed);
        assert!(text.contains("count"), "{text}");
        let (c, text) = code(r#"{"count":1}"#);
        assert_eq!(c, ErrorCode::ValidationFailed);
        assert!(text.contains("name"), "{text}");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = "[".repeat(100_000);
        let p = parse_json::<serde_json::Value>(deep.as_bytes()).expect_err("too deep");
        assert_eq!(p.code(), ErrorCode::MalformedJson);
    }
}

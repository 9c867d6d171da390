//! The id of the request being served, reachable from anywhere in its task.
//!
//! The request middleware scopes the id around the rest of the service call,
//! so error answers built deep inside extractors and handlers (which never
//! see the request) can still put it into their problem+json body.

use actix_web::HttpMessage;
use actix_web::dev::ServiceRequest;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The longest incoming `X-Request-Id` that is echoed; longer ones are
/// replaced (a request id ends up in every log line).
const MAX_LEN: usize = 128;

/// The request id of the current task, if a request is being served.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// The request id as stored in the request's extensions by the middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Echoes a well-formed incoming id (printable ASCII, no spaces, bounded),
/// otherwise makes a new one.
pub fn from_request(req: &ServiceRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_valid(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

pub(crate) fn remember(req: &ServiceRequest, id: &str) {
    req.extensions_mut().insert(RequestId(id.to_owned()));
}

fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'))
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    #[test]
    fn a_plain_incoming_id_is_echoed_and_odd_ones_are_not() {
        assert!(is_valid("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(is_valid("req-1.2:3"));
        assert!(!is_valid(""));
        assert!(!is_valid("has space"));
        assert!(!is_valid("<script>"));
        assert!(!is_valid(&"a".repeat(129)));
    }
}

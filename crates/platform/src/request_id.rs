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
        .map_or_else(new_id, str::to_owned)
}

thread_local! {
    /// Per-thread generator state, seeded once from the OS.
    static STATE: std::cell::Cell<u64> = std::cell::Cell::new(seed());
}

fn seed() -> u64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u64::from_le_bytes(bytes[..8].try_into().unwrap_or_default()) | 1
}

/// splitmix64: statistically sound, not secret. A request id only has to
/// be unique, so this spares the system call a fresh UUID costs per request.
fn next() -> u64 {
    STATE.with(|state| {
        let s = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// A new request id, formatted as a version-4 UUID.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&next().to_le_bytes());
    bytes[8..].copy_from_slice(&next().to_le_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
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
    use super::{is_valid, new_id};

    #[test]
    fn a_plain_incoming_id_is_echoed_and_odd_ones_are_not() {
        assert!(is_valid("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(is_valid("req-1.2:3"));
        assert!(!is_valid(""));
        assert!(!is_valid("has space"));
        assert!(!is_valid("<script>"));
        assert!(!is_valid(&"a".repeat(129)));
    }

    #[test]
    fn generated_ids_are_valid_distinct_uuids() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            assert!(is_valid(id), "{id}");
            let parsed = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 4, "{id}");
        }
    }
}

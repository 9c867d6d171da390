//! The one request path every route shares (ARCHITECTURE.md walkthrough 5):
//! cache lookup (memory, then Redis) → single-flight miss → a snapshot
//! read on the node the router picks → the conditional answer with its
//! caching headers. A route says only what it reads ([`Read`]) and under
//! which cache key.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use deadpool_postgres::Transaction;
use platform::consistency::TokenError;
use platform::surrogate::SurrogateKeys;
use sha2::{Digest, Sha256};
use tokio_postgres::IsolationLevel;

use crate::cache::Entry;
use crate::error::ReadError;
use crate::router::{NoNode, Node};
use crate::startup::State;

/// What a route reads, run inside the snapshot transaction on the chosen
/// node: at most once per key and version however many requests wait for
/// it (single flight), and once more on another node after a replica
/// cancelled it.
pub(crate) trait Read {
    async fn read(&self, tx: &Transaction<'_>, state: &State) -> Result<Content, ReadError>;
}

/// What a read produced: the answer body and the surrogate keys of what
/// it shows.
#[derive(Debug)]
pub(crate) struct Content {
    pub body: Vec<u8>,
    pub keys: SurrogateKeys,
}

impl Content {
    /// `value` as the JSON body.
    pub fn json(value: &impl serde::Serialize, keys: SurrogateKeys) -> Result<Self, ReadError> {
        let body = serde_json::to_vec(value).map_err(ReadError::internal)?;
        Ok(Self { body, keys })
    }
}

const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");
const X_SERVED_FROM: HeaderName = HeaderName::from_static("x-served-from");
const X_CONSISTENCY_TOKEN: HeaderName = HeaderName::from_static("x-consistency-token");

/// Answers `req` with what `read` reads, cached under `key`.
pub(crate) async fn serve(
    req: &HttpRequest,
    state: &State,
    key: String,
    read: impl Read,
) -> Result<HttpResponse, ReadError> {
    let min_lsn = consistency_lsn(req, state)?;
    let private = min_lsn.is_some();
    let version = state.router.version();
    if let Some(entry) = state.cache.get(&key, version).await
        && min_lsn.is_none_or(|lsn| entry.lsn >= lsn)
    {
        let from_cache = HeaderValue::from_static("cache");
        return Ok(answer(req, state, &entry, &from_cache, private));
    }
    let entry = match min_lsn {
        // Read-your-writes: never shared, never from an older entry.
        Some(lsn) => fetch(state, &key, &read, Some(lsn)).await?,
        None => {
            let flight_key = format!("{version}:{key}");
            state
                .flights
                .run(&flight_key, || fetch(state, &key, &read, None))
                .await?
        }
    };
    Ok(answer(req, state, &entry, &entry.source, private))
}

/// The WAL position an `X-Consistency-Token` asks for, if the request
/// carries one; a forged or garbled token is a 400.
fn consistency_lsn(req: &HttpRequest, state: &State) -> Result<Option<u64>, ReadError> {
    let Some(value) = req.headers().get(X_CONSISTENCY_TOKEN) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ReadError::InvalidToken(TokenError::Malformed))?;
    let token = state.tokens.verify(text).map_err(ReadError::InvalidToken)?;
    Ok(Some(token.lsn.0))
}

/// Reads on a node the router picks, retrying once elsewhere when a
/// replica cancels the query (a conflict with replay, SQLSTATE 40001), and
/// keeps the entry in the cache.
async fn fetch(
    state: &State,
    key: &str,
    read: &impl Read,
    min_lsn: Option<u64>,
) -> Result<Arc<Entry>, ReadError> {
    let node = match min_lsn {
        Some(lsn) => state.router.choose_at_least(lsn).await,
        None => state.router.choose(),
    }
    .map_err(|_: NoNode| ReadError::NoNode)?;
    let entry = match read_on(state, &node, read).await {
        Err(err) if err.is_retryable() => {
            let other = retry_node(state, &node, &err, min_lsn).map_err(|_| err)?;
            read_on(state, &other, read).await
        }
        other => other,
    };
    let entry = Arc::new(entry?);
    state.cache.put(key, entry.clone()).await;
    Ok(entry)
}

/// Where to read once more after `node` failed with `err` (cancelled by
/// replay, or unreachable): another node; for read-your-writes the
/// primary, the one node sure to be new enough.
fn retry_node(
    state: &State,
    node: &Node,
    err: &ReadError,
    min_lsn: Option<u64>,
) -> Result<Arc<Node>, NoNode> {
    if err.is_unreachable() {
        node.mark_down();
    }
    tracing::warn!(node = %node.label, error = %err, "read failed; retrying on another node");
    match min_lsn {
        Some(_) => state
            .router
            .primary()
            .filter(|p| p.label != node.label)
            .ok_or(NoNode),
        None => state.router.choose_excluding(Some(&node.label)),
    }
}

/// One snapshot read. The WAL position is read before the snapshot is
/// taken, so the entry is at least as new as the position it records.
async fn read_on(state: &State, node: &Node, read: &impl Read) -> Result<Entry, ReadError> {
    state.db_queries.with_label_values(&[&node.label]).inc();
    let mut client = node.pool.get().await?;
    let lsn = replay_position(&client).await?;
    node.observe_lsn(lsn);
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let version: i64 = tx
        .query_one("SELECT version FROM content_state", &[])
        .await?
        .get(0);
    let content = read.read(&tx, state).await?;
    tx.commit().await?;
    let header = |text: String| HeaderValue::try_from(text).map_err(ReadError::internal);
    Ok(Entry {
        version,
        lsn,
        etag: header(format!("\"{}\"", digest(&content.body)))?,
        surrogate_keys: header(content.keys.header_value())?,
        source: header(node.label.clone())?,
        body: Bytes::from(content.body),
    })
}

/// The node's WAL position: replayed on a replica, written on the primary.
async fn replay_position(client: &deadpool_postgres::Client) -> Result<u64, ReadError> {
    let row = client
        .query_one(
            "SELECT CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn(), '0/0')
                         ELSE pg_current_wal_lsn() END::text",
            &[],
        )
        .await?;
    let lsn: String = row.get(0);
    Ok(lsn
        .parse::<platform::consistency::Lsn>()
        .map(|l| l.0)
        .unwrap_or(0))
}

/// A short stable digest of an answer body: its strong `ETag`.
fn digest(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(32);
    for b in &hash[..16] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xF)]));
    }
    out
}

/// The answer for an entry: 304 when the client has it, else 200.
fn answer(
    req: &HttpRequest,
    state: &State,
    entry: &Entry,
    served_from: &HeaderValue,
    private: bool,
) -> HttpResponse {
    let cache_control = if private {
        // Tied to one client's write: a CDN must never hand it to another.
        HeaderValue::from_static("private, no-store")
    } else {
        state.public_cache_control.clone()
    };
    let not_modified = client_has(req, &entry.etag);
    let mut res = HttpResponse::build(if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    res.insert_header((header::ETAG, entry.etag.clone()))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((SURROGATE_KEY, entry.surrogate_keys.clone()))
        .insert_header((X_SERVED_FROM, served_from.clone()));
    if not_modified {
        return res.finish();
    }
    res.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    ))
    .body(entry.body.clone())
}

/// Whether `If-None-Match` names `etag` (or `*`). Weak comparison (RFC 9110
/// §13.1.2): a `W/` prefix, as a compressing proxy adds, still matches.
fn client_has(req: &HttpRequest, etag: &HeaderValue) -> bool {
    let etag = etag.as_bytes();
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.strip_prefix("W/").unwrap_or(t).as_bytes() == etag
            })
        })
}

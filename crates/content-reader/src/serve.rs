//! The one request path every route shares (ARCHITECTURE.md walkthrough 5):
//! cache lookup (memory, then Redis) → single-flight miss → a database
//! permit (`crate::admission`) → a snapshot read on the node the router
//! picks → the entry, compressed into the coding the request prefers
//! (`crate::encoding`; any other coding when a request first asks for it)
//! → the conditional answer in that coding, with its caching headers. A
//! route says only what it reads ([`Read`]) and under which cache key.

use std::sync::{Arc, LazyLock};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use deadpool_postgres::Transaction;
use platform::consistency::TokenError;
use platform::surrogate::SurrogateKeys;
use sha2::{Digest, Sha256};
use tokio_postgres::IsolationLevel;

use crate::cache::{Compressed, Entry, Variant, now_ms};
use crate::encoding::{AcceptEncoding, Coding, MIN_COMPRESSED_BYTES};
use crate::error::{ReadError, X_SERVED_FROM};
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
    /// Whether a scheduled review's release could change it: every answer
    /// that lists or counts reviews. Such an answer is kept by no cache
    /// past the next release (SPEC §10.4).
    pub lists_reviews: bool,
}

impl Content {
    /// `value` as the JSON body of an answer that lists reviews.
    pub fn json(value: &impl serde::Serialize, keys: SurrogateKeys) -> Result<Self, ReadError> {
        let body = serde_json::to_vec(value).map_err(ReadError::internal)?;
        Ok(Self {
            body,
            keys,
            lists_reviews: true,
        })
    }

    /// The same answer, which no release changes (one public review's
    /// page: a review under embargo has none).
    pub fn unchanged_by_releases(self) -> Self {
        Self {
            lists_reviews: false,
            ..self
        }
    }
}

const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");
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
    if let Some(entry) = state.cache.get(&key).await
        && min_lsn.is_none_or(|lsn| entry.lsn >= lsn)
    {
        let (entry, coding) = in_its_coding(req, state, &key, entry).await?;
        let from_cache = HeaderValue::from_static("cache");
        return Ok(answer(req, state, &entry, coding, &from_cache, private));
    }
    // The coding the request would get if the entry had every one: the
    // one a miss compresses into.
    let wanted = AcceptEncoding::negotiate(req.headers(), |_| true);
    let entry = match min_lsn {
        // Read-your-writes: never shared, never from an older entry.
        Some(lsn) => fetch(state, &key, &read, Some(lsn), wanted).await?,
        None => shared_fetch(state, &key, &read, wanted).await?,
    };
    let (entry, coding) = in_its_coding(req, state, &key, entry).await?;
    Ok(answer(req, state, &entry, coding, &entry.source, private))
}

/// `entry` with the coding `req` prefers compressed, if no request had
/// asked for it before (a hit, or a request that joined another's miss),
/// and with each coding whose tag its `If-None-Match` holds (a client
/// that kept one variant and now asks for another is owed its 304 as
/// well): stored again, in memory and Redis, for the requests that
/// follow. A coding found no smaller leaves the choice to the next one
/// the request accepts, identity last. The entry, and the coding the
/// answer is sent in.
async fn in_its_coding(
    req: &HttpRequest,
    state: &State,
    key: &str,
    mut entry: Arc<Entry>,
) -> Result<(Arc<Entry>, Coding), ReadError> {
    loop {
        let preferred = AcceptEncoding::negotiate(req.headers(), |c| entry.may_have(c));
        let missing = if entry.unmade(preferred) {
            Some(preferred)
        } else {
            [Coding::Br, Coding::Gzip]
                .into_iter()
                .find(|&c| entry.unmade(c) && if_none_match(req).any(|tag| tagged(tag, c)))
        };
        let Some(coding) = missing else {
            return Ok((entry, preferred));
        };
        let body = compress(state, coding, &entry.identity.body)?;
        entry = Arc::new(entry.with(coding, body));
        state.cache.put(key, entry.clone()).await;
    }
}

/// Whether `tag` is that of a variant in a compressed `coding`
/// (`"…-br"`, `"…-gzip"`).
fn tagged(tag: &str, coding: Coding) -> bool {
    tag.strip_suffix('"')
        .and_then(|t| t.strip_suffix(coding.token()))
        .is_some_and(|t| t.ends_with('-'))
}

/// Reads `key` once for every concurrent miss (single flight). A request
/// that joined a read which started before a change to what the page
/// shows was applied (the entry fails the same check as a cached one)
/// reads again, in a flight of the requests that saw at least the same
/// changes; a change elsewhere (another page, another test's write)
/// splits no flight. The request that started the read keeps it: the read
/// began after the request did.
async fn shared_fetch(
    state: &State,
    key: &str,
    read: &impl Read,
    wanted: Coding,
) -> Result<Arc<Entry>, ReadError> {
    let first = state
        .flights
        .run(key, || fetch(state, key, read, None, wanted))
        .await;
    let entry = first.value?;
    let invalidation = state.router.invalidation();
    // Before the first poll nothing checks fresh: serve what was read.
    if first.led
        || invalidation.seen().is_none()
        || invalidation.check(entry.version, &entry.keys).is_ok()
    {
        return Ok(entry);
    }
    // Every request in this flight read `seen` after the change was
    // applied, so the read it shares starts after it too.
    let seen = invalidation.seen().unwrap_or(-1);
    state
        .flights
        .run(&format!("{seen}@{key}"), || {
            fetch(state, key, read, None, wanted)
        })
        .await
        .value
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

/// Reads on a node the router picks — holding one of the reader's
/// database permits (`crate::admission`) — and keeps the entry in the
/// cache, compressed into the `wanted` coding only. That is done after
/// the permit is given back: it costs the reader's CPU, not the
/// database's.
async fn fetch(
    state: &State,
    key: &str,
    read: &impl Read,
    min_lsn: Option<u64>,
    wanted: Coding,
) -> Result<Arc<Entry>, ReadError> {
    let node = match min_lsn {
        Some(lsn) => state.router.choose_at_least(lsn).await,
        None => state.router.choose(),
    }
    .map_err(|_: NoNode| ReadError::NoNode)?;
    let permit = state.admission.enter().await?;
    let (node, snapshot) = read_retrying(state, node, read, min_lsn).await;
    drop(permit);
    let entry = Arc::new(entry_of(
        state,
        snapshot.map_err(|err| on_node(&node, err))?,
        &node,
        wanted,
    )?);
    state.cache.put(key, entry.clone()).await;
    Ok(entry)
}

/// Reads on `node`, and once more elsewhere when a replica cancels the
/// query (a conflict with replay, SQLSTATE 40001) or cannot be reached:
/// what the last node read answered, and that node.
async fn read_retrying(
    state: &State,
    node: Arc<Node>,
    read: &impl Read,
    min_lsn: Option<u64>,
) -> (Arc<Node>, Result<Snapshot, ReadError>) {
    match read_on(state, &node, read).await {
        Err(err) if err.is_retryable() => match retry_node(state, &node, &err, min_lsn) {
            Ok(other) => {
                let result = read_on(state, &other, read).await;
                (other, result)
            }
            Err(NoNode) => (node, Err(err)),
        },
        result => (node, result),
    }
}

/// A failed read's error, naming the node that was read (`X-Served-From`
/// on the answer: a slug not found on a replica says which one).
pub(crate) fn on_node(node: &Node, err: ReadError) -> ReadError {
    match HeaderValue::from_str(&node.label) {
        Ok(label) => ReadError::OnNode(label, Box::new(err)),
        Err(_) => err,
    }
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

/// What one snapshot read produced, before it becomes a cache entry.
#[derive(Debug)]
struct Snapshot {
    /// `content_state.version` in the snapshot.
    version: i64,
    /// The next embargo to lapse after the snapshot's `now()` (ms since
    /// the epoch), if any.
    next_release_ms: Option<i64>,
    /// The node's WAL position, read before the snapshot was taken.
    lsn: u64,
    content: Content,
}

/// The snapshot's content version and its next embargo (one probe of
/// `reviews_embargo_idx`): an entry is never kept past a release its
/// snapshot did not show.
static SNAPSHOT_STATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT version, (extract(epoch FROM ({})) * 1000)::float8 FROM content_state",
        platform::content::NEXT_EMBARGO
    )
});

/// One snapshot read. The WAL position is read before the snapshot is
/// taken, so the entry is at least as new as the position it records.
async fn read_on(state: &State, node: &Node, read: &impl Read) -> Result<Snapshot, ReadError> {
    state.db_queries.with_label_values(&[&node.label]).inc();
    let mut client = node.pool.get().await?;
    let lsn = replay_position(&client).await?;
    node.observe_lsn(lsn);
    let tx = snapshot(&mut client).await?;
    let stmt = tx.prepare_cached(&SNAPSHOT_STATE).await?;
    let row = tx.query_one(&stmt, &[]).await?;
    let content = read.read(&tx, state).await?;
    tx.commit().await?;
    Ok(Snapshot {
        version: row.try_get(0)?,
        next_release_ms: row
            .try_get::<_, Option<f64>>(1)?
            .map(|ms| ms.floor() as i64),
        lsn,
        content,
    })
}

/// A read-only REPEATABLE READ transaction: every statement of a read
/// sees one snapshot.
pub(crate) async fn snapshot(
    client: &mut deadpool_postgres::Client,
) -> Result<Transaction<'_>, tokio_postgres::Error> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
}

/// The cache entry of a snapshot read on `node`: the identity body and,
/// compressed, the `wanted` coding. A body under `MIN_COMPRESSED_BYTES`
/// is compressed in no coding; a larger one in the others when a request
/// asks for them ([`in_its_coding`]).
fn entry_of(
    state: &State,
    snapshot: Snapshot,
    node: &Node,
    wanted: Coding,
) -> Result<Entry, ReadError> {
    let header = |text: String| HeaderValue::try_from(text).map_err(ReadError::internal);
    let body = snapshot.content.body;
    let made = |coding: Coding| {
        if coding == wanted || body.len() < MIN_COMPRESSED_BYTES {
            compress(state, coding, &body)
        } else {
            Ok(Compressed::Unmade)
        }
    };
    let release_ms = snapshot
        .next_release_ms
        .filter(|_| snapshot.content.lists_reviews);
    let kept_ms = i64::try_from(state.cache.ttl().as_millis()).unwrap_or(i64::MAX);
    let expires_ms = now_ms().saturating_add(kept_ms);
    Ok(Entry {
        version: snapshot.version,
        lsn: snapshot.lsn,
        expires_ms: release_ms.map_or(expires_ms, |r| r.min(expires_ms)),
        release_ms,
        surrogate_keys: header(snapshot.content.keys.header_value())?,
        keys: snapshot.content.keys,
        source: header(node.label.clone())?,
        br: made(Coding::Br)?,
        gzip: made(Coding::Gzip)?,
        identity: Variant {
            etag: header(format!("\"{}\"", digest(&body)))?,
            body: Bytes::from(body),
        },
    })
}

/// `body` in a compressed `coding`, with its strong `ETag`: the digest of
/// its own bytes suffixed with the coding (`"…-br"`), so that no two
/// variants share a tag and a tag changes whenever the bytes sent under it
/// would. Counted in `rcr_cache_compressions_total`.
fn compress(state: &State, coding: Coding, body: &[u8]) -> Result<Compressed, ReadError> {
    if body.len() < MIN_COMPRESSED_BYTES {
        return Ok(Compressed::NotSmaller);
    }
    state
        .cache
        .metrics
        .compressions
        .with_label_values(&[coding.token()])
        .inc();
    let Some(bytes) = coding.encode(body) else {
        return Ok(Compressed::NotSmaller);
    };
    let etag = format!("\"{}-{}\"", digest(&bytes), coding.token());
    Ok(Compressed::Made(Variant {
        etag: HeaderValue::try_from(etag).map_err(ReadError::internal)?,
        body: Bytes::from(bytes),
    }))
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

/// The answer for an entry: 304 when the client has it, else 200 with
/// the body in `coding`, the one the request prefers among those the
/// entry has ([`in_its_coding`]).
fn answer(
    req: &HttpRequest,
    state: &State,
    entry: &Entry,
    coding: Coding,
    served_from: &HeaderValue,
    private: bool,
) -> HttpResponse {
    let cache_control = if private {
        // Tied to one client's write: a CDN must never hand it to another.
        HeaderValue::from_static("private, no-store")
    } else {
        public_cache_control(state, entry)
    };
    let variant = entry.variant(coding).unwrap_or(&entry.identity);
    let not_modified = client_has(req, entry);
    let mut res = HttpResponse::build(if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    // The tag of the variant this request gets, on a 304 too: a cache
    // that revalidated several stored variants at once learns which one
    // to serve (RFC 9111 §4.3.4).
    res.insert_header((header::ETAG, variant.etag.clone()))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::VARY, HeaderValue::from_static("Accept-Encoding")))
        .insert_header((SURROGATE_KEY, entry.surrogate_keys.clone()))
        .insert_header((X_SERVED_FROM, served_from.clone()));
    if not_modified {
        return res.finish();
    }
    if let Some(encoding) = coding.content_encoding() {
        res.insert_header((header::CONTENT_ENCODING, encoding));
    }
    res.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    ))
    .body(variant.body.clone())
}

/// The whole seconds certainly left before `release_ms`, `now_ms` being
/// the clock truncated to the millisecond (so up to 1 ms later than it
/// says): a release exactly two seconds away by it is less in truth.
fn whole_seconds_until(release_ms: i64, now_ms: i64) -> u64 {
    u64::try_from((release_ms - now_ms - 1) / 1000).unwrap_or(0)
}

/// `Cache-Control` of a public answer: the configured one, unless a
/// release lapses sooner than a client could keep the answer — then
/// `max-age` and `stale-while-revalidate` together end at the release,
/// floored to the second, so that no HTTP cache serves the answer past it
/// (SPEC §10.4). `stale-if-error` is kept: after an error an older page
/// without the released review is better than none, and shows nothing
/// under embargo.
fn public_cache_control(state: &State, entry: &Entry) -> HeaderValue {
    let c = &state.settings.http_cache;
    let Some(release_ms) = entry.release_ms else {
        return state.public_cache_control.clone();
    };
    let left_s = whole_seconds_until(release_ms, now_ms());
    if left_s >= c.max_age_s + c.stale_while_revalidate_s {
        return state.public_cache_control.clone();
    }
    let max_age = c.max_age_s.min(left_s);
    let text = format!(
        "public, max-age={max_age}, stale-while-revalidate={}, stale-if-error={}",
        left_s - max_age,
        c.stale_if_error_s
    );
    HeaderValue::try_from(text).unwrap_or_else(|_| state.public_cache_control.clone())
}

/// Whether `If-None-Match` names any of the entry's tags, whichever
/// coding it was sent in (or is `*`). Weak comparison (RFC 9110
/// §13.1.2): a `W/` prefix, as a compressing proxy adds, still matches.
fn client_has(req: &HttpRequest, entry: &Entry) -> bool {
    if_none_match(req).any(|tag| {
        tag == "*"
            || entry
                .variants()
                .any(|(_, v)| v.etag.as_bytes() == tag.as_bytes())
    })
}

/// The tags `req`'s `If-None-Match` lists, a weak one as its strong
/// tag.
fn if_none_match(req: &HttpRequest) -> impl Iterator<Item = &str> {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| {
            let t = t.trim();
            t.strip_prefix("W/").unwrap_or(t)
        })
}

#[cfg(test)]
mod tests {
    use super::{tagged, whole_seconds_until};
    use crate::encoding::Coding;

    #[test]
    fn a_compressed_variants_tag_names_its_coding() {
        assert!(tagged("\"0a1b-br\"", Coding::Br));
        assert!(tagged("\"0a1b-gzip\"", Coding::Gzip));
        assert!(!tagged("\"0a1b-gzip\"", Coding::Br));
        assert!(!tagged("\"0a1b\"", Coding::Br));
        assert!(!tagged("\"0a1bbr\"", Coding::Br));
        assert!(!tagged("0a1b-br", Coding::Br));
    }

    #[test]
    fn the_seconds_left_before_a_release_never_outlast_it() {
        // Two seconds by a clock up to 1 ms behind: less than two in truth.
        assert_eq!(whole_seconds_until(10_000, 8_000), 1);
        assert_eq!(whole_seconds_until(10_000, 7_999), 2);
        assert_eq!(whole_seconds_until(10_000, 9_999), 0);
        // Past the release.
        assert_eq!(whole_seconds_until(10_000, 12_000), 0);
    }
}

//! The regional cache (SPEC §6, §10.5): cache-aside, in process memory in
//! front of the region's Redis.
//!
//! Keys name the answer only; each entry carries the content version it
//! was read at and the surrogate keys of what it shows, and is served only
//! while no change since that version touched those keys
//! (`crate::invalidation`) — checked on every hit, from memory or from
//! Redis, whichever reader of the region made it. So a write evicts the
//! pages it changes and leaves every other one a hit, with no purge
//! messages and no cross-region traffic. Every entry also records the WAL
//! position it was read at, so a read-your-writes request can tell
//! whether it is new enough, and when it expires: the TTL, or sooner the
//! next embargo to lapse when it was read, for answers a release changes
//! (SPEC §10.4). Redis is an optimisation: any error or timeout is a
//! miss, and a Redis that comes back is used again.
//!
//! An entry holds its body in every coding it is served in (identity,
//! and brotli and gzip where they are smaller), so both bounds count all
//! of them: the memory budget through [`footprint`], Redis's `maxmemory`
//! through the one value that carries them all.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::header::HeaderValue;
use actix_web::web::Bytes;
use platform::redis::RedisHandle;
use platform::surrogate::SurrogateKeys;
use prometheus::{IntCounterVec, Opts};

use crate::encoding::Coding;
use crate::invalidation::{Invalidation, Stale};

/// Milliseconds since the Unix epoch on this machine's clock: what entry
/// expiries and embargo times are compared with.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One stored body of an answer: its bytes in one coding and their strong
/// `ETag`, quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub etag: HeaderValue,
    pub body: Bytes,
}

/// One coding's body in an entry (SPEC §10.1): compressed the first time
/// a request asks for that coding, then kept with the entry. A search
/// page is mostly read once, by one client: compressing it into every
/// coding when it was read cost the reader about 40 % of its CPU per
/// search (docs/BENCHMARKS.md, "One coding per miss").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Compressed {
    /// No request has asked for this coding yet.
    #[default]
    Unmade,
    /// Made and no smaller than identity, or the body is under
    /// [`MIN_COMPRESSED_BYTES`](crate::encoding::MIN_COMPRESSED_BYTES):
    /// identity serves instead.
    NotSmaller,
    Made(Variant),
}

/// One cached answer: the identity body and the same body in each
/// compressed coding a request has asked for ([`Compressed`]). Its header
/// values are built once too, so that a hit copies no text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `content_state.version` of the snapshot it was read from.
    pub version: i64,
    /// WAL position the snapshot is at least as new as.
    pub lsn: u64,
    /// When the cache drops it (ms since the epoch): the TTL after it was
    /// read, or `release_ms` if sooner.
    pub expires_ms: i64,
    /// The next embargo to lapse when it was read (ms since the epoch),
    /// for an answer such a release may change: its `Cache-Control` never
    /// lets a client keep it past that instant.
    pub release_ms: Option<i64>,
    /// What it shows, as checked against the changes since `version`.
    pub keys: SurrogateKeys,
    /// `Surrogate-Key` of the answer (`keys`, space-separated).
    pub surrogate_keys: HeaderValue,
    /// Where the data was read (`replica:<name>` or `primary`).
    pub source: HeaderValue,
    pub identity: Variant,
    pub br: Compressed,
    pub gzip: Compressed,
}

/// The first byte of an entry as Redis holds it. Bump it when the layout
/// changes: the key carries it too, so a reader never meets an entry of
/// another layout, and the byte guards the decoding besides.
const FORMAT: u8 = 4;

impl Entry {
    /// The stored body in `coding`, if the entry has it.
    pub fn variant(&self, coding: Coding) -> Option<&Variant> {
        match self.compressed(coding) {
            None => Some(&self.identity),
            Some(Compressed::Made(variant)) => Some(variant),
            Some(_) => None,
        }
    }

    /// A compressed coding's body; `None` for identity.
    fn compressed(&self, coding: Coding) -> Option<&Compressed> {
        match coding {
            Coding::Identity => None,
            Coding::Br => Some(&self.br),
            Coding::Gzip => Some(&self.gzip),
        }
    }

    /// Whether a request for `coding` can get it: identity always, a
    /// compressed coding unless it was found no smaller.
    pub fn may_have(&self, coding: Coding) -> bool {
        !matches!(self.compressed(coding), Some(Compressed::NotSmaller))
    }

    /// Whether `coding` is still to be compressed.
    pub fn unmade(&self, coding: Coding) -> bool {
        matches!(self.compressed(coding), Some(Compressed::Unmade))
    }

    /// The same entry with `compressed` as `coding`'s body.
    pub fn with(&self, coding: Coding, compressed: Compressed) -> Self {
        let mut entry = self.clone();
        match coding {
            Coding::Identity => {}
            Coding::Br => entry.br = compressed,
            Coding::Gzip => entry.gzip = compressed,
        }
        entry
    }

    /// Every stored body with its coding, identity first.
    pub fn variants(&self) -> impl Iterator<Item = (Coding, &Variant)> {
        [Coding::Identity, Coding::Br, Coding::Gzip]
            .into_iter()
            .filter_map(|coding| self.variant(coding).map(|v| (coding, v)))
    }

    /// Redis value: the format byte, a small length-prefixed header, the
    /// codings found no smaller (one bit each, by their tag), then each
    /// variant (its coding, `ETag` and body).
    fn encode(&self) -> Vec<u8> {
        let bodies: usize = self.variants().map(|(_, v)| v.body.len() + 64).sum();
        let mut out = Vec::with_capacity(bodies + 64);
        out.push(FORMAT);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.lsn.to_be_bytes());
        out.extend_from_slice(&self.expires_ms.to_be_bytes());
        out.extend_from_slice(&self.release_ms.unwrap_or(0).to_be_bytes());
        for text in [&self.surrogate_keys, &self.source] {
            put_short(&mut out, text.as_bytes());
        }
        let not_smaller = [Coding::Br, Coding::Gzip]
            .into_iter()
            .filter(|&c| self.compressed(c) == Some(&Compressed::NotSmaller))
            .fold(0u8, |mask, c| mask | 1 << coding_tag(c));
        out.push(not_smaller);
        for (coding, variant) in self.variants() {
            out.push(coding_tag(coding));
            put_short(&mut out, variant.etag.as_bytes());
            let len = u32::try_from(variant.body.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&variant.body[..len as usize]);
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut input = Input { bytes, at: 0 };
        if input.take(1)? != [FORMAT] {
            return None;
        }
        let version = i64::from_be_bytes(input.take(8)?.try_into().ok()?);
        let lsn = u64::from_be_bytes(input.take(8)?.try_into().ok()?);
        let expires_ms = i64::from_be_bytes(input.take(8)?.try_into().ok()?);
        let release_ms = i64::from_be_bytes(input.take(8)?.try_into().ok()?);
        let surrogate_keys = input.header_value()?;
        let keys = SurrogateKeys::parse(surrogate_keys.to_str().ok()?).ok()?;
        let source = input.header_value()?;
        let not_smaller = input.take(1)?[0];
        let (mut identity, mut br, mut gzip) = (None, None, None);
        while input.at < bytes.len() {
            let slot = match input.take(1)? {
                [0] => &mut identity,
                [1] => &mut br,
                [2] => &mut gzip,
                _ => return None,
            };
            let etag = input.header_value()?;
            let len = u32::from_be_bytes(input.take(4)?.try_into().ok()?);
            let body = Bytes::copy_from_slice(input.take(usize::try_from(len).ok()?)?);
            *slot = Some(Variant { etag, body });
        }
        Some(Self {
            version,
            lsn,
            expires_ms,
            release_ms: (release_ms != 0).then_some(release_ms),
            keys,
            surrogate_keys,
            source,
            identity: identity?,
            br: compressed(br, not_smaller, Coding::Br),
            gzip: compressed(gzip, not_smaller, Coding::Gzip),
        })
    }
}

/// A coding's body as decoded: the variant if stored, else whether the
/// mask of codings found no smaller names it.
fn compressed(variant: Option<Variant>, not_smaller: u8, coding: Coding) -> Compressed {
    match variant {
        Some(variant) => Compressed::Made(variant),
        None if not_smaller & 1 << coding_tag(coding) != 0 => Compressed::NotSmaller,
        None => Compressed::Unmade,
    }
}

/// A coding's tag in the Redis value.
fn coding_tag(coding: Coding) -> u8 {
    match coding {
        Coding::Identity => 0,
        Coding::Br => 1,
        Coding::Gzip => 2,
    }
}

/// Appends a text of at most 64 KiB with its length.
fn put_short(out: &mut Vec<u8>, text: &[u8]) {
    let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&text[..usize::from(len)]);
}

/// A Redis value being decoded.
struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }

    /// A text written by [`put_short`], as a header value.
    fn header_value(&mut self) -> Option<HeaderValue> {
        let len = u16::from_be_bytes(self.take(2)?.try_into().ok()?);
        HeaderValue::from_bytes(self.take(usize::from(len))?).ok()
    }
}

/// In-process entries, each checked on every hit like a Redis one.
#[derive(Debug, Default)]
struct Local {
    /// Each entry with the number it was first stored under.
    map: HashMap<String, (u64, Arc<Entry>)>,
    /// Insertion order, to evict the oldest when full: a key with the
    /// number it was stored under, so that a key dropped (stale) and
    /// stored again is not evicted for its earlier place.
    order: VecDeque<(u64, String)>,
    /// The next insertion number.
    next: u64,
    /// What the entries hold, as `footprint` counts it.
    bytes: usize,
}

/// The memory an entry under `key` takes: every stored body with its
/// `ETag`, its header values, the key twice (map and order) and a fixed
/// allowance for the bookkeeping.
fn footprint(key: &str, entry: &Entry) -> usize {
    const OVERHEAD: usize = 200;
    let variants: usize = entry
        .variants()
        .map(|(_, v)| v.body.len() + v.etag.len())
        .sum();
    variants + entry.surrogate_keys.len() + entry.source.len() + 2 * key.len() + OVERHEAD
}

/// Cache metrics.
#[derive(Debug, Clone)]
pub struct CacheMetrics {
    /// Lookups by outcome: hit_local, hit_redis, miss.
    pub lookups: IntCounterVec,
    /// Redis failures by operation (treated as misses).
    pub redis_errors: IntCounterVec,
    /// Entries found but not served, by reason: `key` (a change touched
    /// one of its keys), `reset` (older than a feed gap or the first
    /// poll), `expired` (its TTL, or an embargo that lapsed).
    pub invalidated: IntCounterVec,
    /// Bodies compressed, by coding: an entry's once per coding a request
    /// asked for.
    pub compressions: IntCounterVec,
}

impl CacheMetrics {
    pub fn new(metrics: &platform::metrics::Metrics) -> Self {
        let lookups = IntCounterVec::new(
            Opts::new("cache_lookups_total", "Cache lookups by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        let redis_errors = IntCounterVec::new(
            Opts::new(
                "cache_redis_errors_total",
                "Redis errors and timeouts (served as misses)",
            ),
            &["op"],
        )
        .expect("valid metric");
        let invalidated = IntCounterVec::new(
            Opts::new(
                "cache_invalidated_total",
                "Cache entries found but no longer served, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let compressions = IntCounterVec::new(
            Opts::new(
                "cache_compressions_total",
                "Cached bodies compressed, by coding: once per entry and coding asked for",
            ),
            &["coding"],
        )
        .expect("valid metric");
        for metric in [&lookups, &redis_errors, &invalidated, &compressions] {
            metrics.register(Box::new(metric.clone()));
        }
        Self {
            lookups,
            redis_errors,
            invalidated,
            compressions,
        }
    }
}

/// The two-level cache.
pub struct Cache {
    enabled: bool,
    /// `rcr:content:<region>:<database>:f<FORMAT>:`, before each key: the
    /// region's readers of one database share entries, nobody else.
    prefix: String,
    local: Mutex<Local>,
    /// Bytes of entries kept in memory (by `footprint`).
    budget: usize,
    redis: RedisHandle,
    ttl: Duration,
    /// What changed since an entry was read.
    invalidation: Arc<Invalidation>,
    pub metrics: CacheMetrics,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("enabled", &self.enabled)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Where the cache lives and how long it keeps entries.
#[derive(Debug)]
pub struct CacheConfig<'a> {
    pub enabled: bool,
    pub region: &'a str,
    /// The database the readers read (several may share one Redis).
    pub database: &'a str,
    pub budget: usize,
    pub ttl: Duration,
}

impl Cache {
    pub fn new(
        config: &CacheConfig<'_>,
        redis: RedisHandle,
        invalidation: Arc<Invalidation>,
        metrics: CacheMetrics,
    ) -> Self {
        Self {
            enabled: config.enabled,
            prefix: format!(
                "rcr:content:{}:{}:f{FORMAT}:",
                config.region, config.database
            ),
            local: Mutex::new(Local::default()),
            budget: config.budget,
            redis,
            ttl: config.ttl,
            invalidation,
            metrics,
        }
    }

    /// How long an entry read now may be kept.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn redis_key(&self, key: &str) -> String {
        let mut out = String::with_capacity(self.prefix.len() + key.len());
        out.push_str(&self.prefix);
        out.push_str(key);
        out
    }

    /// Whether `entry` may be served at `now` (ms); counts why not.
    fn servable(&self, entry: &Entry, now: i64) -> bool {
        let verdict = if now >= entry.expires_ms {
            Err("expired")
        } else {
            self.invalidation
                .check(entry.version, &entry.keys)
                .map_err(Stale::label)
        };
        if let Err(reason) = verdict {
            self.metrics.invalidated.with_label_values(&[reason]).inc();
        }
        verdict.is_ok()
    }

    /// The entry for `key`, from memory or Redis, if no change since it
    /// was read touched what it shows and it has not expired.
    pub async fn get(&self, key: &str) -> Option<Arc<Entry>> {
        if !self.enabled {
            return None;
        }
        let now = now_ms();
        if let Some(entry) = self.get_local(key, now) {
            self.metrics.lookups.with_label_values(&["hit_local"]).inc();
            return Some(entry);
        }
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.redis_key(key));
        match self.redis.query::<Option<Vec<u8>>>(&cmd).await {
            Ok(Some(bytes)) => match Entry::decode(&bytes) {
                Some(entry) => {
                    if self.servable(&entry, now) {
                        self.metrics.lookups.with_label_values(&["hit_redis"]).inc();
                        let entry = Arc::new(entry);
                        self.put_local(key, entry.clone());
                        return Some(entry);
                    }
                }
                None => self
                    .metrics
                    .redis_errors
                    .with_label_values(&["decode"])
                    .inc(),
            },
            Ok(None) => {}
            Err(e) => {
                self.metrics.redis_errors.with_label_values(&["get"]).inc();
                tracing::debug!(error = %e, "redis get failed; treated as a miss");
            }
        }
        self.metrics.lookups.with_label_values(&["miss"]).inc();
        None
    }

    /// The entry in memory, if servable; one that is not is dropped.
    fn get_local(&self, key: &str, now: i64) -> Option<Arc<Entry>> {
        let mut local = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (_, entry) = local.map.get(key)?;
        if self.servable(entry, now) {
            return Some(entry.clone());
        }
        local.remove(key);
        None
    }

    fn put_local(&self, key: &str, entry: Arc<Entry>) {
        let mut local = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let size = footprint(key, &entry);
        if size > self.budget {
            // Larger than the whole budget: Redis only.
            return;
        }
        let next = local.next;
        match local.map.insert(key.to_owned(), (next, entry)) {
            Some((number, old)) => {
                local.bytes -= footprint(key, &old);
                // Keeps its place in the order.
                if let Some(slot) = local.map.get_mut(key) {
                    slot.0 = number;
                }
            }
            None => {
                local.order.push_back((next, key.to_owned()));
                local.next += 1;
            }
        }
        local.bytes += size;
        local.evict_to(self.budget);
    }

    /// Stores an entry in memory and in Redis, each until it expires.
    pub async fn put(&self, key: &str, entry: Arc<Entry>) {
        let left_ms = entry.expires_ms - now_ms();
        if !self.enabled || left_ms <= 0 {
            return;
        }
        self.put_local(key, entry.clone());
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(key))
            .arg(entry.encode())
            .arg("PX")
            .arg(left_ms);
        if let Err(e) = self.redis.query::<()>(&cmd).await {
            self.metrics.redis_errors.with_label_values(&["set"]).inc();
            tracing::debug!(error = %e, "redis set failed; entry kept in memory only");
        }
    }
}

impl Local {
    fn remove(&mut self, key: &str) {
        if let Some((_, old)) = self.map.remove(key) {
            self.bytes -= footprint(key, &old);
        }
    }

    /// Drops the oldest entries until what is kept fits `budget`.
    fn evict_to(&mut self, budget: usize) {
        while self.bytes > budget {
            let Some((number, oldest)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&oldest).is_some_and(|(n, _)| *n == number) {
                self.remove(&oldest);
            }
        }
        // Places of entries dropped as stale go when they come round, or
        // here once they outnumber the entries.
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order
                .retain(|(number, key)| map.get(key).is_some_and(|(n, _)| n == number));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invalidation::FeedPoll;

    /// What a write that moves review `id` of `subject` names (among
    /// others): its page, its subject and the lists.
    fn moved(id: i64, subject: &str) -> SurrogateKeys {
        let mut keys = SurrogateKeys::review_page(id, subject);
        keys.insert(platform::surrogate::SurrogateKey::List);
        keys
    }

    fn variant(etag: &'static str, body: &'static [u8]) -> Variant {
        Variant {
            etag: HeaderValue::from_static(etag),
            body: Bytes::from_static(body),
        }
    }

    fn entry_at(version: i64) -> Arc<Entry> {
        Arc::new(Entry {
            version,
            lsn: 1,
            expires_ms: i64::MAX,
            release_ms: None,
            keys: SurrogateKeys::lists(),
            surrogate_keys: HeaderValue::from_static("list"),
            source: HeaderValue::from_static("replica:sa-1"),
            identity: variant("\"e\"", b"{}"),
            br: Compressed::NotSmaller,
            gzip: Compressed::NotSmaller,
        })
    }

    /// A cache whose feed was first read at `version`.
    fn cache_at(version: i64, budget: usize) -> Cache {
        let redis =
            RedisHandle::new(&platform::settings::RedisSettings::default()).expect("lazy handle");
        let metrics = CacheMetrics::new(&platform::metrics::Metrics::new("test", "sa"));
        let invalidation = Arc::new(Invalidation::new(Duration::from_secs(60)));
        invalidation.apply(
            FeedPoll {
                version,
                changes: Vec::new(),
            },
            100,
        );
        let config = CacheConfig {
            enabled: true,
            region: "sa",
            database: "rcr",
            budget,
            ttl: Duration::from_secs(60),
        };
        Cache::new(&config, redis, invalidation, metrics)
    }

    #[test]
    fn an_entry_survives_its_redis_encoding_with_every_variant() {
        let entry = Entry {
            version: 7,
            lsn: 0x16_B374_D848,
            expires_ms: 1_900_000_000_000,
            release_ms: Some(1_800_000_000_000),
            keys: moved(1, "x"),
            surrogate_keys: HeaderValue::from_static("review:1 subject:x list"),
            source: HeaderValue::from_static("replica:sa-1"),
            identity: variant("\"abc\"", b"{\"data\":[]}"),
            br: Compressed::Made(variant("\"def-br\"", b"\x0b\x05")),
            gzip: Compressed::Made(variant("\"123-gzip\"", b"\x1f\x8b")),
        };
        assert_eq!(Entry::decode(&entry.encode()), Some(entry.clone()));
        // Each coding in each of its states, identity without a release.
        for (br, gzip) in [
            (Compressed::Unmade, Compressed::Unmade),
            (Compressed::NotSmaller, Compressed::Unmade),
            (Compressed::Unmade, Compressed::NotSmaller),
            (entry.br.clone(), Compressed::NotSmaller),
        ] {
            let other = Entry {
                br,
                gzip,
                release_ms: None,
                ..entry.clone()
            };
            assert_eq!(Entry::decode(&other.encode()), Some(other));
        }
    }

    #[test]
    fn an_entry_of_another_layout_is_ignored_not_misread() {
        let mut bytes = entry_at(3).encode();
        // The layouts before per-key entries and before codings made on
        // request.
        for earlier in [2, 3] {
            bytes[0] = earlier;
            assert_eq!(Entry::decode(&bytes), None);
        }
        // A variant without identity, or cut short, is no entry either.
        let mut no_identity = entry_at(3).encode();
        let at = no_identity.len() - (1 + 2 + 3 + 4 + 2);
        no_identity[at] = 1;
        assert_eq!(Entry::decode(&no_identity), None);
        let whole = entry_at(3).encode();
        assert_eq!(Entry::decode(&whole[..whole.len() - 1]), None);
    }

    #[actix_web::test]
    async fn memory_serves_an_entry_until_a_change_touches_its_keys_or_it_expires() {
        let cache = cache_at(7, 4096);
        let review = |id: i64| {
            Arc::new(Entry {
                keys: SurrogateKeys::review_page(id, "x-t5"),
                ..(*entry_at(7)).clone()
            })
        };
        cache.put_local("a", review(1));
        cache.put_local("b", review(2));
        cache.put_local("list", entry_at(7));
        let now = now_ms();
        assert!(cache.get_local("a", now).is_some());
        // A write to review 1 of another subject.
        let write = moved(1, "z");
        cache.invalidation.apply(
            FeedPoll {
                version: 8,
                changes: vec![(8, write)],
            },
            100,
        );
        assert!(cache.get_local("a", now).is_none());
        assert!(cache.get_local("list", now).is_none());
        assert!(cache.get_local("b", now).is_some());
        // An entry past its expiry (TTL, or a lapsed embargo) is not served.
        let expiring = Arc::new(Entry {
            expires_ms: now + 1_000,
            ..(*review(2)).clone()
        });
        cache.put_local("b", expiring);
        assert!(cache.get_local("b", now).is_some());
        assert!(cache.get_local("b", now + 1_000).is_none());
    }

    #[actix_web::test]
    async fn memory_holds_at_most_its_byte_budget_dropping_the_oldest_entries_first() {
        let sized = |len: usize| {
            Arc::new(Entry {
                identity: Variant {
                    etag: HeaderValue::from_static("\"e\""),
                    body: Bytes::from(vec![b'x'; len]),
                },
                ..(*entry_at(1)).clone()
            })
        };
        let one = footprint("k0", &sized(1000));
        let cache = cache_at(1, 3 * one);
        let now = now_ms();
        for i in 0..5 {
            cache.put_local(&format!("k{i}"), sized(1000));
        }
        let kept: Vec<bool> = (0..5)
            .map(|i| cache.get_local(&format!("k{i}"), now).is_some())
            .collect();
        assert_eq!(kept, [false, false, true, true, true]);
        // Replacing an entry counts its new size, not both.
        cache.put_local("k4", sized(1000));
        assert!(cache.get_local("k2", now).is_some());
        // An entry larger than the whole budget stays out (Redis only) and
        // evicts nothing.
        cache.put_local("big", sized(4 * one));
        assert!(cache.get_local("big", now).is_none());
        assert!(cache.get_local("k2", now).is_some());
        let local = cache.local.lock().expect("lock");
        assert!(local.bytes <= 3 * one, "{} > {}", local.bytes, 3 * one);
        assert!(local.order.len() >= local.map.len());
    }

    #[test]
    fn the_memory_budget_counts_the_compressed_variants_too() {
        let plain = entry_at(1);
        let with_variants = Entry {
            br: Compressed::Made(variant("\"b-br\"", &[0; 300])),
            gzip: Compressed::Made(variant("\"g-gzip\"", &[0; 400])),
            ..(*plain).clone()
        };
        assert_eq!(
            footprint("k", &with_variants) - footprint("k", &plain),
            300 + "\"b-br\"".len() + 400 + "\"g-gzip\"".len()
        );
    }

    #[test]
    fn garbage_from_redis_is_not_an_entry() {
        assert_eq!(Entry::decode(b""), None);
        assert_eq!(Entry::decode(&[0u8; 17]), None);
        assert_eq!(Entry::decode(&[0xFF; 40]), None);
        assert_eq!(Entry::decode(&[FORMAT; 40]), None);
    }
}

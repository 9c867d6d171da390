//! The regional cache (SPEC §6): cache-aside, in process memory in front of
//! the region's Redis.
//!
//! Keys include the `content_state.version` of the data, so a write makes
//! every older entry unreachable as soon as the reader sees the new version
//! on its replica: no purge messages, no cross-region traffic. Every entry
//! records the WAL position it was read at, so a read-your-writes request
//! can tell whether it is new enough. Redis is an optimisation: any error
//! or timeout is a miss, and a Redis that comes back is used again.
//!
//! An entry holds its body in every coding it is served in (identity,
//! and brotli and gzip where they are smaller), so both bounds count all
//! of them: the memory budget through [`footprint`], Redis's `maxmemory`
//! through the one value that carries them all.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::header::HeaderValue;
use actix_web::web::Bytes;
use platform::redis::RedisHandle;
use prometheus::{IntCounterVec, Opts};

use crate::encoding::Coding;

/// One stored body of an answer: its bytes in one coding and their strong
/// `ETag`, quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub etag: HeaderValue,
    pub body: Bytes,
}

/// One cached answer: the identity body and, for bodies of
/// [`MIN_COMPRESSED_BYTES`](crate::encoding::MIN_COMPRESSED_BYTES) or more,
/// the same body compressed once, when it was read (SPEC §10.1). Its
/// header values are built once too, so that a hit copies no text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `content_state.version` of the snapshot it was read from.
    pub version: i64,
    /// WAL position the snapshot is at least as new as.
    pub lsn: u64,
    /// `Surrogate-Key` of the answer.
    pub surrogate_keys: HeaderValue,
    /// Where the data was read (`replica:<name>` or `primary`).
    pub source: HeaderValue,
    pub identity: Variant,
    /// Present only where smaller than identity.
    pub br: Option<Variant>,
    pub gzip: Option<Variant>,
}

/// The first byte of an entry as Redis holds it. Bump it when the layout
/// changes: the key carries it too, so a reader never meets an entry of
/// another layout, and the byte guards the decoding besides.
const FORMAT: u8 = 2;

impl Entry {
    /// The stored body in `coding`, if the entry has it.
    pub fn variant(&self, coding: Coding) -> Option<&Variant> {
        match coding {
            Coding::Identity => Some(&self.identity),
            Coding::Br => self.br.as_ref(),
            Coding::Gzip => self.gzip.as_ref(),
        }
    }

    /// Every stored body with its coding, identity first.
    pub fn variants(&self) -> impl Iterator<Item = (Coding, &Variant)> {
        [Coding::Identity, Coding::Br, Coding::Gzip]
            .into_iter()
            .filter_map(|coding| self.variant(coding).map(|v| (coding, v)))
    }

    /// Redis value: the format byte, a small length-prefixed header, then
    /// each variant (its coding, `ETag` and body).
    fn encode(&self) -> Vec<u8> {
        let bodies: usize = self.variants().map(|(_, v)| v.body.len() + 64).sum();
        let mut out = Vec::with_capacity(bodies + 64);
        out.push(FORMAT);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.lsn.to_be_bytes());
        for text in [&self.surrogate_keys, &self.source] {
            put_short(&mut out, text.as_bytes());
        }
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
        let surrogate_keys = input.header_value()?;
        let source = input.header_value()?;
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
            surrogate_keys,
            source,
            identity: identity?,
            br,
            gzip,
        })
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

/// In-process entries of one version; emptied when the version moves on.
#[derive(Debug, Default)]
struct Local {
    version: i64,
    map: HashMap<String, Arc<Entry>>,
    /// Insertion order, to evict the oldest when full.
    order: VecDeque<String>,
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
        metrics.register(Box::new(lookups.clone()));
        metrics.register(Box::new(redis_errors.clone()));
        Self {
            lookups,
            redis_errors,
        }
    }
}

/// The two-level cache.
pub struct Cache {
    enabled: bool,
    region: String,
    local: Mutex<Local>,
    /// Bytes of entries kept in memory (by `footprint`).
    budget: usize,
    redis: RedisHandle,
    ttl: Duration,
    pub metrics: CacheMetrics,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("enabled", &self.enabled)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Cache {
    pub fn new(
        enabled: bool,
        region: &str,
        budget: usize,
        redis: RedisHandle,
        ttl: Duration,
        metrics: CacheMetrics,
    ) -> Self {
        Self {
            enabled,
            region: region.to_owned(),
            local: Mutex::new(Local::default()),
            budget,
            redis,
            ttl,
            metrics,
        }
    }

    fn redis_key(&self, version: i64, key: &str) -> String {
        format!("rcr:content:{}:v{version}:f{FORMAT}:{key}", self.region)
    }

    /// The entry for `key` at `version` (or a newer generation held in
    /// memory), from memory or Redis.
    pub async fn get(&self, key: &str, version: i64) -> Option<Arc<Entry>> {
        if !self.enabled {
            return None;
        }
        if let Some(entry) = self.get_local(key, version) {
            self.metrics.lookups.with_label_values(&["hit_local"]).inc();
            return Some(entry);
        }
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.redis_key(version, key));
        match self.redis.query::<Option<Vec<u8>>>(&cmd).await {
            Ok(Some(bytes)) => match Entry::decode(&bytes) {
                Some(entry) if entry.version == version => {
                    self.metrics.lookups.with_label_values(&["hit_redis"]).inc();
                    let entry = Arc::new(entry);
                    self.put_local(key, entry.clone());
                    return Some(entry);
                }
                _ => self
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

    fn get_local(&self, key: &str, version: i64) -> Option<Arc<Entry>> {
        let local = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A generation newer than the version asked for is newer data, never
        // staler: the version poll can lag behind the snapshots this reader
        // has already read, and such an entry must not cause a second read.
        (local.version >= version)
            .then(|| local.map.get(key).cloned())
            .flatten()
    }

    fn put_local(&self, key: &str, entry: Arc<Entry>) {
        let mut local = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entry.version > local.version {
            // A new generation: everything older is unreachable anyway.
            *local = Local {
                version: entry.version,
                ..Local::default()
            };
        }
        if entry.version != local.version {
            return;
        }
        let size = footprint(key, &entry);
        if size > self.budget {
            // Larger than the whole budget: Redis only.
            return;
        }
        match local.map.insert(key.to_owned(), entry) {
            Some(old) => local.bytes -= footprint(key, &old),
            None => local.order.push_back(key.to_owned()),
        }
        local.bytes += size;
        while local.bytes > self.budget {
            let Some(oldest) = local.order.pop_front() else {
                break;
            };
            if let Some(old) = local.map.remove(&oldest) {
                local.bytes -= footprint(&oldest, &old);
            }
        }
    }

    /// Stores an entry in memory and in Redis (with the safety-net TTL).
    pub async fn put(&self, key: &str, entry: Arc<Entry>) {
        if !self.enabled {
            return;
        }
        self.put_local(key, entry.clone());
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(entry.version, key))
            .arg(entry.encode())
            .arg("EX")
            .arg(self.ttl.as_secs().max(1));
        if let Err(e) = self.redis.query::<()>(&cmd).await {
            self.metrics.redis_errors.with_label_values(&["set"]).inc();
            tracing::debug!(error = %e, "redis set failed; entry kept in memory only");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            surrogate_keys: HeaderValue::from_static("list"),
            source: HeaderValue::from_static("replica:sa-1"),
            identity: variant("\"e\"", b"{}"),
            br: None,
            gzip: None,
        })
    }

    #[test]
    fn an_entry_survives_its_redis_encoding_with_every_variant() {
        let entry = Entry {
            version: 7,
            lsn: 0x16_B374_D848,
            surrogate_keys: HeaderValue::from_static("review:1 subject:x list"),
            source: HeaderValue::from_static("replica:sa-1"),
            identity: variant("\"abc\"", b"{\"data\":[]}"),
            br: Some(variant("\"def-br\"", b"\x0b\x05")),
            gzip: Some(variant("\"123-gzip\"", b"\x1f\x8b")),
        };
        assert_eq!(Entry::decode(&entry.encode()), Some(entry.clone()));
        let identity_only = Entry {
            br: None,
            gzip: None,
            ..entry
        };
        assert_eq!(Entry::decode(&identity_only.encode()), Some(identity_only));
    }

    #[test]
    fn an_entry_of_another_layout_is_ignored_not_misread() {
        let mut bytes = entry_at(3).encode();
        // The layout before variants: the version came first.
        bytes[0] = 0;
        assert_eq!(Entry::decode(&bytes), None);
        // A variant without identity, or cut short, is no entry either.
        let mut no_identity = entry_at(3).encode();
        let at = no_identity.len() - (1 + 2 + 3 + 4 + 2);
        no_identity[at] = 1;
        assert_eq!(Entry::decode(&no_identity), None);
        let whole = entry_at(3).encode();
        assert_eq!(Entry::decode(&whole[..whole.len() - 1]), None);
    }

    #[actix_web::test]
    async fn memory_serves_its_generation_to_a_lagging_version_poll_never_an_older_one() {
        let redis =
            RedisHandle::new(&platform::settings::RedisSettings::default()).expect("lazy handle");
        let metrics = CacheMetrics::new(&platform::metrics::Metrics::new("test", "sa"));
        let cache = Cache::new(true, "sa", 4096, redis, Duration::from_secs(60), metrics);
        cache.put_local("k", entry_at(7));
        // The poll still says 6: the entry read at 7 is newer data.
        assert_eq!(cache.get_local("k", 6).map(|e| e.version), Some(7));
        assert_eq!(cache.get_local("k", 7).map(|e| e.version), Some(7));
        // The poll says 8: the entry at 7 may be stale.
        assert!(cache.get_local("k", 8).is_none());
    }

    #[actix_web::test]
    async fn memory_holds_at_most_its_byte_budget_dropping_the_oldest_entries_first() {
        let redis =
            RedisHandle::new(&platform::settings::RedisSettings::default()).expect("lazy handle");
        let metrics = CacheMetrics::new(&platform::metrics::Metrics::new("test", "sa"));
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
        let cache = Cache::new(true, "sa", 3 * one, redis, Duration::from_secs(60), metrics);
        for i in 0..5 {
            cache.put_local(&format!("k{i}"), sized(1000));
        }
        let kept: Vec<bool> = (0..5)
            .map(|i| cache.get_local(&format!("k{i}"), 1).is_some())
            .collect();
        assert_eq!(kept, [false, false, true, true, true]);
        // Replacing an entry counts its new size, not both.
        cache.put_local("k4", sized(1000));
        assert!(cache.get_local("k2", 1).is_some());
        // An entry larger than the whole budget stays out (Redis only) and
        // evicts nothing.
        cache.put_local("big", sized(4 * one));
        assert!(cache.get_local("big", 1).is_none());
        assert!(cache.get_local("k2", 1).is_some());
        let local = cache.local.lock().expect("lock");
        assert!(local.bytes <= 3 * one, "{} > {}", local.bytes, 3 * one);
        assert_eq!(local.map.len(), local.order.len());
    }

    #[test]
    fn the_memory_budget_counts_the_compressed_variants_too() {
        let plain = entry_at(1);
        let with_variants = Entry {
            br: Some(variant("\"b-br\"", &[0; 300])),
            gzip: Some(variant("\"g-gzip\"", &[0; 400])),
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

//! The reader's settings.
//!
//! Variables read here, besides the shared ones of `platform::settings`
//! (`RCR__HTTP__*`, `RCR__REDIS__*`, `RCR__LOG__*`; `RCR__DATABASE__*` sets
//! the pool sizes and timeouts used for every node, its `url` is unused):
//! - `RCR__REGION` — this deployment's region (`X-Region`, metrics)
//! - `RCR__REPLICAS` — TOML list `[{ name, url }]`, best first; in the
//!   environment `RCR__REPLICAS__0__NAME`, `RCR__REPLICAS__0__URL`, …
//! - `RCR__PRIMARY_URL` — optional fallback when no replica is usable and
//!   for read-your-writes past the wait bound
//! - `RCR__ROUTING__MAX_LAG_MS` (5000), `RCR__ROUTING__CHECK_INTERVAL_MS`
//!   (250, also the `content_state.version` poll), `RCR__ROUTING__CHECK_TIMEOUT_MS`
//!   (500), `RCR__ROUTING__RYW_WAIT_MS` (1000), `RCR__ROUTING__RYW_POLL_MS` (20),
//!   `RCR__ROUTING__MAX_CONCURRENT_READS` (0: `database.pool_size`),
//!   `RCR__ROUTING__QUEUE_WAIT_MS` (100)
//! - `RCR__CACHE__TTL_S` (3600), `RCR__CACHE__LOCAL_BYTES` (16 MiB),
//!   `RCR__CACHE__ENABLED` (true)
//! - `RCR__HTTP_CACHE__MAX_AGE_S` (5), `RCR__HTTP_CACHE__STALE_WHILE_REVALIDATE_S` (30),
//!   `RCR__HTTP_CACHE__STALE_IF_ERROR_S` (600)
//! - `RCR__CONSISTENCY__SECRET[_FILE]`, `RCR__CURSOR__SECRET[_FILE]` (≥ 32 bytes)
//! - `RCR__CONTENT__PUBLIC_BASE_URL` — prefix of a review's `url`

use platform::settings::{
    DatabaseSettings, HttpSettings, LogSettings, RedisSettings, Secret, SecretSettings,
};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub region: String,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    #[serde(deserialize_with = "platform::settings::list_or_indexed_map")]
    pub replicas: Vec<NodeSettings>,
    pub primary_url: Option<Secret>,
    pub redis: RedisSettings,
    pub log: LogSettings,
    pub routing: RoutingSettings,
    pub cache: CacheSettings,
    pub http_cache: HttpCacheSettings,
    pub consistency: SecretSettings,
    pub cursor: SecretSettings,
    pub content: ContentSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            region: "sa".into(),
            http: HttpSettings {
                port: 8083,
                ..HttpSettings::default()
            },
            database: DatabaseSettings::default(),
            replicas: Vec::new(),
            primary_url: None,
            redis: RedisSettings::default(),
            log: LogSettings::default(),
            routing: RoutingSettings::default(),
            cache: CacheSettings::default(),
            http_cache: HttpCacheSettings::default(),
            consistency: SecretSettings::default(),
            cursor: SecretSettings::default(),
            content: ContentSettings::default(),
        }
    }
}

/// One replica.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    pub name: String,
    pub url: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingSettings {
    /// A replica further behind than this is avoided.
    pub max_lag_ms: u64,
    /// Health, lag and `content_state.version` are read this often.
    pub check_interval_ms: u64,
    /// Bound on one health check.
    pub check_timeout_ms: u64,
    /// How long a read-your-writes request waits for a replica to catch up
    /// before going to the primary.
    pub ryw_wait_ms: u64,
    /// How often a waiting request asks the replica where it is.
    pub ryw_poll_ms: u64,
    /// Snapshot reads (cache misses) running at once, on any node; 0
    /// means `database.pool_size`, so that a read never queues for a
    /// pooled connection instead (`crate::admission`).
    pub max_concurrent_reads: usize,
    /// How long a miss waits for one of those before the answer is 503 +
    /// `Retry-After: 1`. Long enough for a burst at the reader's peak
    /// (a queue as long as the permits drains in about one read's time),
    /// short enough that a flood is refused within a tenth of a second.
    pub queue_wait_ms: u64,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            max_lag_ms: 5_000,
            check_interval_ms: 250,
            check_timeout_ms: 500,
            ryw_wait_ms: 1_000,
            ryw_poll_ms: 20,
            max_concurrent_reads: 0,
            queue_wait_ms: 100,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    pub enabled: bool,
    /// How long an entry serves at most. A safety net: the change feed
    /// evicts what each write changes, and a reader that cannot read the
    /// feed drops older entries within `routing.max_lag_ms`. At 100,000
    /// reviews a TTL of five minutes capped the hit ratio near 75 %: the
    /// long tail is asked for less often than that (docs/BENCHMARKS.md).
    pub ttl_s: u64,
    /// Bytes of answers kept in process memory, in front of Redis (the
    /// oldest go first; a larger answer is kept in Redis only).
    pub local_bytes: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            ttl_s: 3600,
            local_bytes: 16 * 1024 * 1024,
        }
    }
}

/// `Cache-Control` of public answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpCacheSettings {
    pub max_age_s: u64,
    pub stale_while_revalidate_s: u64,
    pub stale_if_error_s: u64,
}

impl Default for HttpCacheSettings {
    fn default() -> Self {
        Self {
            max_age_s: 5,
            stale_while_revalidate_s: 30,
            stale_if_error_s: 600,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContentSettings {
    pub public_base_url: String,
}

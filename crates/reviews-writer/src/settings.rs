//! The writer's settings.
//!
//! Variables read here, besides the shared ones of `platform::settings`
//! (`RCR__HTTP__*`, `RCR__DATABASE__*` — the primary —, `RCR__LOG__*`):
//! - `RCR__REGION` — label on metrics, default `sa`
//! - `RCR__JWT__ISSUER`, `RCR__JWT__AUDIENCE`, `RCR__JWT__JWKS_URL`,
//!   `RCR__JWT__LEEWAY_S`, `RCR__JWT__JWKS_TTL_S`,
//!   `RCR__JWT__REFETCH_MIN_INTERVAL_MS`, `RCR__JWT__FETCH_TIMEOUT_MS` —
//!   how access tokens are verified (keys from auth's JWKS)
//! - `RCR__CONSISTENCY__SECRET` / `RCR__CONSISTENCY__SECRET_FILE` — HMAC
//!   secret (≥ 32 bytes) of `X-Consistency-Token`, shared with every reader
//! - `RCR__CURSOR__SECRET` / `RCR__CURSOR__SECRET_FILE` — HMAC secret
//!   (≥ 32 bytes) of list cursors
//! - `RCR__IDEMPOTENCY__TTL_S` (86400), `RCR__IDEMPOTENCY__PURGE_INTERVAL_S` (300)
//! - `RCR__CHANGES__RETENTION_S` (604800), `RCR__CHANGES__PURGE_INTERVAL_S`
//!   (300) — how long change-feed rows are kept, how often older ones go
//! - `RCR__CONTENT__PUBLIC_BASE_URL` — prefix of a review's `url`
//!   (default empty: `url` is the path `/content/{slug}`)

use platform::jwt::VerifierSettings;
use platform::settings::{DatabaseSettings, HttpSettings, LogSettings, SecretSettings};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub region: String,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub jwt: VerifierSettings,
    pub consistency: SecretSettings,
    pub cursor: SecretSettings,
    pub idempotency: IdempotencySettings,
    pub changes: ChangeFeedSettings,
    pub content: ContentSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            region: "sa".into(),
            http: HttpSettings {
                port: 8082,
                ..HttpSettings::default()
            },
            database: DatabaseSettings::default(),
            log: LogSettings::default(),
            jwt: VerifierSettings::default(),
            consistency: SecretSettings::default(),
            cursor: SecretSettings::default(),
            idempotency: IdempotencySettings::default(),
            changes: ChangeFeedSettings::default(),
            content: ContentSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdempotencySettings {
    /// How long a key's first answer is replayed.
    pub ttl_s: u64,
    /// How often expired keys are deleted.
    pub purge_interval_s: u64,
}

impl Default for IdempotencySettings {
    fn default() -> Self {
        Self {
            ttl_s: 24 * 3600,
            purge_interval_s: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChangeFeedSettings {
    /// How long a `content_changes` row is kept (SPEC §10.4: 7 days): a
    /// feed consumer away for longer must treat everything as changed.
    pub retention_s: u64,
    /// How often older rows are deleted.
    pub purge_interval_s: u64,
}

impl Default for ChangeFeedSettings {
    fn default() -> Self {
        Self {
            retention_s: 7 * 24 * 3600,
            purge_interval_s: 300,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContentSettings {
    /// Prefix of the `url` of a review (e.g. `https://api.example.com`).
    pub public_base_url: String,
}

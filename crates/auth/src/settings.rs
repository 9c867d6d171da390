//! The auth service's settings.
//!
//! Variables read here, besides the shared ones of `platform::settings`
//! (`RCR__HTTP__*`, `RCR__DATABASE__*`, `RCR__REDIS__*`, `RCR__LOG__*`):
//! - `RCR__REGION` — this deployment's region (label on metrics), default `sa`
//! - `RCR__TOKENS__ISSUER` — JWT `iss`: the auth service's public URL
//! - `RCR__TOKENS__AUDIENCE` — JWT `aud`, default `rcr-api`
//! - `RCR__TOKENS__ACCESS_TTL_S` (900), `RCR__TOKENS__REFRESH_TTL_S` (2592000),
//!   `RCR__TOKENS__RESET_TTL_S` (86400)
//! - `RCR__TOKENS__ACTIVE_KEY_FILE` — PKCS#8 PEM Ed25519 key that signs
//! - `RCR__TOKENS__PREVIOUS_KEY_FILE` — the key before it, still published
//!   in the JWKS so tokens it signed verify until they expire
//! - `RCR__THROTTLE__PER_EMAIL` (10), `RCR__THROTTLE__PER_IP` (100),
//!   `RCR__THROTTLE__WINDOW_S` (900)
//! - `RCR__PASSWORDS__MAX_CONCURRENT_HASHES` (2), `RCR__PASSWORDS__MEMORY_KIB`
//!   (19456), `RCR__PASSWORDS__ITERATIONS` (2), `RCR__PASSWORDS__PARALLELISM` (1)

use std::path::PathBuf;

use platform::settings::{DatabaseSettings, HttpSettings, LogSettings, RedisSettings};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub region: Region,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub log: LogSettings,
    pub tokens: TokenSettings,
    pub throttle: ThrottleSettings,
    pub passwords: PasswordSettings,
}

/// A region name (`sa`, `na`, `eu`, `asia`).
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Region(pub String);

impl Default for Region {
    fn default() -> Self {
        Self("sa".into())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_s: u64,
    pub refresh_ttl_s: u64,
    /// How long a password reset token an admin issues stays usable.
    pub reset_ttl_s: u64,
    /// Clock skew tolerated when auth verifies its own tokens.
    pub leeway_s: u64,
    pub active_key_file: PathBuf,
    pub previous_key_file: Option<PathBuf>,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8081".into(),
            audience: "rcr-api".into(),
            access_ttl_s: 15 * 60,
            refresh_ttl_s: 30 * 24 * 3600,
            reset_ttl_s: 24 * 3600,
            leeway_s: 5,
            active_key_file: PathBuf::from("keys/active.pem"),
            previous_key_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleSettings {
    /// Failed logins per email within the window before 429.
    pub per_email: u64,
    /// Failed logins per client IP within the window before 429.
    pub per_ip: u64,
    pub window_s: u64,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            per_email: 10,
            per_ip: 100,
            window_s: 15 * 60,
        }
    }
}

/// argon2id parameters: OWASP's minimum (m = 19 MiB, t = 2, p = 1) by
/// default, and a cap on concurrent hashes so a login burst cannot exhaust
/// memory or starve the other requests of CPU.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordSettings {
    pub max_concurrent_hashes: usize,
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            max_concurrent_hashes: 2,
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

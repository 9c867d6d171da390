//! Verification of access tokens, used by every service that takes a
//! bearer token.
//!
//! Keys come from a JWKS: fetched from the auth service and cached (the
//! writer), or given directly (auth itself). A token naming an unknown `kid`
//! causes one refetch, rate-limited, so a newly rotated key is picked up
//! without a restart while random `kid`s cannot turn us into a JWKS
//! hammer. Each key pins its algorithm: a token is verified only with the
//! algorithm its key was published for, never the one the token asks for.
//! `iss`, `aud`, `exp`, `nbf` and `sub` are required and checked with an
//! explicit leeway.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 4096;

/// The claims of an access token (SPEC §4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The editor id, as a decimal string (RFC 7519 `StringOrURI`).
    pub sub: String,
    pub role: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

/// Why a token was refused. The message is safe to show the client.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token names no signing key")]
    MissingKid,
    #[error("the token's signing key is unknown")]
    UnknownKey,
    #[error("the token's algorithm does not match its key")]
    AlgorithmMismatch,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer or audience is wrong")]
    WrongIssuerOrAudience,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token is invalid")]
    Invalid,
    /// The JWKS could not be fetched and no cached key matched.
    #[error("signing keys are unavailable")]
    KeysUnavailable,
}

/// Settings of a verifier that fetches its keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifierSettings {
    /// Expected `iss`: the auth service's public URL.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Where the JWKS is fetched from.
    pub jwks_url: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_s: u64,
    /// Cached keys are refetched after this long (retired keys disappear).
    pub jwks_ttl_s: u64,
    /// At most one refetch per this interval on unknown `kid`s.
    pub refetch_min_interval_ms: u64,
    pub fetch_timeout_ms: u64,
}

impl Default for VerifierSettings {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8081".into(),
            audience: "rcr-api".into(),
            jwks_url: "http://127.0.0.1:8081/.well-known/jwks.json".into(),
            leeway_s: 5,
            jwks_ttl_s: 300,
            refetch_min_interval_ms: 1_000,
            fetch_timeout_ms: 2_000,
        }
    }
}

/// One public key and the one algorithm it verifies.
#[derive(Clone)]
struct PinnedKey {
    key: DecodingKey,
    alg: Algorithm,
}

/// A JWKS document (RFC 7517), as much of it as we accept.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JwkSet {
    #[schema(inline)]
    pub keys: Vec<Jwk>,
}

/// A public key: Ed25519 (`OKP`) or P-256 (`EC`).
// Absent optional members are left out, never null: hence `nullable = false`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub y: Option<String>,
    pub kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub use_: Option<String>,
}

impl Jwk {
    /// The key and its pinned algorithm; `None` for anything we do not
    /// accept (wrong type, curve, size, or a declared `alg` that disagrees).
    fn pinned(&self) -> Option<PinnedKey> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        let decoded =
            |v: &Option<String>| v.as_deref().and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
        match (self.kty.as_str(), self.crv.as_deref()) {
            ("OKP", Some("Ed25519")) if matches!(self.alg.as_deref(), None | Some("EdDSA")) => {
                let x = decoded(&self.x)?;
                // jsonwebtoken slices the first 32 bytes: check the size
                // ourselves so a short key cannot panic it.
                (x.len() == 32).then_some(())?;
                Some(PinnedKey {
                    key: DecodingKey::from_ed_components(self.x.as_deref()?).ok()?,
                    alg: Algorithm::EdDSA,
                })
            }
            ("EC", Some("P-256")) if matches!(self.alg.as_deref(), None | Some("ES256")) => {
                let (x, y) = (decoded(&self.x)?, decoded(&self.y)?);
                (x.len() == 32 && y.len() == 32).then_some(())?;
                Some(PinnedKey {
                    key: DecodingKey::from_ec_components(self.x.as_deref()?, self.y.as_deref()?)
                        .ok()?,
                    alg: Algorithm::ES256,
                })
            }
            _ => None,
        }
    }
}

enum Source {
    /// Keys given at construction (auth verifying its own tokens).
    Static,
    /// Keys fetched over HTTP.
    Remote {
        url: String,
        ttl: Duration,
        min_interval: Duration,
        timeout: Duration,
    },
}

/// Cached keys and when they were fetched.
struct Cache {
    keys: HashMap<String, PinnedKey>,
    fetched_at: Option<Instant>,
    /// Last attempt, successful or not: the refetch rate limit.
    attempted_at: Option<Instant>,
}

/// Verifies access tokens. Share one per process (`web::Data`).
pub struct JwtVerifier {
    issuer: String,
    audience: String,
    leeway: u64,
    source: Source,
    cache: RwLock<Cache>,
    /// Single flight: concurrent unknown-`kid` requests wait for one fetch.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier that fetches its keys from `settings.jwks_url`, lazily.
    pub fn remote(settings: &VerifierSettings) -> Self {
        Self {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            leeway: settings.leeway_s,
            source: Source::Remote {
                url: settings.jwks_url.clone(),
                ttl: Duration::from_secs(settings.jwks_ttl_s),
                min_interval: Duration::from_millis(settings.refetch_min_interval_ms),
                timeout: Duration::from_millis(settings.fetch_timeout_ms),
            },
            cache: RwLock::new(Cache {
                keys: HashMap::new(),
                fetched_at: None,
                attempted_at: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// A verifier over a fixed key set.
    pub fn with_keys(issuer: &str, audience: &str, leeway_s: u64, jwks: &JwkSet) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway: leeway_s,
            source: Source::Static,
            cache: RwLock::new(Cache {
                keys: pinned_keys(jwks),
                fetched_at: Some(Instant::now()),
                attempted_at: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        let kid = header.kid.ok_or(JwtError::MissingKid)?;
        if kid.is_empty() || kid.len() > 128 {
            return Err(JwtError::UnknownKey);
        }
        self.refresh_if_stale().await;
        let key = match self.key(&kid) {
            Some(key) => key,
            None => {
                self.refetch(true).await;
                self.key(&kid).ok_or_else(|| {
                    if self.has_no_keys() {
                        JwtError::KeysUnavailable
                    } else {
                        JwtError::UnknownKey
                    }
                })?
            }
        };
        if header.alg != key.alg {
            return Err(JwtError::AlgorithmMismatch);
        }
        let mut validation = Validation::new(key.alg);
        validation.algorithms = vec![key.alg];
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => JwtError::Expired,
                    ErrorKind::ImmatureSignature => JwtError::NotYetValid,
                    ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => {
                        JwtError::WrongIssuerOrAudience
                    }
                    ErrorKind::InvalidSignature => JwtError::BadSignature,
                    ErrorKind::InvalidAlgorithm => JwtError::AlgorithmMismatch,
                    _ => JwtError::Invalid,
                }
            })
    }

    fn key(&self, kid: &str) -> Option<PinnedKey> {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys
            .get(kid)
            .cloned()
    }

    fn has_no_keys(&self) -> bool {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys
            .is_empty()
    }

    async fn refresh_if_stale(&self) {
        let stale = match &self.source {
            Source::Static => false,
            Source::Remote { ttl, .. } => {
                let cache = self
                    .cache
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                cache.fetched_at.is_none_or(|at| at.elapsed() >= *ttl)
            }
        };
        if stale {
            self.refetch(false).await;
        }
    }

    /// Fetches the JWKS unless another task just did (or is doing) it.
    /// `forced` is the unknown-`kid` path, held to the minimum interval.
    async fn refetch(&self, forced: bool) {
        let Source::Remote {
            url,
            ttl,
            min_interval,
            timeout,
        } = &self.source
        else {
            return;
        };
        let _guard = self.fetching.lock().await;
        {
            let cache = self
                .cache
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let recently =
                |at: Option<Instant>, within: Duration| at.is_some_and(|at| at.elapsed() < within);
            let fresh = recently(cache.fetched_at, *ttl);
            if (forced && recently(cache.attempted_at, *min_interval)) || (!forced && fresh) {
                return;
            }
        }
        let fetched = fetch_jwks(url, *timeout).await;
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.attempted_at = Some(Instant::now());
        match fetched {
            Ok(jwks) => {
                cache.keys = pinned_keys(&jwks);
                cache.fetched_at = Some(Instant::now());
                tracing::info!(keys = cache.keys.len(), "jwks fetched");
            }
            // Keep the keys we had: a flaky auth service must not log
            // everybody out.
            Err(e) => tracing::warn!(error = %e, "jwks fetch failed"),
        }
    }
}

fn pinned_keys(jwks: &JwkSet) -> HashMap<String, PinnedKey> {
    jwks.keys
        .iter()
        .filter_map(|k| k.pinned().map(|p| (k.kid.clone(), p)))
        .collect()
}

async fn fetch_jwks(url: &str, timeout: Duration) -> Result<JwkSet, String> {
    let client = awc::Client::builder().timeout(timeout).finish();
    let mut res = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("status {}", res.status()));
    }
    let body = res
        .body()
        .limit(256 * 1024)
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

//! Password hashing with argon2id, off the async workers.
//!
//! Each hash takes tens of milliseconds and ~19 MiB, so it runs on the
//! blocking pool behind a semaphore: a burst of logins queues instead of
//! exhausting memory or starving every other request of CPU.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use crate::settings::PasswordSettings;

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified when the email is unknown
    /// so that an unknown email costs the same time as a wrong password and
    /// timing does not reveal who has an account.
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

impl Hasher {
    pub fn new(settings: &PasswordSettings) -> Result<Self, HashError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| HashError::Params(e.to_string()))?;
        let dummy_password: [u8; 32] = rand::random();
        let dummy_hash = hash_blocking(&params, &dummy_password)?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(settings.max_concurrent_hashes.max(1))),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// A PHC string for `password`.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError::Hash(e.to_string()))?;
        let params = self.params.clone();
        let password = password.to_owned();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            span.in_scope(|| hash_blocking(&params, password.as_bytes()))
        })
        .await
        .map_err(|e| HashError::Hash(e.to_string()))?
    }

    /// Whether `password` matches `stored`; with no stored hash (unknown
    /// email) the dummy is verified instead and the answer is `false`.
    pub async fn verify(&self, stored: Option<&str>, password: &str) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let known = stored.is_some();
        let stored: String = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let password = password.to_owned();
        let verified = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&stored).is_ok_and(|parsed| {
                argon2_default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .instrument(tracing::Span::current())
        .await
        .unwrap_or(false);
        known && verified
    }
}

fn argon2_default() -> Argon2<'static> {
    Argon2::default()
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Hash(e.to_string()))
}

//! Password hashing with argon2id, off the async workers.
//!
//! Each hash takes tens of milliseconds and ~19 MiB, so it runs on a small
//! fixed set of threads of its own (`max_concurrent_hashes`): a burst of
//! logins queues instead of exhausting memory or starving every other
//! request of CPU. Fixed threads rather than the blocking pool because the
//! allocator keeps an arena per thread that has ever hashed: on the
//! blocking pool's many threads that memory is never returned.

use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// A hashing job: runs on one of the hashing threads.
type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads; they end when the last `Hasher` clone is dropped.
struct Pool {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl Pool {
    fn new(threads: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self {
            jobs: Mutex::new(tx),
        }
    }

    /// Runs `work` on a hashing thread, keeping the caller's tracing span.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move || {
            let _ = done.send(span.in_scope(work));
        });
        self.jobs.lock().ok()?.send(job).ok()?;
        result.await.ok()
    }
}

use crate::settings::PasswordSettings;

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    pool: Arc<Pool>,
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
            pool: Arc::new(Pool::new(settings.max_concurrent_hashes)),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// A PHC string for `password`.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let params = self.params.clone();
        let password = password.to_owned();
        self.pool
            .run(move || hash_blocking(&params, password.as_bytes()))
            .await
            .unwrap_or_else(|| Err(HashError::Hash("hashing threads unavailable".into())))
    }

    /// Whether `password` matches `stored`; with no stored hash (unknown
    /// email) the dummy is verified instead and the answer is `false`.
    pub async fn verify(&self, stored: Option<&str>, password: &str) -> bool {
        let known = stored.is_some();
        let stored: String = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let password = password.to_owned();
        let verified = self
            .pool
            .run(move || {
                PasswordHash::new(&stored).is_ok_and(|parsed| {
                    argon2_default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
            })
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

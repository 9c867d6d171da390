//! PostgreSQL: pools with explicit timeouts, the classification of database
//! failures, and the schema migrations.
//!
//! deadpool waits forever for a connection and tokio-postgres connects
//! forever unless told otherwise; every bound is set here from
//! [`DatabaseSettings`], plus a server-side `statement_timeout` (and no
//! JIT compilation, which costs a short statement more than it saves).
//!
//! A URL with `sslmode=verify-full&sslrootcert=FILE` connects over TLS that
//! verifies the server against that CA ([`tls`]); without `sslmode` it
//! connects in plain text (loopback).

use std::str::FromStr;
use std::time::Duration;

pub use deadpool_postgres::PoolError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
/// The driver's error, named here for `wraps_common_errors!`.
pub use tokio_postgres::Error as PgError;
use tokio_postgres::config::{SslMode, TargetSessionAttrs};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use crate::settings::{DatabaseSettings, SettingsError, secret_from};

pub mod tls;

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// Errors from applying migrations.
#[derive(Debug, thiserror::Error)]
#[error("migrations failed: {0}")]
pub struct MigrationError(#[from] refinery::Error);

/// Applies every migration in `migrations/` that the database has not seen
/// yet. Safe to run again: applied versions are recorded and skipped.
pub async fn migrate(client: &mut Client) -> Result<usize, MigrationError> {
    let report = embedded::migrations::runner().run_async(client).await?;
    Ok(report.applied_migrations().len())
}

/// Which node a pool may talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Writes: refuse a node that is (or was demoted to) a standby.
    Primary,
    /// Reads from anything.
    Any,
}

/// Builds a pool; nothing connects until the first use, so a service starts
/// while its database is still coming up. The URL's TLS root file, though,
/// is read now: a missing one stops start-up.
pub fn pool(
    settings: &DatabaseSettings,
    application_name: &str,
    role: Role,
) -> Result<Pool, SettingsError> {
    let url = secret_from(&settings.url, settings.url_file.as_deref(), "database.url")?;
    let url = tls::split_url(url.expose())?;
    let mut config = tokio_postgres::Config::from_str(&url.rest)
        .map_err(|e| SettingsError::new(format!("database.url is not a valid URL: {e}")))?;
    config
        .application_name(application_name)
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        // No JIT: every statement here is short, and compiling one costs
        // more than running it. A relevance search over 1,000,000 reviews
        // crossed `jit_above_cost` and spent 144 of its 182 ms compiling
        // 267 functions (docs/BENCHMARKS.md, "Search in tiers").
        .options(format!(
            "-c statement_timeout={} -c idle_in_transaction_session_timeout={} -c jit=off",
            settings.statement_timeout_ms,
            settings.statement_timeout_ms.saturating_mul(2)
        ));
    if role == Role::Primary {
        config.target_session_attrs(TargetSessionAttrs::ReadWrite);
    }
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match &url.tls {
        None => Manager::from_config(config, NoTls, manager_config),
        Some(tls) => {
            // Never plain text once TLS was asked for: a server that
            // refuses it is an error, as is one that fails verification.
            config.ssl_mode(SslMode::Require);
            Manager::from_config(config, tls::connector(tls)?, manager_config)
        }
    };
    Pool::builder(manager)
        .max_size(settings.pool_size.max(1))
        .wait_timeout(Some(Duration::from_millis(settings.wait_timeout_ms)))
        .create_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
        .recycle_timeout(Some(Duration::from_millis(settings.recycle_timeout_ms)))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| SettingsError::new(format!("database pool: {e}")))
}

/// Publishes the pool's use (`rcr_db_pool_connections{pool, state}`:
/// size, available, waiting) sampled at each scrape.
pub fn observe_pool(metrics: &crate::metrics::Metrics, pool: &Pool, name: &'static str) {
    let gauge = metrics.db_pool_gauge();
    let pool = pool.clone();
    metrics.on_scrape(move || {
        let status = pool.status();
        let set = |state: &str, value: usize| {
            gauge
                .with_label_values(&[name, state])
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        set("size", status.size);
        set("available", status.available);
        set("waiting", status.waiting);
        set("max", status.max_size);
    });
}

/// A database failure, split by what the client should be told. Built from
/// a driver or pool error only through [`DbError::from`], which classifies
/// it: there is no way to wrap a driver error without deciding what it means.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached, is shutting down or is read-only
    /// (a demoted primary), or no pooled connection came in time: 503, retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The statement ran past `statement_timeout` or was cancelled: 503,
    /// retry (the server is overloaded or a lock is held too long).
    #[error("database statement timed out: {0}")]
    Timeout(tokio_postgres::Error),
    /// A serialization failure or deadlock (40001, 40P01), which is also how
    /// a replica cancels a query that conflicts with replay: safe to retry.
    #[error("database serialization failure: {0}")]
    Serialization(tokio_postgres::Error),
    /// Anything else: a bug or a constraint we did not map (500).
    #[error("database error: {0}")]
    Other(tokio_postgres::Error),
}

impl From<PoolError> for DbError {
    fn from(err: PoolError) -> Self {
        match err {
            PoolError::Backend(e) => Self::from(e),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<tokio_postgres::Error> for DbError {
    /// Lost connections and server shutdowns are "unavailable", timeouts and
    /// serialization failures are named, everything else is kept as is.
    fn from(err: tokio_postgres::Error) -> Self {
        let Some(code) = err.code() else {
            // No SQLSTATE: an I/O or protocol failure, unless the server
            // sent an error without one.
            return if err.is_closed() || err.as_db_error().is_none() {
                Self::Unavailable(with_causes(&err))
            } else {
                Self::Other(err)
            };
        };
        if err.is_closed()
            || code.code().starts_with("08")
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        {
            Self::Unavailable(with_causes(&err))
        } else if *code == SqlState::QUERY_CANCELED {
            Self::Timeout(err)
        } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            Self::Serialization(err)
        } else {
            Self::Other(err)
        }
    }
}

/// An error with the errors that caused it, which tokio-postgres keeps out
/// of its own message: "error performing TLS handshake: invalid peer
/// certificate: UnknownIssuer" says what to fix, the first part alone does
/// not.
fn with_causes(err: &tokio_postgres::Error) -> String {
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        // Some errors repeat their source's message in their own.
        if !text.ends_with(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

impl DbError {
    /// Whether trying again (elsewhere, or later) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::Timeout(_) | Self::Serialization(_) => true,
            Self::Other(_) => false,
        }
    }

    /// The answer: 503 + `Retry-After` for what a retry may cure, else 500.
    /// The cause goes to the log only.
    pub fn to_problem(&self) -> crate::Problem {
        if self.is_transient() {
            crate::Problem::unavailable(self, 1)
        } else {
            crate::Problem::internal(self)
        }
    }

    /// The metric label of an outcome.
    pub fn outcome(&self) -> &'static str {
        if self.is_transient() {
            "unavailable"
        } else {
            "error"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Secret;

    #[test]
    fn a_missing_root_file_stops_start_up_although_the_pool_is_lazy() {
        let settings = DatabaseSettings {
            url: Secret::new(
                "postgres://u@db:5432/rcr?sslmode=verify-full&sslrootcert=/nonexistent/db-ca.crt",
            ),
            ..DatabaseSettings::default()
        };
        let err = pool(&settings, "test", Role::Primary)
            .expect_err("the root file is read when the pool is built")
            .to_string();
        assert!(err.contains("sslrootcert=/nonexistent/db-ca.crt"), "{err}");
        assert!(
            !err.contains("postgres://"),
            "no URL (and password) in {err}"
        );
    }

    #[test]
    fn a_plain_url_builds_a_pool_without_connecting() {
        let settings = DatabaseSettings {
            url: Secret::new("postgres://u@a:1,b:2/rcr?target_session_attrs=read-write"),
            ..DatabaseSettings::default()
        };
        assert!(pool(&settings, "test", Role::Primary).is_ok());
    }
}

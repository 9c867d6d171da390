//! Building and running the auth service; `main` and the tests both go
//! through [`build`].

use actix_web::web;
use deadpool_postgres::Pool;
use platform::health::Readiness;
use platform::jwt::JwtVerifier;
use platform::metrics::Metrics;
use platform::redis::RedisHandle;
use platform::server::{Shared, StartupError};
use platform::settings::SettingsError;
use prometheus::{IntCounter, IntCounterVec, Opts};

use crate::keys::Keyring;
use crate::password::Hasher;
use crate::settings::Settings;
use crate::throttle::Throttle;

/// Auth's own metrics.
#[derive(Debug, Clone)]
pub struct AuthMetrics {
    /// Logins by [`LoginOutcome`].
    pub logins: IntCounterVec,
}

/// How a login ended: the `outcome` label of `logins_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Succeeded,
    Failed,
    Throttled,
    Disabled,
}

impl LoginOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Throttled => "throttled",
            Self::Disabled => "disabled",
        }
    }
}

impl AuthMetrics {
    /// Registers auth's metrics; the second is the throttle's count of
    /// logins let through because Redis did not answer.
    fn register(metrics: &Metrics) -> Result<(Self, IntCounter), SettingsError> {
        let logins = IntCounterVec::new(
            Opts::new("logins_total", "Login attempts by outcome"),
            &["outcome"],
        )
        .map_err(|e| SettingsError::new(e.to_string()))?;
        metrics.register(Box::new(logins.clone()));
        let skipped = IntCounter::new(
            "login_throttle_unavailable_total",
            "Logins let through because Redis did not answer",
        )
        .map_err(|e| SettingsError::new(e.to_string()))?;
        metrics.register(Box::new(skipped.clone()));
        Ok((Self { logins }, skipped))
    }

    /// Counts one login.
    pub fn login(&self, outcome: LoginOutcome) {
        self.logins.with_label_values(&[outcome.as_str()]).inc();
    }
}

/// What every handler shares.
#[derive(Debug)]
pub struct State {
    pub settings: Settings,
    pub pool: Pool,
    pub keys: Keyring,
    pub hasher: Hasher,
    pub throttle: Throttle,
    pub metrics: AuthMetrics,
}

/// The service, bound and ready to run.
pub type Application = platform::server::Running;

/// Binds and prepares the server. Connects to nothing yet: PostgreSQL and
/// Redis may come up after the service does.
pub async fn build(settings: Settings) -> Result<Application, StartupError> {
    let pool = platform::db::pool(&settings.database, "auth", platform::db::Role::Primary)?;
    let redis = RedisHandle::new(&settings.redis)?;
    let keys = Keyring::load(
        &settings.tokens.active_key_file,
        settings.tokens.previous_key_file.as_deref(),
    )?;
    let hasher = Hasher::new(&settings.passwords)
        .map_err(|e| SettingsError::new(format!("passwords: {e}")))?;
    let metrics = Metrics::new("auth", &settings.region.0);
    platform::db::observe_pool(&metrics, &pool, "primary");
    let (auth_metrics, skipped) = AuthMetrics::register(&metrics)?;
    let verifier = JwtVerifier::with_keys(
        &settings.tokens.issuer,
        &settings.tokens.audience,
        settings.tokens.leeway_s,
        &keys.jwks,
    );
    let readiness = Readiness::default().with("database", platform::health::database(pool.clone()));
    let http = settings.http.clone();
    let state = web::Data::new(State {
        throttle: Throttle::new(redis, settings.throttle.clone(), skipped),
        settings,
        pool,
        keys,
        hasher,
        metrics: auth_metrics,
    });
    let verifier = web::Data::new(verifier);
    let shared = Shared {
        metrics,
        readiness,
        openapi: crate::openapi::document(),
    };
    Ok(platform::server::serve(&http, shared, move |cfg| {
        cfg.app_data(state.clone())
            .app_data(verifier.clone())
            .configure(crate::routes::configure);
    })?)
}

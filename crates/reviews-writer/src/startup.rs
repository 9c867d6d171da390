//! Building and running the writer; `main` and the tests both go through
//! [`build`].

use std::time::Duration;

use actix_web::web;
use deadpool_postgres::Pool;
use platform::consistency::TokenKey;
use platform::cursor::CursorKey;
use platform::health::Readiness;
use platform::jwt::JwtVerifier;
use platform::metrics::Metrics;
use platform::server::{Shared, StartupError};
use platform::settings::SettingsError;
use prometheus::{IntCounterVec, Opts};

use crate::purge::Expired;
use crate::settings::Settings;

/// The writer's own metrics.
#[derive(Debug, Clone)]
pub struct WriterMetrics {
    /// Reviews written, by action (create, update, retract) and outcome.
    pub reviews_written: IntCounterVec,
}

/// What every handler shares.
#[derive(Debug)]
pub struct State {
    pub settings: Settings,
    pub pool: Pool,
    pub tokens: TokenKey,
    pub cursors: CursorKey,
    pub metrics: WriterMetrics,
}

/// Deletes expired idempotency keys and old change-feed rows in the
/// background, each on its own interval (`purge`).
fn spawn_purgers(settings: &Settings, pool: &Pool) {
    let seconds = Duration::from_secs;
    let (keys, feed) = (&settings.idempotency, &settings.changes);
    for (what, interval_s) in [
        (
            Expired::IdempotencyKeys(seconds(keys.ttl_s)),
            keys.purge_interval_s,
        ),
        (
            Expired::FeedRows(seconds(feed.retention_s)),
            feed.purge_interval_s,
        ),
    ] {
        crate::purge::spawn_every(pool.clone(), seconds(interval_s.max(1)), what);
    }
}

/// The service, bound and ready to run.
pub type Application = platform::server::Running;

/// Binds and prepares the server. Connects to nothing yet: the primary
/// may come up after the writer, and the JWKS is fetched on first use.
pub async fn build(settings: Settings) -> Result<Application, StartupError> {
    let pool = platform::db::pool(
        &settings.database,
        "reviews-writer",
        platform::db::Role::Primary,
    )?;
    let tokens = TokenKey::from_settings(&settings.consistency, "consistency.secret")?;
    let cursors = CursorKey::from_settings(&settings.cursor, "cursor.secret")?;
    let metrics = Metrics::new("reviews-writer", &settings.region);
    platform::db::observe_pool(&metrics, &pool, "primary");
    let reviews_written = IntCounterVec::new(
        Opts::new(
            "reviews_written_total",
            "Review writes by action and outcome",
        ),
        &["action", "outcome"],
    )
    .map_err(|e| SettingsError::new(e.to_string()))?;
    metrics.register(Box::new(reviews_written.clone()));
    let verifier = JwtVerifier::remote(&settings.jwt);
    let readiness = Readiness::default().with("primary", platform::health::database(pool.clone()));
    let http = settings.http.clone();
    spawn_purgers(&settings, &pool);
    let state = web::Data::new(State {
        settings,
        pool,
        tokens,
        cursors,
        metrics: WriterMetrics { reviews_written },
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

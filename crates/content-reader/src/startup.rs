//! Building and running the reader; `main` and the tests both go through
//! [`build`].

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web;
use futures_util::FutureExt as _;
use platform::consistency::TokenKey;
use platform::cursor::CursorKey;
use platform::health::Readiness;
use platform::http::AnswerHeaders;
use platform::metrics::Metrics;
use platform::redis::RedisHandle;
use platform::server::{Shared, StartupError};
use platform::settings::{DatabaseSettings, Secret, SettingsError};
use prometheus::{IntCounterVec, Opts};

use crate::admission::Admission;
use crate::cache::{Cache, CacheConfig, CacheMetrics, Entry};
use crate::error::ReadError;
use crate::flight::Flights;
use crate::invalidation::Invalidation;
use crate::router::{Node, Router, RouterMetrics};
use crate::settings::Settings;

/// What every handler shares.
pub struct State {
    pub settings: Settings,
    pub router: Arc<Router>,
    pub cache: Cache,
    /// Misses being computed, by applied feed version and key.
    pub flights: Flights<Result<Arc<Entry>, ReadError>>,
    /// Permits for the snapshot reads misses make.
    pub admission: Admission,
    pub tokens: TokenKey,
    pub cursors: CursorKey,
    /// Snapshot reads by node (what single flight saves).
    pub db_queries: IntCounterVec,
    /// `Cache-Control` of public answers, built once from the settings.
    pub public_cache_control: HeaderValue,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("router", &self.router)
            .finish_non_exhaustive()
    }
}

/// The service, bound and ready to run.
pub type Application = platform::server::Running;

/// Connections of a node's checks (health, version poll, read-your-writes
/// replay position): their own, so that queries holding every pooled
/// connection never make a busy node look down.
const CHECK_CONNECTIONS: usize = 2;

/// A node — the replica named `replica`, or the primary when `None` — with
/// its query pool and its check pool.
fn node(
    base: &DatabaseSettings,
    url: &Secret,
    replica: Option<&str>,
    metrics: &Metrics,
) -> Result<Node, SettingsError> {
    let name = format!("content-reader-{}", replica.unwrap_or("primary"));
    let settings = DatabaseSettings {
        url: url.clone(),
        url_file: None,
        ..base.clone()
    };
    let pool = platform::db::pool(&settings, &name, platform::db::Role::Any)?;
    platform::db::observe_pool(
        metrics,
        &pool,
        if replica.is_some() {
            "replica"
        } else {
            "primary"
        },
    );
    let checks = platform::db::pool(
        &DatabaseSettings {
            pool_size: CHECK_CONNECTIONS,
            ..settings
        },
        &format!("{name}-checks"),
        platform::db::Role::Any,
    )?;
    let label = replica.map_or_else(|| "primary".to_owned(), |r| format!("replica:{r}"));
    Ok(Node::new(label, replica.is_none(), pool, checks))
}

/// Binds and prepares the server. Connects to nothing yet: nodes are
/// checked in the background and Redis is connected lazily.
pub async fn build(settings: Settings) -> Result<Application, StartupError> {
    let tokens = TokenKey::from_settings(&settings.consistency, "consistency.secret")?;
    let cursors = CursorKey::from_settings(&settings.cursor, "cursor.secret")?;
    let metrics = Metrics::new("content-reader", &settings.region);
    // A change is remembered as long as an entry read before it may live.
    let invalidation = Arc::new(Invalidation::new(Duration::from_secs(settings.cache.ttl_s)));
    let router = router(&settings, &metrics, invalidation.clone())?;
    let answer_headers = web::Data::new(answer_headers(&settings.region)?);
    let state = web::Data::new(State {
        router: router.clone(),
        cache: cache(&settings, &metrics, invalidation)?,
        flights: Flights::default(),
        admission: admission(&settings, &metrics)?,
        tokens,
        cursors,
        db_queries: db_reads_metric(&metrics)?,
        public_cache_control: public_cache_control(&settings)?,
        settings,
    });
    // Only once every setting has been accepted: a refused start-up
    // leaves no checks running.
    router.spawn_checks();
    let readiness = readiness(router);
    let http = state.settings.http.clone();
    let shared = Shared {
        metrics,
        readiness,
        openapi: crate::openapi::document(),
    };
    Ok(platform::server::serve(&http, shared, move |cfg| {
        cfg.app_data(state.clone())
            .app_data(answer_headers.clone())
            .configure(crate::routes::configure);
    })?)
}

/// The router over the configured replicas and the primary fallback.
fn router(
    settings: &Settings,
    metrics: &Metrics,
    invalidation: Arc<Invalidation>,
) -> Result<Arc<Router>, SettingsError> {
    let replicas = settings
        .replicas
        .iter()
        .map(|r| node(&settings.database, &r.url, Some(&r.name), metrics).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let primary = match &settings.primary_url {
        Some(url) if !url.is_empty() => {
            Some(Arc::new(node(&settings.database, url, None, metrics)?))
        }
        _ => None,
    };
    if replicas.is_empty() && primary.is_none() {
        tracing::warn!("no replicas and no primary configured: every read will answer 503");
    }
    Ok(Arc::new(Router::new(
        replicas,
        primary,
        settings.routing.clone(),
        invalidation.clone(),
        RouterMetrics::new(metrics, &invalidation),
    )))
}

fn cache(
    settings: &Settings,
    metrics: &Metrics,
    invalidation: Arc<Invalidation>,
) -> Result<Cache, SettingsError> {
    let config = CacheConfig {
        enabled: settings.cache.enabled,
        region: &settings.region,
        database: &database_name(settings),
        budget: settings.cache.local_bytes,
        ttl: Duration::from_secs(settings.cache.ttl_s),
    };
    Ok(Cache::new(
        &config,
        RedisHandle::new(&settings.redis)?,
        invalidation,
        CacheMetrics::new(metrics),
    ))
}

/// The database the nodes serve, by the name in the first node's URL:
/// part of every Redis key, so that readers of two databases sharing a
/// Redis (staging beside production, the test suites) never meet each
/// other's entries, whose versions and keys would look valid.
fn database_name(settings: &Settings) -> String {
    settings
        .replicas
        .iter()
        .map(|r| &r.url)
        .chain(settings.primary_url.iter())
        .find_map(|url| {
            // Without its TLS parameters, which tokio-postgres refuses.
            let url = platform::db::tls::split_url(url.expose()).ok()?.rest;
            let config: tokio_postgres::Config = url.parse().ok()?;
            config.get_dbname().map(str::to_owned)
        })
        .unwrap_or_default()
}

/// The bound on concurrent snapshot reads: the query pool's size unless
/// `routing.max_concurrent_reads` says otherwise.
fn admission(settings: &Settings, metrics: &Metrics) -> Result<Admission, SettingsError> {
    let permits = match settings.routing.max_concurrent_reads {
        0 => settings.database.pool_size,
        n => n,
    };
    let wait = Duration::from_millis(settings.routing.queue_wait_ms);
    Admission::new(permits, wait, metrics).map_err(|e| SettingsError::new(e.to_string()))
}

/// Snapshot reads by node: what single flight saves.
fn db_reads_metric(metrics: &Metrics) -> Result<IntCounterVec, SettingsError> {
    let db_queries = IntCounterVec::new(
        Opts::new("db_reads_total", "Snapshot reads by node"),
        &["node"],
    )
    .map_err(|e| SettingsError::new(e.to_string()))?;
    metrics.register(Box::new(db_queries.clone()));
    Ok(db_queries)
}

/// Ready while some node (a replica, or the primary fallback) can serve.
fn readiness(router: Arc<Router>) -> Readiness {
    Readiness::default().with(
        "nodes",
        Arc::new(move || {
            let ready = router.ready();
            async move {
                if ready {
                    Ok(())
                } else {
                    Err("no node can serve".to_owned())
                }
            }
            .boxed()
        }),
    )
}

/// `Cache-Control` of public answers, built once from the settings.
fn public_cache_control(settings: &Settings) -> Result<HeaderValue, SettingsError> {
    let c = &settings.http_cache;
    HeaderValue::try_from(format!(
        "public, max-age={}, stale-while-revalidate={}, stale-if-error={}",
        c.max_age_s, c.stale_while_revalidate_s, c.stale_if_error_s
    ))
    .map_err(|_| SettingsError::new("http_cache must give a valid Cache-Control"))
}

/// Every answer, errors included, says where it was served: the region
/// always, and `none` unless a handler named a cache or node.
fn answer_headers(region: &str) -> Result<AnswerHeaders, SettingsError> {
    Ok(AnswerHeaders {
        always: HeaderValue::from_str(region)
            .map(|v| vec![(HeaderName::from_static("x-region"), v)])
            .map_err(|_| SettingsError::new("region must be a valid header value"))?,
        unless_set: vec![(
            HeaderName::from_static("x-served-from"),
            HeaderValue::from_static("none"),
        )],
    })
}

#[cfg(test)]
mod tests {
    use platform::settings::Secret;

    use super::*;
    use crate::settings::NodeSettings;

    #[test]
    fn the_database_named_in_a_verify_full_url_separates_the_redis_keys() {
        let mut settings = Settings::default();
        assert_eq!(database_name(&settings), "");
        settings.primary_url = Some(Secret::new(
            "postgres://u@db:5432/primary_db?sslmode=verify-full&sslrootcert=/ca.crt",
        ));
        assert_eq!(database_name(&settings), "primary_db");
        settings.replicas = vec![NodeSettings {
            name: "r1".into(),
            url: Secret::new(
                "postgres://u@r1:5432/rcr_test_7?sslmode=verify-full&sslrootcert=/ca.crt",
            ),
        }];
        assert_eq!(database_name(&settings), "rcr_test_7");
    }
}

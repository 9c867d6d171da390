//! Building and running the reader; `main` and the tests both go through
//! [`Application::build`].

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpServer, web};
use futures_util::FutureExt as _;
use platform::Problem;
use platform::consistency::TokenKey;
use platform::cursor::CursorKey;
use platform::health::Readiness;
use platform::http::BodyLimits;
use platform::metrics::Metrics;
use platform::redis::RedisHandle;
use platform::settings::{DatabaseSettings, Secret, SettingsError, secret_from};
use prometheus::{IntCounterVec, Opts};

use crate::cache::{Cache, CacheMetrics, Entry};
use crate::flight::Flights;
use crate::router::{Node, Router, RouterMetrics};
use crate::settings::{SecretSettings, Settings};

/// What every handler shares.
pub struct State {
    pub settings: Settings,
    pub router: Arc<Router>,
    pub cache: Cache,
    /// Misses being computed, by version and key.
    pub flights: Flights<Result<Arc<Entry>, Problem>>,
    pub tokens: TokenKey,
    pub cursors: CursorKey,
    /// Snapshot reads by node (what single flight saves).
    pub db_queries: IntCounterVec,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("router", &self.router)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("cannot bind: {0}")]
    Bind(#[from] std::io::Error),
}

/// A bound, not yet running, service.
pub struct Application {
    port: u16,
    server: Server,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn key_bytes(settings: &SecretSettings, name: &str) -> Result<Vec<u8>, SettingsError> {
    let secret = secret_from(&settings.secret, settings.secret_file.as_deref(), name)?;
    Ok(secret.expose().as_bytes().to_vec())
}

fn node_pool(
    base: &DatabaseSettings,
    url: &Secret,
    name: &str,
) -> Result<deadpool_postgres::Pool, SettingsError> {
    let settings = DatabaseSettings {
        url: url.clone(),
        url_file: None,
        ..base.clone()
    };
    platform::db::pool(&settings, name, platform::db::Role::Any)
}

/// Adds `X-Region` to every answer, and `X-Served-From: none` to those
/// that read nothing (errors before any node or cache was asked).
async fn region_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let region = req
        .app_data::<web::Data<State>>()
        .and_then(|s| HeaderValue::from_str(&s.settings.region).ok());
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    if let Some(region) = region {
        headers.insert(HeaderName::from_static("x-region"), region);
    }
    let served = HeaderName::from_static("x-served-from");
    if !headers.contains_key(&served) {
        headers.insert(served, HeaderValue::from_static("none"));
    }
    Ok(res)
}

impl Application {
    /// Binds and prepares the server. Connects to nothing yet: nodes are
    /// checked in the background and Redis is connected lazily.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let tokens = TokenKey::new(&key_bytes(&settings.consistency, "consistency.secret")?)
            .map_err(|e| SettingsError::new(format!("consistency.secret: {e}")))?;
        let cursors = CursorKey::new(&key_bytes(&settings.cursor, "cursor.secret")?)
            .map_err(|e| SettingsError::new(format!("cursor.secret: {e}")))?;
        let metrics = Metrics::new("content-reader", &settings.region);
        let mut replicas = Vec::new();
        for replica in &settings.replicas {
            let pool = node_pool(
                &settings.database,
                &replica.url,
                &format!("content-reader-{}", replica.name),
            )?;
            platform::db::observe_pool(&metrics, &pool, "replica");
            replicas.push(Arc::new(Node::new(
                format!("replica:{}", replica.name),
                false,
                pool,
            )));
        }
        let primary = match &settings.primary_url {
            Some(url) if !url.is_empty() => {
                let pool = node_pool(&settings.database, url, "content-reader-primary")?;
                platform::db::observe_pool(&metrics, &pool, "primary");
                Some(Arc::new(Node::new("primary".into(), true, pool)))
            }
            _ => None,
        };
        if replicas.is_empty() && primary.is_none() {
            tracing::warn!("no replicas and no primary configured: every read will answer 503");
        }
        let router = Arc::new(Router::new(
            replicas,
            primary,
            settings.routing.clone(),
            RouterMetrics::new(&metrics),
        ));
        router.spawn_checks();
        let redis = RedisHandle::new(&settings.redis)?;
        let cache = Cache::new(
            settings.cache.enabled,
            &settings.region,
            settings.cache.local_entries,
            redis,
            Duration::from_secs(settings.cache.ttl_s),
            CacheMetrics::new(&metrics),
        );
        let db_queries = IntCounterVec::new(
            Opts::new("db_reads_total", "Snapshot reads by node"),
            &["node"],
        )
        .map_err(|e| SettingsError::new(e.to_string()))?;
        metrics.register(Box::new(db_queries.clone()));
        let readiness = Readiness::default().with("nodes", {
            let router = router.clone();
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
            })
        });
        let limits = BodyLimits {
            max_bytes: settings.http.body_limit_bytes,
            read_timeout: Duration::from_millis(settings.http.body_timeout_ms),
        };
        let listener = platform::server::bind(&settings.http)?;
        let port = listener.local_addr()?.port();
        let http = settings.http.clone();
        let state = web::Data::new(State {
            settings,
            router,
            cache,
            flights: Flights::default(),
            tokens,
            cursors,
            db_queries,
        });
        let metrics = web::Data::new(metrics);
        let readiness = web::Data::new(readiness);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(platform::http::conventions))
                .wrap(from_fn(region_headers))
                .app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(readiness.clone())
                .configure(|cfg| platform::http::configure_extractors(cfg, limits))
                .configure(platform::health::routes)
                .configure(crate::routes::configure)
                .route("/openapi.json", web::get().to(crate::openapi::handler))
                .default_service(web::to(platform::http::not_found))
        });
        let server = platform::configure_server!(server, &http)
            .listen(listener)?
            .run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

//! Building and running the writer; `main` and the tests both go through
//! [`Application::build`].

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use deadpool_postgres::Pool;
use futures_util::FutureExt as _;
use platform::consistency::TokenKey;
use platform::cursor::CursorKey;
use platform::health::Readiness;
use platform::http::BodyLimits;
use platform::jwt::JwtVerifier;
use platform::metrics::Metrics;
use platform::settings::{SettingsError, secret_from};
use prometheus::{IntCounterVec, Opts};

use crate::settings::{SecretSettings, Settings};

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
    if secret.expose().len() < platform::consistency::MIN_SECRET_LEN {
        return Err(SettingsError::new(format!(
            "{name} must be at least {} bytes",
            platform::consistency::MIN_SECRET_LEN
        )));
    }
    Ok(secret.expose().as_bytes().to_vec())
}

impl Application {
    /// Binds and prepares the server. Connects to nothing yet: the primary
    /// may come up after the writer, and the JWKS is fetched on first use.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let pool = platform::db::pool(
            &settings.database,
            "reviews-writer",
            platform::db::Role::Primary,
        )?;
        let tokens = TokenKey::new(&key_bytes(&settings.consistency, "consistency.secret")?)
            .map_err(|e| SettingsError::new(format!("consistency.secret: {e}")))?;
        let cursors = CursorKey::new(&key_bytes(&settings.cursor, "cursor.secret")?)
            .map_err(|e| SettingsError::new(format!("cursor.secret: {e}")))?;
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
        let readiness = Readiness::default().with("primary", {
            let pool = pool.clone();
            Arc::new(move || {
                let pool = pool.clone();
                async move {
                    let client = pool.get().await.map_err(|e| e.to_string())?;
                    client
                        .simple_query("SELECT 1")
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(())
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
        crate::idempotency::spawn_purger(
            pool.clone(),
            Duration::from_secs(settings.idempotency.ttl_s),
            Duration::from_secs(settings.idempotency.purge_interval_s.max(1)),
        );
        let state = web::Data::new(State {
            settings,
            pool,
            tokens,
            cursors,
            metrics: WriterMetrics { reviews_written },
        });
        let verifier = web::Data::new(verifier);
        let metrics = web::Data::new(metrics);
        let readiness = web::Data::new(readiness);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(platform::http::conventions))
                .app_data(state.clone())
                .app_data(verifier.clone())
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

    /// Stops the server from outside (tests restarting a service).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

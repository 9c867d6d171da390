//! Running an HTTP service: binding (port 0 allowed, for tests), workers and
//! timeouts. Graceful shutdown on SIGTERM/SIGINT is actix-web's own: it stops
//! accepting, lets in-flight requests finish within `shutdown_timeout_s`,
//! then exits.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, guard, web};
use serde::de::DeserializeOwned;

use crate::health::Readiness;
use crate::http::BodyLimits;
use crate::metrics::Metrics;
use crate::settings::{HttpSettings, LogSettings};

/// Bounds the request head; `JsonBody` bounds the body.
pub const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
pub const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const KEEP_ALIVE: Duration = Duration::from_secs(75);

/// A route for GET that answers HEAD too: RFC 9110 §9.1 wants HEAD wherever
/// GET is served, and actix sends no body for HEAD.
pub fn get_or_head() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Binds the listener described by `settings`.
fn bind(settings: &HttpSettings) -> std::io::Result<TcpListener> {
    TcpListener::bind((settings.host.as_str(), settings.port))
}

/// Worker threads: the setting, or one per core.
pub fn workers(settings: &HttpSettings) -> usize {
    if settings.workers == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        settings.workers
    }
}

/// Applies the shared settings to an `HttpServer` built by a service.
#[macro_export]
macro_rules! configure_server {
    ($server:expr, $settings:expr) => {
        $server
            .workers($crate::server::workers($settings))
            .client_request_timeout($crate::server::CLIENT_REQUEST_TIMEOUT)
            .client_disconnect_timeout($crate::server::CLIENT_DISCONNECT_TIMEOUT)
            .keep_alive($crate::server::KEEP_ALIVE)
            .shutdown_timeout($settings.shutdown_timeout_s)
    };
}

/// What every service's app carries besides its own routes.
#[derive(Debug, Clone)]
pub struct Shared {
    pub metrics: Metrics,
    pub readiness: Readiness,
    /// The service's OpenAPI document (generated from its code by
    /// `platform::openapi`), served at `/openapi.json`.
    pub openapi: String,
}

/// Builds and binds a service's server: the conventions middleware, the
/// extractor configuration, `/healthz`, `/readyz`, `/metrics`,
/// `/openapi.json`, a problem+json 404 for unknown paths, and the service's
/// own routes and app data from `configure`.
pub fn serve<F>(http: &HttpSettings, shared: Shared, configure: F) -> std::io::Result<Running>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let limits = BodyLimits {
        max_bytes: http.body_limit_bytes,
        read_timeout: Duration::from_millis(http.body_timeout_ms),
    };
    let metrics = web::Data::new(shared.metrics);
    let readiness = web::Data::new(shared.readiness);
    let openapi = web::Bytes::from(shared.openapi);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(crate::http::conventions))
            .app_data(metrics.clone())
            .app_data(readiness.clone())
            .configure(|cfg| crate::http::configure_extractors(cfg, limits))
            .configure(crate::health::routes)
            .configure(configure.clone())
            .service(
                crate::health::get_only("/openapi.json").route(get_or_head().to({
                    let openapi = openapi.clone();
                    move || {
                        let openapi = openapi.clone();
                        async move {
                            HttpResponse::Ok()
                                .content_type("application/json")
                                .body(openapi)
                        }
                    }
                })),
            )
            .default_service(web::to(crate::http::not_found))
    });
    let listener = bind(http)?;
    let port = listener.local_addr()?.port();
    let server = crate::configure_server!(server, http)
        .listen(listener)?
        .run();
    Ok(Running { port, server })
}

/// Why a service could not start: one line naming the setting, or the
/// address it could not bind.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    #[error("cannot bind: {0}")]
    Bind(#[from] std::io::Error),
}

/// A service bound to its port (port 0 in the settings picks a free one),
/// not yet running.
pub struct Running {
    port: u16,
    server: Server,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from outside (tests restarting a service).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The `main` of a service that only serves: `NAME [--config PATH]`,
/// settings loaded (one line and exit code 78 when invalid), logging set
/// up, then `run` until the server stops.
pub fn service_main<S, F, Fut>(name: &str, log: fn(&S) -> &LogSettings, run: F) -> ExitCode
where
    S: DeserializeOwned,
    F: FnOnce(S) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut args = std::env::args().skip(1);
    let mut config = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!("usage: {name} [--config PATH]\nsettings: see README (RCR__* variables)");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("{name}: unknown argument {other}");
                return ExitCode::from(2);
            }
        }
    }
    let settings: S = match crate::settings::load(config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(78);
        }
    };
    crate::telemetry::init(log(&settings));
    let result = actix_web::rt::System::new().block_on(run(settings));
    crate::telemetry::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

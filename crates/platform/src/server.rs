//! Running an HTTP service: binding (port 0 allowed, for tests), workers and
//! timeouts. Graceful shutdown on SIGTERM/SIGINT is actix-web's own: it stops
//! accepting, lets in-flight requests finish within `shutdown_timeout_s`,
//! then exits.

use std::net::TcpListener;
use std::time::Duration;

use crate::settings::HttpSettings;

/// Bounds the request head; `JsonBody` bounds the body.
pub const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
pub const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const KEEP_ALIVE: Duration = Duration::from_secs(75);

/// Binds the listener described by `settings`.
pub fn bind(settings: &HttpSettings) -> std::io::Result<TcpListener> {
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

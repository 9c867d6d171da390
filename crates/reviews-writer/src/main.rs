//! `reviews-writer [--config PATH]`: runs the service.

use std::process::ExitCode;

use reviews_writer::{Settings, build};

fn main() -> ExitCode {
    platform::server::service_main(
        "reviews-writer",
        |s: &Settings| &s.log,
        |settings| async move {
            let app = build(settings).await.map_err(|e| e.to_string())?;
            tracing::info!(port = app.port(), "reviews-writer listening");
            app.run_until_stopped().await.map_err(|e| e.to_string())
        },
    )
}

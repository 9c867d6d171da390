//! `content-reader [--config PATH]`: runs the service.

use std::process::ExitCode;

use content_reader::{Settings, build};

fn main() -> ExitCode {
    platform::server::service_main(
        "content-reader",
        |s: &Settings| &s.log,
        |settings| async move {
            let app = build(settings).await.map_err(|e| e.to_string())?;
            tracing::info!(port = app.port(), "content-reader listening");
            app.run_until_stopped().await.map_err(|e| e.to_string())
        },
    )
}

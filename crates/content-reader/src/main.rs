//! `content-reader [--config PATH]`: runs the service.

use std::path::PathBuf;
use std::process::ExitCode;

use content_reader::{Application, Settings};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut config = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!(
                    "usage: content-reader [--config PATH]\nsettings: see README (RCR__* variables)"
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("content-reader: unknown argument {other}");
                return ExitCode::from(2);
            }
        }
    }
    let settings: Settings = match platform::settings::load(config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("content-reader: {e}");
            return ExitCode::from(78);
        }
    };
    platform::telemetry::init(&settings.log);
    let result = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(port = app.port(), "content-reader listening");
        app.run_until_stopped().await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("content-reader: {e}");
            ExitCode::FAILURE
        }
    }
}

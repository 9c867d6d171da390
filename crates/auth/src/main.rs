//! `auth`: see `auth --help`.

use std::path::Path;
use std::process::ExitCode;

use auth::cli::{self, Command};
use auth::{Settings, build};

fn main() -> ExitCode {
    let args = match cli::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("auth: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match args.command {
        Command::Help => {
            println!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Command::GenKey { out } => gen_key(&out),
        command => with_settings(args.config.as_deref(), command),
    }
}

/// `gen-key` needs no settings: it makes the key the settings will name.
fn gen_key(out: &Path) -> ExitCode {
    match auth::keys::generate_file(out) {
        Ok(kid) => {
            println!("wrote {} (kid {kid})", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("auth: gen-key: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command that needs the settings, logging and the runtime.
fn with_settings(config: Option<&Path>, command: Command) -> ExitCode {
    let settings: Settings = match platform::settings::load(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("auth: {e}");
            // EX_CONFIG: an invalid configuration, not a crash.
            return ExitCode::from(78);
        }
    };
    platform::telemetry::init(&settings.log);
    let result = actix_web::rt::System::new().block_on(run(settings, command));
    platform::telemetry::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("auth: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings, command: Command) -> Result<(), String> {
    match command {
        Command::Serve => {
            let app = build(settings).await.map_err(|e| e.to_string())?;
            tracing::info!(port = app.port(), "auth listening");
            app.run_until_stopped().await.map_err(|e| e.to_string())
        }
        Command::Migrate => auth::admin::migrate(&settings).await,
        Command::CreateAdmin {
            email,
            name,
            password_file,
        } => auth::admin::create_admin(&settings, &email, &name, password_file.as_deref()).await,
        Command::GenKey { .. } | Command::Help => Ok(()),
    }
}

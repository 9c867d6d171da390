//! `auth`: see `auth --help`.

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
    if args.command == Command::Help {
        println!("{}", cli::USAGE);
        return ExitCode::SUCCESS;
    }
    if let Command::GenKey { out } = &args.command {
        return match auth::keys::generate_file(out) {
            Ok(kid) => {
                println!("wrote {} (kid {kid})", out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("auth: gen-key: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let settings: Settings = match platform::settings::load(args.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("auth: {e}");
            return ExitCode::from(78);
        }
    };
    platform::telemetry::init(&settings.log);
    let result = actix_web::rt::System::new().block_on(async move {
        match args.command {
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
            } => {
                auth::admin::create_admin(&settings, &email, &name, password_file.as_deref()).await
            }
            Command::GenKey { .. } | Command::Help => Ok(()),
        }
    });
    platform::telemetry::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("auth: {e}");
            ExitCode::FAILURE
        }
    }
}

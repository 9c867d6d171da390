//! Operator commands: migrations and the first admin.

use std::path::Path;

use domain::{NewEditor, RawNewEditor};

use crate::password::Hasher;
use crate::settings::Settings;

/// `auth migrate`: applies pending migrations on the primary.
pub async fn migrate(settings: &Settings) -> Result<(), String> {
    let pool = platform::db::pool(
        &settings.database,
        "auth-migrate",
        platform::db::Role::Primary,
    )
    .map_err(|e| e.to_string())?;
    let mut client = pool.get().await.map_err(|e| format!("database: {e}"))?;
    let applied = platform::db::migrate(&mut client)
        .await
        .map_err(|e| e.to_string())?;
    println!("migrations applied: {applied} new");
    Ok(())
}

/// `auth create-admin`: creates an admin account, printing its password
/// when it was generated. An existing email is reported, not changed.
pub async fn create_admin(
    settings: &Settings,
    email: &str,
    name: &str,
    password_file: Option<&Path>,
) -> Result<(), String> {
    let (password, generated) = match password_file {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
            false,
        ),
        None => (crate::cli::generate_password(), true),
    };
    let new = NewEditor::parse(RawNewEditor {
        email: Some(email.to_owned()),
        name: Some(name.to_owned()),
        password: Some(password.clone()),
        role: Some("admin".to_owned()),
    })
    .map_err(|e| e.to_string())?;
    let hasher = Hasher::new(&settings.passwords).map_err(|e| e.to_string())?;
    let hash = hasher.hash(&password).await.map_err(|e| e.to_string())?;
    let pool = platform::db::pool(
        &settings.database,
        "auth-admin",
        platform::db::Role::Primary,
    )
    .map_err(|e| e.to_string())?;
    let mut client = pool.get().await.map_err(|e| format!("database: {e}"))?;
    let tx = client.transaction().await.map_err(|e| e.to_string())?;
    match crate::routes::insert_editor(&tx, &new, &hash).await {
        Ok(editor) => {
            platform::audit::record(
                &tx,
                platform::audit::Event {
                    actor_id: None,
                    action: "admin_created_by_command",
                    entity: "editor",
                    entity_id: Some(editor.id.to_string()),
                    request_id: "cli",
                    client_ip: None,
                    details: serde_json::json!({}),
                },
            )
            .await
            .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
            println!("admin created: id {} email {}", editor.id, editor.email);
            if generated {
                println!("password: {password}");
            }
            Ok(())
        }
        Err(crate::error::AuthError::EmailTaken) => {
            println!("admin exists: {}", new.email());
            Ok(())
        }
        Err(e) => Err(e.to_problem().to_string()),
    }
}

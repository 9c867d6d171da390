//! Operator commands: migrations and the first admin.

use std::path::Path;

use deadpool_postgres::Object;
use domain::{NewEditor, RawNewEditor};

use crate::editors::{self, EditorView};
use crate::error::AuthError;
use crate::password::Hasher;
use crate::settings::Settings;

/// `auth migrate`: applies pending migrations on the primary.
pub async fn migrate(settings: &Settings) -> Result<(), String> {
    let mut client = connect(settings, "auth-migrate").await?;
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
        Some(path) => (read_password(path)?, false),
        None => (crate::cli::generate_password(), true),
    };
    let new = NewEditor::parse(RawNewEditor {
        email: Some(email.to_owned()),
        name: Some(name.to_owned()),
        password: Some(password),
        role: Some("admin".to_owned()),
    })
    .map_err(|e| e.to_string())?;
    let hasher = Hasher::new(&settings.passwords).map_err(|e| e.to_string())?;
    let hash = hasher
        .hash(new.password().expose())
        .await
        .map_err(|e| e.to_string())?;
    let mut client = connect(settings, "auth-admin").await?;
    let Some(editor) = insert_admin(&mut client, &new, &hash)
        .await
        .map_err(|e| e.to_problem().to_string())?
    else {
        println!("admin exists: {}", new.email());
        return Ok(());
    };
    println!("admin created: id {} email {}", editor.id, editor.email);
    if generated {
        println!("password: {}", new.password().expose());
    }
    Ok(())
}

/// The password in `path`, without the line break an editor leaves at
/// its end (a password cannot end in one: it would be invisible).
fn read_password(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

async fn connect(settings: &Settings, application_name: &str) -> Result<Object, String> {
    let pool = platform::db::pool(
        &settings.database,
        application_name,
        platform::db::Role::Primary,
    )
    .map_err(|e| e.to_string())?;
    pool.get().await.map_err(|e| format!("database: {e}"))
}

/// The new admin with its audit row; `None` when the email is taken.
async fn insert_admin(
    client: &mut Object,
    new: &NewEditor,
    hash: &str,
) -> Result<Option<EditorView>, AuthError> {
    let tx = client.transaction().await?;
    let editor = match editors::insert(&tx, new, hash).await {
        Ok(editor) => editor,
        Err(AuthError::EmailTaken) => return Ok(None),
        Err(e) => return Err(e),
    };
    let event = platform::audit::Event {
        actor_id: None,
        action: "admin_created_by_command",
        entity: "editor",
        entity_id: Some(editor.id.to_string()),
        request_id: "cli",
        client_ip: None,
        details: serde_json::json!({}),
    };
    platform::audit::record(&tx, event).await?;
    tx.commit().await?;
    Ok(Some(editor))
}

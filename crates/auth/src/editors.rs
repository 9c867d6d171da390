//! Editor rows: the only place that reads (or writes) `password_hash`.

use deadpool_postgres::GenericClient;
use domain::{NewEditor, Role};
use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::ToSchema;

use crate::error::AuthError;

/// An editor account as answers show it: never its password hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Editor)]
pub struct EditorView {
    pub id: i64,
    #[schema(format = Email)]
    pub email: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub last_login_at: Option<OffsetDateTime>,
}

impl AsRef<EditorView> for EditorView {
    fn as_ref(&self) -> &EditorView {
        self
    }
}

pub const COLUMNS: &str =
    "id, email, name, role, disabled_at IS NOT NULL AS disabled, created_at, last_login_at";

impl EditorView {
    pub fn from_row(row: &Row) -> Result<Self, AuthError> {
        let role: String = row.try_get("role")?;
        Ok(Self {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            role: Role::parse(&role)
                .map_err(|_| AuthError::internal(format!("bad role {role}")))?,
            disabled: row.try_get("disabled")?,
            created_at: row.try_get("created_at")?,
            last_login_at: row.try_get("last_login_at")?,
        })
    }
}

/// An editor with the password hash, for login and password change only.
#[derive(Debug)]
pub struct Credentials {
    pub editor: EditorView,
    pub password_hash: String,
}

impl AsRef<EditorView> for Credentials {
    fn as_ref(&self) -> &EditorView {
        &self.editor
    }
}

pub async fn by_email(
    client: &impl GenericClient,
    email: &str,
) -> Result<Option<Credentials>, AuthError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, password_hash FROM editors WHERE lower(email) = lower($1)"
        ))
        .await?;
    client
        .query_opt(&stmt, &[&email])
        .await?
        .map(|row| {
            Ok(Credentials {
                editor: EditorView::from_row(&row)?,
                password_hash: row.try_get("password_hash")?,
            })
        })
        .transpose()
}

pub async fn credentials_by_id(
    client: &impl GenericClient,
    id: i64,
) -> Result<Option<Credentials>, AuthError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, password_hash FROM editors WHERE id = $1"
        ))
        .await?;
    client
        .query_opt(&stmt, &[&id])
        .await?
        .map(|row| {
            Ok(Credentials {
                editor: EditorView::from_row(&row)?,
                password_hash: row.try_get("password_hash")?,
            })
        })
        .transpose()
}

pub async fn by_id(client: &impl GenericClient, id: i64) -> Result<Option<EditorView>, AuthError> {
    let stmt = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM editors WHERE id = $1"))
        .await?;
    client
        .query_opt(&stmt, &[&id])
        .await?
        .map(|row| EditorView::from_row(&row))
        .transpose()
}

/// Ends everything that lets an editor in without their password: every
/// refresh token (so every session) and a pending password reset. For a
/// new password and for disabling. Returns how many tokens were revoked.
pub async fn end_access(client: &impl GenericClient, editor_id: i64) -> Result<u64, AuthError> {
    let revoked = revoke_all_refresh_tokens(client, editor_id).await?;
    let stmt = client
        .prepare_cached("DELETE FROM password_resets WHERE editor_id = $1")
        .await?;
    client.execute(&stmt, &[&editor_id]).await?;
    Ok(revoked)
}

/// Replaces an editor's password hash.
pub async fn store_password_hash(
    client: &impl GenericClient,
    editor_id: i64,
    hash: &str,
) -> Result<(), AuthError> {
    let stmt = client
        .prepare_cached("UPDATE editors SET password_hash = $2, updated_at = now() WHERE id = $1")
        .await?;
    client.execute(&stmt, &[&editor_id, &hash]).await?;
    Ok(())
}

/// Revokes every live refresh token of an editor. Returns how many.
pub async fn revoke_all_refresh_tokens(
    client: &impl GenericClient,
    editor_id: i64,
) -> Result<u64, AuthError> {
    crate::sessions::revoke_all_but(client, editor_id, None).await
}

/// Inserts an editor; a taken email (any case) is `EmailTaken`.
pub async fn insert(
    client: &impl GenericClient,
    new: &NewEditor,
    password_hash: &str,
) -> Result<EditorView, AuthError> {
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO editors (email, name, password_hash, role) VALUES ($1, $2, $3, $4)
             RETURNING {COLUMNS}"
        ))
        .await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [
        &new.email().as_str(),
        &new.name().as_str(),
        &password_hash,
        &new.role().as_str(),
    ];
    match client.query_one(&stmt, &params).await {
        Ok(row) => EditorView::from_row(&row),
        Err(e) if e.as_db_error().and_then(|d| d.constraint()) == Some("editors_email_key") => {
            Err(AuthError::EmailTaken)
        }
        Err(e) => Err(e.into()),
    }
}

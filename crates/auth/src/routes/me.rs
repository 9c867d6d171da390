//! The caller's own account: `GET /auth/me` and `PUT /auth/me/password`.

use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::GenericClient;
use domain::{Password, ValidationErrors};
use platform::audit;
use platform::bearer::Editor;
use platform::http::JsonBody;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{Ctx, active_account, hash_password, no_store, password_matches, require_active};
use crate::editors::{self, Credentials, EditorView};
use crate::error::AuthError;
use crate::openapi::{BodyErrors, Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized};
use crate::startup::State;

/// The caller's account
#[utoipa::path(
    get,
    path = "/auth/me",
    operation_id = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = EditorView),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = ServiceUnavailable),
    )
)]
pub async fn me(state: web::Data<State>, caller: Editor) -> Result<HttpResponse, AuthError> {
    let client = state.pool.get().await?;
    let editor = active_account(&client, &caller).await?;
    Ok(no_store(HttpResponse::Ok().json(editor)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    #[schema(value_type = Password, inline)]
    new_password: String,
}

/// Change the caller's password; revokes all their refresh tokens
///
/// Wrong current passwords count against the same throttle as failed
/// logins for the account's email.
#[utoipa::path(
    put,
    path = "/auth/me/password",
    operation_id = "changePassword",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        (status = 503, response = ServiceUnavailable),
        BodyErrors,
    )
)]
pub async fn change_password(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Editor,
    body: JsonBody<PasswordChange>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let PasswordChange {
        current_password,
        new_password,
    } = body.0;
    let new_password = Password::parse(&new_password).map_err(|e| {
        let mut errors = ValidationErrors::new();
        errors.push_invalid("new_password", e);
        AuthError::Validation(errors)
    })?;
    let mut client = state.pool.get().await?;
    let credentials = require_active(editors::credentials_by_id(&client, caller.id).await?)?;
    check_current_password(&state, &client, &ctx, &credentials, &current_password).await?;
    let hash = hash_password(&state, &new_password).await?;
    let tx = client.transaction().await?;
    store_password_hash(&tx, caller.id, &hash).await?;
    let revoked = editors::revoke_all_refresh_tokens(&tx, caller.id).await?;
    let mut event = ctx.own(caller.id, "password_changed");
    event.details = json!({ "revoked_refresh_tokens": revoked });
    audit::record(&tx, event).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Refuses a wrong current password. Guessing it with a stolen access
/// token is throttled like logins are.
async fn check_current_password(
    state: &State,
    client: &impl GenericClient,
    ctx: &Ctx,
    credentials: &Credentials,
    typed: &str,
) -> Result<(), AuthError> {
    let email = &credentials.editor.email;
    state
        .throttle
        .check(email, ctx.ip)
        .await
        .map_err(|retry_after_s| AuthError::Throttled { retry_after_s })?;
    if password_matches(state, Some(&credentials.password_hash), typed).await {
        return Ok(());
    }
    state.throttle.record_failure(email, ctx.ip).await;
    let editor_id = credentials.editor.id;
    audit::record(client, ctx.own(editor_id, "password_change_failed")).await?;
    let mut errors = ValidationErrors::new();
    errors.push("current_password", "is incorrect");
    Err(AuthError::Validation(errors))
}

async fn store_password_hash(
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

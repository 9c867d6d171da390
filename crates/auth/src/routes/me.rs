//! The caller's own account: `GET /auth/me` and `PUT /auth/me/password`.

use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::GenericClient;
use domain::ValidationErrors;
use platform::audit;
use platform::bearer::Editor;
use platform::http::JsonBody;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{
    Ctx, active_account, hash_password, no_store, parse_new_password, password_matches,
    require_active,
};
use crate::editors::{self, Credentials, EditorView};
use crate::error::AuthError;
use crate::openapi::{BodyErrors, SignedIn, TooManyRequests};
use crate::startup::State;

/// The caller's account
#[utoipa::path(
    get,
    path = "/auth/me",
    operation_id = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = EditorView),
        SignedIn,
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
    #[schema(value_type = domain::Password, inline)]
    new_password: String,
}

/// Change the caller's password; ends every session
///
/// Revokes all the caller's refresh tokens (the current session's too) and
/// any pending password reset. Wrong current passwords count against the
/// same throttle as failed logins for the account's email.
#[utoipa::path(
    put,
    path = "/auth/me/password",
    operation_id = "changePassword",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 429, response = TooManyRequests),
        SignedIn,
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
    let new_password = parse_new_password("new_password", &new_password)?;
    let mut client = state.pool.get().await?;
    let credentials = require_active(editors::credentials_by_id(&client, caller.id).await?)?;
    check_current_password(&state, &client, &ctx, &credentials, &current_password).await?;
    let hash = hash_password(&state, &new_password).await?;
    let tx = client.transaction().await?;
    editors::store_password_hash(&tx, caller.id, &hash).await?;
    let revoked = editors::end_access(&tx, caller.id).await?;
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

//! Password resets an admin runs: `POST /auth/editors/{id}/password-reset`
//! issues a one-time token, `POST /auth/password-reset` spends it on a new
//! password.
//!
//! The token is shown once, in the admin's answer, for the admin to hand
//! over; only its SHA-256 hash is stored. It is usable for
//! `tokens.reset_ttl_s` (24 hours), once; issuing another for the same
//! editor supersedes it, and a new password or disabling the account
//! cancels it. Every way a token can fail gets one answer, so a holder
//! learns nothing about tokens that do not work. Failures count against
//! the client address's login throttle.

use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::GenericClient;
use platform::audit;
use platform::bearer::Admin;
use platform::http::JsonBody;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::editors::EditorId;
use super::{Ctx, active_admin, hash_password, named_editor, no_store, parse_new_password};
use crate::editors::{self, COLUMNS, EditorView};
use crate::error::AuthError;
use crate::openapi::{
    Conflict, InvalidResetToken, NotFound, PayloadTooLarge, ServiceUnavailable, SignedIn,
    TooManyRequests, UnprocessableEntity, UnsupportedMediaType,
};
use crate::startup::State;
use crate::tokens;

/// A password reset token, shown once.
#[derive(Serialize, ToSchema)]
pub struct ResetIssued {
    /// Opaque, single use; hand it to the editor over a trusted channel
    reset_token: String,
    /// When it stops working (24 hours after issue by default)
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// Issue a one-time password reset token for an editor (admins)
///
/// The answer is the only place the token is shown. It is valid for 24
/// hours and once; a newer token for the same editor supersedes it.
#[utoipa::path(
    post,
    path = "/auth/editors/{id}/password-reset",
    operation_id = "issuePasswordReset",
    security(("bearer" = [])),
    params(EditorId),
    responses(
        (status = 201, description = "The token, shown once", body = ResetIssued),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        SignedIn,
    )
)]
pub async fn issue(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let mut client = state.pool.get().await?;
    active_admin(&client, &caller).await?;
    let editor = named_editor(&client, &id).await?;
    if editor.disabled {
        return Err(AuthError::Conflict(
            "this account is disabled; enable it first",
        ));
    }
    let (reset_token, hash) = tokens::new_opaque_token();
    let ttl_s = state.settings.tokens.reset_ttl_s;
    let tx = client.transaction().await?;
    let expires_at = store_reset(&tx, editor.id, caller.0.id, &hash, ttl_s).await?;
    let event = ctx.event(Some(caller.0.id), "password_reset_issued", Some(editor.id));
    audit::record(&tx, event).await?;
    tx.commit().await?;
    let issued = ResetIssued {
        reset_token,
        expires_at,
    };
    Ok(no_store(HttpResponse::Created().json(issued)))
}

/// Keeps the hash of an editor's new reset token in place of any older
/// one (which stops working); when the new one expires.
async fn store_reset(
    client: &impl GenericClient,
    editor_id: i64,
    admin_id: i64,
    hash: &[u8; 32],
    ttl_s: u64,
) -> Result<OffsetDateTime, AuthError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO password_resets (editor_id, token_hash, created_by, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))
             ON CONFLICT (editor_id) DO UPDATE
                SET token_hash = EXCLUDED.token_hash, created_by = EXCLUDED.created_by,
                    created_at = now(), expires_at = EXCLUDED.expires_at
             RETURNING expires_at",
        )
        .await?;
    // Seconds as float8 for make_interval, as for refresh tokens.
    let ttl_s = ttl_s as f64;
    let row = client
        .query_one(&stmt, &[&editor_id, &hash.as_slice(), &admin_id, &ttl_s])
        .await?;
    Ok(row.try_get(0)?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The `reset_token` an admin was given
    token: String,
    #[schema(value_type = domain::Password, inline)]
    new_password: String,
}

/// Set a new password with a reset token; ends every session
///
/// An unknown, expired, used or superseded token gets one answer (400
/// `invalid_reset_token`). Success revokes all the editor's refresh tokens.
/// Failures count against the client address's login throttle.
#[utoipa::path(
    post,
    path = "/auth/password-reset",
    operation_id = "resetPassword",
    request_body = ResetRequest,
    responses(
        (status = 204, description = "The password is set"),
        (status = 400, response = InvalidResetToken),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
        (status = 503, response = ServiceUnavailable),
    )
)]
pub async fn redeem(
    req: HttpRequest,
    state: web::Data<State>,
    body: JsonBody<ResetRequest>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let ResetRequest {
        token,
        new_password,
    } = body.0;
    let new_password = parse_new_password("new_password", &new_password)?;
    (state.throttle.check_ip(ctx.ip).await)
        .map_err(|retry_after_s| AuthError::Throttled { retry_after_s })?;
    let mut client = state.pool.get().await?;
    let holder = match tokens::presented_hash(&token) {
        Some(hash) => reset_holder(&client, &hash).await?.map(|e| (e, hash)),
        None => None,
    };
    let Some((editor, hash)) = holder else {
        return Err(refuse(&state, &client, &ctx).await?);
    };
    let password_hash = hash_password(&state, &new_password).await?;
    let tx = client.transaction().await?;
    if !spend_reset(&tx, &hash, editor.id).await? {
        // Spent by a concurrent request since it was looked up.
        return Err(AuthError::ResetTokenInvalid);
    }
    editors::store_password_hash(&tx, editor.id, &password_hash).await?;
    let revoked = editors::end_access(&tx, editor.id).await?;
    let mut event = ctx.own(editor.id, "password_reset_used");
    event.details = json!({ "revoked_refresh_tokens": revoked });
    audit::record(&tx, event).await?;
    tx.commit().await?;
    // A new password ends the lock-out of failed logins, as a login would.
    state.throttle.record_success(&editor.email).await;
    Ok(HttpResponse::NoContent().finish())
}

/// The enabled account a usable reset token belongs to.
async fn reset_holder(
    client: &impl GenericClient,
    hash: &[u8; 32],
) -> Result<Option<EditorView>, AuthError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM editors
              WHERE disabled_at IS NULL AND id = (
                    SELECT editor_id FROM password_resets
                     WHERE token_hash = $1 AND expires_at > now())"
        ))
        .await?;
    client
        .query_opt(&stmt, &[&hash.as_slice()])
        .await?
        .map(|row| EditorView::from_row(&row))
        .transpose()
}

/// Deletes the reset token: whether it was still there to spend.
async fn spend_reset(
    client: &impl GenericClient,
    hash: &[u8; 32],
    editor_id: i64,
) -> Result<bool, AuthError> {
    let stmt = client
        .prepare_cached(
            "DELETE FROM password_resets
              WHERE token_hash = $1 AND editor_id = $2 AND expires_at > now()",
        )
        .await?;
    Ok(client
        .execute(&stmt, &[&hash.as_slice(), &editor_id])
        .await?
        == 1)
}

/// Counts and records a token that did not work, and says so without
/// saying why.
async fn refuse(
    state: &State,
    client: &impl GenericClient,
    ctx: &Ctx,
) -> Result<AuthError, AuthError> {
    state.throttle.record_ip_failure(ctx.ip).await;
    audit::record(client, ctx.event(None, "password_reset_refused", None)).await?;
    Ok(AuthError::ResetTokenInvalid)
}

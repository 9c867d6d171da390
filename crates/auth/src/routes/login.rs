//! `POST /auth/login`: email and password for a token pair.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use deadpool_postgres::GenericClient;
use platform::audit;
use platform::http::JsonBody;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::tokens::{TokenPair, issue_pair};
use super::{Ctx, no_store, password_matches};
use crate::editors::{self, EditorView};
use crate::error::AuthError;
use crate::openapi::{
    BodyErrors, Forbidden, InvalidCredentials, ServiceUnavailable, TooManyRequests,
};
use crate::sessions;
use crate::startup::{LoginOutcome, State};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    password: String,
}

/// Log in with email and password
///
/// An unknown email and a wrong password get the same answer, in the same
/// time. Repeated failures for one email or from one client address are
/// refused with 429 for a while. A login starts a session, recording the
/// client's `User-Agent` (cut to 200 characters) and address.
#[utoipa::path(
    post,
    path = "/auth/login",
    operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Tokens and the account", body = TokenPair),
        (status = 401, response = InvalidCredentials),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
        (status = 503, response = ServiceUnavailable),
        BodyErrors,
    )
)]
pub async fn login(
    req: HttpRequest,
    state: web::Data<State>,
    body: JsonBody<LoginRequest>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let LoginRequest { email, password } = body.0;
    let email = email.trim().to_lowercase();
    if let Err(retry_after_s) = state.throttle.check(&email, ctx.ip).await {
        state.metrics.login(LoginOutcome::Throttled);
        return Err(AuthError::Throttled { retry_after_s });
    }
    let mut client = state.pool.get().await?;
    let Some(editor) = authenticate(&state, &client, &email, &password).await? else {
        refuse_credentials(&state, &client, &ctx, &email).await?;
        return Err(AuthError::InvalidCredentials);
    };
    if editor.disabled {
        state.metrics.login(LoginOutcome::Disabled);
        audit::record(&client, ctx.own(editor.id, "login_refused_disabled")).await?;
        return Err(AuthError::AccountDisabled);
    }
    let tx = client.transaction().await?;
    let editor = stamp_login(&tx, editor).await?;
    let id = editor.id;
    let session = sessions::start(&tx, id, ctx.user_agent.as_ref(), ctx.ip).await?;
    let pair = issue_pair(&state, &tx, editor, session).await?;
    audit::record(&tx, ctx.own(id, "login_succeeded")).await?;
    tx.commit().await?;
    state.throttle.record_success(&email).await;
    state.metrics.login(LoginOutcome::Succeeded);
    Ok(no_store(HttpResponse::Ok().json(pair)))
}

/// The account whose password `password` is, if any.
async fn authenticate(
    state: &State,
    client: &impl GenericClient,
    email: &str,
    password: &str,
) -> Result<Option<EditorView>, AuthError> {
    // No account has a longer address, nor one with a NUL (PostgreSQL text
    // cannot hold it: the query itself would fail). Such a login goes on as
    // an unknown email: same hashing, same answer.
    let found = if email.len() <= 254 && !email.contains('\0') {
        editors::by_email(client, email).await?
    } else {
        None
    };
    let stored = found.as_ref().map(|c| c.password_hash.as_str());
    let verified = password_matches(state, stored, password).await;
    Ok(found.filter(|_| verified).map(|c| c.editor))
}

/// Counts a failed login against the throttle and records it.
async fn refuse_credentials(
    state: &State,
    client: &impl GenericClient,
    ctx: &Ctx,
    email: &str,
) -> Result<(), AuthError> {
    state.throttle.record_failure(email, ctx.ip).await;
    state.metrics.login(LoginOutcome::Failed);
    let mut event = ctx.event(None, "login_failed", None);
    event.details = json!({ "email_sha256_prefix": email_fingerprint(email) });
    Ok(audit::record(client, event).await?)
}

/// Notes the time of the login on the account.
async fn stamp_login(
    client: &impl GenericClient,
    editor: EditorView,
) -> Result<EditorView, AuthError> {
    let stmt = client
        .prepare_cached(
            "UPDATE editors SET last_login_at = now() WHERE id = $1 RETURNING last_login_at",
        )
        .await?;
    let row = client.query_one(&stmt, &[&editor.id]).await?;
    Ok(EditorView {
        last_login_at: row.try_get(0)?,
        ..editor
    })
}

/// A short, non-reversible reference to an email for the audit log of
/// failed logins (which may name addresses that have no account).
fn email_fingerprint(email: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(email.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..9])
}

//! Token pairs: issuing one, `POST /auth/refresh` (rotation with reuse
//! detection) and `POST /auth/logout`.

use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::GenericClient;
use platform::audit;
use platform::bearer::Editor;
use platform::http::JsonBody;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Ctx, no_store};
use crate::editors::{self, EditorView};
use crate::error::AuthError;
use crate::openapi::{BodyErrors, Forbidden, InvalidCredentials, ServiceUnavailable, Unauthorized};
use crate::sessions::{self, SessionRef};
use crate::startup::State;
use crate::tokens;

/// What a login or a refresh answers.
#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    /// An EdDSA JWT; besides the usual claims, `sid` names its session (the
    /// `id` of `GET /auth/me/sessions`, as a decimal string)
    access_token: String,
    #[schema(inline)]
    token_type: TokenType,
    /// seconds
    expires_in: u64,
    refresh_token: String,
    editor: EditorView,
}

/// How to present the access token (RFC 6750).
#[derive(Serialize, ToSchema)]
enum TokenType {
    Bearer,
}

/// Issues an access token naming `session` and a refresh token in its
/// family (a new session at login, the same one on refresh), storing the
/// refresh token's hash.
pub(super) async fn issue_pair(
    state: &State,
    client: &impl GenericClient,
    editor: EditorView,
    session: SessionRef,
) -> Result<TokenPair, AuthError> {
    let settings = &state.settings.tokens;
    let key = &state.keys.active;
    let access_token = tokens::access_token(key, settings, editor.id, editor.role, session.id)
        .map_err(AuthError::internal)?;
    let (refresh_token, hash) = tokens::new_opaque_token();
    let family = session.family;
    store_refresh_token(client, editor.id, family, &hash, settings.refresh_ttl_s).await?;
    Ok(TokenPair {
        access_token,
        token_type: TokenType::Bearer,
        expires_in: settings.access_ttl_s,
        refresh_token,
        editor,
    })
}

/// Keeps the hash of a new refresh token: the token itself is never stored.
async fn store_refresh_token(
    client: &impl GenericClient,
    editor_id: i64,
    family: Uuid,
    hash: &[u8; 32],
    ttl_s: u64,
) -> Result<(), AuthError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO refresh_tokens (editor_id, family_id, token_hash, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        )
        .await?;
    // Seconds as float8 for make_interval; a TTL of any size is exact there.
    let ttl_s = ttl_s as f64;
    client
        .execute(&stmt, &[&editor_id, &family, &hash.as_slice(), &ttl_s])
        .await?;
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Rotate a refresh token; reusing a rotated token revokes its family
///
/// The presented token stops working and a new pair in the same family is
/// answered. A token presented again after its rotation was stolen or
/// replayed: every token of its family is revoked.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    operation_id = "refresh",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair", body = TokenPair),
        (status = 401, response = InvalidCredentials),
        (status = 403, response = Forbidden),
        (status = 503, response = ServiceUnavailable),
        BodyErrors,
    )
)]
pub async fn refresh(
    req: HttpRequest,
    state: web::Data<State>,
    body: JsonBody<RefreshRequest>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let hash = presented_hash(&body.0.refresh_token)?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let token = lock_refresh_token(&tx, &hash)
        .await?
        .ok_or(AuthError::RefreshInvalid)?;
    if token.rotated {
        revoke_family(&tx, &ctx, &token).await?;
        tx.commit().await?;
        tracing::warn!(
            editor.id = token.editor_id,
            "refresh token reused; family revoked"
        );
        return Err(AuthError::RefreshReused);
    }
    if token.revoked || token.expired {
        return Err(AuthError::RefreshInvalid);
    }
    let editor = editors::by_id(&tx, token.editor_id)
        .await?
        .ok_or(AuthError::RefreshInvalid)?;
    if editor.disabled {
        editors::revoke_all_refresh_tokens(&tx, editor.id).await?;
        audit::record(&tx, ctx.own(editor.id, "refresh_refused_disabled")).await?;
        tx.commit().await?;
        return Err(AuthError::AccountDisabled);
    }
    mark_rotated(&tx, token.id).await?;
    let session = sessions::touch(&tx, editor.id, token.family).await?;
    let pair = issue_pair(&state, &tx, editor, session).await?;
    audit::record(&tx, ctx.own(token.editor_id, "token_refreshed")).await?;
    tx.commit().await?;
    Ok(no_store(HttpResponse::Ok().json(pair)))
}

/// The stored form of a presented refresh token.
fn presented_hash(token: &str) -> Result<[u8; 32], AuthError> {
    tokens::presented_hash(token).ok_or(AuthError::RefreshInvalid)
}

/// A stored refresh token and what can make it unusable.
struct StoredToken {
    id: i64,
    editor_id: i64,
    family: Uuid,
    rotated: bool,
    revoked: bool,
    expired: bool,
}

/// The token with this hash, locked until the transaction ends: two
/// concurrent refreshes with one token serialise here, so exactly one
/// rotates and the other is seen as a reuse.
async fn lock_refresh_token(
    client: &impl GenericClient,
    hash: &[u8; 32],
) -> Result<Option<StoredToken>, AuthError> {
    let stmt = client
        .prepare_cached(
            "SELECT t.id, t.editor_id, t.family_id, t.rotated_at IS NOT NULL AS rotated,
                    t.revoked_at IS NOT NULL AS revoked, t.expires_at <= now() AS expired
               FROM refresh_tokens t WHERE t.token_hash = $1 FOR UPDATE",
        )
        .await?;
    let Some(row) = client.query_opt(&stmt, &[&hash.as_slice()]).await? else {
        return Ok(None);
    };
    Ok(Some(StoredToken {
        id: row.try_get("id")?,
        editor_id: row.try_get("editor_id")?,
        family: row.try_get("family_id")?,
        rotated: row.try_get("rotated")?,
        revoked: row.try_get("revoked")?,
        expired: row.try_get("expired")?,
    }))
}

/// A rotated token came back: whoever holds its family may be an attacker,
/// so the whole family stops working.
async fn revoke_family(
    client: &impl GenericClient,
    ctx: &Ctx,
    token: &StoredToken,
) -> Result<(), AuthError> {
    let revoked = sessions::revoke_family(client, &token.family).await?;
    let mut event = ctx.own(token.editor_id, "refresh_token_reused");
    event.details = json!({ "family_id": token.family, "revoked": revoked });
    Ok(audit::record(client, event).await?)
}

/// The token was exchanged: presenting it again is a reuse.
async fn mark_rotated(client: &impl GenericClient, token_id: i64) -> Result<(), AuthError> {
    let stmt = client
        .prepare_cached("UPDATE refresh_tokens SET rotated_at = now() WHERE id = $1")
        .await?;
    client.execute(&stmt, &[&token_id]).await?;
    Ok(())
}

/// Revoke the presented refresh token
///
/// Only a token of the caller's is revoked. Logging out twice, or with a
/// token that is no longer valid, is not an error.
#[utoipa::path(
    post,
    path = "/auth/logout",
    operation_id = "logout",
    security(("bearer" = [])),
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Revoked (or already invalid)"),
        (status = 401, response = Unauthorized),
        (status = 503, response = ServiceUnavailable),
        BodyErrors,
    )
)]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Editor,
    body: JsonBody<RefreshRequest>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let hash = tokens::hash_token(&body.0.refresh_token);
    let client = state.pool.get().await?;
    let revoked = revoke_token(&client, &hash, caller.id).await?;
    let mut event = ctx.own(caller.id, "logout");
    event.details = json!({ "revoked": revoked });
    audit::record(&client, event).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes the editor's live token with this hash; how many (0 or 1).
async fn revoke_token(
    client: &impl GenericClient,
    hash: &[u8; 32],
    editor_id: i64,
) -> Result<u64, AuthError> {
    let stmt = client
        .prepare_cached(
            "UPDATE refresh_tokens SET revoked_at = now()
              WHERE token_hash = $1 AND editor_id = $2 AND revoked_at IS NULL",
        )
        .await?;
    Ok(client
        .execute(&stmt, &[&hash.as_slice(), &editor_id])
        .await?)
}

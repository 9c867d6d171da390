//! The auth endpoints of SPEC §4.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use deadpool_postgres::GenericClient;
use domain::{EditorPatch, NewEditor, Password, RawEditorPatch, RawNewEditor, Role};
use platform::bearer::{Admin, Editor};
use platform::http::{JsonBody, client_ip, request_id_of};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::editors::{self, COLUMNS, EditorView};
use crate::error::AuthError;
use crate::startup::State;
use crate::tokens;
use platform::audit::{self, Event};

/// Longest password accepted at login; longer ones cannot exist (SPEC §3
/// caps them at 256) and are refused without hashing.
const MAX_LOGIN_PASSWORD_CHARS: usize = 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    use platform::http::method_not_allowed as na;
    use platform::server::get_or_head;
    cfg.service(
        web::resource("/auth/login")
            .route(web::post().to(login))
            .default_service(web::to(|| async { na("POST") })),
    )
    .service(
        web::resource("/auth/refresh")
            .route(web::post().to(refresh))
            .default_service(web::to(|| async { na("POST") })),
    )
    .service(
        web::resource("/auth/logout")
            .route(web::post().to(logout))
            .default_service(web::to(|| async { na("POST") })),
    )
    .service(
        web::resource("/auth/me")
            .route(get_or_head().to(me))
            .default_service(web::to(|| async { na("GET, HEAD") })),
    )
    .service(
        web::resource("/auth/me/password")
            .route(web::put().to(change_password))
            .default_service(web::to(|| async { na("PUT") })),
    )
    .service(
        web::resource("/auth/editors")
            .route(get_or_head().to(list_editors))
            .route(web::post().to(create_editor))
            .default_service(web::to(|| async { na("GET, HEAD, POST") })),
    )
    .service(
        web::resource("/auth/editors/{id}")
            .route(get_or_head().to(get_editor))
            .route(web::patch().to(patch_editor))
            .default_service(web::to(|| async { na("GET, HEAD, PATCH") })),
    )
    .service(
        web::resource("/.well-known/jwks.json")
            .route(get_or_head().to(jwks))
            .default_service(web::to(|| async { na("GET, HEAD") })),
    );
}

/// Context of one request that every audit row needs.
struct Ctx {
    request_id: String,
    ip: Option<IpAddr>,
}

impl Ctx {
    fn of(req: &HttpRequest, state: &State) -> Self {
        Self {
            request_id: request_id_of(req),
            ip: client_ip(req, &state.settings.http.trusted_proxies),
        }
    }

    fn event(
        &self,
        actor_id: Option<i64>,
        action: &'static str,
        entity_id: Option<i64>,
    ) -> Event<'_> {
        Event {
            actor_id,
            action,
            entity: "editor",
            entity_id: entity_id.map(|id| id.to_string()),
            request_id: &self.request_id,
            client_ip: self.ip,
            details: json!({}),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize)]
struct TokenPair {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    editor: EditorView,
}

fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

/// Issues an access token and a refresh token in `family` (a new family at
/// login, the same one on refresh), storing the refresh token's hash.
async fn issue_pair(
    state: &State,
    client: &impl GenericClient,
    editor: EditorView,
    family: uuid::Uuid,
) -> Result<TokenPair, AuthError> {
    let access = tokens::access_token(
        &state.keys.active,
        &state.settings.tokens,
        editor.id,
        editor.role,
    )
    .map_err(|e| AuthError::internal(e.to_string()))?;
    let (refresh, hash) = tokens::new_refresh_token();
    let ttl = i64::try_from(state.settings.tokens.refresh_ttl_s).unwrap_or(i64::MAX);
    let stmt = client
        .prepare_cached(
            "INSERT INTO refresh_tokens (editor_id, family_id, token_hash, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        )
        .await?;
    client
        .execute(
            &stmt,
            &[&editor.id, &family, &hash.as_slice(), &(ttl as f64)],
        )
        .await?;
    Ok(TokenPair {
        access_token: access,
        token_type: "Bearer",
        expires_in: state.settings.tokens.access_ttl_s,
        refresh_token: refresh,
        editor,
    })
}

/// `POST /auth/login`.
async fn login(
    req: HttpRequest,
    state: web::Data<State>,
    body: JsonBody<LoginRequest>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let LoginRequest { email, password } = body.0;
    let email = email.trim().to_lowercase();
    if let Err(retry_after_s) = state.throttle.check(&email, ctx.ip).await {
        state.metrics.logins.with_label_values(&["throttled"]).inc();
        return Err(AuthError::Throttled { retry_after_s });
    }
    let mut client = state.pool.get().await?;
    // No account has a longer address, nor one with a NUL (PostgreSQL text
    // cannot hold it: the query itself would fail). Such a login goes on as
    // an unknown email: same hashing, same answer.
    let found = if email.len() <= 254 && !email.contains('\0') {
        editors::by_email(&client, &email).await?
    } else {
        None
    };
    let plausible = password.chars().count() <= MAX_LOGIN_PASSWORD_CHARS;
    // Always hash, even for an unknown email: see `Hasher::verify`.
    let verified = plausible
        && state
            .hasher
            .verify(found.as_ref().map(|c| c.password_hash.as_str()), &password)
            .await;
    let Some(credentials) = found.filter(|_| verified) else {
        state.throttle.record_failure(&email, ctx.ip).await;
        state.metrics.logins.with_label_values(&["failed"]).inc();
        let mut event = ctx.event(None, "login_failed", None);
        event.details = json!({ "email_sha256_prefix": email_fingerprint(&email) });
        audit::record(&client, event).await?;
        return Err(AuthError::InvalidCredentials);
    };
    let editor = credentials.editor;
    if editor.disabled {
        state.metrics.logins.with_label_values(&["disabled"]).inc();
        audit::record(
            &client,
            ctx.event(Some(editor.id), "login_refused_disabled", Some(editor.id)),
        )
        .await?;
        return Err(AuthError::AccountDisabled);
    }
    let tx = client.transaction().await?;
    let stmt = tx
        .prepare_cached(
            "UPDATE editors SET last_login_at = now() WHERE id = $1 RETURNING last_login_at",
        )
        .await?;
    let row = tx.query_one(&stmt, &[&editor.id]).await?;
    let editor = EditorView {
        last_login_at: row.try_get(0)?,
        ..editor
    };
    let id = editor.id;
    let pair = issue_pair(&state, &tx, editor, uuid::Uuid::new_v4()).await?;
    audit::record(&tx, ctx.event(Some(id), "login_succeeded", Some(id))).await?;
    tx.commit().await?;
    state.throttle.record_success(&email).await;
    state.metrics.logins.with_label_values(&["succeeded"]).inc();
    Ok(no_store(HttpResponse::Ok().json(pair)))
}

/// A short, non-reversible reference to an email for the audit log of
/// failed logins (which may name addresses that have no account).
fn email_fingerprint(email: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(email.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..9])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

/// `POST /auth/refresh`: rotation with reuse detection.
async fn refresh(
    req: HttpRequest,
    state: web::Data<State>,
    body: JsonBody<RefreshRequest>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let token = body.0.refresh_token;
    if token.is_empty() || token.len() > 256 {
        return Err(AuthError::RefreshInvalid);
    }
    let hash = tokens::hash_refresh_token(&token);
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    // FOR UPDATE: two concurrent refreshes with one token serialise here, so
    // exactly one rotates and the other is seen as a reuse.
    let stmt = tx
        .prepare_cached(
            "SELECT t.id, t.editor_id, t.family_id, t.rotated_at IS NOT NULL AS rotated,
                    t.revoked_at IS NOT NULL AS revoked, t.expires_at <= now() AS expired
               FROM refresh_tokens t WHERE t.token_hash = $1 FOR UPDATE",
        )
        .await?;
    let Some(row) = tx.query_opt(&stmt, &[&hash.as_slice()]).await? else {
        return Err(AuthError::RefreshInvalid);
    };
    let token_id: i64 = row.try_get("id")?;
    let editor_id: i64 = row.try_get("editor_id")?;
    let family: uuid::Uuid = row.try_get("family_id")?;
    if row.try_get::<_, bool>("rotated")? {
        let stmt = tx
            .prepare_cached(
                "UPDATE refresh_tokens SET revoked_at = now()
                  WHERE family_id = $1 AND revoked_at IS NULL",
            )
            .await?;
        let revoked = tx.execute(&stmt, &[&family]).await?;
        let mut event = ctx.event(Some(editor_id), "refresh_token_reused", Some(editor_id));
        event.details = json!({ "family_id": family, "revoked": revoked });
        audit::record(&tx, event).await?;
        tx.commit().await?;
        tracing::warn!(
            editor.id = editor_id,
            "refresh token reused; family revoked"
        );
        return Err(AuthError::RefreshReused);
    }
    if row.try_get::<_, bool>("revoked")? || row.try_get::<_, bool>("expired")? {
        return Err(AuthError::RefreshInvalid);
    }
    let editor = editors::by_id(&tx, editor_id)
        .await?
        .ok_or(AuthError::RefreshInvalid)?;
    if editor.disabled {
        editors::revoke_all_refresh_tokens(&tx, editor_id).await?;
        audit::record(
            &tx,
            ctx.event(Some(editor_id), "refresh_refused_disabled", Some(editor_id)),
        )
        .await?;
        tx.commit().await?;
        return Err(AuthError::AccountDisabled);
    }
    let stmt = tx
        .prepare_cached("UPDATE refresh_tokens SET rotated_at = now() WHERE id = $1")
        .await?;
    tx.execute(&stmt, &[&token_id]).await?;
    let pair = issue_pair(&state, &tx, editor, family).await?;
    audit::record(
        &tx,
        ctx.event(Some(editor_id), "token_refreshed", Some(editor_id)),
    )
    .await?;
    tx.commit().await?;
    Ok(no_store(HttpResponse::Ok().json(pair)))
}

/// `POST /auth/logout`: revokes the presented refresh token (if it is the
/// caller's). Answers 204 either way: logging out twice is not an error.
async fn logout(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Editor,
    body: JsonBody<RefreshRequest>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let hash = tokens::hash_refresh_token(&body.0.refresh_token);
    let client = state.pool.get().await?;
    let stmt = client
        .prepare_cached(
            "UPDATE refresh_tokens SET revoked_at = now()
              WHERE token_hash = $1 AND editor_id = $2 AND revoked_at IS NULL",
        )
        .await?;
    let revoked = client
        .execute(&stmt, &[&hash.as_slice(), &caller.id])
        .await?;
    let mut event = ctx.event(Some(caller.id), "logout", Some(caller.id));
    event.details = json!({ "revoked": revoked });
    audit::record(&client, event).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's account, refusing a disabled or deleted one even when its
/// token is still valid.
async fn active_account(
    client: &impl GenericClient,
    caller: &Editor,
) -> Result<EditorView, AuthError> {
    let editor = editors::by_id(client, caller.id)
        .await?
        .ok_or(AuthError::Forbidden("this account no longer exists"))?;
    if editor.disabled {
        return Err(AuthError::AccountDisabled);
    }
    Ok(editor)
}

/// Admin routes re-check the role in the database: a demoted or disabled
/// admin's token must stop working for administration at once.
async fn active_admin(
    client: &impl GenericClient,
    caller: &Admin,
) -> Result<EditorView, AuthError> {
    let editor = active_account(client, &caller.0).await?;
    if editor.role != Role::Admin {
        return Err(AuthError::Forbidden("this resource is for admins"));
    }
    Ok(editor)
}

/// `GET /auth/me`.
async fn me(state: web::Data<State>, caller: Editor) -> Result<HttpResponse, AuthError> {
    let client = state.pool.get().await?;
    let editor = active_account(&client, &caller).await?;
    Ok(no_store(HttpResponse::Ok().json(editor)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `PUT /auth/me/password`: also revokes every refresh token of the editor.
async fn change_password(
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
        let mut errors = domain::ValidationErrors::new();
        errors.push_invalid("new_password", e);
        AuthError::Validation(errors)
    })?;
    let mut client = state.pool.get().await?;
    let credentials = editors::credentials_by_id(&client, caller.id)
        .await?
        .ok_or(AuthError::Forbidden("this account no longer exists"))?;
    if credentials.editor.disabled {
        return Err(AuthError::AccountDisabled);
    }
    // Guessing the current password with a stolen access token is
    // throttled like logins are.
    let email = credentials.editor.email.clone();
    if let Err(retry_after_s) = state.throttle.check(&email, ctx.ip).await {
        return Err(AuthError::Throttled { retry_after_s });
    }
    let plausible = current_password.chars().count() <= MAX_LOGIN_PASSWORD_CHARS;
    if !(plausible
        && state
            .hasher
            .verify(Some(&credentials.password_hash), &current_password)
            .await)
    {
        state.throttle.record_failure(&email, ctx.ip).await;
        audit::record(
            &client,
            ctx.event(Some(caller.id), "password_change_failed", Some(caller.id)),
        )
        .await?;
        let mut errors = domain::ValidationErrors::new();
        errors.push("current_password", "is incorrect");
        return Err(AuthError::Validation(errors));
    }
    let hash = state
        .hasher
        .hash(new_password.expose())
        .await
        .map_err(|e| AuthError::internal(e.to_string()))?;
    let tx = client.transaction().await?;
    let stmt = tx
        .prepare_cached("UPDATE editors SET password_hash = $2, updated_at = now() WHERE id = $1")
        .await?;
    tx.execute(&stmt, &[&caller.id, &hash]).await?;
    let revoked = editors::revoke_all_refresh_tokens(&tx, caller.id).await?;
    let mut event = ctx.event(Some(caller.id), "password_changed", Some(caller.id));
    event.details = json!({ "revoked_refresh_tokens": revoked });
    audit::record(&tx, event).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct Page<T> {
    data: Vec<T>,
    next_cursor: Option<String>,
}

/// Cursors of the editor list: the last id seen, opaque to clients.
fn encode_cursor(after_id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("e:{after_id}"))
}

fn decode_cursor(cursor: &str) -> Result<i64, AuthError> {
    let raw = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| AuthError::InvalidCursor)?;
    let text = std::str::from_utf8(&raw).map_err(|_| AuthError::InvalidCursor)?;
    text.strip_prefix("e:")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or(AuthError::InvalidCursor)
}

/// `GET /auth/editors`: oldest first, keyset-paginated by id.
async fn list_editors(
    state: web::Data<State>,
    caller: Admin,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AuthError> {
    let limit: i64 = match query.limit.as_deref() {
        None => 50,
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                AuthError::InvalidParameter("limit", "must be an integer from 1 to 100".into())
            })?,
    };
    let after = query
        .cursor
        .as_deref()
        .map(decode_cursor)
        .transpose()?
        .unwrap_or(0);
    let client = state.pool.get().await?;
    active_admin(&client, &caller).await?;
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM editors WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .await?;
    let rows = client.query(&stmt, &[&after, &(limit + 1)]).await?;
    let mut data = rows
        .iter()
        .map(EditorView::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if data.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        data.pop();
        data.last().map(|e| encode_cursor(e.id))
    } else {
        None
    };
    Ok(no_store(
        HttpResponse::Ok().json(Page { data, next_cursor }),
    ))
}

/// `POST /auth/editors`.
async fn create_editor(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Admin,
    body: JsonBody<RawNewEditor>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let new = NewEditor::parse(body.0).map_err(AuthError::Validation)?;
    let mut client = state.pool.get().await?;
    active_admin(&client, &caller).await?;
    let hash = state
        .hasher
        .hash(new.password().expose())
        .await
        .map_err(|e| AuthError::internal(e.to_string()))?;
    let tx = client.transaction().await?;
    let editor = insert_editor(&tx, &new, &hash).await?;
    let mut event = ctx.event(Some(caller.0.id), "editor_created", Some(editor.id));
    event.details = json!({ "role": editor.role });
    audit::record(&tx, event).await?;
    tx.commit().await?;
    Ok(no_store(
        HttpResponse::Created()
            .insert_header((header::LOCATION, format!("/auth/editors/{}", editor.id)))
            .json(editor),
    ))
}

/// Inserts an editor; a taken email (any case) is `EmailTaken`.
pub async fn insert_editor(
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
    match client
        .query_one(
            &stmt,
            &[
                &new.email().as_str(),
                &new.name().as_str(),
                &password_hash,
                &new.role().as_str(),
            ],
        )
        .await
    {
        Ok(row) => EditorView::from_row(&row),
        Err(e) if e.as_db_error().and_then(|d| d.constraint()) == Some("editors_email_key") => {
            Err(AuthError::EmailTaken)
        }
        Err(e) => Err(e.into()),
    }
}

fn parse_id(raw: &str) -> Result<i64, AuthError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(AuthError::NotFound)
}

/// `GET /auth/editors/{id}`.
async fn get_editor(
    state: web::Data<State>,
    caller: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, AuthError> {
    let id = parse_id(&id)?;
    let client = state.pool.get().await?;
    active_admin(&client, &caller).await?;
    let editor = editors::by_id(&client, id)
        .await?
        .ok_or(AuthError::NotFound)?;
    Ok(no_store(HttpResponse::Ok().json(editor)))
}

/// `PATCH /auth/editors/{id}`: name, role, disabled. Disabling revokes the
/// editor's refresh tokens. Admins cannot disable or demote themselves, so
/// the last admin cannot lock everyone out by accident.
async fn patch_editor(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Admin,
    id: web::Path<String>,
    body: JsonBody<RawEditorPatch>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let id = parse_id(&id)?;
    let patch = EditorPatch::parse(body.0).map_err(AuthError::Validation)?;
    let mut client = state.pool.get().await?;
    active_admin(&client, &caller).await?;
    if id == caller.0.id && (patch.disabled() == Some(true) || patch.role() == Some(Role::Editor)) {
        return Err(AuthError::Conflict(
            "admins cannot disable or demote themselves",
        ));
    }
    let tx = client.transaction().await?;
    let stmt = tx
        .prepare_cached(&format!(
            "UPDATE editors SET
                 name = coalesce($2, name),
                 role = coalesce($3, role),
                 disabled_at = CASE WHEN $4::boolean IS NULL THEN disabled_at
                                    WHEN $4 THEN coalesce(disabled_at, now())
                                    ELSE NULL END,
                 updated_at = now()
              WHERE id = $1
              RETURNING {COLUMNS}"
        ))
        .await?;
    let name = patch.name().map(|n| n.as_str().to_owned());
    let role = patch.role().map(|r| r.as_str());
    let disabled = patch.disabled();
    let row = tx
        .query_opt(&stmt, &[&id, &name, &role, &disabled])
        .await?
        .ok_or(AuthError::NotFound)?;
    let editor = EditorView::from_row(&row)?;
    let mut revoked = 0;
    if disabled == Some(true) {
        revoked = editors::revoke_all_refresh_tokens(&tx, id).await?;
    }
    let mut event = ctx.event(Some(caller.0.id), "editor_updated", Some(id));
    event.details = json!({ "name": name.is_some(), "role": role, "disabled": disabled, "revoked_refresh_tokens": revoked });
    audit::record(&tx, event).await?;
    tx.commit().await?;
    Ok(no_store(HttpResponse::Ok().json(editor)))
}

/// `GET /.well-known/jwks.json`: the active and previous public keys.
async fn jwks(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(&state.keys.jwks)
}

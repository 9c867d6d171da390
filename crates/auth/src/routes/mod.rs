//! The auth endpoints of SPEC §4, one module per resource. Every handler
//! reads the same way: parse the request, authorise the caller, run one
//! transaction of named SQL steps, answer. What several resources share
//! sits here: the request's context, the account checks, password hashing,
//! path ids.

use std::net::IpAddr;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, Resource, web};
use deadpool_postgres::GenericClient;
use domain::{Password, Role, UserAgent, ValidationErrors};
use platform::audit::Event;
use platform::bearer::{Admin, Editor};
use platform::http::{client_ip, request_id_of};
use serde_json::json;

use crate::editors::EditorView;
use crate::error::AuthError;
use crate::startup::State;

pub(crate) mod audit;
pub(crate) mod editors;
pub(crate) mod jwks;
pub(crate) mod login;
pub(crate) mod me;
pub(crate) mod paging;
pub(crate) mod resets;
pub(crate) mod sessions;
pub(crate) mod tokens;

/// Longest password checked against a hash; longer ones cannot exist
/// (SPEC §3 caps them at 256) and are refused without hashing.
const MAX_TYPED_PASSWORD_CHARS: usize = 1024;

/// Mounts every resource; a method a resource does not serve gets a 405
/// naming the ones it does.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use platform::server::get_or_head;
    cfg.service(resource("/auth/login", "POST").route(web::post().to(login::login)))
        .service(resource("/auth/refresh", "POST").route(web::post().to(tokens::refresh)))
        .service(resource("/auth/logout", "POST").route(web::post().to(tokens::logout)))
        .service(resource("/auth/password-reset", "POST").route(web::post().to(resets::redeem)))
        .service(resource("/auth/me", "GET, HEAD").route(get_or_head().to(me::me)))
        .service(resource("/auth/me/password", "PUT").route(web::put().to(me::change_password)))
        .service(
            resource("/auth/me/sessions", "GET, HEAD, DELETE")
                .route(get_or_head().to(sessions::list_mine))
                .route(web::delete().to(sessions::end_my_others)),
        )
        .service(
            resource("/auth/me/sessions/{sid}", "DELETE")
                .route(web::delete().to(sessions::end_mine)),
        )
        .service(resource("/auth/me/audit", "GET, HEAD").route(get_or_head().to(audit::mine)))
        .configure(configure_editors)
        .service(
            resource("/.well-known/jwks.json", "GET, HEAD").route(get_or_head().to(jwks::jwks)),
        );
}

/// The admin routes under `/auth/editors`.
fn configure_editors(cfg: &mut web::ServiceConfig) {
    use platform::server::get_or_head;
    cfg.service(
        resource("/auth/editors", "GET, HEAD, POST")
            .route(get_or_head().to(editors::list_editors))
            .route(web::post().to(editors::create_editor)),
    )
    .service(
        resource("/auth/editors/{id}", "GET, HEAD, PATCH")
            .route(get_or_head().to(editors::get_editor))
            .route(web::patch().to(editors::patch_editor)),
    )
    .service(
        resource("/auth/editors/{id}/password-reset", "POST").route(web::post().to(resets::issue)),
    )
    .service(
        resource("/auth/editors/{id}/sessions", "GET, HEAD, DELETE")
            .route(get_or_head().to(sessions::list_of_editor))
            .route(web::delete().to(sessions::end_all_of_editor)),
    )
    .service(
        resource("/auth/editors/{id}/sessions/{sid}", "DELETE")
            .route(web::delete().to(sessions::end_of_editor)),
    )
    .service(
        resource("/auth/editors/{id}/audit", "GET, HEAD").route(get_or_head().to(audit::of_editor)),
    );
}

/// A resource whose other methods get a 405 with `Allow: allow`.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        platform::http::method_not_allowed(allow)
    }))
}

/// Who is asking, as far as a request tells: what every audit row of one
/// request shares, and what a new session records.
struct Ctx {
    request_id: String,
    ip: Option<IpAddr>,
    user_agent: Option<UserAgent>,
}

impl Ctx {
    fn of(req: &HttpRequest, state: &State) -> Self {
        Self {
            request_id: request_id_of(req),
            ip: client_ip(req, &state.settings.http.trusted_proxies),
            user_agent: req
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| UserAgent::from_header(v.as_bytes())),
        }
    }

    /// An event about the editor `entity_id`, done by `actor_id`.
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

    /// An event an editor caused on their own account.
    fn own(&self, editor_id: i64, action: &'static str) -> Event<'_> {
        self.event(Some(editor_id), action, Some(editor_id))
    }
}

/// Account answers are personal: no cache may keep them.
fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The caller's account, refusing a disabled or deleted one even when its
/// token is still valid.
async fn active_account(
    client: &impl GenericClient,
    caller: &Editor,
) -> Result<EditorView, AuthError> {
    require_active(crate::editors::by_id(client, caller.id).await?)
}

/// The caller's account as found, unless it was deleted or disabled after
/// its token was issued.
fn require_active<T: AsRef<EditorView>>(found: Option<T>) -> Result<T, AuthError> {
    let account = found.ok_or(AuthError::Forbidden("this account no longer exists"))?;
    if account.as_ref().disabled {
        return Err(AuthError::AccountDisabled);
    }
    Ok(account)
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

/// Whether `typed` is the password behind `stored`. Always hashes, even
/// without a stored hash (see `Hasher::verify`), except for a password too
/// long to be anyone's: no account can have it, and hashing megabytes is
/// what an attacker would want.
async fn password_matches(state: &State, stored: Option<&str>, typed: &str) -> bool {
    typed.chars().count() <= MAX_TYPED_PASSWORD_CHARS && state.hasher.verify(stored, typed).await
}

/// A new password as typed, held to SPEC §3 (422 naming `field`).
fn parse_new_password(field: &str, typed: &str) -> Result<Password, AuthError> {
    Password::parse(typed).map_err(|e| {
        let mut errors = ValidationErrors::new();
        errors.push_invalid(field, e);
        AuthError::Validation(errors)
    })
}

/// Ids in paths: anything but a positive integer names nothing.
fn parse_id(raw: &str, what: &'static str) -> Result<i64, AuthError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(AuthError::NotFound(what))
}

/// The editor an admin route names, which must exist.
async fn named_editor(client: &impl GenericClient, raw_id: &str) -> Result<EditorView, AuthError> {
    let id = parse_id(raw_id, "editor")?;
    crate::editors::by_id(client, id)
        .await?
        .ok_or(AuthError::NotFound("editor"))
}

/// The hash to store for a new password.
async fn hash_password(state: &State, password: &Password) -> Result<String, AuthError> {
    state
        .hasher
        .hash(password.expose())
        .await
        .map_err(AuthError::internal)
}

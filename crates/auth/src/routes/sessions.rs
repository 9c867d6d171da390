//! Sessions of an account: `GET`/`DELETE /auth/me/sessions` and
//! `DELETE /auth/me/sessions/{sid}` for the caller's own, the same under
//! `/auth/editors/{id}/sessions` for admins. Ending a session revokes its
//! refresh-token family at once; access tokens issued in it run until they
//! expire. A session of another editor is answered as absent (404), so its
//! id tells nobody it exists.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use deadpool_postgres::{Client, GenericClient};
use platform::Problem;
use platform::audit;
use platform::bearer::{Admin, Editor, bearer_token};
use serde_json::json;
use utoipa::IntoParams;

use super::editors::EditorId;
use super::paging::{ListQuery, PageRequest, page_of};
use super::{Ctx, active_account, active_admin, named_editor, no_store, parse_id};
use crate::error::AuthError;
use crate::openapi::{BadRequest, Conflict, NotFound, SignedIn};
use crate::sessions::{self, SessionView};
use crate::startup::State;
use crate::tokens;

/// A caller (`Editor` or `Admin`) and the session their access token was
/// issued in (its `sid` claim; `None` for a token from before sessions).
#[derive(Debug)]
pub struct InSession<T> {
    pub caller: T,
    pub current: Option<i64>,
}

impl<T> FromRequest for InSession<T>
where
    T: FromRequest<Error = Problem> + 'static,
{
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Problem>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = T::from_request(req, payload);
        // Read from the same header the caller's extractor verifies; used
        // only once that verification has succeeded.
        let current = bearer_token(req).and_then(tokens::session_of);
        Box::pin(async move {
            Ok(Self {
                caller: caller.await?,
                current,
            })
        })
    }
}

/// The `{sid}` of a session path, as documented (handlers take it as text).
#[derive(IntoParams)]
#[into_params(names("sid"), parameter_in = Path)]
#[expect(dead_code, reason = "only documents the path parameter")]
pub struct SessionId(#[param(minimum = 1, example = 3)] i64);

page_of!(
    /// A page of live sessions, newest first.
    SessionPage,
    SessionView
);

/// Without a `sid` claim there is no telling which session to keep.
const NO_CURRENT: AuthError =
    AuthError::Conflict("this access token names no session; refresh it and try again");

/// The caller's live sessions, newest first
///
/// `current` marks the session the presented access token was issued in
/// (its `sid` claim).
#[utoipa::path(
    get,
    path = "/auth/me/sessions",
    operation_id = "listMySessions",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of sessions", body = SessionPage),
        (status = 400, response = BadRequest),
        SignedIn,
    )
)]
pub async fn list_mine(
    state: web::Data<State>,
    caller: InSession<Editor>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AuthError> {
    let request = page_request(&state, caller.caller.id, query.into_inner())?;
    let client = state.pool.get().await?;
    active_account(&client, &caller.caller).await?;
    list(&client, caller.caller.id, caller.current, &request).await
}

/// An editor's live sessions, newest first (admins)
#[utoipa::path(
    get,
    path = "/auth/editors/{id}/sessions",
    operation_id = "listEditorSessions",
    security(("bearer" = [])),
    params(EditorId, ListQuery),
    responses(
        (status = 200, description = "A page of sessions", body = SessionPage),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        SignedIn,
    )
)]
pub async fn list_of_editor(
    state: web::Data<State>,
    caller: InSession<Admin>,
    id: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AuthError> {
    let owner = parse_id(&id, "editor")?;
    let request = page_request(&state, owner, query.into_inner())?;
    let client = state.pool.get().await?;
    active_admin(&client, &caller.caller).await?;
    let editor = named_editor(&client, &id).await?;
    list(&client, editor.id, caller.current, &request).await
}

fn page_request(state: &State, owner: i64, query: ListQuery) -> Result<PageRequest<'_>, AuthError> {
    let scope = format!("sessions:{owner}");
    let (limit, cursor) = (query.limit.as_deref(), query.cursor.as_deref());
    PageRequest::parse(&state.keys.cursors, scope, limit, cursor)
}

async fn list(
    client: &impl GenericClient,
    owner: i64,
    current: Option<i64>,
    request: &PageRequest<'_>,
) -> Result<HttpResponse, AuthError> {
    let before = request.from.unwrap_or(i64::MAX);
    let rows = sessions::live_page(client, owner, before, request.fetch(), current).await?;
    let page: SessionPage = request.page(rows, |s| s.id);
    Ok(no_store(HttpResponse::Ok().json(page)))
}

/// End one of the caller's sessions (the current one included)
///
/// Its refresh token is refused from now on; access tokens issued in it
/// keep working until they expire (at most 15 minutes).
#[utoipa::path(
    delete,
    path = "/auth/me/sessions/{sid}",
    operation_id = "endMySession",
    security(("bearer" = [])),
    params(SessionId),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, response = NotFound),
        SignedIn,
    )
)]
pub async fn end_mine(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Editor,
    sid: web::Path<String>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let session_id = parse_id(&sid, "session")?;
    let mut client = state.pool.get().await?;
    active_account(&client, &caller).await?;
    end_one(&mut client, &ctx, caller.id, caller.id, session_id).await
}

/// End one of an editor's sessions (admins)
///
/// Its refresh token is refused from now on; access tokens issued in it
/// keep working until they expire (at most 15 minutes).
#[utoipa::path(
    delete,
    path = "/auth/editors/{id}/sessions/{sid}",
    operation_id = "endEditorSession",
    security(("bearer" = [])),
    params(EditorId, SessionId),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, response = NotFound),
        SignedIn,
    )
)]
pub async fn end_of_editor(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let (id, sid) = path.into_inner();
    let owner = parse_id(&id, "editor")?;
    let session_id = parse_id(&sid, "session")?;
    let mut client = state.pool.get().await?;
    active_admin(&client, &caller).await?;
    end_one(&mut client, &ctx, caller.0.id, owner, session_id).await
}

/// Ends `owner`'s live session `session_id`; any other id, another
/// editor's session included, is not found.
async fn end_one(
    client: &mut Client,
    ctx: &Ctx,
    actor: i64,
    owner: i64,
    session_id: i64,
) -> Result<HttpResponse, AuthError> {
    let tx = client.transaction().await?;
    let family = sessions::live_family(&tx, owner, session_id)
        .await?
        .ok_or(AuthError::NotFound("session"))?;
    let revoked = sessions::revoke_family(&tx, &family).await?;
    let mut event = ctx.event(Some(actor), "session_ended", Some(owner));
    event.details = json!({ "session_id": session_id, "revoked_refresh_tokens": revoked });
    audit::record(&tx, event).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// End every session of the caller but the current one
///
/// Needs an access token that names its session (`sid`): one from before
/// sessions were recorded gets 409 (refresh, then try again).
#[utoipa::path(
    delete,
    path = "/auth/me/sessions",
    operation_id = "endMyOtherSessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every other session ended"),
        (status = 409, response = Conflict),
        SignedIn,
    )
)]
pub async fn end_my_others(
    req: HttpRequest,
    state: web::Data<State>,
    caller: InSession<Editor>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let InSession { caller, current } = caller;
    let keep = current.ok_or(NO_CURRENT)?;
    let mut client = state.pool.get().await?;
    active_account(&client, &caller).await?;
    end_all(&mut client, &ctx, caller.id, caller.id, Some(keep)).await
}

/// End every session of an editor (admins)
///
/// An admin naming their own account keeps the session they act from, as
/// on `DELETE /auth/me/sessions`.
#[utoipa::path(
    delete,
    path = "/auth/editors/{id}/sessions",
    operation_id = "endEditorSessions",
    security(("bearer" = [])),
    params(EditorId),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        SignedIn,
    )
)]
pub async fn end_all_of_editor(
    req: HttpRequest,
    state: web::Data<State>,
    caller: InSession<Admin>,
    id: web::Path<String>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let InSession { caller, current } = caller;
    let mut client = state.pool.get().await?;
    active_admin(&client, &caller).await?;
    let owner = named_editor(&client, &id).await?.id;
    let keep = if owner == caller.0.id {
        Some(current.ok_or(NO_CURRENT)?)
    } else {
        None
    };
    end_all(&mut client, &ctx, caller.0.id, owner, keep).await
}

/// Ends every session of `owner` but `keep`.
async fn end_all(
    client: &mut Client,
    ctx: &Ctx,
    actor: i64,
    owner: i64,
    keep: Option<i64>,
) -> Result<HttpResponse, AuthError> {
    let tx = client.transaction().await?;
    let revoked = sessions::revoke_all_but(&tx, owner, keep).await?;
    let mut event = ctx.event(Some(actor), "sessions_ended", Some(owner));
    event.details = json!({ "kept_session_id": keep, "revoked_refresh_tokens": revoked });
    audit::record(&tx, event).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

//! Editor administration (admins only): `GET`/`POST /auth/editors`,
//! `GET`/`PATCH /auth/editors/{id}`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use deadpool_postgres::GenericClient;
use domain::{EditorPatch, NewEditor, RawEditorPatch, RawNewEditor, Role};
use platform::audit;
use platform::bearer::Admin;
use platform::http::JsonBody;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::{Ctx, active_admin, hash_password, no_store};
use crate::editors::{self, COLUMNS, EditorView};
use crate::error::AuthError;
use crate::openapi::{
    BadRequest, BodyErrors, Conflict, Forbidden, NotFound, ServiceUnavailable, Unauthorized,
};
use crate::startup::State;

/// Page size when the query names none.
const DEFAULT_LIMIT: i64 = 50;

/// The query of `GET /auth/editors`, as received: `limit` is checked here
/// so that a bad one is a 400 naming the parameter.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Editors per page
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 50, nullable = false)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page
    #[param(nullable = false)]
    cursor: Option<String>,
}

/// A page of editors, oldest first.
#[derive(Serialize, ToSchema)]
pub struct EditorPage {
    data: Vec<EditorView>,
    /// null on the last page
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// List editors (admins)
#[utoipa::path(
    get,
    path = "/auth/editors",
    operation_id = "listEditors",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of editors", body = EditorPage),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = ServiceUnavailable),
    )
)]
pub async fn list_editors(
    state: web::Data<State>,
    caller: Admin,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AuthError> {
    let limit = parse_limit(query.limit.as_deref())?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let client = state.pool.get().await?;
    active_admin(&client, &caller).await?;
    let page = editors_after(&client, after.unwrap_or(0), limit).await?;
    Ok(no_store(HttpResponse::Ok().json(page)))
}

fn parse_limit(raw: Option<&str>) -> Result<i64, AuthError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    raw.parse()
        .ok()
        .filter(|n| (1..=100).contains(n))
        .ok_or_else(|| {
            AuthError::InvalidParameter("limit", "must be an integer from 1 to 100".into())
        })
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

/// Up to `limit` editors with ids above `after` (keyset pagination: stable
/// while editors are added). One more row is read to know whether another
/// page follows.
async fn editors_after(
    client: &impl GenericClient,
    after: i64,
    limit: i64,
) -> Result<EditorPage, AuthError> {
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
    Ok(EditorPage { data, next_cursor })
}

/// Create an editor (admins)
#[utoipa::path(
    post,
    path = "/auth/editors",
    operation_id = "createEditor",
    security(("bearer" = [])),
    request_body = RawNewEditor,
    responses(
        (status = 201, description = "Created", body = EditorView, headers(
            ("Location" = String, description = "The new editor: /auth/editors/{id}")
        )),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 503, response = ServiceUnavailable),
        BodyErrors,
    )
)]
pub async fn create_editor(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Admin,
    body: JsonBody<RawNewEditor>,
) -> Result<HttpResponse, AuthError> {
    let ctx = Ctx::of(&req, &state);
    let new = NewEditor::parse(body.0).map_err(AuthError::Validation)?;
    let mut client = state.pool.get().await?;
    active_admin(&client, &caller).await?;
    let hash = hash_password(&state, new.password()).await?;
    let tx = client.transaction().await?;
    let editor = editors::insert(&tx, &new, &hash).await?;
    let mut event = ctx.event(Some(caller.0.id), "editor_created", Some(editor.id));
    event.details = json!({ "role": editor.role });
    audit::record(&tx, event).await?;
    tx.commit().await?;
    let location = format!("/auth/editors/{}", editor.id);
    Ok(no_store(
        HttpResponse::Created()
            .insert_header((header::LOCATION, location))
            .json(editor),
    ))
}

/// Ids in paths: anything but a positive integer names no editor.
fn parse_id(raw: &str) -> Result<i64, AuthError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(AuthError::NotFound)
}

/// One editor (admins)
#[utoipa::path(
    get,
    path = "/auth/editors/{id}",
    operation_id = "getEditor",
    security(("bearer" = [])),
    params(EditorId),
    responses(
        (status = 200, description = "The editor", body = EditorView),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = ServiceUnavailable),
    )
)]
pub async fn get_editor(
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

/// The `{id}` of `/auth/editors/{id}`, as documented (the handlers take
/// it as text: see [`parse_id`]).
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[expect(dead_code, reason = "only documents the path parameter")]
struct EditorId(#[param(minimum = 1, example = 2)] i64);

/// Change name, role or disabled (admins); disabling revokes refresh tokens
///
/// Admins cannot disable or demote themselves, so the last admin cannot
/// lock everyone out by accident.
#[utoipa::path(
    patch,
    path = "/auth/editors/{id}",
    operation_id = "patchEditor",
    security(("bearer" = [])),
    params(EditorId),
    request_body = RawEditorPatch,
    responses(
        (status = 200, description = "The changed editor", body = EditorView),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 503, response = ServiceUnavailable),
        BodyErrors,
    )
)]
pub async fn patch_editor(
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
    refuse_self_lockout(&caller, id, &patch)?;
    let tx = client.transaction().await?;
    let editor = update_editor(&tx, id, &patch)
        .await?
        .ok_or(AuthError::NotFound)?;
    let mut revoked = 0;
    if patch.disabled() == Some(true) {
        revoked = editors::revoke_all_refresh_tokens(&tx, id).await?;
    }
    let mut event = ctx.event(Some(caller.0.id), "editor_updated", Some(id));
    event.details = json!({
        "name": patch.name().is_some(),
        "role": patch.role(),
        "disabled": patch.disabled(),
        "revoked_refresh_tokens": revoked,
    });
    audit::record(&tx, event).await?;
    tx.commit().await?;
    Ok(no_store(HttpResponse::Ok().json(editor)))
}

fn refuse_self_lockout(caller: &Admin, id: i64, patch: &EditorPatch) -> Result<(), AuthError> {
    let locks_out = patch.disabled() == Some(true) || patch.role() == Some(Role::Editor);
    if id == caller.0.id && locks_out {
        return Err(AuthError::Conflict(
            "admins cannot disable or demote themselves",
        ));
    }
    Ok(())
}

/// Applies the fields the patch sets; `None` when there is no such editor.
/// Disabling keeps the first time an account was disabled.
async fn update_editor(
    client: &impl GenericClient,
    id: i64,
    patch: &EditorPatch,
) -> Result<Option<EditorView>, AuthError> {
    let stmt = client
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
    let name = patch.name().map(|n| n.as_str());
    let role = patch.role().map(|r| r.as_str());
    let disabled = patch.disabled();
    client
        .query_opt(&stmt, &[&id, &name, &role, &disabled])
        .await?
        .map(|row| EditorView::from_row(&row))
        .transpose()
}

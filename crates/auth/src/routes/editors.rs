//! Editor administration (admins only): `GET`/`POST /auth/editors`,
//! `GET`/`PATCH /auth/editors/{id}`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::GenericClient;
use domain::{EditorPatch, NewEditor, RawEditorPatch, RawNewEditor, Role};
use platform::audit;
use platform::bearer::Admin;
use platform::http::JsonBody;
use serde_json::json;
use utoipa::IntoParams;

use super::paging::{ListQuery, PageRequest, page_of};
use super::{Ctx, active_admin, hash_password, named_editor, no_store, parse_id};
use crate::editors::{self, COLUMNS, EditorView};
use crate::error::AuthError;
use crate::openapi::{BadRequest, BodyErrors, Conflict, NotFound, SignedIn};
use crate::startup::State;

page_of!(
    /// A page of editors, oldest first.
    EditorPage,
    EditorView
);

/// List editors (admins), oldest first
#[utoipa::path(
    get,
    path = "/auth/editors",
    operation_id = "listEditors",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of editors", body = EditorPage),
        (status = 400, response = BadRequest),
        SignedIn,
    )
)]
pub async fn list_editors(
    state: web::Data<State>,
    caller: Admin,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AuthError> {
    let ListQuery { limit, cursor } = query.into_inner();
    let request = PageRequest::parse(
        &state.keys.cursors,
        "editors".into(),
        limit.as_deref(),
        cursor.as_deref(),
    )?;
    let client = state.pool.get().await?;
    active_admin(&client, &caller).await?;
    let page = editors_after(&client, &request).await?;
    Ok(no_store(HttpResponse::Ok().json(page)))
}

/// A page of editors with ids above the previous page's (keyset
/// pagination: stable while editors are added).
async fn editors_after(
    client: &impl GenericClient,
    request: &PageRequest<'_>,
) -> Result<EditorPage, AuthError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM editors WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .await?;
    let after = request.from.unwrap_or(0);
    let rows = client.query(&stmt, &[&after, &request.fetch()]).await?;
    let editors = rows
        .iter()
        .map(EditorView::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(request.page(editors, |e| e.id))
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
        (status = 409, response = Conflict),
        SignedIn,
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

/// One editor (admins)
#[utoipa::path(
    get,
    path = "/auth/editors/{id}",
    operation_id = "getEditor",
    security(("bearer" = [])),
    params(EditorId),
    responses(
        (status = 200, description = "The editor", body = EditorView),
        (status = 404, response = NotFound),
        SignedIn,
    )
)]
pub async fn get_editor(
    state: web::Data<State>,
    caller: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, AuthError> {
    let client = state.pool.get().await?;
    active_admin(&client, &caller).await?;
    let editor = named_editor(&client, &id).await?;
    Ok(no_store(HttpResponse::Ok().json(editor)))
}

/// The `{id}` of `/auth/editors/{id}`, as documented (the handlers take
/// it as text: see `parse_id`).
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[expect(dead_code, reason = "only documents the path parameter")]
pub struct EditorId(#[param(minimum = 1, example = 2)] i64);

/// Change name, role or disabled (admins); disabling ends every session
///
/// Disabling revokes the editor's refresh tokens and any pending password
/// reset. Admins cannot disable or demote themselves, so the last admin cannot
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
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        SignedIn,
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
    let id = parse_id(&id, "editor")?;
    let patch = EditorPatch::parse(body.0).map_err(AuthError::Validation)?;
    let mut client = state.pool.get().await?;
    active_admin(&client, &caller).await?;
    refuse_self_lockout(&caller, id, &patch)?;
    let tx = client.transaction().await?;
    let editor = update_editor(&tx, id, &patch)
        .await?
        .ok_or(AuthError::NotFound("editor"))?;
    let mut revoked = 0;
    if patch.disabled() == Some(true) {
        revoked = editors::end_access(&tx, id).await?;
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

//! `GET /reviews` and `GET /reviews/{id}`: an editor's own reviews, drafts
//! included (admins: everyone's), read from the primary so that an editor
//! always sees their latest write.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use domain::Role;
use platform::bearer::Editor;
use platform::content::{REVIEW_FROM, REVIEW_LIST_COLUMNS, ReviewListItem, ReviewPage, ReviewView};
use serde::Deserialize;

use super::{active_editor, load_view, parse_id};
use crate::answer::etag;
use crate::error::WriteError;
use crate::openapi;
use crate::startup::State;

/// One of the caller's reviews (admins: any)
///
/// Drafts included, read from the primary: an editor always sees their
/// latest write. `ETag` is the version `If-Match` takes.
#[utoipa::path(
    get,
    path = "/reviews/{id}",
    operation_id = "getOwnReview",
    tag = "reviews",
    params(openapi::ReviewId),
    responses(
        (status = 200, response = inline(openapi::OwnReview)),
        openapi::ReviewReadRefusals,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn read(
    state: web::Data<State>,
    caller: Editor,
    id: web::Path<String>,
) -> Result<HttpResponse, WriteError> {
    let id = parse_id(&id)?;
    let client = state.pool.get().await?;
    let role = active_editor(&client, &caller).await?;
    let view = load_view(&client, id, &state.settings.content.public_base_url).await?;
    if view.editor.id != caller.id && role != Role::Admin {
        return Err(WriteError::Forbidden(
            "this review belongs to another editor",
        ));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::ETAG, etag(view.version)))
        .json(view))
}

/// Page size when `limit` is not given.
const DEFAULT_LIMIT: i64 = 20;
/// The largest page `limit` may ask for.
const MAX_LIMIT: i64 = 100;

/// The query of `GET /reviews`. Both are text so that a bad value is a 400
/// naming the parameter, not the extractor's generic error.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    // The bounds of `page_limit`.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = json!(DEFAULT_LIMIT))]
    limit: Option<String>,
    cursor: Option<String>,
}

/// The caller's reviews, drafts included (admins: all), newest first
///
/// A page of at most `limit` reviews; `next_cursor`, null on the last page,
/// asks for the next one.
#[utoipa::path(
    get,
    path = "/reviews",
    operation_id = "listOwnReviews",
    tag = "reviews",
    params(ListQuery),
    responses(
        (status = 200, description = "A page (items without body)", body = ReviewPage),
        (status = 400, response = openapi::BadRequest),
        (status = 401, response = openapi::Unauthorized),
        (status = 403, response = openapi::Forbidden),
        (status = 503, response = openapi::ServiceUnavailable),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list(
    state: web::Data<State>,
    caller: Editor,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, WriteError> {
    let limit = page_limit(query.limit.as_deref())?;
    let client = state.pool.get().await?;
    let all = active_editor(&client, &caller).await? == Role::Admin;
    // The scope ties a cursor to this caller and this view of the list.
    let scope = format!(
        "reviews:{}:{}:v1",
        caller.id,
        if all { "all" } else { "own" }
    );
    let before: i64 = match query.cursor.as_deref() {
        None => i64::MAX,
        Some(cursor) => state
            .cursors
            .decode(&scope, cursor)
            .map_err(|_| WriteError::InvalidCursor)?,
    };
    let url_base = &state.settings.content.public_base_url;
    let mut data = newest_before(&client, &caller, all, before, limit + 1, url_base).await?;
    // One more row than the page holds says whether another page follows.
    let next_cursor = if data.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        data.pop();
        data.last()
            .map(|last| state.cursors.encode(&scope, &last.0.id))
    } else {
        None
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ReviewPage { data, next_cursor }))
}

fn page_limit(raw: Option<&str>) -> Result<i64, WriteError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or(WriteError::InvalidParameter(
                "limit",
                "must be an integer from 1 to 100",
            )),
    }
}

/// Up to `count` live reviews with an id below `before`, newest first: the
/// caller's, or everyone's when `all`.
async fn newest_before(
    client: &deadpool_postgres::Client,
    caller: &Editor,
    all: bool,
    before: i64,
    count: i64,
    url_base: &str,
) -> Result<Vec<ReviewListItem>, WriteError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {REVIEW_LIST_COLUMNS} FROM {REVIEW_FROM}
              WHERE r.deleted_at IS NULL AND ($1 OR r.editor_id = $2) AND r.id < $3
              ORDER BY r.id DESC LIMIT $4"
        ))
        .await?;
    let rows = client
        .query(&stmt, &[&all, &caller.id, &before, &count])
        .await?;
    let items = rows
        .iter()
        .map(|row| ReviewView::from_row(row, url_base, false).map(ReviewListItem))
        .collect::<Result<_, _>>()?;
    Ok(items)
}

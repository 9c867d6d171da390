//! An editor's audit trail: `GET /auth/me/audit` (the caller's own) and
//! `GET /auth/editors/{id}/audit` (admins). The trail is every `audit_log`
//! row the editor did (actor) and every row about their account (entity
//! `editor`), newest first, filtered by action and time.
//!
//! Rows are shown without `details`: those are free-form, and some hold
//! what no trail should show (the hash prefix of a failed login's email).
//! No row holds a password, a token or a token's hash.

use std::net::IpAddr;

use actix_web::{HttpResponse, web};
use deadpool_postgres::GenericClient;
use domain::{AuditAction, Period};
use platform::bearer::{Admin, Editor};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_postgres::Row;
use utoipa::openapi::KnownFormat;
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{IntoParams, ToSchema};

use super::editors::EditorId;
use super::paging::{PageRequest, page_of};
use super::{active_account, active_admin, named_editor, no_store, parse_id};
use crate::error::AuthError;
use crate::openapi::{BadRequest, NotFound, SignedIn};
use crate::startup::State;

/// The query of a trail, as received; checked by [`Filters::parse`].
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only rows of this action, such as `login_succeeded`
    #[param(value_type = Option<String>, pattern = "^[a-z_]{1,100}$", nullable = false)]
    action: Option<String>,
    #[param(schema_with = since)]
    since: Option<String>,
    #[param(schema_with = until)]
    until: Option<String>,
    /// Rows per page
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 50, nullable = false)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page
    #[param(nullable = false)]
    cursor: Option<String>,
}

fn since() -> Schema {
    instant("Rows at or after this time: RFC 3339, or YYYY-MM-DD (UTC midnight)")
}

fn until() -> Schema {
    instant(
        "Rows at or before this time, not before `since`: RFC 3339, or YYYY-MM-DD (UTC midnight)",
    )
}

/// A time as the query takes it: a date or a date-time. (A parameter
/// whose schema is made here gets no description of its own.)
fn instant(description: &str) -> Schema {
    let string = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
    };
    AnyOfBuilder::new()
        .item(string(KnownFormat::Date))
        .item(string(KnownFormat::DateTime))
        .description(Some(description))
        .into()
}

/// One row of a trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    id: i64,
    /// Who did it; null for an anonymous client or an operator command
    #[schema(required = true)]
    actor_id: Option<i64>,
    /// What was done, such as `login_succeeded` or `editor_updated`
    action: String,
    /// What kind of thing it was done to: `editor`, `review`
    entity: String,
    /// The id of that thing, as recorded (text); null when none
    #[schema(required = true)]
    entity_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    /// The `X-Request-Id` of the request that did it
    #[schema(required = true)]
    request_id: Option<String>,
    /// The client's address (IPv4 or IPv6); null when unknown
    #[schema(value_type = Option<String>, required = true)]
    client_ip: Option<IpAddr>,
}

impl AuditEntry {
    fn from_row(row: &Row) -> Result<Self, AuthError> {
        Ok(Self {
            id: row.try_get("id")?,
            actor_id: row.try_get("actor_id")?,
            action: row.try_get("action")?,
            entity: row.try_get("entity")?,
            entity_id: row.try_get("entity_id")?,
            at: row.try_get("at")?,
            request_id: row.try_get("request_id")?,
            client_ip: row.try_get("client_ip")?,
        })
    }
}

page_of!(
    /// A page of a trail, newest first.
    AuditPage,
    AuditEntry
);

/// The caller's own trail, newest first
#[utoipa::path(
    get,
    path = "/auth/me/audit",
    operation_id = "myAuditTrail",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of the trail", body = AuditPage),
        (status = 400, response = BadRequest),
        SignedIn,
    )
)]
pub async fn mine(
    state: web::Data<State>,
    caller: Editor,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AuthError> {
    let filters = Filters::parse(&state, caller.id, query.into_inner())?;
    let client = state.pool.get().await?;
    active_account(&client, &caller).await?;
    trail(&client, caller.id, &filters).await
}

/// An editor's trail, newest first (admins)
///
/// What the editor did, and what was done to their account (by admins,
/// operator commands or failed attempts naming it).
#[utoipa::path(
    get,
    path = "/auth/editors/{id}/audit",
    operation_id = "editorAuditTrail",
    security(("bearer" = [])),
    params(EditorId, AuditQuery),
    responses(
        (status = 200, description = "A page of the trail", body = AuditPage),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        SignedIn,
    )
)]
pub async fn of_editor(
    state: web::Data<State>,
    caller: Admin,
    id: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AuthError> {
    let owner = parse_id(&id, "editor")?;
    let filters = Filters::parse(&state, owner, query.into_inner())?;
    let client = state.pool.get().await?;
    active_admin(&client, &caller).await?;
    named_editor(&client, &id).await?;
    trail(&client, owner, &filters).await
}

/// What a trail request asks for, checked.
struct Filters<'k> {
    action: Option<AuditAction>,
    period: Period,
    page: PageRequest<'k>,
}

impl<'k> Filters<'k> {
    fn parse(state: &'k State, owner: i64, query: AuditQuery) -> Result<Self, AuthError> {
        let invalid = |name, why: domain::Invalid| {
            AuthError::InvalidParameter(name, why.message().to_owned())
        };
        let action = (query.action.as_deref().map(AuditAction::parse))
            .transpose()
            .map_err(|why| invalid("action", why))?;
        let period = Period::parse(query.since.as_deref(), query.until.as_deref())
            .map_err(|(name, why)| invalid(name, why))?;
        // A cursor pages one editor's trail under one set of filters.
        let nanos = |at: Option<OffsetDateTime>| at.map(OffsetDateTime::unix_timestamp_nanos);
        let scope = format!(
            "audit:{owner}:{:?}:{:?}:{:?}",
            action.as_ref().map(AuditAction::as_str),
            nanos(period.since()),
            nanos(period.until()),
        );
        let (limit, cursor) = (query.limit.as_deref(), query.cursor.as_deref());
        let page = PageRequest::parse(&state.keys.cursors, scope, limit, cursor)?;
        Ok(Self {
            action,
            period,
            page,
        })
    }
}

/// A page of `owner`'s trail: the newest rows they did and the newest rows
/// about them, each an index range, merged.
async fn trail(
    client: &impl GenericClient,
    owner: i64,
    filters: &Filters<'_>,
) -> Result<HttpResponse, AuthError> {
    const ROWS: &str = "SELECT id, actor_id, action, entity, entity_id, at, request_id, client_ip
                          FROM audit_log";
    const FILTERS: &str = "id < $3 AND ($4::text IS NULL OR action = $4)
                           AND ($5::timestamptz IS NULL OR at >= $5)
                           AND ($6::timestamptz IS NULL OR at <= $6)";
    let stmt = client
        .prepare_cached(&format!(
            "({ROWS} WHERE actor_id = $1 AND {FILTERS} ORDER BY id DESC LIMIT $7)
             UNION
             ({ROWS} WHERE entity = 'editor' AND entity_id = $2 AND {FILTERS}
              ORDER BY id DESC LIMIT $7)
             ORDER BY id DESC LIMIT $7"
        ))
        .await?;
    let page = &filters.page;
    let action = filters.action.as_ref().map(AuditAction::as_str);
    let (since, until) = (filters.period.since(), filters.period.until());
    let before = page.from.unwrap_or(i64::MAX);
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
        &owner,
        &owner.to_string(),
        &before,
        &action,
        &since,
        &until,
        &page.fetch(),
    ];
    let rows = client.query(&stmt, &params).await?;
    let entries = rows
        .iter()
        .map(AuditEntry::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let page: AuditPage = page.page(entries, |e| e.id);
    Ok(no_store(HttpResponse::Ok().json(page)))
}

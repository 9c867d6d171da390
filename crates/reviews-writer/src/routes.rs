//! The reviews-writer endpoints of SPEC §4.

use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use deadpool_postgres::{GenericClient, Transaction};
use domain::{IdempotencyKey, NewReview, RawNewReview, RawReviewPatch, ReviewPatch, Role};
use platform::audit::{self, Event};
use platform::bearer::Editor;
use platform::consistency::{ConsistencyToken, Lsn};
use platform::content::{REVIEW_COLUMNS, REVIEW_FROM, REVIEW_LIST_COLUMNS, ReviewView};
use platform::db::DbError;
use platform::http::{JsonBody, JsonWithDigest, client_ip, request_id_of};
use platform::surrogate::SurrogateKeys;
use serde::Deserialize;
use serde_json::json;

use crate::error::WriteError;
use crate::idempotency::{self, Lookup, StoredAnswer};
use crate::startup::State;
use crate::subjects;

pub fn configure(cfg: &mut web::ServiceConfig) {
    use platform::http::method_not_allowed as na;
    use platform::server::get_or_head;
    cfg.service(
        web::resource("/reviews")
            .route(get_or_head().to(list))
            .route(web::post().to(create))
            .default_service(web::to(|| async { na("GET, HEAD, POST") })),
    )
    .service(
        web::resource("/reviews/{id}")
            .route(get_or_head().to(read))
            .route(web::patch().to(update))
            .route(web::delete().to(retract))
            .default_service(web::to(|| async { na("GET, HEAD, PATCH, DELETE") })),
    );
}

/// The caller as the database knows them now: a token outlives a
/// disabling or a demotion, the database does not.
async fn active_editor(client: &impl GenericClient, caller: &Editor) -> Result<Role, WriteError> {
    // FOR SHARE: an admin disabling this editor waits for our write to
    // finish (or we wait for theirs), so no write slips in after it.
    let stmt = client
        .prepare_cached("SELECT role, disabled_at IS NOT NULL FROM editors WHERE id = $1 FOR SHARE")
        .await?;
    let row = client
        .query_opt(&stmt, &[&caller.id])
        .await?
        .ok_or(WriteError::Forbidden("this account no longer exists"))?;
    if row.get::<_, bool>(1) {
        return Err(WriteError::AccountDisabled);
    }
    let role: String = row.get(0);
    Role::parse(&role).map_err(|_| WriteError::internal(format!("unknown role {role}")))
}

/// Bumps the version readers key their caches by.
async fn bump_content_version(client: &impl GenericClient) -> Result<(), WriteError> {
    let stmt = client
        .prepare_cached("UPDATE content_state SET version = version + 1")
        .await?;
    client.execute(&stmt, &[]).await?;
    Ok(())
}

async fn load_view(
    client: &impl GenericClient,
    id: i64,
    url_base: &str,
) -> Result<ReviewView, WriteError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {REVIEW_COLUMNS} FROM {REVIEW_FROM} WHERE r.id = $1 AND r.deleted_at IS NULL"
        ))
        .await?;
    let row = client
        .query_opt(&stmt, &[&id])
        .await?
        .ok_or(WriteError::NotFound)?;
    Ok(ReviewView::from_row(&row, url_base, true)?)
}

/// The primary's timeline and WAL insert position, read after COMMIT: a
/// replica that has replayed past it has the write.
async fn consistency_token(state: &State, client: &impl GenericClient) -> Option<String> {
    let position = async {
        let stmt = client
            .prepare_cached(
                "SELECT ('x' || substr(pg_walfile_name(lsn), 1, 8))::bit(32)::int8, lsn::text
                   FROM (SELECT pg_current_wal_insert_lsn() AS lsn) AS p",
            )
            .await?;
        let row = client.query_one(&stmt, &[]).await?;
        Ok::<_, tokio_postgres::Error>((row.get::<_, i64>(0), row.get::<_, String>(1)))
    }
    .await;
    match position {
        Ok((timeline, lsn)) => {
            let lsn: Lsn = lsn.parse().ok()?;
            Some(state.tokens.sign(&ConsistencyToken {
                timeline: u32::try_from(timeline).ok()?,
                lsn,
                issued_at: time::OffsetDateTime::now_utc().unix_timestamp(),
            }))
        }
        // The write is committed; only the token is lost. Readers then serve
        // it as soon as it has replicated.
        Err(e) => {
            tracing::warn!(error = %e, "no consistency token after commit");
            None
        }
    }
}

/// The token of a keyed create's answer, which a 201 never lacks: when the
/// primary fails between COMMIT and reading its position, the answer is a
/// 503 with `Retry-After`, and the client's retry with the same key replays
/// the stored answer with a token (see the `idempotency` module).
fn keyed_token(token: Option<String>) -> Result<String, WriteError> {
    token.ok_or_else(|| {
        WriteError::from(DbError::Unavailable(
            "committed, but no consistency token for the answer".into(),
        ))
    })
}

fn parse_id(raw: &str) -> Result<i64, WriteError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(WriteError::NotFound)
}

fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// `If-Match: "<version>"` (or `W/"<version>"`, or `*`).
fn if_match(req: &HttpRequest) -> Result<Option<i32>, WriteError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| {
            WriteError::InvalidHeader("If-Match", "must be a quoted version such as \"3\"")
        })?
        .trim();
    if text == "*" {
        return Ok(None);
    }
    let quoted = text.strip_prefix("W/").unwrap_or(text);
    quoted
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<i32>().ok())
        .map(Some)
        .ok_or(WriteError::InvalidHeader(
            "If-Match",
            "must be a quoted version such as \"3\"",
        ))
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<IdempotencyKey>, WriteError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = WriteError::InvalidHeader(
        "Idempotency-Key",
        "must be 1 to 255 visible ASCII characters",
    );
    let text = value.to_str().map_err(|_| {
        WriteError::InvalidHeader(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )
    })?;
    IdempotencyKey::parse(text).map(Some).map_err(|_| invalid)
}

/// The answer headers of a write, in the order they are stored for replay.
fn write_headers(view: &ReviewView, location: bool) -> Vec<(String, String)> {
    let mut headers = vec![
        ("etag".to_owned(), etag(view.version)),
        ("surrogate-key".to_owned(), view.write_keys().header_value()),
    ];
    if location {
        headers.push(("location".to_owned(), format!("/content/{}", view.slug)));
    }
    headers
}

fn respond(
    status: StatusCode,
    headers: &[(String, String)],
    token: Option<&str>,
    body: Vec<u8>,
) -> HttpResponse {
    let mut res = HttpResponseBuilder::new(status);
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    for (name, value) in headers {
        res.insert_header((name.as_str(), value.as_str()));
    }
    if let Some(token) = token {
        res.insert_header(("x-consistency-token", token));
    }
    if body.is_empty() {
        res.finish()
    } else {
        res.content_type("application/json").body(body)
    }
}

fn audit_event<'a>(
    req: &HttpRequest,
    state: &State,
    request_id: &'a str,
    actor: i64,
    action: &'static str,
    id: i64,
    details: serde_json::Value,
) -> Event<'a> {
    Event {
        actor_id: Some(actor),
        action,
        entity: "review",
        entity_id: Some(id.to_string()),
        request_id,
        client_ip: client_ip(req, &state.settings.http.trusted_proxies),
        details,
    }
}

/// Counts the write by action and outcome.
fn observe<T>(state: &State, action: &str, result: &Result<T, WriteError>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    };
    state
        .metrics
        .reviews_written
        .with_label_values(&[action, outcome])
        .inc();
}

/// `POST /reviews`.
async fn create(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Editor,
    body: JsonWithDigest<RawNewReview>,
) -> Result<HttpResponse, WriteError> {
    let result = create_inner(&req, &state, &caller, body).await;
    observe(&state, "create", &result);
    result
}

async fn create_inner(
    req: &HttpRequest,
    state: &State,
    caller: &Editor,
    body: JsonWithDigest<RawNewReview>,
) -> Result<HttpResponse, WriteError> {
    let key = idempotency_key(req)?;
    let new = NewReview::parse(body.value).map_err(WriteError::Validation)?;
    let digest = body.digest;
    let request_id = request_id_of(req);
    let mut client = state.pool.get().await?;
    let mut tx = client.transaction().await?;
    active_editor(&tx, caller).await?;
    if let Some(key) = &key {
        let ttl = Duration::from_secs(state.settings.idempotency.ttl_s);
        if let Lookup::Replay(answer) =
            idempotency::begin(&tx, caller.id, key, &digest, ttl).await?
        {
            drop(tx);
            let token = keyed_token(consistency_token(state, &client).await)?;
            let mut res = respond(
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::CREATED),
                &answer.headers,
                Some(&token),
                answer.body,
            );
            res.headers_mut().insert(
                header::HeaderName::from_static("idempotent-replayed"),
                header::HeaderValue::from_static("true"),
            );
            return Ok(res);
        }
    }
    let (subject_id, _) = subjects::find_or_create(&mut tx, new.subject()).await?;
    let id = insert_review(&mut tx, &new, subject_id, caller.id).await?;
    let event = audit_event(
        req,
        state,
        &request_id,
        caller.id,
        "review_created",
        id,
        json!({ "status": new.status().as_str() }),
    );
    audit::record(&tx, event).await?;
    let view = load_view(&tx, id, &state.settings.content.public_base_url).await?;
    let body = serde_json::to_vec(&view).map_err(|e| WriteError::internal(e.to_string()))?;
    let headers = write_headers(&view, true);
    if let Some(key) = &key {
        let answer = StoredAnswer {
            status: 201,
            headers: headers.clone(),
            body: body.clone(),
        };
        idempotency::record(&tx, caller.id, key, &digest, &answer).await?;
    }
    // Last before COMMIT: the one-row counter serialises every write, so
    // its lock is held for as short a time as possible.
    bump_content_version(&tx).await?;
    tx.commit().await?;
    tracing::info!(review.id = id, editor.id = caller.id, "review created");
    let token = consistency_token(state, &client).await;
    let token = match key {
        Some(_) => Some(keyed_token(token)?),
        // No key: a 503 would invite a retry that creates the review again,
        // so the committed write is acknowledged without its token.
        None => token,
    };
    Ok(respond(
        StatusCode::CREATED,
        &headers,
        token.as_deref(),
        body,
    ))
}

async fn insert_review(
    tx: &mut Transaction<'_>,
    new: &NewReview,
    subject_id: i64,
    editor_id: i64,
) -> Result<i64, WriteError> {
    let rating = new.rating().map(domain::Rating::value);
    let image_urls = new.image_urls().to_strings();
    let row = subjects::insert_with_free_slug(
        tx,
        &new.slug(),
        "SELECT slug FROM reviews WHERE slug = ANY($1::text[])",
        "INSERT INTO reviews (slug, subject_id, editor_id, title, summary, body, rating, pros, cons,
                              image_urls, language, status, published_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7::float8, $8, $9, $10, $11, $12,
                 CASE WHEN $12 = 'published' THEN now() END)
         RETURNING id",
        &[
            &subject_id,
            &editor_id,
            &new.title().as_str(),
            &new.summary().as_str(),
            &new.body().as_str(),
            &rating,
            &new.pros().as_slice(),
            &new.cons().as_slice(),
            &image_urls,
            &new.language().as_str(),
            &new.status().as_str(),
        ],
        "reviews_slug_key",
    )
    .await?
    .ok_or_else(|| WriteError::internal("review insert returned no row"))?;
    Ok(row.get(0))
}

/// The review row a change applies to, locked for the transaction.
struct Target {
    editor_id: i64,
    version: i32,
    subject_slug: String,
}

/// Locks a live review and checks the caller may change it.
async fn lock_target(
    tx: &Transaction<'_>,
    id: i64,
    caller: &Editor,
    role: Role,
    expected: Option<i32>,
) -> Result<Target, WriteError> {
    let stmt = tx
        .prepare_cached(
            "SELECT r.editor_id, r.version, s.slug FROM reviews r JOIN subjects s ON s.id = r.subject_id
              WHERE r.id = $1 AND r.deleted_at IS NULL FOR UPDATE OF r",
        )
        .await?;
    let row = tx
        .query_opt(&stmt, &[&id])
        .await?
        .ok_or(WriteError::NotFound)?;
    let target = Target {
        editor_id: row.get(0),
        version: row.get(1),
        subject_slug: row.get(2),
    };
    if target.editor_id != caller.id && role != Role::Admin {
        return Err(WriteError::Forbidden(
            "only the author or an admin may change this review",
        ));
    }
    if expected.is_some_and(|v| v != target.version) {
        return Err(WriteError::PreconditionFailed);
    }
    Ok(target)
}

/// `PATCH /reviews/{id}`.
async fn update(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Editor,
    id: web::Path<String>,
    body: JsonBody<RawReviewPatch>,
) -> Result<HttpResponse, WriteError> {
    let result = update_inner(&req, &state, &caller, &id, body.0).await;
    observe(&state, "update", &result);
    result
}

async fn update_inner(
    req: &HttpRequest,
    state: &State,
    caller: &Editor,
    id: &str,
    raw: RawReviewPatch,
) -> Result<HttpResponse, WriteError> {
    let id = parse_id(id)?;
    let expected = if_match(req)?;
    let patch = ReviewPatch::parse(raw).map_err(WriteError::Validation)?;
    let request_id = request_id_of(req);
    let mut client = state.pool.get().await?;
    let mut tx = client.transaction().await?;
    let role = active_editor(&tx, caller).await?;
    let target = lock_target(&tx, id, caller, role, expected).await?;
    let url_base = &state.settings.content.public_base_url;
    if patch.is_empty() {
        // Nothing to change: the review as it is, version untouched.
        let view = load_view(&tx, id, url_base).await?;
        tx.commit().await?;
        let body = serde_json::to_vec(&view).map_err(|e| WriteError::internal(e.to_string()))?;
        let token = consistency_token(state, &client).await;
        return Ok(respond(
            StatusCode::OK,
            &write_headers(&view, false),
            token.as_deref(),
            body,
        ));
    }
    let subject_id = match patch.subject() {
        Some(subject) => Some(subjects::find_or_create(&mut tx, subject).await?.0),
        None => None,
    };
    let rating = patch.rating();
    let image_urls = patch.image_urls().map(domain::ImageUrls::to_strings);
    let stmt = tx
        .prepare_cached(
            "UPDATE reviews SET
                 subject_id = coalesce($2, subject_id),
                 title = coalesce($3, title),
                 summary = coalesce($4, summary),
                 body = coalesce($5, body),
                 rating = CASE WHEN $6 THEN $7::float8 ELSE rating END,
                 pros = coalesce($8, pros),
                 cons = coalesce($9, cons),
                 image_urls = coalesce($10, image_urls),
                 language = coalesce($11, language),
                 status = coalesce($12, status),
                 published_at = CASE WHEN coalesce($12, status) = 'published'
                                     THEN coalesce(published_at, now()) END,
                 version = version + 1,
                 updated_at = now()
              WHERE id = $1",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &id,
            &subject_id,
            &patch.title().map(|t| t.as_str()),
            &patch.summary().map(|s| s.as_str()),
            &patch.body().map(|b| b.as_str()),
            &rating.is_some(),
            &rating.flatten().map(domain::Rating::value),
            &patch.pros().map(domain::ListItems::as_slice),
            &patch.cons().map(domain::ListItems::as_slice),
            &image_urls,
            &patch.language().map(|l| l.as_str()),
            &patch.status().map(|s| s.as_str()),
        ],
    )
    .await?;
    let view = load_view(&tx, id, url_base).await?;
    let event = audit_event(
        req,
        state,
        &request_id,
        caller.id,
        "review_updated",
        id,
        json!({ "version": view.version, "author_id": target.editor_id }),
    );
    audit::record(&tx, event).await?;
    bump_content_version(&tx).await?;
    tx.commit().await?;
    tracing::info!(review.id = id, editor.id = caller.id, "review updated");
    let body = serde_json::to_vec(&view).map_err(|e| WriteError::internal(e.to_string()))?;
    let mut headers = write_headers(&view, false);
    if target.subject_slug != view.subject.slug {
        // Both the old and the new subject pages change.
        headers[1]
            .1
            .push_str(&format!(" subject:{}", target.subject_slug));
    }
    let token = consistency_token(state, &client).await;
    Ok(respond(StatusCode::OK, &headers, token.as_deref(), body))
}

/// `DELETE /reviews/{id}`: retraction, a soft delete.
async fn retract(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Editor,
    id: web::Path<String>,
) -> Result<HttpResponse, WriteError> {
    let result = retract_inner(&req, &state, &caller, &id).await;
    observe(&state, "retract", &result);
    result
}

async fn retract_inner(
    req: &HttpRequest,
    state: &State,
    caller: &Editor,
    id: &str,
) -> Result<HttpResponse, WriteError> {
    let id = parse_id(id)?;
    let expected = if_match(req)?;
    let request_id = request_id_of(req);
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let role = active_editor(&tx, caller).await?;
    let target = lock_target(&tx, id, caller, role, expected).await?;
    let stmt = tx
        .prepare_cached(
            "UPDATE reviews SET deleted_at = now(), version = version + 1, updated_at = now() WHERE id = $1",
        )
        .await?;
    tx.execute(&stmt, &[&id]).await?;
    let event = audit_event(
        req,
        state,
        &request_id,
        caller.id,
        "review_retracted",
        id,
        json!({ "author_id": target.editor_id }),
    );
    audit::record(&tx, event).await?;
    bump_content_version(&tx).await?;
    tx.commit().await?;
    tracing::info!(review.id = id, editor.id = caller.id, "review retracted");
    let headers = vec![(
        "surrogate-key".to_owned(),
        SurrogateKeys::review_write(id, &target.subject_slug).header_value(),
    )];
    let token = consistency_token(state, &client).await;
    Ok(respond(
        StatusCode::NO_CONTENT,
        &headers,
        token.as_deref(),
        Vec::new(),
    ))
}

/// `GET /reviews/{id}`: one of the caller's reviews (admins: any).
async fn read(
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(serde::Serialize)]
struct Page {
    data: Vec<ReviewView>,
    next_cursor: Option<String>,
}

/// `GET /reviews`: the caller's reviews, drafts included (admins: all),
/// newest first, keyset-paginated by id.
async fn list(
    state: web::Data<State>,
    caller: Editor,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, WriteError> {
    let limit: i64 = match query.limit.as_deref() {
        None => 20,
        Some(raw) => raw.parse().ok().filter(|n| (1..=100).contains(n)).ok_or(
            WriteError::InvalidParameter("limit", "must be an integer from 1 to 100"),
        )?,
    };
    let client = state.pool.get().await?;
    let role = active_editor(&client, &caller).await?;
    let all = role == Role::Admin;
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
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {REVIEW_LIST_COLUMNS} FROM {REVIEW_FROM}
              WHERE r.deleted_at IS NULL AND ($1 OR r.editor_id = $2) AND r.id < $3
              ORDER BY r.id DESC LIMIT $4"
        ))
        .await?;
    let rows = client
        .query(&stmt, &[&all, &caller.id, &before, &(limit + 1)])
        .await?;
    let url_base = &state.settings.content.public_base_url;
    let mut data = rows
        .iter()
        .map(|row| ReviewView::from_row(row, url_base, false))
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if data.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        data.pop();
        data.last()
            .map(|last| state.cursors.encode(&scope, &last.id))
    } else {
        None
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Page { data, next_cursor }))
}

//! `POST /reviews`: a new review, its subject created in the catalog on
//! first use, replayed instead when its `Idempotency-Key` has been seen
//! (see the `idempotency` module).

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::{Client, Transaction};
use domain::{IdempotencyKey, NewReview, RawNewReview};
use platform::bearer::Editor;
use platform::db::DbError;
use platform::http::JsonWithDigest;
use serde_json::json;

use super::{
    AuditEntry, active_editor, after_commit, consistency_token, load_view, observe, record_audit,
    record_change,
};
use crate::answer::{WriteAnswer, WriteHeaders};
use crate::changed::{self, Facts};
use crate::error::WriteError;
use crate::idempotency::{self, Lookup};
use crate::openapi;
use crate::startup::State;
use crate::subjects;

/// Create a review; the subject is created in the catalog on first use
///
/// The subject is named by kind, brand and model; its specs must fit its
/// kind. A future `publish_at` schedules the review: status `scheduled`,
/// public in every region from that instant on. The answer is the review
/// as readers will see it, with where they find it (`Location`), what a
/// CDN must purge (`Surrogate-Key`) and the token that lets any reader
/// serve this editor their own write.
#[utoipa::path(
    post,
    path = "/reviews",
    operation_id = "createReview",
    tag = "reviews",
    params((
        "Idempotency-Key" = Option<String>,
        Header,
        nullable = false,
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$",
        description = "Same key and same JSON document within 24 h replays the first answer \
            (Idempotent-Replayed: true); another body → 422; while the first is in flight → \
            409. Per editor."
    )),
    request_body = RawNewReview,
    responses(
        (status = 201, response = inline(openapi::Created)),
        (status = 400, response = openapi::BadRequest),
        (status = 401, response = openapi::Unauthorized),
        (status = 403, response = openapi::Forbidden),
        (status = 409, response = openapi::Conflict),
        (status = 413, response = openapi::PayloadTooLarge),
        (status = 415, response = openapi::UnsupportedMediaType),
        (status = 422, response = openapi::UnprocessableEntity),
        (status = 503, response = openapi::ServiceUnavailable),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Editor,
    body: JsonWithDigest<RawNewReview>,
) -> Result<HttpResponse, WriteError> {
    let result = create_review(&req, &state, &caller, body).await;
    observe(&state, "create", &result);
    result
}

async fn create_review(
    req: &HttpRequest,
    state: &State,
    caller: &Editor,
    body: JsonWithDigest<RawNewReview>,
) -> Result<HttpResponse, WriteError> {
    let key = idempotency_key(req)?;
    let digest = body.digest;
    let now = time::OffsetDateTime::now_utc();
    let new = NewReview::parse(body.value, now).map_err(WriteError::Validation)?;
    let mut client = state.pool.get().await?;
    let mut tx = client.transaction().await?;
    active_editor(&tx, caller).await?;
    if let Some(key) = &key {
        let ttl = Duration::from_secs(state.settings.idempotency.ttl_s);
        if let Lookup::Replay(first) = idempotency::begin(&tx, caller.id, key, &digest, ttl).await?
        {
            drop(tx);
            return replay(state, &client, first).await;
        }
    }
    let (id, answer) = write_review(&mut tx, req, state, caller, &new).await?;
    if let Some(key) = &key {
        idempotency::record(&tx, caller.id, key, &digest, &answer).await?;
    }
    record_change(&tx, &answer.headers.surrogate_keys).await?;
    tx.commit().await?;
    tracing::info!(review.id = id, editor.id = caller.id, "review created");
    let token = after_commit(state, &mut client, id).await;
    let token = match key {
        Some(_) => Some(keyed_token(token)?),
        // No key: a 503 would invite a retry that creates the review again,
        // so the committed write is acknowledged without its token.
        None => token,
    };
    Ok(answer.send(token.as_deref()))
}

/// Inserts the review and its audit entry; returns its id and the answer.
async fn write_review(
    tx: &mut Transaction<'_>,
    req: &HttpRequest,
    state: &State,
    caller: &Editor,
    new: &NewReview,
) -> Result<(i64, WriteAnswer), WriteError> {
    let id = insert_review(tx, new, caller.id).await?;
    let publish_at = new
        .publication()
        .publish_at()
        .map(domain::format_publish_at);
    let entry = AuditEntry {
        action: "review_created",
        review_id: id,
        details: json!({ "status": new.status().as_str(), "publish_at": publish_at }),
    };
    record_audit(tx, req, state, caller, entry).await?;
    let view = load_view(&*tx, id, &state.settings.content.public_base_url).await?;
    let keys = changed::keys(id, None, Some(&Facts::load(&*tx, id).await?));
    let headers = WriteHeaders::created(&view, keys);
    let answer = WriteAnswer::with_view(StatusCode::CREATED, headers, &view)?;
    Ok((id, answer))
}

/// `Idempotency-Key`, if the request has one.
fn idempotency_key(req: &HttpRequest) -> Result<Option<IdempotencyKey>, WriteError> {
    let invalid = || {
        WriteError::InvalidHeader(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        )
    };
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| invalid())?;
    IdempotencyKey::parse(text).map(Some).map_err(|_| invalid())
}

/// The first answer to this key, sent again with a fresh token.
async fn replay(
    state: &State,
    client: &Client,
    first: WriteAnswer,
) -> Result<HttpResponse, WriteError> {
    let token = keyed_token(consistency_token(state, client).await)?;
    Ok(first.replay(&token))
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

/// Inserts the review, and its subject if the catalog lacks it, under the
/// first free slug its title gives. A scheduled review shows its
/// `publish_at` as its publication date; a published one, now.
async fn insert_review(
    tx: &mut Transaction<'_>,
    new: &NewReview,
    editor_id: i64,
) -> Result<i64, WriteError> {
    let (subject_id, _) = subjects::find_or_create(tx, new.subject()).await?;
    let rating = new.rating().map(domain::Rating::value);
    let image_urls = new.image_urls().to_strings();
    let row = subjects::insert_with_free_slug(
        tx,
        &new.slug(),
        "SELECT slug FROM reviews WHERE slug = ANY($1::text[])",
        "INSERT INTO reviews (slug, subject_id, editor_id, title, summary, body, rating, pros, cons,
                              image_urls, language, status, publish_at, published_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7::float8, $8, $9, $10, $11, $12::text, $13::timestamptz,
                 CASE $12::text WHEN 'published' THEN now() WHEN 'scheduled' THEN $13 END)
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
            &new.publication().publish_at(),
        ],
        "reviews_slug_key",
    )
    .await?
    .ok_or_else(|| WriteError::internal("review insert returned no row"))?;
    Ok(row.get(0))
}

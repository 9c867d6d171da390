//! `PATCH /reviews/{id}`: a partial update by the author or an admin, at
//! the version `If-Match` names if any.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::Transaction;
use domain::{RawReviewPatch, ReviewPatch};
use platform::bearer::Editor;
use platform::content::ReviewView;
use platform::http::JsonBody;
use platform::surrogate::SurrogateKeys;
use serde_json::json;

use super::{
    AuditEntry, active_editor, answer_committed, consistency_token, if_match, load_view,
    lock_target, observe, parse_id, record_audit, record_change,
};
use crate::answer::{WriteAnswer, WriteHeaders};
use crate::changed::{self, Facts};
use crate::error::WriteError;
use crate::openapi;
use crate::startup::State;
use crate::subjects;

/// Partial update by the author or an admin; rating: null clears the rating
///
/// Absent fields are left as they are. An empty body changes nothing and
/// answers the review as it is. A future `publish_at` schedules the review
/// (even a published one, until then); `publish_at` null or past, or
/// status `published`, publishes it now; status `draft` unschedules it.
#[utoipa::path(
    patch,
    path = "/reviews/{id}",
    operation_id = "updateReview",
    tag = "reviews",
    params(openapi::ReviewId, openapi::IfMatch),
    request_body = RawReviewPatch,
    responses(
        (status = 200, response = inline(openapi::Changed)),
        (status = 400, response = openapi::BadRequest),
        (status = 401, response = openapi::Unauthorized),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 412, response = openapi::PreconditionFailed),
        (status = 413, response = openapi::PayloadTooLarge),
        (status = 415, response = openapi::UnsupportedMediaType),
        (status = 422, response = openapi::UnprocessableEntity),
        (status = 503, response = openapi::ServiceUnavailable),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn update(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Editor,
    id: web::Path<String>,
    body: JsonBody<RawReviewPatch>,
) -> Result<HttpResponse, WriteError> {
    let result = update_review(&req, &state, &caller, &id, body.0).await;
    observe(&state, "update", &result);
    result
}

async fn update_review(
    req: &HttpRequest,
    state: &State,
    caller: &Editor,
    id: &str,
    raw: RawReviewPatch,
) -> Result<HttpResponse, WriteError> {
    let id = parse_id(id)?;
    let expected = if_match(req)?;
    let now = time::OffsetDateTime::now_utc();
    let patch = ReviewPatch::parse(raw, now).map_err(WriteError::Validation)?;
    let url_base = &state.settings.content.public_base_url;
    let mut client = state.pool.get().await?;
    let mut tx = client.transaction().await?;
    let role = active_editor(&tx, caller).await?;
    let target = lock_target(&tx, id, caller, role, expected).await?;
    if patch.is_empty() {
        // Nothing to change: the review as it is, version untouched.
        let view = load_view(&tx, id, url_base).await?;
        tx.commit().await?;
        let answer = changed_answer(&view, view.page_keys())?;
        let token = consistency_token(state, &client).await;
        return Ok(answer.send(token.as_deref()));
    }
    let before = Facts::load(&tx, id).await?;
    let subject_id = patch_subject(&mut tx, &patch).await?;
    apply_patch(&tx, id, subject_id, &patch).await?;
    let after = Facts::load(&tx, id).await?;
    let view = load_view(&tx, id, url_base).await?;
    let entry = AuditEntry {
        action: "review_updated",
        review_id: id,
        details: json!({ "version": view.version, "author_id": target.editor_id }),
    };
    record_audit(&tx, req, state, caller, entry).await?;
    let answer = changed_answer(&view, changed::keys(id, Some(&before), Some(&after)))?;
    record_change(&tx, &answer.headers.surrogate_keys).await?;
    tx.commit().await?;
    tracing::info!(review.id = id, editor.id = caller.id, "review updated");
    Ok(answer_committed(state, &mut client, id, answer).await)
}

fn changed_answer(view: &ReviewView, keys: SurrogateKeys) -> Result<WriteAnswer, WriteError> {
    WriteAnswer::with_view(StatusCode::OK, WriteHeaders::changed(view, keys), view)
}

/// The catalog id of the subject the patch moves the review to, if any,
/// created on first use.
async fn patch_subject(
    tx: &mut Transaction<'_>,
    patch: &ReviewPatch,
) -> Result<Option<i64>, WriteError> {
    Ok(match patch.subject() {
        Some(subject) => Some(subjects::find_or_create(tx, subject).await?.0),
        None => None,
    })
}

/// The statement of [`apply_patch`]: each part left as it is when its
/// parameter is null (`$6` says whether the rating is set, `$7` to what).
///
/// Publication (`$12` status, `$13` publish time, both null when
/// unchanged): a draft has no dates; a scheduled review shows its
/// publish time as its publication date; publishing keeps the date since
/// which the review has been public (`rcr_is_public` of the row as it
/// was: published, or scheduled and lapsed), else it is now.
const APPLY_PATCH: &str = "UPDATE reviews SET
         subject_id = coalesce($2, subject_id),
         title = coalesce($3, title),
         summary = coalesce($4, summary),
         body = coalesce($5, body),
         rating = CASE WHEN $6 THEN $7::float8 ELSE rating END,
         pros = coalesce($8, pros),
         cons = coalesce($9, cons),
         image_urls = coalesce($10, image_urls),
         language = coalesce($11, language),
         status = coalesce($12::text, status),
         publish_at = CASE WHEN $12::text IS NULL THEN publish_at ELSE $13::timestamptz END,
         published_at = CASE
             WHEN $12::text IS NULL THEN published_at
             WHEN $12::text = 'draft' THEN NULL
             WHEN $12::text = 'scheduled' THEN $13::timestamptz
             WHEN rcr_is_public(status, publish_at, deleted_at) THEN published_at
             ELSE now() END,
         last_write_lsn = NULL,
         version = version + 1,
         updated_at = now()
      WHERE id = $1";

/// Writes the patch's parts over the review and bumps its version.
async fn apply_patch(
    tx: &Transaction<'_>,
    id: i64,
    subject_id: Option<i64>,
    patch: &ReviewPatch,
) -> Result<(), WriteError> {
    let rating = patch.rating();
    let image_urls = patch.image_urls().map(domain::ImageUrls::to_strings);
    let stmt = tx.prepare_cached(APPLY_PATCH).await?;
    tx.execute(
        &stmt,
        &[
            &id,
            &subject_id,
            &patch.title().map(|t| t.as_str()),
            &patch.summary().map(|s| s.as_str()),
            &patch.body().map(|b| b.as_str()),
            // Set, and to what: `Some(None)` clears the rating.
            &rating.is_some(),
            &rating.flatten().map(domain::Rating::value),
            &patch.pros().map(domain::ListItems::as_slice),
            &patch.cons().map(domain::ListItems::as_slice),
            &image_urls,
            &patch.language().map(|l| l.as_str()),
            &patch.status().map(|s| s.as_str()),
            &patch.publication().and_then(|p| p.publish_at()),
        ],
    )
    .await?;
    Ok(())
}

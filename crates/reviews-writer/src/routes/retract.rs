//! `DELETE /reviews/{id}`: retraction, a soft delete. The row stays for the
//! audit trail; readers no longer see it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::Transaction;
use platform::bearer::Editor;
use serde_json::json;

use super::{
    AuditEntry, active_editor, answer_committed, if_match, lock_target, observe, parse_id,
    record_audit, record_change,
};
use crate::answer::{WriteAnswer, WriteHeaders};
use crate::changed::{self, Facts};
use crate::error::WriteError;
use crate::openapi;
use crate::startup::State;

/// Retract (soft delete): gone from /content
///
/// By the author or an admin. A retracted review is a 404 here and in
/// `/content` from then on.
#[utoipa::path(
    delete,
    path = "/reviews/{id}",
    operation_id = "retractReview",
    tag = "reviews",
    params(openapi::ReviewId, openapi::IfMatch),
    responses(
        (status = 204, response = inline(openapi::Retracted)),
        (status = 400, response = openapi::BadRequest),
        (status = 401, response = openapi::Unauthorized),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 412, response = openapi::PreconditionFailed),
        (status = 503, response = openapi::ServiceUnavailable),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn retract(
    req: HttpRequest,
    state: web::Data<State>,
    caller: Editor,
    id: web::Path<String>,
) -> Result<HttpResponse, WriteError> {
    let result = retract_review(&req, &state, &caller, &id).await;
    observe(&state, "retract", &result);
    result
}

async fn retract_review(
    req: &HttpRequest,
    state: &State,
    caller: &Editor,
    id: &str,
) -> Result<HttpResponse, WriteError> {
    let id = parse_id(id)?;
    let expected = if_match(req)?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let role = active_editor(&tx, caller).await?;
    let target = lock_target(&tx, id, caller, role, expected).await?;
    let before = Facts::load(&tx, id).await?;
    mark_retracted(&tx, id).await?;
    let entry = AuditEntry {
        action: "review_retracted",
        review_id: id,
        details: json!({ "author_id": target.editor_id }),
    };
    record_audit(&tx, req, state, caller, entry).await?;
    let keys = changed::keys(id, Some(&before), None);
    record_change(&tx, &keys).await?;
    tx.commit().await?;
    tracing::info!(review.id = id, editor.id = caller.id, "review retracted");
    let answer = WriteAnswer::empty(StatusCode::NO_CONTENT, WriteHeaders::retracted(keys));
    Ok(answer_committed(state, &mut client, id, answer).await)
}

/// Hides the review from every reader and bumps its version, so that an
/// `If-Match` on the version before fails.
async fn mark_retracted(tx: &Transaction<'_>, id: i64) -> Result<(), WriteError> {
    let stmt = tx
        .prepare_cached(
            "UPDATE reviews SET deleted_at = now(), version = version + 1, updated_at = now(),
                                last_write_lsn = NULL
              WHERE id = $1",
        )
        .await?;
    tx.execute(&stmt, &[&id]).await?;
    Ok(())
}

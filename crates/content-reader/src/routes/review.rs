//! `GET /content/{slug or id}`: one published review with its body.

use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::Transaction;
use platform::content::ReviewView;

use crate::error::ReadError;
use crate::openapi::{ReadHeaders, ReadResponses};
use crate::queries;
use crate::routes::detail_name;
use crate::serve::{Content, Read, serve};
use crate::startup::State;

pub(crate) const PATH: &str = "/content/{slug_or_id}";

/// `GET /content/{slug or id}`.
#[utoipa::path(
    get,
    path = PATH,
    operation_id = "getReview",
    summary = "One published review with body, subject and editor name",
    params(
        ("slug_or_id" = String, Path, description = "A review's slug or its numeric id", example = "sony-a7-iv-review"),
        ReadHeaders
    ),
    responses(
        (status = 200, description = "The review", body = ReviewView),
        ReadResponses
    )
)]
pub(crate) async fn review(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ReadError> {
    let slug_or_id = detail_name(query, path, "review", could_name_a_review)?;
    let key = format!("review:{slug_or_id}");
    serve(&req, &state, key, ReadReview(slug_or_id)).await
}

/// A positive id or a valid slug; anything else names no review, and is
/// answered without a database read.
fn could_name_a_review(slug_or_id: &str) -> bool {
    match slug_or_id.parse::<i64>() {
        Ok(id) => id > 0,
        Err(_) => domain::Slug::parse(slug_or_id).is_ok(),
    }
}

/// The review named by a slug or an id.
#[derive(Debug)]
struct ReadReview(String);

impl Read for ReadReview {
    async fn read(&self, tx: &Transaction<'_>, state: &State) -> Result<Content, ReadError> {
        let review = queries::review(tx, &self.0, &state.settings.content.public_base_url)
            .await?
            .ok_or(ReadError::NotFound("review"))?;
        Ok(Content::json(&review, review.page_keys())?.unchanged_by_releases())
    }
}

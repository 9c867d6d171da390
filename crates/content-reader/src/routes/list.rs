//! `GET /content`: published reviews, filtered, searched, sorted and paged.

use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::Transaction;
use platform::content::{ReviewListItem, ReviewPage};
use platform::surrogate::SurrogateKeys;

use crate::error::ReadError;
use crate::params;
use crate::queries::{self, ReviewList};
use crate::routes::paging;
use crate::serve::{Content, Read, serve};
use crate::startup::State;

pub(crate) const PATH: &str = "/content";

/// `GET /content`.
pub(crate) async fn list(
    req: HttpRequest,
    state: web::Data<State>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ReadError> {
    let params = params::collect(query.into_inner(), params::LIST_PARAMS)?;
    let (filters, sort, limit) = params::list(&params)?;
    let (key, scope, after) = paging(&state, "list", &params)?;
    let list = ReviewList {
        filters,
        sort,
        limit,
        after,
    };
    let read = ListReviews { list, scope };
    serve(&req, &state, key, read).await
}

/// One page of the list, and the cursor scope its next cursor is signed
/// for.
#[derive(Debug)]
struct ListReviews {
    list: ReviewList,
    scope: String,
}

impl Read for ListReviews {
    async fn read(&self, tx: &Transaction<'_>, state: &State) -> Result<Content, ReadError> {
        let url_base = &state.settings.content.public_base_url;
        let page = queries::list_reviews(tx, &self.list, url_base).await?;
        let answer = ReviewPage {
            data: page.items.into_iter().map(ReviewListItem).collect(),
            next_cursor: page.next.map(|p| state.cursors.encode(&self.scope, &p)),
        };
        Content::json(&answer, SurrogateKeys::lists())
    }
}

//! `GET /content`: published reviews, filtered, searched, sorted and paged.

use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::Transaction;
use domain::{Language, SubjectKind};
use platform::content::{ReviewListItem, ReviewPage};
use platform::surrogate::SurrogateKey;

use crate::error::ReadError;
use crate::openapi::{self, ReadHeaders, ReadResponses};
use crate::params::{self, Sort};
use crate::queries::{self, ReviewList};
use crate::routes::paging;
use crate::serve::{Content, Read, serve};
use crate::startup::State;

pub(crate) const PATH: &str = "/content";

/// `/content`'s query as the document describes it. `params::list` parses
/// it; a test holds the names to `params::LIST_PARAMS`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes the query for the document; params.rs parses it"
)]
struct ListQuery {
    /// Web-search syntax: terms ANDed, "phrase", or, -exclude; stemmed per review language, accent-insensitive
    #[param(inline)]
    q: Option<openapi::SearchText>,
    #[param(inline)]
    kind: Option<SubjectKind>,
    #[param(inline)]
    brand: Option<openapi::BrandText>,
    /// subject slug
    subject: Option<openapi::Slug>,
    #[param(inline)]
    editor: Option<openapi::PositiveId>,
    #[param(inline)]
    language: Option<Language>,
    #[param(inline)]
    rating_min: Option<openapi::RatingBound>,
    #[param(inline)]
    rating_max: Option<openapi::RatingBound>,
    /// RFC 3339 or YYYY-MM-DD (UTC midnight), inclusive
    #[param(inline)]
    published_after: Option<openapi::DateOrTime>,
    /// RFC 3339 or YYYY-MM-DD, inclusive
    #[param(inline)]
    published_before: Option<openapi::DateOrTime>,
    /// default relevance with q, else newest. Relevance lists the matches in three tiers, each newest first: the subject or title match; else the opening (summary, pros, cons, the first 500 characters of the body) matches; else only the rest of the body. Ties: the higher id first. rating: unrated reviews last
    #[param(inline)]
    sort: Option<Sort>,
    #[param(inline)]
    limit: Option<openapi::ListLimit>,
    cursor: Option<String>,
}

/// `GET /content`.
#[utoipa::path(
    get,
    path = PATH,
    operation_id = "listReviews",
    summary = "Published reviews: filter, search, sort, page",
    params(ListQuery, ReadHeaders),
    responses(
        (status = 200, description = "A page (items without body)", body = ReviewPage),
        ReadResponses
    )
)]
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
        let keys = async {
            match &self.list.filters.q {
                Some(q) => queries::search_keys(tx, q).await,
                None => queries::list_keys(tx, &self.list.filters).await,
            }
        };
        // Sent together, in one round trip.
        let (page, mut keys) =
            queries::together(queries::list_reviews(tx, &self.list, url_base), keys).await?;
        keys.extend(
            page.items
                .iter()
                .map(|r| SurrogateKey::Subject(r.subject.slug.clone())),
        );
        let answer = ReviewPage {
            data: page.items.into_iter().map(ReviewListItem).collect(),
            next_cursor: page.next.map(|p| state.cursors.encode(&self.scope, &p)),
        };
        Content::json(&answer, keys)
    }
}

//! The catalog: `GET /content/subjects` (subjects with a published review,
//! by brand and model) and `GET /content/subjects/{slug}` (one subject with
//! its reviews' summaries).

use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::Transaction;
use domain::SubjectKind;
use platform::content::ReviewListItem;
use platform::surrogate::{SurrogateKey, SurrogateKeys};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ReadError;
use crate::openapi::{self, ReadHeaders, ReadResponses};
use crate::params;
use crate::queries::{self, SubjectList, SubjectSummary};
use crate::routes::{detail_name, paging};
use crate::serve::{Content, Read, serve};
use crate::startup::State;

pub(crate) const LIST_PATH: &str = "/content/subjects";
pub(crate) const PATH: &str = "/content/subjects/{slug}";

/// How many review summaries a subject's page shows.
const SUBJECT_REVIEWS: i64 = 100;

/// A page of the catalog: `{data, next_cursor}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubjectPage {
    data: Vec<SubjectSummary>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// A subject, its statistics and its newest reviews without their bodies.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubjectDetail {
    #[serde(flatten)]
    subject: SubjectSummary,
    reviews: Vec<ReviewListItem>,
}

/// `/content/subjects`' query as the document describes it.
/// `params::subjects` parses it; a test holds the names to
/// `params::SUBJECT_PARAMS`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes the query for the document; params.rs parses it"
)]
struct SubjectsQuery {
    #[param(inline)]
    kind: Option<SubjectKind>,
    #[param(inline)]
    brand: Option<openapi::BrandText>,
    /// substring of brand + model, accent-insensitive
    #[param(inline)]
    q: Option<openapi::SearchText>,
    #[param(inline)]
    limit: Option<openapi::SubjectLimit>,
    cursor: Option<String>,
}

/// `GET /content/subjects`.
#[utoipa::path(
    get,
    path = LIST_PATH,
    operation_id = "listSubjects",
    summary = "The catalog (subjects with a published review), by brand and model",
    params(SubjectsQuery, ReadHeaders),
    responses(
        (status = 200, description = "A page of subjects", body = SubjectPage),
        ReadResponses
    )
)]
pub(crate) async fn list_subjects(
    req: HttpRequest,
    state: web::Data<State>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ReadError> {
    let params = params::collect(query.into_inner(), params::SUBJECT_PARAMS)?;
    let filter = params::subjects(&params)?;
    let (key, scope, after) = paging(&state, "subjects", &params)?;
    let read = ListSubjects {
        list: SubjectList { filter, after },
        scope,
    };
    serve(&req, &state, key, read).await
}

/// One page of the catalog, and the scope its next cursor is signed for.
#[derive(Debug)]
struct ListSubjects {
    list: SubjectList,
    scope: String,
}

impl Read for ListSubjects {
    async fn read(&self, tx: &Transaction<'_>, state: &State) -> Result<Content, ReadError> {
        let (page, mut keys) = queries::together(
            queries::list_subjects(tx, &self.list),
            queries::catalog_keys(tx, &self.list.filter),
        )
        .await?;
        keys.extend(
            page.items
                .iter()
                .map(|s| SurrogateKey::Subject(s.slug.clone())),
        );
        let answer = SubjectPage {
            data: page.items,
            next_cursor: page.next.map(|p| state.cursors.encode(&self.scope, &p)),
        };
        Content::json(&answer, keys)
    }
}

/// `GET /content/subjects/{slug}`.
#[utoipa::path(
    get,
    path = PATH,
    operation_id = "getSubject",
    summary = "One subject with its specs and its reviews' summaries",
    params(
        ("slug" = String, Path, description = "The subject's slug", example = "sony-a7-iv"),
        ReadHeaders
    ),
    responses(
        (status = 200, description = "The subject", body = SubjectDetail),
        ReadResponses
    )
)]
pub(crate) async fn subject(
    req: HttpRequest,
    state: web::Data<State>,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ReadError> {
    let slug = detail_name(query, path, "subject", |s| domain::Slug::parse(s).is_ok())?;
    let key = format!("subject:{slug}");
    serve(&req, &state, key, ReadSubject(slug)).await
}

/// The subject with this slug and its newest reviews.
#[derive(Debug)]
struct ReadSubject(String);

impl Read for ReadSubject {
    async fn read(&self, tx: &Transaction<'_>, state: &State) -> Result<Content, ReadError> {
        let url_base = &state.settings.content.public_base_url;
        let subject = queries::subject(tx, &self.0)
            .await?
            .ok_or(ReadError::NotFound("subject"))?;
        let reviews = queries::subject_reviews(tx, subject.id, SUBJECT_REVIEWS, url_base).await?;
        let answer = SubjectDetail {
            subject,
            reviews: reviews.into_iter().map(ReviewListItem).collect(),
        };
        let keys = SurrogateKeys::from_iter([SurrogateKey::Subject(self.0.clone())]);
        Content::json(&answer, keys)
    }
}

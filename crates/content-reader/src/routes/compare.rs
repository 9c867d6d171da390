//! `GET /content/compare?subjects=a,b[,c,d]`: 2–4 subjects side by side,
//! with a table of the specs any of them has.

use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::Transaction;
use platform::content::{ReviewListItem, SpecsView, SubjectView};
use platform::surrogate::{SurrogateKey, SurrogateKeys};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::ReadError;
use crate::openapi::{self, ReadHeaders, ReadResponses};
use crate::params;
use crate::queries::{self, SubjectSummary};
use crate::serve::{Content, Read, serve};
use crate::startup::State;

pub(crate) const PATH: &str = "/content/compare";

/// The spec rows of a comparison, in order: the field of
/// [`SpecsView`] and its unit.
const SPEC_ROWS: &[(&str, Option<&str>)] = &[
    ("mount", None),
    ("sensor_format", None),
    ("megapixels", Some("MP")),
    ("focal_min_mm", Some("mm")),
    ("focal_max_mm", Some("mm")),
    ("max_aperture", Some("f-number")),
    ("release_year", None),
];

/// The comparison: the subjects, and one row per spec any of them has.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Comparison {
    #[schema(inline)]
    subjects: Vec<ComparedSubject>,
    #[schema(inline)]
    specs: Vec<SpecRow>,
}

/// One subject of a comparison with its statistics and newest review.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ComparedSubject {
    subject: SubjectView,
    review_count: i64,
    #[schema(required = true)]
    average_rating: Option<f64>,
    #[schema(schema_with = openapi::review_or_null, required = true)]
    latest_review: Option<ReviewListItem>,
}

/// One spec across the compared subjects: a value per subject, in their
/// order, null where unknown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SpecRow {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    unit: Option<&'static str>,
    values: Vec<Value>,
}

/// `/content/compare`'s query as the document describes it.
/// `params::compared_subjects` parses it; a test holds the names to
/// `params::COMPARE_PARAMS`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "describes the query for the document; params.rs parses it"
)]
struct CompareQuery {
    /// 2 to 4 distinct subject slugs, comma-separated
    #[param(
        inline,
        style = Form,
        explode = false,
        example = json!(["sony-a7-iv", "nikon-z6-iii"])
    )]
    subjects: openapi::ComparedSlugs,
}

/// `GET /content/compare`.
#[utoipa::path(
    get,
    path = PATH,
    operation_id = "compare",
    summary = "2–4 subjects side by side",
    params(CompareQuery, ReadHeaders),
    responses(
        (status = 200, description = "The comparison", body = Comparison),
        ReadResponses
    )
)]
pub(crate) async fn compare(
    req: HttpRequest,
    state: web::Data<State>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ReadError> {
    let params = params::collect(query.into_inner(), params::COMPARE_PARAMS)?;
    let slugs = params::compared_subjects(&params)?;
    let key = format!("compare:{}", slugs.join(","));
    serve(&req, &state, key, Compare(slugs)).await
}

/// The subjects named, in the order named.
#[derive(Debug)]
struct Compare(Vec<String>);

impl Read for Compare {
    async fn read(&self, tx: &Transaction<'_>, state: &State) -> Result<Content, ReadError> {
        let found = find_all(tx, &self.0).await?;
        let url_base = &state.settings.content.public_base_url;
        let mut subjects = Vec::with_capacity(found.len());
        for summary in &found {
            let latest = queries::subject_reviews(tx, summary.id, 1, url_base).await?;
            subjects.push(ComparedSubject {
                subject: summary.subject(),
                review_count: summary.review_count,
                average_rating: summary.average_rating,
                latest_review: latest.into_iter().next().map(ReviewListItem),
            });
        }
        let specs: Vec<&SpecsView> = found.iter().map(|s| &s.specs).collect();
        let keys = found
            .iter()
            .map(|s| SurrogateKey::Subject(s.slug.clone()))
            .collect::<SurrogateKeys>();
        let answer = Comparison {
            subjects,
            specs: spec_table(&specs)?,
        };
        Content::json(&answer, keys)
    }
}

/// Every named subject, or a 404 naming each one that does not exist.
async fn find_all(
    tx: &Transaction<'_>,
    slugs: &[String],
) -> Result<Vec<SubjectSummary>, ReadError> {
    let mut found = Vec::with_capacity(slugs.len());
    let mut missing = Vec::new();
    for slug in slugs {
        match queries::subject(tx, slug).await? {
            Some(subject) => found.push(subject),
            None => missing.push(slug.clone()),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(ReadError::SubjectsNotFound(missing))
    }
}

/// One row per spec that at least one subject has.
fn spec_table(specs: &[&SpecsView]) -> Result<Vec<SpecRow>, ReadError> {
    // Known specs only (`SpecsView` leaves the unknown ones out), by name.
    let known: Vec<Value> = specs
        .iter()
        .map(|s| serde_json::to_value(s).map_err(ReadError::internal))
        .collect::<Result<_, _>>()?;
    let rows = SPEC_ROWS.iter().filter_map(|&(name, unit)| {
        let values: Vec<Value> = known
            .iter()
            .map(|s| s.get(name).cloned().unwrap_or(Value::Null))
            .collect();
        let any = values.iter().any(|v| !v.is_null());
        any.then_some(SpecRow { name, unit, values })
    });
    Ok(rows.collect())
}

//! `GET /content/compare?subjects=a,b[,c,d]`: 2–4 subjects side by side,
//! with a table of the specs any of them has.

use actix_web::{HttpRequest, HttpResponse, web};
use deadpool_postgres::Transaction;
use platform::content::{ReviewListItem, SpecsView, SubjectView};
use platform::surrogate::{SurrogateKey, SurrogateKeys};
use serde::Serialize;
use serde_json::Value;

use crate::error::ReadError;
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
#[derive(Debug, Serialize)]
pub(crate) struct Comparison {
    subjects: Vec<ComparedSubject>,
    specs: Vec<SpecRow>,
}

/// One subject of a comparison with its statistics and newest review.
#[derive(Debug, Serialize)]
pub(crate) struct ComparedSubject {
    subject: SubjectView,
    review_count: i64,
    average_rating: Option<f64>,
    latest_review: Option<ReviewListItem>,
}

/// One spec across the compared subjects: a value per subject, in their
/// order, null where unknown.
#[derive(Debug, Serialize)]
pub(crate) struct SpecRow {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'static str>,
    values: Vec<Value>,
}

/// `GET /content/compare`.
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

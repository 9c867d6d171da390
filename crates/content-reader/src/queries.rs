//! The SQL of every public read. Each function runs inside the snapshot
//! transaction the route opened on the chosen node.

use deadpool_postgres::Transaction;
use platform::content::{
    REVIEW_COLUMNS, REVIEW_FROM, REVIEW_LIST_COLUMNS, ReviewView, SpecsView, SubjectView,
};
use serde::Serialize;
use tokio_postgres::types::ToSql;

use crate::params::{ListFilters, Sort, SubjectFilter};

/// Parameters of a statement built from optional filters.
#[derive(Default)]
struct Args {
    values: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Args {
    /// Adds a value and returns its placeholder.
    fn add<T: ToSql + Sync + Send + 'static>(&mut self, value: T) -> String {
        self.values.push(Box::new(value));
        format!("${}", self.values.len())
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|v| v.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// Only published, unretracted reviews are public.
const PUBLIC: &str = "r.status = 'published' AND r.deleted_at IS NULL";

/// The search condition for query placeholder `q`: each review is matched
/// with its own language's stemming. Each arm, with `PUBLIC`, is exactly the
/// predicate of one per-language GIN index (migration V4), so the planner
/// needs no second look at a candidate's search document.
fn search_condition(q: &str) -> String {
    format!(
        "((r.language = 'es' AND r.search_document @@ websearch_to_tsquery('rcr_es', {q}))
       OR (r.language = 'pt' AND r.search_document @@ websearch_to_tsquery('rcr_pt', {q}))
       OR (r.language = 'en' AND r.search_document @@ websearch_to_tsquery('rcr_en', {q})))"
    )
}

/// Relevance: the weighted frequency of the query's terms (A subject and
/// title, B summary, pros and cons, C the opening of the body) in the
/// review's small ranking vector (`rank_document`, migration V3), so that
/// ranking a match reads no TOAST value. `ts_rank`, not cover density
/// (`ts_rank_cd`): about a fifth of the cost per match. Each query is a
/// sub-select, computed once per statement: in a cached generic plan a
/// bare `websearch_to_tsquery($1)` would be parsed again for every match.
fn rank_expression(q: &str) -> String {
    format!(
        "ts_rank(r.rank_document, CASE r.language
             WHEN 'pt' THEN (SELECT websearch_to_tsquery('rcr_pt', {q}))
             WHEN 'en' THEN (SELECT websearch_to_tsquery('rcr_en', {q}))
             ELSE (SELECT websearch_to_tsquery('rcr_es', {q})) END)::float8"
    )
}

/// The newest/oldest sort key: `published_at` in microseconds since the
/// epoch (exact in a float8 for this era, and back: the cursor condition
/// turns it into the same timestamp).
const PUBLISHED_MICROS: &str = "(extract(epoch FROM r.published_at) * 1000000)::float8";

/// Cuts a page read with one row more than `limit` (and the sort keys of
/// its rows) to `limit`: the items, and the sort key of the last one kept
/// when more follow.
fn cut_page<T, K>(mut items: Vec<T>, mut keys: Vec<K>, limit: i64) -> (Vec<T>, Option<K>) {
    if items.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        items.pop();
        keys.pop();
        let last = keys.pop();
        (items, last)
    } else {
        (items, None)
    }
}

/// Where a page ends: the sort key of its last item and its id. Dates are
/// microseconds since the epoch (exact in an `f64` for this era).
pub type Position = (f64, i64);

/// A page of reviews and the position after its last item.
#[derive(Debug)]
pub struct ReviewPage {
    pub items: Vec<ReviewView>,
    pub next: Option<Position>,
}

/// `/content`.
pub async fn list_reviews(
    tx: &Transaction<'_>,
    filters: &ListFilters,
    sort: Sort,
    limit: i64,
    after: Option<Position>,
    url_base: &str,
) -> Result<ReviewPage, tokio_postgres::Error> {
    let mut args = Args::default();
    let mut conditions = vec![PUBLIC.to_owned()];
    if let Some(kind) = filters.kind {
        conditions.push(format!("s.kind = {}", args.add(kind.as_str().to_owned())));
    }
    if let Some(brand) = &filters.brand {
        conditions.push(format!(
            "lower(s.brand) = lower({})",
            args.add(brand.clone())
        ));
    }
    if let Some(subject) = &filters.subject {
        conditions.push(format!("s.slug = {}", args.add(subject.clone())));
    }
    if let Some(editor) = filters.editor {
        conditions.push(format!("r.editor_id = {}", args.add(editor)));
    }
    if let Some(language) = filters.language {
        conditions.push(format!(
            "r.language = {}",
            args.add(language.as_str().to_owned())
        ));
    }
    if let Some(min) = filters.rating_min {
        conditions.push(format!("r.rating >= {}::float8", args.add(min)));
    }
    if let Some(max) = filters.rating_max {
        conditions.push(format!("r.rating <= {}::float8", args.add(max)));
    }
    if let Some(after) = filters.published_after {
        conditions.push(format!("r.published_at >= {}", args.add(after)));
    }
    if let Some(before) = filters.published_before {
        conditions.push(format!("r.published_at <= {}", args.add(before)));
    }
    let rank = match &filters.q {
        Some(q) => {
            let placeholder = args.add(q.clone());
            conditions.push(search_condition(&placeholder));
            Some(rank_expression(&placeholder))
        }
        None => None,
    };
    // Every sort but relevance orders by indexed expressions
    // (`reviews_public_*_idx`) and pages with a row comparison on the same
    // expressions, so a page is an index range scan, never a sort of every
    // public review. The cursor carries the sort key as a float8.
    let (order, key) = match sort {
        Sort::Newest => (
            "r.published_at DESC, r.id DESC",
            PUBLISHED_MICROS.to_owned(),
        ),
        Sort::Oldest => ("r.published_at, r.id", PUBLISHED_MICROS.to_owned()),
        Sort::Rating => (
            "coalesce(r.rating, -1) DESC, r.id DESC",
            "coalesce(r.rating, -1)::float8".to_owned(),
        ),
        Sort::Relevance => (
            "sort_key DESC, r.id DESC",
            rank.unwrap_or_else(|| "0::float8".into()),
        ),
    };
    if let Some((k, id)) = after {
        let (k, id) = (args.add(k), args.add(id));
        let published = format!("to_timestamp(0) + {k}::float8 * interval '1 microsecond'");
        conditions.push(match sort {
            Sort::Newest => format!("(r.published_at, r.id) < ({published}, {id}::int8)"),
            Sort::Oldest => format!("(r.published_at, r.id) > ({published}, {id}::int8)"),
            Sort::Rating => {
                format!("(coalesce(r.rating, -1), r.id) < ({k}::float8::numeric, {id}::int8)")
            }
            Sort::Relevance => format!("({key}, r.id) < ({k}::float8, {id}::int8)"),
        });
    }
    let limit_placeholder = args.add(limit + 1);
    let conditions = conditions.join(" AND ");
    let sql = if filters.q.is_some() {
        // A search may match thousands of reviews: the page is chosen on
        // ids and sort keys alone, and only its rows are read in full.
        format!(
            "WITH page AS (
               SELECT r.id, {key} AS sort_key
                 FROM reviews r JOIN subjects s ON s.id = r.subject_id
                WHERE {conditions}
                ORDER BY {order}
                LIMIT {limit_placeholder})
             SELECT {REVIEW_LIST_COLUMNS}, page.sort_key
               FROM page JOIN ({REVIEW_FROM}) ON r.id = page.id
              ORDER BY {order}"
        )
    } else {
        format!(
            "SELECT {REVIEW_LIST_COLUMNS}, {key} AS sort_key FROM {REVIEW_FROM}
              WHERE {conditions}
              ORDER BY {order}
              LIMIT {limit_placeholder}"
        )
    };
    let stmt = tx.prepare_cached(&sql).await?;
    let rows = tx.query(&stmt, &args.refs()).await?;
    let mut items = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(ReviewView::from_row(row, url_base, false)?);
        keys.push(row.try_get::<_, f64>("sort_key")?);
    }
    let (items, last) = cut_page(items, keys, limit);
    let next = last.zip(items.last()).map(|(k, item)| (k, item.id));
    Ok(ReviewPage { items, next })
}

/// `/content/{slug or id}`.
pub async fn review(
    tx: &Transaction<'_>,
    slug_or_id: &str,
    url_base: &str,
) -> Result<Option<ReviewView>, tokio_postgres::Error> {
    let row = if let Ok(id) = slug_or_id.parse::<i64>() {
        let stmt = tx
            .prepare_cached(&format!(
                "SELECT {REVIEW_COLUMNS} FROM {REVIEW_FROM} WHERE {PUBLIC} AND r.id = $1"
            ))
            .await?;
        tx.query_opt(&stmt, &[&id]).await?
    } else {
        let stmt = tx
            .prepare_cached(&format!(
                "SELECT {REVIEW_COLUMNS} FROM {REVIEW_FROM} WHERE {PUBLIC} AND r.slug = $1"
            ))
            .await?;
        tx.query_opt(&stmt, &[&slug_or_id]).await?
    };
    row.map(|row| ReviewView::from_row(&row, url_base, true))
        .transpose()
}

/// A catalog entry with its public review statistics.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectSummary {
    pub id: i64,
    pub kind: String,
    pub brand: String,
    pub model: String,
    pub slug: String,
    pub specs: SpecsView,
    pub review_count: i64,
    pub average_rating: Option<f64>,
}

impl SubjectSummary {
    /// The subject as a review embeds it, without the statistics.
    pub fn subject(&self) -> SubjectView {
        SubjectView {
            id: self.id,
            kind: self.kind.clone(),
            brand: self.brand.clone(),
            model: self.model.clone(),
            slug: self.slug.clone(),
            specs: self.specs.clone(),
        }
    }
}

const SUBJECT_COLUMNS: &str = "\
    s.id, s.kind, s.brand, s.model, s.slug, s.mount, s.sensor_format, \
    s.megapixels::float8 AS megapixels, s.focal_min_mm::float8 AS focal_min_mm, \
    s.focal_max_mm::float8 AS focal_max_mm, s.max_aperture::float8 AS max_aperture, s.release_year, \
    count(r.id) AS review_count, round(avg(r.rating), 2)::float8 AS average_rating";

/// Subjects appear in the public catalog once they have a published
/// review: a draft must not reveal what is being reviewed.
const SUBJECT_FROM: &str = "\
    subjects s JOIN reviews r ON r.subject_id = s.id AND r.status = 'published' AND r.deleted_at IS NULL";

fn subject_from_row(row: &tokio_postgres::Row) -> Result<SubjectSummary, tokio_postgres::Error> {
    Ok(SubjectSummary {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        brand: row.try_get("brand")?,
        model: row.try_get("model")?,
        slug: row.try_get("slug")?,
        specs: SpecsView::from_row(row)?,
        review_count: row.try_get("review_count")?,
        average_rating: row.try_get("average_rating")?,
    })
}

/// Where a catalog page ends: brand, model (lowercased) and id.
pub type SubjectPosition = (String, String, i64);

/// `/content/subjects`: by brand, then model.
pub async fn list_subjects(
    tx: &Transaction<'_>,
    filter: &SubjectFilter,
    after: Option<SubjectPosition>,
) -> Result<(Vec<SubjectSummary>, Option<SubjectPosition>), tokio_postgres::Error> {
    let limit = filter.limit;
    let mut args = Args::default();
    let mut conditions = vec!["true".to_owned()];
    if let Some(kind) = filter.kind {
        conditions.push(format!("s.kind = {}", args.add(kind.as_str().to_owned())));
    }
    if let Some(brand) = &filter.brand {
        conditions.push(format!(
            "lower(s.brand) = lower({})",
            args.add(brand.to_owned())
        ));
    }
    if let Some(q) = &filter.q {
        // Substring match on "brand model", accents and case folded; LIKE's
        // own metacharacters in the query are taken literally.
        let escaped = q
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        conditions.push(format!(
            "unaccent(lower(s.brand || ' ' || s.model)) LIKE '%' || unaccent(lower({})) || '%' ESCAPE '\\'",
            args.add(escaped)
        ));
    }
    if let Some((b, m, id)) = after {
        let (b, m, id) = (args.add(b), args.add(m), args.add(id));
        conditions.push(format!(
            "(lower(s.brand), lower(s.model), s.id) > ({b}::text, {m}::text, {id}::int8)"
        ));
    }
    let limit_placeholder = args.add(limit + 1);
    let sql = format!(
        "SELECT {SUBJECT_COLUMNS}, lower(s.brand) AS brand_key, lower(s.model) AS model_key
           FROM {SUBJECT_FROM}
          WHERE {}
          GROUP BY s.id
          ORDER BY lower(s.brand), lower(s.model), s.id
          LIMIT {limit_placeholder}",
        conditions.join(" AND ")
    );
    let stmt = tx.prepare_cached(&sql).await?;
    let rows = tx.query(&stmt, &args.refs()).await?;
    let mut items = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(subject_from_row(row)?);
        keys.push((
            row.try_get::<_, String>("brand_key")?,
            row.try_get::<_, String>("model_key")?,
        ));
    }
    let (items, last) = cut_page(items, keys, limit);
    let next = last.zip(items.last()).map(|((b, m), item)| (b, m, item.id));
    Ok((items, next))
}

/// One public subject by slug.
pub async fn subject(
    tx: &Transaction<'_>,
    slug: &str,
) -> Result<Option<SubjectSummary>, tokio_postgres::Error> {
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {SUBJECT_COLUMNS} FROM {SUBJECT_FROM} WHERE s.slug = $1 GROUP BY s.id"
        ))
        .await?;
    tx.query_opt(&stmt, &[&slug])
        .await?
        .map(|row| subject_from_row(&row))
        .transpose()
}

/// A subject's published reviews, newest first (at most `limit`).
pub async fn subject_reviews(
    tx: &Transaction<'_>,
    subject_id: i64,
    limit: i64,
    url_base: &str,
) -> Result<Vec<ReviewView>, tokio_postgres::Error> {
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {REVIEW_LIST_COLUMNS} FROM {REVIEW_FROM}
              WHERE {PUBLIC} AND r.subject_id = $1
              ORDER BY r.published_at DESC, r.id DESC LIMIT $2"
        ))
        .await?;
    tx.query(&stmt, &[&subject_id, &limit])
        .await?
        .iter()
        .map(|row| ReviewView::from_row(row, url_base, false))
        .collect()
}

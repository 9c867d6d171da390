//! The SQL of every public read. Each function runs inside the snapshot
//! transaction the route opened on the chosen node. The two lists build
//! their statements from typed filters (`list`, `catalog`); the other
//! reads are one fixed statement each.

use deadpool_postgres::Transaction;
use platform::content::{
    REVIEW_COLUMNS, REVIEW_FROM, REVIEW_LIST_COLUMNS, ReviewView, SpecsView, SubjectView,
};
use serde::Serialize;
use utoipa::ToSchema;

mod catalog;
mod list;
mod page_keys;

pub use catalog::{SubjectList, SubjectPosition, list_subjects};
pub use list::{Position, ReviewList, list_reviews};
pub use page_keys::{catalog_keys, list_keys, search_keys};

/// Which reviews are public: the one definition every read uses
/// (`rcr_is_public`, SPEC §10.4), so a scheduled review appears in no
/// list, search, count, average, subject page, comparison or detail until
/// its `publish_at`, and in all of them from that instant. Inlined by the
/// planner, it keeps each list an index range over the public partial
/// indexes (`reviews_public_*_idx`, rebuilt by V6 for it).
const PUBLIC: &str = platform::content::PUBLIC_REVIEW;

/// A page of a list and the position after its last item, when more
/// follow.
#[derive(Debug)]
pub struct Page<T, P> {
    pub items: Vec<T>,
    pub next: Option<P>,
}

impl<T, P> Page<T, P> {
    /// Cuts rows read with one more than `limit` (and the sort keys of
    /// those rows) to `limit`; `position` makes the next page's position
    /// from the last item kept and its sort key, when more follow.
    fn cut<K>(
        mut items: Vec<T>,
        mut keys: Vec<K>,
        limit: i64,
        position: impl FnOnce(&T, K) -> P,
    ) -> Self {
        if items.len() <= usize::try_from(limit).unwrap_or(usize::MAX) {
            return Self { items, next: None };
        }
        items.pop();
        keys.pop();
        let next = keys.pop().zip(items.last()).map(|(k, t)| position(t, k));
        Self { items, next }
    }
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
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubjectSummary {
    pub id: i64,
    #[schema(value_type = domain::SubjectKind, inline)]
    pub kind: String,
    pub brand: String,
    pub model: String,
    pub slug: String,
    #[schema(inline)]
    pub specs: SpecsView,
    pub review_count: i64,
    #[schema(required = true)]
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

    fn from_row(row: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
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
}

/// The subject's own columns [`SubjectSummary::from_row`] reads; with
/// them, [`SUBJECT_STATS`].
const SUBJECT_FIELDS: &str = "\
    s.id, s.kind, s.brand, s.model, s.slug, s.mount, s.sensor_format, \
    s.megapixels::float8 AS megapixels, s.focal_min_mm::float8 AS focal_min_mm, \
    s.focal_max_mm::float8 AS focal_max_mm, s.max_aperture::float8 AS max_aperture, s.release_year";

/// The count and average rating of the public reviews `r` of a subject.
const SUBJECT_STATS: &str =
    "count(r.id) AS review_count, round(avg(r.rating), 2)::float8 AS average_rating";

/// Subjects appear in the public catalog once they have a public review: a
/// draft or an embargo must not reveal what is being reviewed. The join's
/// condition is [`PUBLIC`] (a test holds them together: a `const` cannot
/// be built from another crate's).
const SUBJECT_FROM: &str = "\
    subjects s JOIN reviews r ON r.subject_id = s.id AND rcr_is_public(r.status, r.publish_at, r.deleted_at)";

/// Two statements sent together in one transaction (one round trip): both
/// results, or the error that ended the transaction. Once one statement
/// fails, the other fails with "current transaction is aborted" (25P02);
/// `try_join!` would report whichever it polled first, and a statement
/// timeout reported as 25P02 is a 500 instead of a 503.
pub async fn together<A, B>(
    a: impl Future<Output = Result<A, tokio_postgres::Error>>,
    b: impl Future<Output = Result<B, tokio_postgres::Error>>,
) -> Result<(A, B), tokio_postgres::Error> {
    let (a, b) = tokio::join!(a, b);
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(a), Err(b)) => Err(the_cause(a, b)),
    }
}

/// Of two errors of one transaction, the one that aborted it.
fn the_cause(a: tokio_postgres::Error, b: tokio_postgres::Error) -> tokio_postgres::Error {
    let aborted = |e: &tokio_postgres::Error| {
        e.code() == Some(&tokio_postgres::error::SqlState::IN_FAILED_SQL_TRANSACTION)
    };
    if aborted(&a) && !aborted(&b) { b } else { a }
}

/// One public subject by slug.
pub async fn subject(
    tx: &Transaction<'_>,
    slug: &str,
) -> Result<Option<SubjectSummary>, tokio_postgres::Error> {
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {SUBJECT_FIELDS}, {SUBJECT_STATS} FROM {SUBJECT_FROM}
              WHERE s.slug = $1 GROUP BY s.id"
        ))
        .await?;
    tx.query_opt(&stmt, &[&slug])
        .await?
        .map(|row| SubjectSummary::from_row(&row))
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_catalog_joins_public_reviews_by_the_one_definition() {
        assert!(super::SUBJECT_FROM.ends_with(super::PUBLIC));
    }
}

/// Checks for the statements built from filters.
#[cfg(test)]
mod checks {
    use std::collections::BTreeSet;

    use actix_web::web::BytesMut;
    use tokio_postgres::types::{ToSql, Type};

    /// Asserts that `sql` names exactly the placeholders whose value in
    /// `params` (`$1` first) is not `NULL`.
    pub fn assert_names_what_is_given(sql: &str, params: &[&(dyn ToSql + Sync)]) {
        let named: BTreeSet<usize> = sql
            .split('$')
            .skip(1)
            .filter_map(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect();
        // `Option`'s `Debug`: the only way to see a `NULL` through `dyn ToSql`.
        let given: BTreeSet<usize> = (1..=params.len())
            .filter(|n| format!("{:?}", params[n - 1]) != "None")
            .collect();
        assert_eq!(named, given, "{sql}");
    }

    /// Asserts that each value encodes as the type its placeholder declares.
    pub fn assert_typed(params: &[&(dyn ToSql + Sync)], types: &[Type]) {
        assert_eq!(params.len(), types.len());
        for (i, (value, ty)) in params.iter().zip(types).enumerate() {
            value
                .to_sql_checked(ty, &mut BytesMut::new())
                .unwrap_or_else(|e| panic!("${}: {e}", i + 1));
        }
    }
}

//! The `/content/subjects` statement, built from the typed filter as the
//! review list's is (see `list`): every parameter always bound, typed, on
//! its own placeholder, and a statement per shape naming only those of the
//! filters present, so that its plans are those of exactly its conditions.

use deadpool_postgres::Transaction;
use tokio_postgres::types::{ToSql, Type};

use super::{PUBLIC, Page, SUBJECT_FIELDS, SUBJECT_STATS, SubjectSummary};
use crate::params::SubjectFilter;

/// Where a catalog page ends: brand, model (lowercased) and id.
pub type SubjectPosition = (String, String, i64);

/// One page of the catalog to read.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectList {
    pub filter: SubjectFilter,
    /// Where the previous page ended.
    pub after: Option<SubjectPosition>,
}

/// The parameters' types by placeholder, `$1` first.
const PARAM_TYPES: [Type; 7] = [
    Type::TEXT, // $1 kind
    Type::TEXT, // $2 brand
    Type::TEXT, // $3 q, LIKE-escaped
    Type::TEXT, // $4 the cursor's brand
    Type::TEXT, // $5 the cursor's model
    Type::INT8, // $6 the cursor's id
    Type::INT8, // $7 limit + 1
];

/// A substring of "brand model", accents and case folded.
const SEARCH: &str = "unaccent(lower(s.brand || ' ' || s.model)) \
                      LIKE '%' || unaccent(lower($3)) || '%' ESCAPE '\\'";

/// After a cursor, in the catalog's order: brand, then model, then id.
const AFTER: &str = "(lower(s.brand), lower(s.model), s.id) > ($4, $5, $6)";

impl SubjectList {
    /// The statement for this page's shape. The subjects are walked in
    /// the catalog's order (`subjects_catalog_idx`, migration V8), each
    /// counting its own public reviews, until the page is full: grouping
    /// every public review by subject first, then sorting, cost 300 ms at
    /// 100,000 reviews against 7 ms this way (docs/BENCHMARKS.md).
    pub fn sql(&self) -> String {
        let f = &self.filter;
        let conditions = [
            (true, "true"),
            (f.kind.is_some(), "s.kind = $1"),
            (f.brand.is_some(), "lower(s.brand) = lower($2)"),
            (f.q.is_some(), SEARCH),
            (self.after.is_some(), AFTER),
        ]
        .into_iter()
        .filter_map(|(present, condition)| present.then_some(condition))
        .collect::<Vec<_>>()
        .join(" AND ");
        format!(
            "SELECT {SUBJECT_FIELDS}, a.review_count, a.average_rating,
                    lower(s.brand) AS brand_key, lower(s.model) AS model_key
               FROM subjects s
              CROSS JOIN LATERAL (SELECT {SUBJECT_STATS} FROM reviews r
                                   WHERE r.subject_id = s.id AND {PUBLIC}) a
              WHERE {conditions} AND a.review_count > 0
              ORDER BY lower(s.brand), lower(s.model), s.id
              LIMIT $7"
        )
    }

    /// The values of `$1`…`$7`, as [`PARAM_TYPES`] types them.
    fn params(&self) -> Params<'_> {
        let f = &self.filter;
        let after = self.after.as_ref();
        Params {
            kind: f.kind.map(|k| k.as_str()),
            brand: f.brand.as_deref(),
            // LIKE's own metacharacters in the query are taken literally.
            q: f.q.as_ref().map(|q| {
                q.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            }),
            after_brand: after.map(|(brand, _, _)| brand.as_str()),
            after_model: after.map(|(_, model, _)| model.as_str()),
            after_id: after.map(|(_, _, id)| *id),
            limit: f.limit + 1,
        }
    }
}

/// The parameters of one catalog statement, in placeholder order.
struct Params<'a> {
    kind: Option<&'static str>,
    brand: Option<&'a str>,
    q: Option<String>,
    after_brand: Option<&'a str>,
    after_model: Option<&'a str>,
    after_id: Option<i64>,
    limit: i64,
}

impl Params<'_> {
    fn refs(&self) -> [&(dyn ToSql + Sync); 7] {
        [
            &self.kind,
            &self.brand,
            &self.q,
            &self.after_brand,
            &self.after_model,
            &self.after_id,
            &self.limit,
        ]
    }
}

/// `/content/subjects`: by brand, then model.
pub async fn list_subjects(
    tx: &Transaction<'_>,
    list: &SubjectList,
) -> Result<Page<SubjectSummary, SubjectPosition>, tokio_postgres::Error> {
    let stmt = tx.prepare_typed_cached(&list.sql(), &PARAM_TYPES).await?;
    let rows = tx.query(&stmt, &list.params().refs()).await?;
    let mut items = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(SubjectSummary::from_row(row)?);
        keys.push((
            row.try_get::<_, String>("brand_key")?,
            row.try_get::<_, String>("model_key")?,
        ));
    }
    Ok(Page::cut(
        items,
        keys,
        list.filter.limit,
        |item, (brand, model)| (brand, model, item.id),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use domain::SubjectKind;

    use super::*;
    use crate::queries::checks::{assert_names_what_is_given, assert_typed};

    fn list(mask: u8) -> SubjectList {
        let on = |bit: u8| mask & (1 << bit) != 0;
        SubjectList {
            filter: SubjectFilter {
                kind: on(0).then_some(SubjectKind::Lens),
                brand: on(1).then(|| "Sony".to_owned()),
                q: on(2).then(|| "50%_\\".to_owned()),
                limit: 50,
            },
            after: on(3).then(|| ("sony".to_owned(), "a7 iv".to_owned(), 3)),
        }
    }

    #[test]
    fn every_shape_names_exactly_the_placeholders_of_what_it_was_given() {
        let mut statements = BTreeSet::new();
        for mask in 0..16 {
            let list = list(mask);
            let sql = list.sql();
            assert_names_what_is_given(&sql, &list.params().refs());
            statements.insert(sql);
        }
        assert_eq!(statements.len(), 16);
    }

    #[test]
    fn every_parameter_has_the_type_its_placeholder_declares() {
        let list = list(u8::MAX);
        assert_eq!(list.params().q.as_deref(), Some("50\\%\\_\\\\"));
        assert_typed(&list.params().refs(), &PARAM_TYPES);
    }
}

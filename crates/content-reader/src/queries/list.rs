//! The `/content` statement, built from the typed filter.
//!
//! Each filter has a placeholder of its own, and every statement is bound
//! with all thirteen parameters, typed, `NULL` for an absent filter; its
//! text names only the placeholders of the filters present. One statement
//! for every filter combination, `($1 IS NULL OR s.kind = $1)` for each,
//! would be simpler but slow: after five runs PostgreSQL may give a
//! prepared statement a generic plan, which cannot drop the absent
//! conditions nor pick an index for the present ones. Measured with
//! `EXPLAIN ANALYZE` on 100,000 reviews, such a generic plan read every
//! public review and sorted them for the first page of `/content` (806 ms
//! instead of an index range of 21 rows over `reviews_public_newest_idx`,
//! 0.6 ms), walked all 500 subjects for an editor's page (142 ms instead
//! of 2 ms) and took 3.1 s instead of 0.15 s for a search. So the text
//! follows the shape of the request — the filters present, the sort,
//! whether a cursor or a search is given — and each shape is a prepared
//! statement of its own whose plans are those of exactly its conditions:
//! the page is an index range (ARCHITECTURE.md, "Every list page is an
//! index range") and a search goes through the per-language GIN indexes.

use deadpool_postgres::Transaction;
use platform::content::{REVIEW_FROM, REVIEW_LIST_COLUMNS, ReviewView};
use time::OffsetDateTime;
use tokio_postgres::types::{ToSql, Type};

use super::{PUBLIC, Page};
use crate::params::{ListFilters, Sort};

/// Where a page ends: the sort key of its last item and its id. Dates are
/// microseconds since the epoch (exact in an `f64` for this era).
pub type Position = (f64, i64);

/// One page of `/content` to read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewList {
    pub filters: ListFilters,
    pub sort: Sort,
    pub limit: i64,
    /// Where the previous page ended.
    pub after: Option<Position>,
}

/// The parameters' types by placeholder, `$1` first.
const PARAM_TYPES: [Type; 13] = [
    Type::TEXT,        // $1 kind
    Type::TEXT,        // $2 brand
    Type::TEXT,        // $3 subject slug
    Type::INT8,        // $4 editor id
    Type::TEXT,        // $5 language
    Type::FLOAT8,      // $6 rating_min
    Type::FLOAT8,      // $7 rating_max
    Type::TIMESTAMPTZ, // $8 published_after
    Type::TIMESTAMPTZ, // $9 published_before
    Type::TEXT,        // $10 q
    Type::FLOAT8,      // $11 the cursor's sort key
    Type::INT8,        // $12 the cursor's id
    Type::INT8,        // $13 limit + 1
];

/// The search condition on `$10`: each review is matched with its own
/// language's stemming. Each arm, with `PUBLIC`, is exactly the predicate
/// of one per-language GIN index (migration V4), so the planner needs no
/// second look at a candidate's search document.
const SEARCH: &str = "\
    ((r.language = 'es' AND r.search_document @@ websearch_to_tsquery('rcr_es', $10))
   OR (r.language = 'pt' AND r.search_document @@ websearch_to_tsquery('rcr_pt', $10))
   OR (r.language = 'en' AND r.search_document @@ websearch_to_tsquery('rcr_en', $10)))";

/// Whether `$10` matches the review's `document` (a `tsvector` column),
/// each review with its own language's stemming, as [`SEARCH`] does. Each
/// query is a sub-select, parsed once per statement: the relevance
/// statement runs with a generic plan, in which a bare
/// `websearch_to_tsquery($10)` would be parsed again for every review.
macro_rules! matches {
    ($document:literal) => {
        concat!(
            "((r.language = 'es' AND r.",
            $document,
            " @@ (SELECT websearch_to_tsquery('rcr_es', $10)))
   OR (r.language = 'pt' AND r.",
            $document,
            " @@ (SELECT websearch_to_tsquery('rcr_pt', $10)))
   OR (r.language = 'en' AND r.",
            $document,
            " @@ (SELECT websearch_to_tsquery('rcr_en', $10))))"
        )
    };
}

/// Whether `$10` excludes a word (`-word`).
macro_rules! excludes {
    () => {
        "(SELECT strpos(websearch_to_tsquery('rcr_simple', $10)::text, '!') > 0)"
    };
}
const EXCLUDES: &str = excludes!();

/// Whether the whole review matches where `$10` excludes a word: only then
/// may a match in a review's title or opening not be a match of the whole
/// review.
const WHOLE: &str = concat!(
    "(NOT ",
    excludes!(),
    " OR ",
    matches!("search_document"),
    ")"
);

/// One relevance tier: the vector the query matches first in it, and its
/// sort key.
///
/// A tier's key is `published_at` in microseconds shifted by 2^52 per
/// tier — the first up by one, the second not at all, the third down by
/// one, the fourth by two — so that one `(key, id)` cursor orders the
/// tiers and, within one, the dates, and names its tier. Every key stays
/// within 2^53 in magnitude, exact in a float8, for dates between 1970
/// and 2112.
struct Tier {
    /// Its statement's name for it.
    name: &'static str,
    matches: &'static str,
    shift: i64,
}

/// Relevance (SPEC §5, §10.5) orders the matches in four tiers, each
/// newest first, by where the query matches first: the title
/// (`title_document`, migration V7); the subject or the title
/// (`heading_document`, V7); the opening, adding the summary, pros, cons
/// and the body's first 500 characters (`rank_document`, V3); the whole
/// review (`search_document`). Each vector's words are in the next, in
/// the same order and at the same distances (the heading is the start of
/// the opening, the opening of the whole), so without an excluded word a
/// match in one is a match in the next, and with one the whole review is
/// checked too ([`WHOLE`]): every match lands in exactly one tier.
///
/// Ranking by term frequency (`ts_rank`, before V7) read and scored every
/// match: at 100,000 reviews a query of two common words matched half of
/// them, and one search took 45 ms of a core (docs/BENCHMARKS.md, "Data
/// at size"). How the tiers are read is [`ReviewList::relevance_sql`].
const TIERS: [Tier; 4] = [
    Tier {
        name: "title",
        matches: matches!("title_document"),
        shift: 1,
    },
    Tier {
        name: "heading",
        matches: matches!("heading_document"),
        shift: 0,
    },
    Tier {
        name: "opening",
        matches: matches!("rank_document"),
        shift: -1,
    },
    Tier {
        name: "body",
        matches: matches!("search_document"),
        shift: -2,
    },
];

/// 2^52, the distance between two tiers' keys.
const TIER_SHIFT: i64 = 1 << 52;

impl Tier {
    /// The reviews of tier `i`: its vector matches, none before it does,
    /// and the whole review matches. Each earlier vector is tested: with an
    /// excluded word under `or` (`word or -final`) a title may match where
    /// the opening does not, so not matching the tier just before does not
    /// rule out the ones before that.
    fn condition(i: usize) -> String {
        let mut parts = vec![TIERS[i].matches.to_owned()];
        parts.extend(TIERS[..i].iter().map(|t| format!("NOT {}", t.matches)));
        if i + 1 < TIERS.len() {
            parts.push(WHOLE.to_owned());
        }
        parts.join(" AND ")
    }

    fn key(&self) -> String {
        format!(
            "(extract(epoch FROM r.published_at) * 1000000 + {})::float8",
            self.shift * TIER_SHIFT
        )
    }

    /// The condition that starts a page of this tier after the cursor
    /// (`$11`, `$12`).
    fn after(&self) -> String {
        format!(
            "(r.published_at, r.id) < \
             (to_timestamp(0) + ($11 - {}) * interval '1 microsecond', $12)",
            self.shift * TIER_SHIFT
        )
    }

    /// The tier a cursor's key is in (a key no tier makes, from a cursor
    /// made up by hand, is taken as the nearest tier's).
    fn of_key(key: f64) -> usize {
        let shift = (key / TIER_SHIFT as f64).floor() as i64;
        TIERS
            .iter()
            .position(|t| t.shift == shift)
            .unwrap_or(if shift > 0 { 0 } else { TIERS.len() - 1 })
    }
}

/// How many of the newest reviews (after the cursor, with the other
/// filters) a search reads for the first three tiers before it walks on
/// or turns to their indexes for older reviews: the square root of half
/// the number of reviews times the page, between 500 and 10,000. Half
/// rather than all of the product took 14 % off the median search at
/// 100,000 reviews, the tail unchanged (docs/BENCHMARKS.md, "The walk
/// on").
const WINDOW: &str = "(SELECT greatest(500, least(10000, \
    sqrt(greatest(reltuples, 0) * $13 / 2)))::int FROM pg_class WHERE oid = 'reviews'::regclass)";

/// The newest/oldest sort key: `published_at` in microseconds since the
/// epoch (exact in a float8 for this era, and back: the cursor condition
/// turns it into the same timestamp).
const PUBLISHED_MICROS: &str = "(extract(epoch FROM r.published_at) * 1000000)::float8";

/// How a sort orders, the sort key a cursor carries, and the condition
/// that starts a page after a cursor (`$11`, `$12`). Every sort but
/// relevance (a statement of its own, [`ReviewList::relevance_sql`])
/// orders by indexed expressions (`reviews_public_*_idx`) and pages with a
/// row comparison on the same expressions, so a page is an index range
/// scan, never a sort of every public review.
struct Order {
    by: &'static str,
    key: &'static str,
    after: &'static str,
}

fn order(sort: Sort) -> Option<Order> {
    Some(match sort {
        Sort::Newest => Order {
            by: "r.published_at DESC, r.id DESC",
            key: PUBLISHED_MICROS,
            after: "(r.published_at, r.id) < \
                    (to_timestamp(0) + $11 * interval '1 microsecond', $12)",
        },
        Sort::Oldest => Order {
            by: "r.published_at, r.id",
            key: PUBLISHED_MICROS,
            after: "(r.published_at, r.id) > \
                    (to_timestamp(0) + $11 * interval '1 microsecond', $12)",
        },
        Sort::Rating => Order {
            by: "coalesce(r.rating, -1) DESC, r.id DESC",
            key: "coalesce(r.rating, -1)::float8",
            after: "(coalesce(r.rating, -1), r.id) < ($11::numeric, $12)",
        },
        Sort::Relevance => return None,
    })
}

/// The condition of each filter present, on the filter's own placeholder.
fn filter_conditions(f: &ListFilters) -> impl Iterator<Item = &'static str> {
    [
        (f.kind.is_some(), "s.kind = $1"),
        (f.brand.is_some(), "lower(s.brand) = lower($2)"),
        (f.subject.is_some(), "s.slug = $3"),
        (f.editor.is_some(), "r.editor_id = $4"),
        (f.language.is_some(), "r.language = $5"),
        (f.rating_min.is_some(), "r.rating >= $6"),
        (f.rating_max.is_some(), "r.rating <= $7"),
        (f.published_after.is_some(), "r.published_at >= $8"),
        (f.published_before.is_some(), "r.published_at <= $9"),
        (f.q.is_some(), SEARCH),
    ]
    .into_iter()
    .filter_map(|(present, condition)| present.then_some(condition))
}

impl ReviewList {
    /// The statement for this page's shape.
    pub fn sql(&self) -> String {
        let Some(Order { by, key, after }) = order(self.sort) else {
            return self.relevance_sql();
        };
        let mut conditions = vec![PUBLIC];
        conditions.extend(filter_conditions(&self.filters));
        conditions.extend(self.after.map(|_| after));
        let conditions = conditions.join(" AND ");
        if self.filters.q.is_none() {
            return format!(
                "SELECT {REVIEW_LIST_COLUMNS}, {key} AS sort_key FROM {REVIEW_FROM}
                  WHERE {conditions}
                  ORDER BY {by}
                  LIMIT $13"
            );
        }
        // A search may match thousands of reviews: the page is chosen on
        // ids and sort keys alone, and only its rows are read in full.
        format!(
            "WITH page AS (
               SELECT r.id, {key} AS sort_key
                 FROM reviews r JOIN subjects s ON s.id = r.subject_id
                WHERE {conditions}
                ORDER BY {by}
                LIMIT $13)
             SELECT {REVIEW_LIST_COLUMNS}, page.sort_key
               FROM page JOIN ({REVIEW_FROM}) ON r.id = page.id
              ORDER BY {by}"
        )
    }

    /// The relevance statement ([`TIERS`]) for a page that starts in the
    /// cursor's tier (the first without a cursor); the tiers before it
    /// have no part in it.
    ///
    /// The first three tiers are read from the [`WINDOW`] newest reviews
    /// after the cursor (`walk`), each labelled with the first of the
    /// three vectors it matches (`tier`), and for the tiers after the
    /// cursor's from the newest reviews (`walk_top`). Only when a tier has
    /// too few there and the walk did not reach the oldest review does it
    /// read on: walking on past the walk (`<tier>_near`) if it found enough
    /// there for that to be likely to fill the page, then, if still too
    /// few, through its GIN indexes (`<tier>_old`). The fourth tier,
    /// matches in the body alone, reads its GIN indexes, and is read only
    /// when the first three did not fill the page with matches from every
    /// review. A tier is read only while the ones before it have not
    /// filled the page (`count(*) … < $13`, a one-time filter: not run at
    /// all otherwise), and the page takes the first `$13` by key (the
    /// tiers' keys do not overlap). Each part reads a bounded number of
    /// rows whatever the words, so the plan does not depend on them: the
    /// statement runs with a generic plan.
    fn relevance_sql(&self) -> String {
        let mut conditions = vec![PUBLIC];
        conditions.extend(filter_conditions(&self.filters).filter(|c| *c != SEARCH));
        // The subject only when a filter asks about it: each part would
        // otherwise look up the subject of every review it reads.
        let f = &self.filters;
        let from = if f.kind.is_some() || f.brand.is_some() || f.subject.is_some() {
            "reviews r JOIN subjects s ON s.id = r.subject_id"
        } else {
            "reviews r"
        };
        let mut statement = Relevance {
            from,
            base: conditions.join(" AND "),
            parts: Vec::new(),
            found: Vec::new(),
        };
        let start = self.after.map_or(0, |(key, _)| Tier::of_key(key));
        let after = |i: usize| match self.after {
            Some(_) if i == start => format!(" AND {}", TIERS[i].after()),
            _ => String::new(),
        };
        let body = TIERS.len() - 1;
        if start < body {
            statement.parts.push(format!(
                "window_size AS MATERIALIZED (SELECT {WINDOW} AS n)"
            ));
            statement.walk("walk", &after(start));
            // After a cursor, the tiers after its own start at the newest.
            let later_walk = if self.after.is_some() && start + 1 < body {
                statement.walk("walk_top", "");
                "walk_top"
            } else {
                "walk"
            };
            for i in start..body {
                statement.walked_tier(i, if i == start { "walk" } else { later_walk });
            }
        }
        statement.body_tier(&after(body));
        statement.sql()
    }

    /// The values of `$1`…`$13`, as [`PARAM_TYPES`] types them.
    fn params(&self) -> Params<'_> {
        let f = &self.filters;
        Params {
            kind: f.kind.map(|k| k.as_str()),
            brand: f.brand.as_deref(),
            subject: f.subject.as_deref(),
            editor: f.editor,
            language: f.language.map(|l| l.as_str()),
            rating_min: f.rating_min,
            rating_max: f.rating_max,
            published_after: f.published_after,
            published_before: f.published_before,
            q: f.q.as_deref(),
            after_key: self.after.map(|(key, _)| key),
            after_id: self.after.map(|(_, id)| id),
            limit: self.limit + 1,
        }
    }
}

/// The relevance statement as it is put together
/// ([`ReviewList::relevance_sql`]): its parts (common table expressions)
/// and, of those, the ones that hold the page's candidates, in order.
struct Relevance {
    from: &'static str,
    /// `PUBLIC` and the filters other than the query.
    base: String,
    parts: Vec<String>,
    found: Vec<String>,
}

/// The columns a walk reads of each review: those its tiers match on.
const WALKED: &str = "r.id, r.published_at, r.language, r.title_document, \
    r.heading_document, r.rank_document, r.search_document";

/// Newest first, as every tier is.
const NEWEST: &str = "ORDER BY r.published_at DESC, r.id DESC";

impl Relevance {
    /// How many candidates the parts before the next one found: the next
    /// runs only while that is below the page (`< $13`).
    fn so_far(&self) -> String {
        if self.found.is_empty() {
            return "0".to_owned();
        }
        let counts: Vec<String> = self
            .found
            .iter()
            .map(|name| format!("(SELECT count(*) FROM {name})"))
            .collect();
        counts.join(" + ")
    }

    fn part(&mut self, name: String, sql: String, holds_candidates: bool) {
        self.parts.push(format!("{name} AS MATERIALIZED ({sql})"));
        if holds_candidates {
            self.found.push(name);
        }
    }

    /// `name`: the window's newest reviews (after `after`), each with the
    /// first of the first three tiers it is in, or none.
    fn walk(&mut self, name: &str, after: &str) {
        let (from, base) = (self.from, &self.base);
        // Without an excluded word a review whose opening does not match
        // matches in neither its title nor its subject ([`TIERS`]): most
        // reviews are ruled out by that one test.
        let sql = format!(
            "SELECT r.id, r.published_at,
                    CASE WHEN r.tier IS NOT NULL AND NOT {WHOLE} THEN NULL ELSE r.tier END AS tier
               FROM (SELECT r.id, r.published_at, r.language, r.search_document,
                            CASE WHEN NOT {EXCLUDES} AND NOT {opening} THEN NULL
                                 WHEN {} THEN 0 WHEN {} THEN 1 WHEN {opening} THEN 2 END AS tier
                       FROM (SELECT {WALKED} FROM {from} WHERE {base}{after}
                              {NEWEST} LIMIT (SELECT n FROM window_size)) r) r",
            TIERS[0].matches,
            TIERS[1].matches,
            opening = TIERS[2].matches,
        );
        self.part(name.to_owned(), sql, false);
        // Where the walk ended and how many it read, for the parts that go
        // on from there.
        let end = format!(
            "SELECT published_at, id, (SELECT count(*) FROM {name}) AS walked
               FROM {name} ORDER BY published_at, id LIMIT 1"
        );
        self.part(format!("{name}_end"), end, false);
    }

    /// Tier `i` of the first three: its reviews in the walk `walked`; then,
    /// if too few and the walk stopped at the window, its next matches.
    /// When the walk found at least half as many as are still missing,
    /// walking on past it is likely to fill the page within the window's
    /// length again (`<tier>_near`: it stops as soon as it has what the
    /// page misses, and at twice the window); when not, or if that still
    /// falls short, its older matches come through its indexes
    /// (`<tier>_old`, without those the walk on found). A tier found that
    /// rarely in the window has about as many older matches as the window
    /// has rows (if the newest reviews are like the others).
    ///
    /// Without the walk on, a tier whose matches are rarer among the
    /// newest reviews than among the older ones (a burst of reviews about
    /// something else) read every older match of a common word through the
    /// indexes: 57,773 heap rows, 0.6 s, for `lente` at 1,000,000 reviews
    /// (docs/BENCHMARKS.md, "The walk on").
    fn walked_tier(&mut self, i: usize, walked: &str) {
        let (name, key, condition) = (TIERS[i].name, TIERS[i].key(), Tier::condition(i));
        let newer = format!(
            "SELECT r.id, {key} AS sort_key FROM {walked} r
              WHERE {gate} < $13 AND r.tier = {i} {NEWEST} LIMIT $13",
            gate = self.so_far(),
        );
        self.part(format!("{name}_new"), newer, true);
        let (from, base) = (self.from, &self.base);
        let walked_on = format!(
            "(SELECT walked FROM {walked}_end) = (SELECT n FROM window_size)
                  AND {base}
                  AND (r.published_at, r.id) < (SELECT published_at, id FROM {walked}_end)"
        );
        let near = format!(
            "SELECT r.id, {key} AS sort_key FROM (
               SELECT {WALKED} FROM {from}
                WHERE {gate} < $13
                  AND (SELECT count(*) FROM {name}_new) * 2 >= $13 - ({gate})
                  AND {walked_on}
                {NEWEST} LIMIT (SELECT 2 * n FROM window_size)) r
              WHERE {condition}
              {NEWEST} LIMIT greatest($13 - ({gate}), 0)",
            gate = self.so_far(),
        );
        self.part(format!("{name}_near"), near, true);
        let older = format!(
            "SELECT r.id, r.sort_key FROM (
               SELECT r.id, r.published_at, {key} AS sort_key FROM {from}
                WHERE {gate} < $13
                  AND {walked_on} AND {condition}
                  AND r.id NOT IN (SELECT id FROM {name}_near)
               OFFSET 0) r
              {NEWEST} LIMIT $13",
            gate = self.so_far(),
        );
        self.part(format!("{name}_old"), older, true);
    }

    /// The last tier, matches in the body alone, through its indexes.
    fn body_tier(&mut self, after: &str) {
        let i = TIERS.len() - 1;
        let (key, condition) = (TIERS[i].key(), Tier::condition(i));
        let (from, base) = (self.from, &self.base);
        let sql = format!(
            "SELECT r.id, r.sort_key FROM (
               SELECT r.id, r.published_at, {key} AS sort_key FROM {from}
                WHERE {gate} < $13 AND {base} AND {condition}{after}
               OFFSET 0) r
              {NEWEST} LIMIT $13",
            gate = self.so_far(),
        );
        self.part(TIERS[i].name.to_owned(), sql, true);
    }

    /// The page: the first `$13` candidates by key (the tiers' keys do not
    /// overlap), read in full.
    fn sql(&self) -> String {
        let union: Vec<String> = self
            .found
            .iter()
            .map(|name| format!("SELECT id, sort_key FROM {name}"))
            .collect();
        format!(
            "WITH {parts},
             page AS ({union} ORDER BY sort_key DESC, id DESC LIMIT $13)
             SELECT {REVIEW_LIST_COLUMNS}, page.sort_key
               FROM page JOIN ({REVIEW_FROM}) ON r.id = page.id
              ORDER BY page.sort_key DESC, r.id DESC",
            parts = self.parts.join(",\n"),
            union = union.join(" UNION ALL "),
        )
    }
}

/// The parameters of one list statement, in placeholder order.
struct Params<'a> {
    kind: Option<&'static str>,
    brand: Option<&'a str>,
    subject: Option<&'a str>,
    editor: Option<i64>,
    language: Option<&'static str>,
    rating_min: Option<f64>,
    rating_max: Option<f64>,
    published_after: Option<OffsetDateTime>,
    published_before: Option<OffsetDateTime>,
    q: Option<&'a str>,
    after_key: Option<f64>,
    after_id: Option<i64>,
    limit: i64,
}

impl Params<'_> {
    fn refs(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.kind,
            &self.brand,
            &self.subject,
            &self.editor,
            &self.language,
            &self.rating_min,
            &self.rating_max,
            &self.published_after,
            &self.published_before,
            &self.q,
            &self.after_key,
            &self.after_id,
            &self.limit,
        ]
    }
}

/// `/content`: one page, and the position after it when more follow.
pub async fn list_reviews(
    tx: &Transaction<'_>,
    list: &ReviewList,
    url_base: &str,
) -> Result<Page<ReviewView, Position>, tokio_postgres::Error> {
    let params = list.params();
    let refs = params.refs();
    let stmt = tx.prepare_typed_cached(&list.sql(), &PARAM_TYPES).await?;
    let rows = if list.sort == Sort::Relevance {
        // Every part of the relevance statement reads a bounded number of
        // rows whatever the words (`ReviewList::relevance_sql`): a generic
        // plan is right for all of them and saves planning a statement of
        // a dozen parts for every search (4–8 ms). Sent with the query, in
        // one round trip; it lasts until the transaction ends.
        let (_, rows) = super::together(
            tx.batch_execute("SET LOCAL plan_cache_mode = force_generic_plan"),
            tx.query(&stmt, &refs),
        )
        .await?;
        rows
    } else {
        tx.query(&stmt, &refs).await?
    };
    let mut items = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(ReviewView::from_row(row, url_base, false)?);
        keys.push(row.try_get::<_, f64>("sort_key")?);
    }
    Ok(Page::cut(items, keys, list.limit, |item, key| {
        (key, item.id)
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use domain::{Language, SubjectKind};

    use super::*;
    use crate::queries::checks::{assert_names_what_is_given, assert_typed};

    /// The filters whose bit is set in `mask`, one bit per filter in
    /// placeholder order (bit 0 `kind`, …, bit 9 `q`).
    fn filters(mask: u16) -> ListFilters {
        let on = |bit: u16| mask & (1 << bit) != 0;
        let at = OffsetDateTime::UNIX_EPOCH;
        ListFilters {
            kind: on(0).then_some(SubjectKind::Camera),
            brand: on(1).then(|| "Sony".to_owned()),
            subject: on(2).then(|| "sony-a7-iv".to_owned()),
            editor: on(3).then_some(7),
            language: on(4).then_some(Language::En),
            rating_min: on(5).then_some(1.5),
            rating_max: on(6).then_some(9.0),
            published_after: on(7).then_some(at),
            published_before: on(8).then_some(at),
            q: on(9).then(|| "sony".to_owned()),
        }
    }

    /// Every shape a request can have: each combination of filters, with
    /// every sort it allows, with and without a cursor.
    fn every_shape() -> impl Iterator<Item = ReviewList> {
        let sorts = [Sort::Newest, Sort::Oldest, Sort::Rating, Sort::Relevance];
        (0u16..1 << 10)
            .flat_map(move |mask| {
                sorts.into_iter().flat_map(move |sort| {
                    [None, Some((1.0, 2))].map(|after| ReviewList {
                        filters: filters(mask),
                        sort,
                        limit: 20,
                        after,
                    })
                })
            })
            // `params::list` refuses relevance without a query.
            .filter(|list| list.sort != Sort::Relevance || list.filters.q.is_some())
    }

    #[test]
    fn every_shape_names_exactly_the_placeholders_of_what_it_was_given() {
        let mut statements = BTreeSet::new();
        for list in every_shape() {
            let sql = list.sql();
            assert_names_what_is_given(&sql, &list.params().refs());
            assert_eq!(sql.contains("WITH "), list.filters.q.is_some());
            statements.insert(sql);
        }
        // One statement per shape: 1024 filter sets × (3 sorts, and
        // relevance with a query) × with or without a cursor.
        assert_eq!(statements.len(), (1024 * 3 + 512) * 2);
    }

    #[test]
    fn every_parameter_has_the_type_its_placeholder_declares() {
        let list = ReviewList {
            filters: filters(u16::MAX),
            sort: Sort::Relevance,
            limit: 20,
            after: Some((1.0, 2)),
        };
        assert_typed(&list.params().refs(), &PARAM_TYPES);
    }

    #[test]
    fn a_page_read_with_one_row_more_ends_at_its_last_item() {
        let cut = |n: i64| {
            Page::cut((1..=n).collect(), (1..=n).collect(), 3, |item, key| {
                (key, *item)
            })
        };
        let full = cut(4);
        assert_eq!((full.items, full.next), (vec![1, 2, 3], Some((3, 3))));
        let last = cut(3);
        assert_eq!((last.items, last.next), (vec![1, 2, 3], None));
    }
}

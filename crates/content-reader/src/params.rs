//! Query parameters of the public routes, validated into typed filters.
//! Every failure names the parameter (400); unknown and repeated
//! parameters are refused.

use std::collections::BTreeMap;

use domain::{Language, Slug, SubjectKind};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A parameter problem: its name and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub name: String,
    pub message: String,
}

impl ParamError {
    fn new(name: &str, message: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            message: message.into(),
        }
    }
}

/// Raw pairs as decoded from the query string, checked against the names a
/// route accepts. A `BTreeMap` so that the normalised form (cache keys,
/// cursor scopes) does not depend on the order the client wrote them in.
pub fn collect(
    pairs: Vec<(String, String)>,
    allowed: &[&str],
) -> Result<BTreeMap<String, String>, ParamError> {
    let mut out = BTreeMap::new();
    for (name, value) in pairs {
        if !allowed.contains(&name.as_str()) {
            let shown: String = name.chars().take(40).collect();
            return Err(ParamError::new(&shown, "unknown parameter"));
        }
        if out.insert(name.clone(), value).is_some() {
            return Err(ParamError::new(&name, "given more than once"));
        }
    }
    Ok(out)
}

/// The normalised query string: the cache key and cursor scope of a list.
/// Values are escaped, `&` included, so that one value never reads as two
/// parameters: `brand=x%26q%3Da` must not share the cache entry (or the
/// cursors) of `brand=x&q=a`.
pub fn normalised(params: &BTreeMap<String, String>, skip: &[&str]) -> String {
    params
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={}", escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `str::escape_default`, which leaves `&` as it is, plus `&` as `\u{26}`.
/// The backslash itself is escaped, so the result reads back one way only.
fn escape(value: &str) -> String {
    value.escape_default().to_string().replace('&', "\\u{26}")
}

fn text(name: &str, value: &str, max: usize) -> Result<String, ParamError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ParamError::new(name, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(ParamError::new(
            name,
            format!("must be at most {max} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ParamError::new(name, "must not contain control characters"));
    }
    // The query string decoder replaces invalid UTF-8 (`%ff`) with U+FFFD
    // rather than failing: refused here instead of searched for.
    if trimmed.contains(char::REPLACEMENT_CHARACTER) {
        return Err(ParamError::new(name, "must be percent-encoded UTF-8"));
    }
    Ok(trimmed.to_owned())
}

/// The longest `q`, in characters once trimmed.
pub const SEARCH_MAX_CHARS: usize = 200;
/// The longest `brand`, in characters once trimmed.
pub const BRAND_MAX_CHARS: usize = 100;
/// The page sizes a list takes.
pub const LIMITS: std::ops::RangeInclusive<i64> = 1..=100;
/// `/content`'s page size when none is given.
pub const LIST_LIMIT_DEFAULT: i64 = 20;
/// `/content/subjects`' page size when none is given.
pub const SUBJECT_LIMIT_DEFAULT: i64 = 50;
/// The ratings a bound takes (those a review can have).
pub const RATINGS: std::ops::RangeInclusive<f64> = 0.0..=10.0;

/// `q`: web-search syntax, 1–200 characters.
pub fn search(value: &str) -> Result<String, ParamError> {
    text("q", value, SEARCH_MAX_CHARS)
}

pub fn kind(value: &str) -> Result<SubjectKind, ParamError> {
    SubjectKind::parse(value).map_err(|_| ParamError::new("kind", "must be camera or lens"))
}

pub fn language(value: &str) -> Result<Language, ParamError> {
    Language::parse(value).map_err(|_| ParamError::new("language", "must be es, pt or en"))
}

pub fn brand(value: &str) -> Result<String, ParamError> {
    text("brand", value, BRAND_MAX_CHARS)
}

pub fn slug(name: &str, value: &str) -> Result<String, ParamError> {
    Slug::parse(value)
        .map(|s| s.as_str().to_owned())
        .map_err(|_| ParamError::new(name, "must be a slug such as sony-a7-iv"))
}

/// A positive id (`editor`).
pub fn id(name: &str, value: &str) -> Result<i64, ParamError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ParamError::new(name, "must be a positive integer"))
}

/// A rating bound: a number from 0 to 10.
pub fn rating(name: &str, value: &str) -> Result<f64, ParamError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && RATINGS.contains(v))
        .ok_or_else(|| ParamError::new(name, "must be a number from 0 to 10"))
}

/// RFC 3339, or `YYYY-MM-DD` meaning UTC midnight.
pub fn date(name: &str, value: &str) -> Result<OffsetDateTime, ParamError> {
    let invalid = || ParamError::new(name, "must be an RFC 3339 timestamp or a YYYY-MM-DD date");
    if value.len() > 64 {
        return Err(invalid());
    }
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(t);
    }
    // Exactly `YYYY-MM-DD`: `[year]` alone also takes a sign, and
    // `-9999-01-01` is before the earliest `timestamptz` (4713 BC), which
    // would fail the query with a 500 instead of answering 400.
    let plain = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !plain {
        return Err(invalid());
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| invalid())
}

/// `limit`: 1–100.
pub fn limit(value: Option<&String>, default: i64) -> Result<i64, ParamError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| LIMITS.contains(n))
            .ok_or_else(|| ParamError::new("limit", "must be an integer from 1 to 100")),
    }
}

/// Sort orders of `/content`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Sort {
    Newest,
    Oldest,
    Rating,
    Relevance,
}

impl Sort {
    pub fn parse(value: &str) -> Result<Self, ParamError> {
        match value {
            "newest" => Ok(Self::Newest),
            "oldest" => Ok(Self::Oldest),
            "rating" => Ok(Self::Rating),
            "relevance" => Ok(Self::Relevance),
            _ => Err(ParamError::new(
                "sort",
                "must be newest, oldest, rating or relevance",
            )),
        }
    }
}

/// The filters of `/content`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilters {
    pub q: Option<String>,
    pub kind: Option<SubjectKind>,
    pub brand: Option<String>,
    pub subject: Option<String>,
    pub editor: Option<i64>,
    pub language: Option<Language>,
    pub rating_min: Option<f64>,
    pub rating_max: Option<f64>,
    pub published_after: Option<OffsetDateTime>,
    pub published_before: Option<OffsetDateTime>,
}

/// What `/content/subjects` accepts.
pub const SUBJECT_PARAMS: &[&str] = &["kind", "brand", "q", "limit", "cursor"];

/// What `/content/compare` accepts.
pub const COMPARE_PARAMS: &[&str] = &["subjects"];

/// What the detail pages (a review, a subject) accept: nothing.
pub const DETAIL_PARAMS: &[&str] = &[];

/// What `/content/changes` accepts.
pub const FEED_PARAMS: &[&str] = &["since", "limit"];

/// Rows of the change feed per answer.
pub const FEED_LIMITS: std::ops::RangeInclusive<i64> = 1..=1000;
/// Rows of the change feed per answer when `limit` is not given.
pub const FEED_LIMIT_DEFAULT: i64 = 100;

/// Parses `/content/changes`' parameters: `since` (required, a content
/// version: a non-negative integer) and `limit` (1–1000).
pub fn feed(params: &BTreeMap<String, String>) -> Result<(i64, i64), ParamError> {
    let since = params
        .get("since")
        .ok_or_else(|| ParamError::new("since", "is required"))?;
    let since = Some(since)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| {
            ParamError::new(
                "since",
                "must be a non-negative integer (a content version)",
            )
        })?;
    let limit = match params.get("limit") {
        None => FEED_LIMIT_DEFAULT,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| FEED_LIMITS.contains(n))
            .ok_or_else(|| ParamError::new("limit", "must be an integer from 1 to 1000"))?,
    };
    Ok((since, limit))
}

/// What `/content` accepts.
pub const LIST_PARAMS: &[&str] = &[
    "q",
    "kind",
    "brand",
    "subject",
    "editor",
    "language",
    "rating_min",
    "rating_max",
    "published_after",
    "published_before",
    "sort",
    "limit",
    "cursor",
];

/// Parses `/content`'s parameters (all but `cursor`).
pub fn list(params: &BTreeMap<String, String>) -> Result<(ListFilters, Sort, i64), ParamError> {
    let get = |k: &str| params.get(k);
    let filters = ListFilters {
        q: get("q").map(|v| search(v)).transpose()?,
        kind: get("kind").map(|v| kind(v)).transpose()?,
        brand: get("brand").map(|v| brand(v)).transpose()?,
        subject: get("subject").map(|v| slug("subject", v)).transpose()?,
        editor: get("editor").map(|v| id("editor", v)).transpose()?,
        language: get("language").map(|v| language(v)).transpose()?,
        rating_min: get("rating_min")
            .map(|v| rating("rating_min", v))
            .transpose()?,
        rating_max: get("rating_max")
            .map(|v| rating("rating_max", v))
            .transpose()?,
        published_after: get("published_after")
            .map(|v| date("published_after", v))
            .transpose()?,
        published_before: get("published_before")
            .map(|v| date("published_before", v))
            .transpose()?,
    };
    if let (Some(min), Some(max)) = (filters.rating_min, filters.rating_max)
        && min > max
    {
        return Err(ParamError::new(
            "rating_min",
            "must not be above rating_max",
        ));
    }
    if let (Some(after), Some(before)) = (filters.published_after, filters.published_before)
        && after > before
    {
        return Err(ParamError::new(
            "published_after",
            "must not be after published_before",
        ));
    }
    let sort = match get("sort") {
        Some(v) => Sort::parse(v)?,
        None if filters.q.is_some() => Sort::Relevance,
        None => Sort::Newest,
    };
    if sort == Sort::Relevance && filters.q.is_none() {
        return Err(ParamError::new("sort", "relevance needs a search query q"));
    }
    Ok((filters, sort, limit(get("limit"), LIST_LIMIT_DEFAULT)?))
}

/// The filters and page size of `/content/subjects`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubjectFilter {
    pub kind: Option<SubjectKind>,
    pub brand: Option<String>,
    /// A substring of "brand model".
    pub q: Option<String>,
    pub limit: i64,
}

/// Parses `/content/subjects`' parameters (all but `cursor`).
pub fn subjects(params: &BTreeMap<String, String>) -> Result<SubjectFilter, ParamError> {
    Ok(SubjectFilter {
        kind: params.get("kind").map(|v| kind(v)).transpose()?,
        brand: params.get("brand").map(|v| brand(v)).transpose()?,
        q: params.get("q").map(|v| search(v)).transpose()?,
        limit: limit(params.get("limit"), SUBJECT_LIMIT_DEFAULT)?,
    })
}

/// How many subjects a comparison takes.
pub const COMPARED: std::ops::RangeInclusive<usize> = 2..=4;

/// `/content/compare`'s `subjects`: 2 to 4 distinct slugs, comma-separated,
/// in the order given.
pub fn compared_subjects(params: &BTreeMap<String, String>) -> Result<Vec<String>, ParamError> {
    let invalid = |message: &str| ParamError::new("subjects", message);
    let raw = params
        .get("subjects")
        .ok_or_else(|| invalid("is required: 2 to 4 subject slugs separated by commas"))?;
    let slugs: Vec<String> = raw.split(',').map(|s| s.trim().to_owned()).collect();
    if !COMPARED.contains(&slugs.len()) {
        return Err(invalid("must name 2 to 4 subjects"));
    }
    for one in &slugs {
        slug("subjects", one)?;
    }
    let mut distinct = slugs.clone();
    distinct.sort();
    distinct.dedup();
    if distinct.len() != slugs.len() {
        return Err(invalid("must not name a subject twice"));
    }
    Ok(slugs)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        q.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    fn parse(q: &str) -> Result<(ListFilters, Sort, i64), ParamError> {
        list(&collect(pairs(q), LIST_PARAMS)?)
    }

    #[test]
    fn defaults_are_newest_first_twenty_a_page_and_relevance_with_a_query() {
        let (_, sort, limit) = parse("").expect("valid");
        assert_eq!((sort, limit), (Sort::Newest, 20));
        assert_eq!(parse("q=sony").expect("valid").1, Sort::Relevance);
    }

    #[test]
    fn every_bad_value_names_its_parameter() {
        for (query, name) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=abc", "limit"),
            ("kind=phone", "kind"),
            ("language=fr", "language"),
            ("rating_min=-1", "rating_min"),
            ("rating_max=11", "rating_max"),
            ("rating_min=NaN", "rating_min"),
            ("rating_min=8&rating_max=7", "rating_min"),
            ("published_after=yesterday", "published_after"),
            (
                "published_after=2024-02-01&published_before=2024-01-01",
                "published_after",
            ),
            ("sort=best", "sort"),
            ("sort=relevance", "sort"),
            ("editor=0", "editor"),
            ("editor=x", "editor"),
            ("subject=Not A Slug", "subject"),
            ("q=", "q"),
            ("bogus=1", "bogus"),
            ("kind=camera&kind=lens", "kind"),
        ] {
            let err = parse(query).expect_err(query);
            assert_eq!(err.name, name, "{query}");
        }
        let long = format!("q={}", "a".repeat(201));
        assert_eq!(parse(&long).expect_err("long q").name, "q");
    }

    #[test]
    fn a_comparison_names_two_to_four_distinct_slugs_in_order() {
        let compare = |q: &str| compared_subjects(&collect(pairs(q), COMPARE_PARAMS)?);
        assert_eq!(
            compare("subjects=b-1, a-2").expect("valid"),
            vec!["b-1".to_owned(), "a-2".to_owned()]
        );
        for bad in [
            "",
            "subjects=a",
            "subjects=a,b,c,d,e",
            "subjects=a,a",
            "subjects=a,Not A Slug",
            "subjects=a,",
        ] {
            assert_eq!(compare(bad).expect_err(bad).name, "subjects", "{bad}");
        }
    }

    #[test]
    fn dates_accept_rfc3339_and_plain_days() {
        let (f, _, _) = parse("published_after=2024-01-31&published_before=2024-02-01T10:00:00Z")
            .expect("valid");
        assert_eq!(
            f.published_after.map(|d| d.unix_timestamp()),
            Some(1_706_659_200)
        );
        assert!(f.published_before.is_some());
    }

    #[test]
    fn a_value_holding_an_ampersand_does_not_normalise_as_two_parameters() {
        // Once the same cache key: `?brand=x%26q%3Da` was served the page
        // cached for `?brand=x&q=a`, and the other way round.
        let one = collect(vec![("brand".into(), "x&q=a".into())], LIST_PARAMS).expect("valid");
        let two = collect(pairs("brand=x&q=a"), LIST_PARAMS).expect("valid");
        assert_ne!(normalised(&one, &[]), normalised(&two, &[]));
        assert_eq!(normalised(&one, &[]), "brand=x\\u{26}q=a");
        crate::fuzzing::check_query("brand=x%26q%3Da");
    }

    #[test]
    fn a_plain_date_is_exactly_yyyy_mm_dd() {
        // `-9999-01-01` once parsed, and PostgreSQL refused the instant
        // (before 4713 BC) with an error the reader answered as a 500.
        for bad in [
            "-9999-01-01",
            "-0001-01-01",
            "+2024-01-01",
            "+02024-01-01",
            "2024-1-01",
        ] {
            assert_eq!(
                date("published_after", bad).expect_err(bad).name,
                "published_after"
            );
        }
        assert!(date("published_after", "0000-01-01").is_ok());
        crate::fuzzing::check_query("published_after=-9999-01-01&published_before=0000-01-01");
    }

    #[test]
    fn the_normalised_form_ignores_parameter_order() {
        let a = collect(pairs("kind=camera&brand=Sony"), LIST_PARAMS).expect("valid");
        let b = collect(pairs("brand=Sony&kind=camera"), LIST_PARAMS).expect("valid");
        assert_eq!(normalised(&a, &[]), normalised(&b, &[]));
    }

    /// A parameter name: mostly one a route knows.
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => proptest::sample::select(LIST_PARAMS).prop_map(str::to_owned),
            1 => Just("subjects".to_owned()),
            1 => "[a-z_]{0,16}",
        ]
    }

    /// A value: often one some parameter accepts, often not.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => "[A-Za-z0-9 &=%+#\"'\\\\-]{0,12}",
            2 => "[-+]?[0-9]{1,5}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9])([Tt ][0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,9})?([Zz]|[+-][0-2][0-9]:[0-5][0-9]))?",
            2 => "-?[0-9]{0,3}(\\.[0-9]{0,3})?(e-?[0-9]{1,3})?",
            2 => proptest::sample::select(vec![
                "camera", "lens", "es", "pt", "en", "newest", "oldest", "rating", "relevance",
                "sony-a7-iv", "nikon-z6-iii",
            ])
            .prop_map(str::to_owned),
            1 => "[a-z0-9]{1,8}(,[a-z0-9-]{0,8}){0,5}",
            1 => "\\PC{0,40}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn any_query_string_parses_or_names_a_parameter(
            raw in proptest::collection::vec((name(), value()), 0..6),
            junk in "[&=%+;a-z0-9\\PC]{0,20}",
        ) {
            // Also: accepted filters round-trip through a query string, the
            // normalised form reads back to the parameters, values are in
            // range; on every route.
            let query = raw
                .iter()
                .map(|(name, value)| format!("{}={}", crate::fuzzing::encode(name), crate::fuzzing::encode(value)))
                .collect::<Vec<_>>()
                .join("&");
            crate::fuzzing::check_query(&query);
            crate::fuzzing::check_query(&format!("{query}{junk}"));
        }
    }
}

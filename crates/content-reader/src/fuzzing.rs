//! The properties of the reader's query-string parsing, as a function that
//! both the fuzz target (`fuzz/`) and the property tests call, so a long
//! fuzz run and `cargo test` check exactly the same thing.
//!
//! `check_query` accepts any query string and panics when a property
//! fails: nothing panics; every refusal names a parameter and is a 400;
//! accepted filters written back as a query string parse to themselves;
//! the normalised form (cache key and cursor scope) tells every two
//! parameter sets apart; and every accepted value is one the database can
//! take.
//!
//! Not part of the crate's API: hidden from the docs, and free to change
//! whenever the properties do.

use std::collections::BTreeMap;

use actix_web::ResponseError as _;
use actix_web::web;
use domain::ErrorCode;
use platform::Problem;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::params::{self, ListFilters, ParamError, Sort};

/// Every route's accepted names: the list, the catalog, detail pages (none)
/// and compare.
const ROUTES: &[&[&str]] = &[
    params::LIST_PARAMS,
    params::SUBJECT_PARAMS,
    params::DETAIL_PARAMS,
    params::COMPARE_PARAMS,
];

/// The earliest instant PostgreSQL's `timestamptz` holds: 4713 BC, which is
/// astronomical year -4712.
const EARLIEST_PG_YEAR: i32 = -4712;

/// How the reader answers a parameter problem.
fn assert_refused_with_400(error: &ParamError, names: &[String], allowed: &[&str]) {
    let status = Problem::new(ErrorCode::InvalidParameter).status_code();
    assert!(status.is_client_error(), "{status}");
    let named = allowed.contains(&error.name.as_str())
        || names
            .iter()
            .any(|n| n.chars().take(40).eq(error.name.chars()));
    assert!(named, "{error:?} names no parameter");
    assert!(!error.message.is_empty(), "{error:?}");
}

/// Percent-encodes every byte but the unreserved ones, as a client may.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Reads a query string the way the reader's routes do.
fn pairs_of(query: &str) -> Option<Vec<(String, String)>> {
    web::Query::<Vec<(String, String)>>::from_query(query)
        .ok()
        .map(web::Query::into_inner)
}

/// Any query string on every route.
pub fn check_query(query: &str) {
    let Some(pairs) = pairs_of(query) else {
        // The extractor's error handler answers `invalid_parameter`.
        let status = Problem::new(ErrorCode::InvalidParameter).status_code();
        assert!(status.is_client_error());
        return;
    };
    let names: Vec<String> = pairs.iter().map(|(name, _)| name.clone()).collect();
    for allowed in ROUTES {
        match params::collect(pairs.clone(), allowed) {
            Err(error) => assert_refused_with_400(&error, &names, allowed),
            Ok(collected) => check_normalised(&collected),
        }
    }
    if let Ok(collected) = params::collect(pairs.clone(), params::LIST_PARAMS) {
        match params::list(&collected) {
            Err(error) => assert_refused_with_400(&error, &[], params::LIST_PARAMS),
            Ok((filters, sort, limit)) => check_list_round_trip(&filters, sort, limit),
        }
    }
    for (_, value) in &pairs {
        check_value(value);
    }
}

/// Each single-value parser on one value: an accepted value is in range.
fn check_value(value: &str) {
    let any_name = |result: Result<(), ParamError>| {
        if let Err(error) = result {
            assert!(!error.name.is_empty() && !error.message.is_empty());
        }
    };
    any_name(params::search(value).map(|q| assert!((1..=200).contains(&q.chars().count()))));
    any_name(params::brand(value).map(|b| assert!((1..=100).contains(&b.chars().count()))));
    any_name(params::kind(value).map(drop));
    any_name(params::language(value).map(drop));
    any_name(params::slug("subject", value).map(|s| assert_eq!(s, value)));
    any_name(params::id("editor", value).map(|id| assert!(id > 0)));
    any_name(params::rating("rating_min", value).map(|r| assert!((0.0..=10.0).contains(&r))));
    any_name(params::date("published_after", value).map(check_date));
    any_name(params::limit(Some(&value.to_owned()), 20).map(|n| assert!((1..=100).contains(&n))));
    any_name(Sort::parse(value).map(drop));
}

/// A date filter must be one PostgreSQL can compare with: an instant out of
/// `timestamptz`'s range makes the query fail (a 500).
fn check_date(date: OffsetDateTime) {
    let utc = date.to_offset(UtcOffset::UTC);
    assert!(utc.year() >= EARLIEST_PG_YEAR, "{date} is before 4713 BC");
    assert!(
        date.format(&Rfc3339).is_ok(),
        "{date} cannot be written back as RFC 3339"
    );
}

/// Accepted `/content` filters, written back as a query string, parse to
/// the same filters, sort and limit.
fn check_list_round_trip(filters: &ListFilters, sort: Sort, limit: i64) {
    let mut query: Vec<(&str, String)> = Vec::new();
    let mut put = |name, value: Option<String>| {
        if let Some(value) = value {
            query.push((name, value));
        }
    };
    let date = |d: &OffsetDateTime| {
        check_date(*d);
        d.format(&Rfc3339).expect("checked above")
    };
    put("q", filters.q.clone());
    put("kind", filters.kind.map(|k| k.as_str().to_owned()));
    put("brand", filters.brand.clone());
    put("subject", filters.subject.clone());
    put("editor", filters.editor.map(|id| id.to_string()));
    put("language", filters.language.map(|l| l.as_str().to_owned()));
    put("rating_min", filters.rating_min.map(|r| r.to_string()));
    put("rating_max", filters.rating_max.map(|r| r.to_string()));
    put(
        "published_after",
        filters.published_after.as_ref().map(date),
    );
    put(
        "published_before",
        filters.published_before.as_ref().map(date),
    );
    put("sort", Some(sort_word(sort).to_owned()));
    put("limit", Some(limit.to_string()));
    let text = query
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    let pairs = pairs_of(&text).unwrap_or_else(|| panic!("{text} does not decode"));
    let again = params::collect(pairs, params::LIST_PARAMS).and_then(|p| params::list(&p));
    assert_eq!(again, Ok((filters.clone(), sort, limit)), "{text}");
}

fn sort_word(sort: Sort) -> &'static str {
    match sort {
        Sort::Newest => "newest",
        Sort::Oldest => "oldest",
        Sort::Rating => "rating",
        Sort::Relevance => "relevance",
    }
}

/// The normalised form names the parameters exactly: reading it back gives
/// the parameters it was made from, so two different sets of parameters
/// never share a cache entry or a cursor scope.
fn check_normalised(params: &BTreeMap<String, String>) {
    let text = params::normalised(params, &[]);
    assert_eq!(
        denormalise(&text).as_ref(),
        Some(params),
        "{text:?} reads back as other parameters"
    );
    let without = params::normalised(params, &["cursor", "limit"]);
    let mut expected = params.clone();
    expected.remove("cursor");
    expected.remove("limit");
    assert_eq!(denormalise(&without), Some(expected), "{without:?}");
}

/// The inverse of `params::normalised`: `name=value` pairs joined by `&`,
/// each value escaped as `str::escape_default` does (and `&` as `\u{26}`).
fn denormalise(text: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if text.is_empty() {
        return Some(out);
    }
    for pair in text.split('&') {
        let (name, value) = pair.split_once('=')?;
        if out.insert(name.to_owned(), unescape(value)?).is_some() {
            return None;
        }
    }
    Some(out)
}

/// Undoes `str::escape_default`: `\t \r \n \' \" \\` and `\u{…}`.
fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'n' => out.push('\n'),
            c @ ('\'' | '"' | '\\') => out.push(c),
            'u' => {
                if chars.next()? != '{' {
                    return None;
                }
                let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

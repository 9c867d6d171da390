//! The reader's routes (SPEC §4 content-reader), one module per resource.
//! Each parses and validates its request, names its cache key and says
//! what it reads; `crate::serve` does the rest.

use std::collections::BTreeMap;

use actix_web::{Route, guard, web};

use crate::error::ReadError;
use crate::params;
use crate::startup::State;

pub(crate) mod changes;
pub(crate) mod compare;
pub(crate) mod list;
pub(crate) mod review;
pub(crate) mod subjects;

/// Every resource the reader mounts, with its GET and HEAD route, in
/// matching order: the fixed `/content/subjects`, `/content/compare` and
/// `/content/changes` come before `/content/{slug_or_id}` would take them
/// as slugs (`domain::RESERVED_SLUGS` keeps reviews from those names).
pub(crate) fn resources() -> [(&'static str, Route); 6] {
    let get_or_head = || web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
    [
        (list::PATH, get_or_head().to(list::list)),
        (
            subjects::LIST_PATH,
            get_or_head().to(subjects::list_subjects),
        ),
        (subjects::PATH, get_or_head().to(subjects::subject)),
        (compare::PATH, get_or_head().to(compare::compare)),
        (changes::PATH, get_or_head().to(changes::changes)),
        (review::PATH, get_or_head().to(review::review)),
    ]
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    for (path, route) in resources() {
        cfg.service(
            web::resource(path)
                .route(route)
                .default_service(web::to(|| async {
                    platform::http::method_not_allowed("GET, HEAD")
                })),
        );
    }
}

/// The name in a detail page's path (a review's slug or id, a subject's
/// slug). A detail page takes no parameters, and a name that could not
/// exist is a 404 without a database read.
fn detail_name(
    query: web::Query<Vec<(String, String)>>,
    path: web::Path<String>,
    what: &'static str,
    could_exist: impl FnOnce(&str) -> bool,
) -> Result<String, ReadError> {
    params::collect(query.into_inner(), params::DETAIL_PARAMS)?;
    let name = path.into_inner();
    if could_exist(&name) {
        Ok(name)
    } else {
        Err(ReadError::NotFound(what))
    }
}

/// The cache key, cursor scope and decoded `cursor` of a paged `list`.
/// The normalised parameters are bounded by their validation, so they serve
/// as key and scope as they are (no hashing on the path of a cache hit); the
/// scope leaves out `cursor` and `limit`, so a page size can change mid-list.
fn paging<P: serde::de::DeserializeOwned>(
    state: &State,
    list: &str,
    params: &BTreeMap<String, String>,
) -> Result<(String, String, Option<P>), ReadError> {
    let scope = format!(
        "content:{list}:v1:{}",
        params::normalised(params, &["cursor", "limit"])
    );
    let after = params
        .get("cursor")
        .map(|c| state.cursors.decode::<P>(&scope, c))
        .transpose()
        .map_err(|_| ReadError::InvalidCursor)?;
    let key = format!("{list}:{}", params::normalised(params, &[]));
    Ok((key, scope, after))
}

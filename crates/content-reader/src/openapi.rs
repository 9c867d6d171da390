//! The service's OpenAPI 3.1 document, served at `/openapi.json` by
//! `platform::server::serve`. Kept as a JSON file beside the code; the
//! tests check that every route the service mounts is described in it.

/// The document's text.
pub fn document() -> String {
    include_str!("../openapi.json").to_owned()
}

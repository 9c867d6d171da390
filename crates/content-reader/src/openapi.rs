//! The service's OpenAPI 3.1 document, served at `/openapi.json`.
//!
//! Kept as a JSON file beside the code; a test checks that every route the
//! service mounts is described in it.

use actix_web::HttpResponse;

/// The document's text.
pub const DOCUMENT: &str = include_str!("../openapi.json");

/// `GET /openapi.json`.
pub async fn handler() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT)
}

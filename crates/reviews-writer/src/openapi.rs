//! The service's OpenAPI 3.1 document, generated from the code it
//! describes and served at `/openapi.json` by `platform::server::serve`.
//!
//! Each handler carries its operation (`#[utoipa::path]` in `routes/`),
//! the request bodies their schemas (the domain's raw review types), the
//! answers theirs (`platform::content`); this module gathers them, names
//! the answers the operations share, and adds what every service's
//! document has (`platform::openapi::finish`). `openapi.json` beside the
//! crate is the same text, committed for the gateway's `/docs` and the
//! generated clients; the test below fails when it drifts
//! (`make openapi` rewrites it).

use std::collections::BTreeMap;

use platform::openapi::{Conventions, NamedHeader, text_header};
use utoipa::OpenApi as _;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, Response, ResponseBuilder};

use crate::routes::{create, propagation, read, retract, update};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "RandomCameraReviews reviews-writer",
        version = "1.0.0",
        description = "Every write to reviews, on the primary. Editors only (Bearer access token \
            from auth). Every error is application/problem+json (RFC 9457); every answer carries \
            X-Request-Id and X-Content-Type-Options: nosniff. A disabled editor gets 403 even \
            with a valid token."
    ),
    servers((url = "/")),
    paths(
        read::list,
        create::create,
        read::read,
        update::update,
        retract::retract,
        propagation::propagation
    ),
    // MethodNotAllowed is no operation's: it is what every resource answers
    // a method it does not list. Propagation is the body of a declared
    // answer (`PropagationAnswer`), which names it without registering it.
    components(schemas(propagation::Propagation), responses(
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        UnprocessableEntity,
        ServiceUnavailable,
        PreconditionFailed,
    ))
)]
struct ApiDoc;

platform::problem_responses! {
    BadRequest => "Malformed JSON, bad parameter or cursor";
    Unauthorized => "Missing, malformed, expired or unverifiable token; or bad credentials",
        www_authenticate;
    Forbidden => "Valid token without the right, or a disabled account";
    NotFound => "No such resource";
    MethodNotAllowed => "Method not allowed", allow;
    Conflict => "A request with this Idempotency-Key is still in flight", retry_after;
    PayloadTooLarge => "Body over 1 MiB";
    UnsupportedMediaType => "Body is not application/json";
    UnprocessableEntity =>
        "Fields break the rules (every violation in errors[]) or an unknown field";
    ServiceUnavailable => "A dependency is down; retry", retry_after;
    PreconditionFailed => "If-Match names an older version";
}

/// The document's text.
pub fn document() -> String {
    platform::openapi::document(
        ApiDoc::openapi(),
        &Conventions {
            extra_headers: vec![],
            bearer: true,
            readyz_summary: "Ready: the database answers (service port only)",
            // Only on a replayed answer.
            optional_headers: &["Idempotent-Replayed"],
        },
    )
}

// The answers of the operations that succeed with a review or nothing,
// declared once with their headers.

fn consistency_token() -> NamedHeader {
    (
        "X-Consistency-Token",
        text_header(
            "Opaque, signed token carrying the primary's timeline and WAL position after \
             commit; send it to any reader as X-Consistency-Token for read-your-writes",
        ),
    )
}

fn surrogate_key() -> NamedHeader {
    (
        "Surrogate-Key",
        text_header(
            "CDN purge keys of what changed: review:<id> subject:<slug> brand:<hash> kind:<kind> language:<code> editor:<id> list search phrase term:<hash> (README, Reader cache)",
        ),
    )
}

fn etag() -> NamedHeader {
    ("ETag", text_header("The review's version, quoted"))
}

fn location() -> NamedHeader {
    ("Location", text_header("/content/{slug}"))
}

fn idempotent_replayed() -> NamedHeader {
    (
        "Idempotent-Replayed",
        one_value("true", "Present on a replay"),
    )
}

fn no_store() -> NamedHeader {
    let why = "An editor's own view of their reviews: never cached";
    ("Cache-Control", one_value("no-store", why))
}

/// A header that, when present, has this one value.
fn one_value(value: &str, description: &str) -> Header {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([value]));
    HeaderBuilder::new()
        .schema(schema)
        .description(Some(description))
        .build()
}

/// An answer with `headers` and, when given, the schema of its body.
fn answer(description: &str, body: Option<&str>, headers: Vec<NamedHeader>) -> Response {
    let mut builder = ResponseBuilder::new().description(description);
    if let Some(schema) = body {
        builder = builder.content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        );
    }
    for (name, header) in headers {
        builder = builder.header(name, header);
    }
    builder.build()
}

/// Declares answers as `utoipa::ToResponse` unit types, so that an
/// operation says `(status = 201, response = inline(Created))`.
macro_rules! answers {
    ($($(#[$meta:meta])* $name:ident => $response:expr;)*) => {
        $(
            $(#[$meta])*
            #[derive(Debug)]
            pub struct $name;

            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), $response.into())
                }
            }
        )*
    };
}

answers! {
    /// `POST /reviews`, first answered or replayed.
    Created => answer(
        "Created (or replayed)",
        Some("Review"),
        vec![consistency_token(), surrogate_key(), etag(), location(), idempotent_replayed(), no_store()],
    );
    /// `PATCH /reviews/{id}`.
    Changed => answer(
        "The changed review",
        Some("Review"),
        vec![consistency_token(), surrogate_key(), etag(), no_store()],
    );
    /// `DELETE /reviews/{id}`.
    Retracted => answer(
        "Retracted",
        None,
        vec![consistency_token(), surrogate_key(), no_store()],
    );
    /// `GET /reviews/{id}`.
    OwnReview => answer("The review", Some("Review"), vec![etag(), no_store()]);
    /// `GET /reviews/{id}/propagation`.
    PropagationAnswer => answer(
        "Where the review's last write is, region by region",
        Some("Propagation"),
        vec![no_store()],
    );
}

/// The refusals of an editor's read of one review (`GET /reviews/{id}`
/// and its propagation): no valid token, a disabled account, no such
/// review (or not theirs to see), the primary down.
#[derive(Debug)]
pub struct ReviewReadRefusals;

impl utoipa::IntoResponses for ReviewReadRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("401", "Unauthorized"),
            ("403", "Forbidden"),
            ("404", "NotFound"),
            ("503", "ServiceUnavailable"),
        ]
        .into_iter()
        .map(|(status, name)| (status.to_owned(), Ref::from_response_name(name).into()))
        .collect()
    }
}

/// The `{id}` of `/reviews/{id}`. The handlers take it as text and answer
/// 404 for anything but a positive integer, so it is described here rather
/// than derived from their extractor.
#[derive(Debug)]
pub struct ReviewId;

impl utoipa::IntoParams for ReviewId {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1));
        vec![
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(schema))
                .example(Some(1.into()))
                .build(),
        ]
    }
}

/// `If-Match` on the changes of one review.
#[derive(Debug)]
pub struct IfMatch;

impl utoipa::IntoParams for IfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r#"^(\*|(W/)?"[0-9]{1,9}")$"#));
        vec![
            ParameterBuilder::new()
                .name("If-Match")
                .parameter_in(ParameterIn::Header)
                .schema(Some(schema))
                .description(Some("\"<version>\": 412 when the review has changed"))
                .build(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use actix_web::http::Method;
    use actix_web::test::{TestRequest, call_service, init_service};

    use super::*;

    #[actix_web::test]
    async fn the_openapi_document_describes_exactly_the_methods_each_route_answers() {
        // No state, no verifier: a routed request fails in its extractors,
        // an unrouted method gets the resource's 405.
        let app = init_service(actix_web::App::new().configure(crate::routes::configure)).await;
        let doc: serde_json::Value = serde_json::from_str(&document()).unwrap();
        for (path, uri) in [
            ("/reviews", "/reviews"),
            ("/reviews/{id}", "/reviews/1"),
            ("/reviews/{id}/propagation", "/reviews/1/propagation"),
        ] {
            for method in [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ] {
                let documented = doc["paths"][path]
                    .get(method.as_str().to_lowercase())
                    .is_some();
                let request = TestRequest::default().method(method.clone()).uri(uri);
                let answer = call_service(&app, request.to_request()).await;
                let routed = answer.status() != 405 && answer.status() != 404;
                assert_eq!(routed, documented, "{method} {path}: {}", answer.status());
            }
        }
    }

    #[test]
    fn every_documented_answer_header_is_required_but_the_replay_marker() {
        let doc: serde_json::Value = serde_json::from_str(&document()).unwrap();
        let created = &doc["paths"]["/reviews"]["post"]["responses"]["201"]["headers"];
        for name in [
            "ETag",
            "Location",
            "Surrogate-Key",
            "X-Consistency-Token",
            "X-Request-Id",
        ] {
            assert_eq!(created[name]["required"], true, "{name}");
        }
        assert!(created["Idempotent-Replayed"].get("required").is_none());
        let conflict = &doc["components"]["responses"]["Conflict"]["headers"];
        assert_eq!(conflict["Retry-After"]["required"], true);
    }

    #[test]
    fn every_schema_the_document_refers_to_is_in_it() {
        let text = document();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let prefix = "\"#/components/schemas/";
        for (at, _) in text.match_indices(prefix) {
            let rest = &text[at + prefix.len()..];
            let name = &rest[..rest.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{name} is referred to, not defined"
            );
        }
    }

    #[test]
    fn the_committed_openapi_document_is_the_generated_one() {
        platform::openapi::assert_committed(
            &document(),
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json"),
        );
    }
}

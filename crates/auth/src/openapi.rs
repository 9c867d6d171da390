//! The service's OpenAPI 3.1 document, generated from the handlers and the
//! types they read and answer (utoipa), finished with what every service
//! shares (`platform::openapi`), and served at `/openapi.json` by
//! `platform::server::serve`. `crates/auth/openapi.json` is the same text,
//! committed for the gateway's `/docs` and for clients; the test below fails
//! when it drifts (`make openapi` rewrites it).

use std::collections::BTreeMap;

use platform::openapi::Conventions;
use utoipa::openapi::{Ref, RefOr, Response};
use utoipa::{OpenApi, ToResponse};

use crate::routes::{editors, jwks, login, me, tokens};

platform::problem_responses! {
    BadRequest => "Malformed JSON, bad parameter or cursor";
    Unauthorized => "Missing, malformed, expired or unverifiable access token", www_authenticate;
    InvalidCredentials => "Unknown email or wrong password (one generic answer), or an invalid, expired, revoked or reused refresh token (reuse revokes its family). Credentials travel in the body, not in an HTTP authentication scheme, so there is no WWW-Authenticate challenge.";
    Forbidden => "Valid token without the right, or a disabled account";
    NotFound => "No such resource";
    MethodNotAllowed => "Method not allowed", allow;
    Conflict => "Email taken, or a change an admin may not make to themselves";
    PayloadTooLarge => "Body over 1 MiB";
    UnsupportedMediaType => "Body is not application/json";
    UnprocessableEntity => "Fields break the rules (every violation in errors[]) or an unknown field";
    TooManyRequests => "Too many failed logins", retry_after;
    ServiceUnavailable => "A dependency is down; retry", retry_after;
}

/// The answers of every operation that reads a JSON body (SPEC §4
/// "Bodies"), listed once: `responses(.., BodyErrors)`.
#[derive(Debug)]
pub struct BodyErrors;

impl utoipa::IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            ("400".to_owned(), named::<BadRequest>()),
            ("413".to_owned(), named::<PayloadTooLarge>()),
            ("415".to_owned(), named::<UnsupportedMediaType>()),
            ("422".to_owned(), named::<UnprocessableEntity>()),
        ])
    }
}

/// A reference to the named answer `T`.
fn named<T: for<'r> ToResponse<'r>>() -> RefOr<Response> {
    RefOr::Ref(Ref::from_response_name(T::response().0))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "RandomCameraReviews auth",
        version = "1.0.0",
        description = "Editor accounts, login, refresh-token rotation, logout, editor administration and the signing keys (JWKS). Every error is application/problem+json (RFC 9457). Every answer carries X-Request-Id and X-Content-Type-Options: nosniff."
    ),
    servers((url = "/")),
    paths(
        login::login,
        tokens::refresh,
        tokens::logout,
        me::me,
        me::change_password,
        editors::list_editors,
        editors::create_editor,
        editors::get_editor,
        editors::patch_editor,
        jwks::jwks,
    ),
    components(responses(
        BadRequest,
        Unauthorized,
        InvalidCredentials,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        UnprocessableEntity,
        TooManyRequests,
        ServiceUnavailable,
    ))
)]
struct ApiDoc;

/// The document's text. Every header it names is sent on every answer it
/// is listed for (the common ones by the conventions middleware, `Location`,
/// `Allow`, `Retry-After` and `WWW-Authenticate` with the status that lists
/// them), so none is optional.
pub fn document() -> String {
    platform::openapi::document(
        ApiDoc::openapi(),
        &Conventions {
            extra_headers: vec![],
            bearer: true,
            readyz_summary: "Ready: the database answers (service port only)",
            optional_headers: &[],
        },
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_committed_openapi_document_is_the_generated_one() {
        platform::openapi::assert_committed(
            &document(),
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json"),
        );
    }
}

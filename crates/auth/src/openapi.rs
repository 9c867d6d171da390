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

use crate::routes::{audit, editors, jwks, login, me, resets, sessions, tokens};

platform::problem_responses! {
    BadRequest => "Malformed JSON, bad parameter or cursor";
    InvalidResetToken => "Malformed JSON, or a password reset token that is unknown, expired, used or superseded (one generic answer: invalid_reset_token)";
    Unauthorized => "Missing, malformed, expired or unverifiable access token", www_authenticate;
    InvalidCredentials => "Unknown email or wrong password (one generic answer), or an invalid, expired, revoked or reused refresh token (reuse revokes its family). Credentials travel in the body, not in an HTTP authentication scheme, so there is no WWW-Authenticate challenge.";
    Forbidden => "Valid token without the right, or a disabled account";
    NotFound => "No such resource";
    MethodNotAllowed => "Method not allowed", allow;
    Conflict => "Email taken, a change an admin may not make to themselves, a password reset for a disabled account, or ending the other sessions with an access token that names no session";
    PayloadTooLarge => "Body over 1 MiB";
    UnsupportedMediaType => "Body is not application/json";
    UnprocessableEntity => "Fields break the rules (every violation in errors[]) or an unknown field";
    TooManyRequests => "Too many failed logins or password resets", retry_after;
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

/// The answers of every operation for a signed-in editor that reads the
/// account in the database (a bad token, a disabled account or a missing
/// right, the database down), listed once: `responses(.., SignedIn)`.
#[derive(Debug)]
pub struct SignedIn;

impl utoipa::IntoResponses for SignedIn {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            ("401".to_owned(), named::<Unauthorized>()),
            ("403".to_owned(), named::<Forbidden>()),
            ("503".to_owned(), named::<ServiceUnavailable>()),
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
        description = "Editor accounts, login, refresh-token rotation, logout, sessions, password resets, audit trails, editor administration and the signing keys (JWKS). A login starts a session (a refresh-token family); access tokens name theirs in a `sid` claim. Ending a session refuses its refresh token at once; access tokens already issued run until they expire (15 minutes). Every error is application/problem+json (RFC 9457). Every answer carries X-Request-Id and X-Content-Type-Options: nosniff."
    ),
    servers((url = "/")),
    paths(
        login::login,
        tokens::refresh,
        tokens::logout,
        resets::redeem,
        me::me,
        me::change_password,
        sessions::list_mine,
        sessions::end_my_others,
        sessions::end_mine,
        audit::mine,
        editors::list_editors,
        editors::create_editor,
        editors::get_editor,
        editors::patch_editor,
        resets::issue,
        sessions::list_of_editor,
        sessions::end_all_of_editor,
        sessions::end_of_editor,
        audit::of_editor,
        jwks::jwks,
    ),
    components(responses(
        BadRequest,
        InvalidResetToken,
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

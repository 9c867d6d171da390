//! `GET /.well-known/jwks.json`: the keys other services verify access
//! tokens with.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use platform::jwt::JwkSet;

use crate::startup::State;

/// Public signing keys: the active and the previous one
///
/// Tokens signed by the previous key keep verifying until they expire.
/// Verifiers may cache this set; they refetch it when a token names a `kid`
/// they do not know.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    operation_id = "jwks",
    responses((status = 200, description = "The key set", body = JwkSet))
)]
pub async fn jwks(state: web::Data<State>) -> HttpResponse {
    // Keys change only at a restart; five minutes spares verifiers a fetch
    // per token without delaying a rotation much.
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(&state.keys.jwks)
}

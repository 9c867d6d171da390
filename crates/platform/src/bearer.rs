//! Authentication as extractors: a handler that needs a caller takes an
//! [`Editor`] (or [`Admin`]) parameter, so a forgotten check shows in its
//! signature. Failures follow RFC 6750: 401 with `WWW-Authenticate: Bearer`
//! for a missing or bad token, 403 for a good token without the right.

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, web};
use domain::{ErrorCode, Role};
use futures_util::future::LocalBoxFuture;

use crate::jwt::{Claims, JwtError, JwtVerifier};
use crate::problem::Problem;

/// A caller whose access token verified. Whether the account is still
/// enabled is checked by the service against the database where it matters
/// (every write, every account read).
#[derive(Debug, Clone)]
pub struct Editor {
    pub id: i64,
    pub role: Role,
    pub claims: Claims,
}

/// A caller whose token carries the admin role.
#[derive(Debug, Clone)]
pub struct Admin(pub Editor);

/// The `Authorization: Bearer` token of a request, if well-formed.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// 401 without details (no token was presented).
pub fn missing_token() -> Problem {
    Problem::new(ErrorCode::Unauthorized)
        .detail("this resource needs a bearer token")
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"rcr\""),
        )
}

/// 401 for a token that did not verify.
pub fn invalid_token(err: &JwtError) -> Problem {
    if *err == JwtError::KeysUnavailable {
        return Problem::new(ErrorCode::ServiceUnavailable).retry_after(1);
    }
    let challenge =
        format!("Bearer realm=\"rcr\", error=\"invalid_token\", error_description=\"{err}\"");
    Problem::new(ErrorCode::InvalidToken)
        .detail(err.to_string())
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer")),
        )
}

impl FromRequest for Editor {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = req.app_data::<web::Data<JwtVerifier>>().cloned();
        let token = bearer_token(req).map(str::to_owned);
        Box::pin(async move {
            let verifier = verifier
                .ok_or_else(|| crate::Problem::internal("JwtVerifier missing from app data"))?;
            let token = token.ok_or_else(missing_token)?;
            let claims = verifier
                .verify(&token)
                .await
                .map_err(|e| invalid_token(&e))?;
            let id = claims
                .sub
                .parse::<i64>()
                .map_err(|_| invalid_token(&JwtError::Invalid))?;
            let role = Role::parse(&claims.role).map_err(|_| invalid_token(&JwtError::Invalid))?;
            Ok(Editor { id, role, claims })
        })
    }
}

impl FromRequest for Admin {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let editor = Editor::from_request(req, payload);
        Box::pin(async move {
            let editor = editor.await?;
            if editor.role == Role::Admin {
                Ok(Admin(editor))
            } else {
                Err(Problem::new(ErrorCode::Forbidden).detail("this resource is for admins"))
            }
        })
    }
}

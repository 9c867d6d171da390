//! The auth service's errors and their one mapping to HTTP.

use domain::{ErrorCode, ValidationErrors};
use platform::Problem;
use platform::error::CommonError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown email or wrong password: one answer for both.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account disabled")]
    AccountDisabled,
    #[error("too many failed logins")]
    Throttled { retry_after_s: u64 },
    #[error("refresh token invalid")]
    RefreshInvalid,
    #[error("refresh token reused")]
    RefreshReused,
    /// Unknown, expired, used or superseded: one answer for all.
    #[error("invalid password reset token")]
    ResetTokenInvalid,
    /// What was not found (`editor`, `session`), for the detail.
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("email taken")]
    EmailTaken,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("validation failed")]
    Validation(ValidationErrors),
    #[error("invalid parameter {0}: {1}")]
    InvalidParameter(&'static str, String),
    #[error("invalid cursor")]
    InvalidCursor,
    /// The database or a broken invariant: 503 or 500.
    #[error(transparent)]
    Common(#[from] CommonError),
    /// Already an answer (from a shared extractor or helper).
    #[error("{0}")]
    Problem(Problem),
}

impl From<Problem> for AuthError {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

platform::wraps_common_errors!(AuthError);

impl AuthError {
    /// The answer, without side effects (the middleware logs a 5xx cause).
    /// No `_` arm: a new variant must decide its status here.
    pub fn to_problem(&self) -> Problem {
        match self {
            Self::InvalidCredentials => {
                Problem::new(ErrorCode::InvalidCredentials).detail("invalid email or password")
            }
            Self::AccountDisabled => {
                Problem::new(ErrorCode::AccountDisabled).detail("this account is disabled")
            }
            Self::Throttled { retry_after_s } => Problem::new(ErrorCode::TooManyRequests)
                .detail("too many failed attempts; try again later")
                .retry_after(*retry_after_s),
            Self::RefreshInvalid => Problem::new(ErrorCode::RefreshTokenInvalid)
                .detail("the refresh token is invalid, expired or revoked"),
            Self::RefreshReused => Problem::new(ErrorCode::RefreshTokenReused)
                .detail("the refresh token was already used; its session has been revoked"),
            Self::ResetTokenInvalid => Problem::new(ErrorCode::InvalidResetToken)
                .detail("the reset token is invalid, expired or already used"),
            Self::NotFound(what) => {
                Problem::new(ErrorCode::NotFound).detail(format!("no such {what}"))
            }
            Self::EmailTaken => Problem::new(ErrorCode::EmailTaken)
                .detail("an editor with this email exists")
                .field("email", "is already taken"),
            Self::Forbidden(why) => Problem::new(ErrorCode::Forbidden).detail(*why),
            Self::Conflict(why) => Problem::new(ErrorCode::Conflict).detail(*why),
            Self::Validation(errors) => Problem::new(ErrorCode::ValidationFailed)
                .detail("the request has invalid fields")
                .errors(errors.iter().cloned()),
            Self::InvalidParameter(name, why) => Problem::new(ErrorCode::InvalidParameter)
                .detail(format!("`{name}`: {why}"))
                .field(*name, why.clone()),
            Self::InvalidCursor => Problem::new(ErrorCode::InvalidCursor)
                .detail("the cursor is invalid")
                .field("cursor", "is invalid"),
            Self::Common(err) => err.to_problem(),
            Self::Problem(p) => p.clone(),
        }
    }
}

impl actix_web::ResponseError for AuthError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.to_problem().status()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        self.to_problem().to_response()
    }
}

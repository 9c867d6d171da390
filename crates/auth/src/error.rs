//! The auth service's errors and their one mapping to HTTP.

use domain::{ErrorCode, ValidationErrors};
use platform::Problem;
use platform::db::DbError;

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
    #[error("not found")]
    NotFound,
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
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("internal: {0}")]
    Internal(String),
    /// Already an answer (from a shared extractor or helper).
    #[error("{0}")]
    Problem(Problem),
}

impl From<tokio_postgres::Error> for AuthError {
    fn from(err: tokio_postgres::Error) -> Self {
        Self::Db(DbError::from_pg(err))
    }
}

impl From<deadpool_postgres::PoolError> for AuthError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        Self::Db(DbError::from(err))
    }
}

impl From<Problem> for AuthError {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

impl AuthError {
    /// The answer. No `_` arm: a new variant must decide its status here.
    pub fn to_problem(&self) -> Problem {
        match self {
            Self::InvalidCredentials => {
                Problem::new(ErrorCode::InvalidCredentials).detail("invalid email or password")
            }
            Self::AccountDisabled => {
                Problem::new(ErrorCode::AccountDisabled).detail("this account is disabled")
            }
            Self::Throttled { retry_after_s } => Problem::new(ErrorCode::TooManyRequests)
                .detail("too many failed logins; try again later")
                .retry_after(*retry_after_s),
            Self::RefreshInvalid => Problem::new(ErrorCode::RefreshTokenInvalid)
                .detail("the refresh token is invalid, expired or revoked"),
            Self::RefreshReused => Problem::new(ErrorCode::RefreshTokenReused)
                .detail("the refresh token was already used; its session has been revoked"),
            Self::NotFound => Problem::new(ErrorCode::NotFound).detail("no such editor"),
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
            Self::Db(DbError::Unavailable(cause)) => platform::problem::unavailable(cause, 1),
            Self::Db(err @ DbError::Other(_)) => platform::problem::internal(err),
            Self::Internal(cause) => platform::problem::internal(cause),
            Self::Problem(p) => p.clone(),
        }
    }
}

impl actix_web::ResponseError for AuthError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        self.to_problem().to_response()
    }
}

//! The writer's errors and their one mapping to HTTP.

use domain::{ErrorCode, ValidationErrors};
use platform::Problem;
use platform::error::CommonError;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("validation failed")]
    Validation(ValidationErrors),
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("account disabled")]
    AccountDisabled,
    #[error("version mismatch")]
    PreconditionFailed,
    #[error("idempotency key reused with another body")]
    IdempotencyKeyReused,
    #[error("idempotency key in flight")]
    IdempotencyKeyInFlight,
    #[error("invalid header {0}: {1}")]
    InvalidHeader(&'static str, &'static str),
    #[error("invalid parameter {0}: {1}")]
    InvalidParameter(&'static str, &'static str),
    #[error("invalid cursor")]
    InvalidCursor,
    /// The database or a broken invariant: 503 or 500.
    #[error(transparent)]
    Common(#[from] CommonError),
    /// Already an answer.
    #[error("{0}")]
    Problem(Problem),
}

platform::wraps_common_errors!(WriteError);

impl WriteError {
    /// The answer, without side effects (the middleware logs a 5xx cause).
    /// No `_` arm: a new variant must decide its status here.
    pub fn to_problem(&self) -> Problem {
        match self {
            Self::Validation(errors) => Problem::new(ErrorCode::ValidationFailed)
                .detail("the review has invalid fields")
                .errors(errors.iter().cloned()),
            Self::NotFound => Problem::new(ErrorCode::NotFound).detail("no such review"),
            Self::Forbidden(why) => Problem::new(ErrorCode::Forbidden).detail(*why),
            Self::AccountDisabled => {
                Problem::new(ErrorCode::AccountDisabled).detail("this account is disabled")
            }
            Self::PreconditionFailed => Problem::new(ErrorCode::PreconditionFailed)
                .detail("the review has changed since the version in If-Match"),
            Self::IdempotencyKeyReused => Problem::new(ErrorCode::IdempotencyKeyReused)
                .detail("this Idempotency-Key was used with another request body"),
            Self::IdempotencyKeyInFlight => Problem::new(ErrorCode::IdempotencyKeyInFlight)
                .detail("a request with this Idempotency-Key is still being processed")
                .retry_after(1),
            Self::InvalidHeader(name, why) => Problem::new(ErrorCode::BadRequest)
                .detail(format!("{name}: {why}"))
                .field(*name, *why),
            Self::InvalidParameter(name, why) => Problem::new(ErrorCode::InvalidParameter)
                .detail(format!("`{name}`: {why}"))
                .field(*name, *why),
            Self::InvalidCursor => Problem::new(ErrorCode::InvalidCursor)
                .detail("the cursor is invalid")
                .field("cursor", "is invalid"),
            Self::Common(err) => err.to_problem(),
            Self::Problem(p) => p.clone(),
        }
    }

    /// The metric label of an outcome.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Common(err) => err.outcome(),
            Self::Validation(_)
            | Self::NotFound
            | Self::Forbidden(_)
            | Self::AccountDisabled
            | Self::PreconditionFailed
            | Self::IdempotencyKeyReused
            | Self::IdempotencyKeyInFlight
            | Self::InvalidHeader(..)
            | Self::InvalidParameter(..)
            | Self::InvalidCursor
            | Self::Problem(_) => "refused",
        }
    }
}

impl actix_web::ResponseError for WriteError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.to_problem().status()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        self.to_problem().to_response()
    }
}

//! The reader's errors and their one mapping to HTTP.

use std::sync::Arc;

use actix_web::http::header::{HeaderName, HeaderValue};
use domain::ErrorCode;
use platform::Problem;
use platform::consistency::TokenError;
use platform::db::DbError;
use platform::error::CommonError;

use crate::params::ParamError;

/// Where an answer's data was read: `cache`, `replica:<name>`, `primary`,
/// or `none` (set by the middleware where nothing was read).
pub(crate) const X_SERVED_FROM: HeaderName = HeaderName::from_static("x-served-from");

/// Why a read was refused or failed. `Clone` so that single flight can hand
/// one miss's failure to every request that waited for it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    #[error("invalid parameter `{}`: {}", .0.name, .0.message)]
    InvalidParameter(ParamError),
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("invalid consistency token: {0}")]
    InvalidToken(TokenError),
    /// A review or subject that does not exist or is not public.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// Compare named subjects that do not exist.
    #[error("no such subject: {}", .0.join(", "))]
    SubjectsNotFound(Vec<String>),
    /// No node can serve the read: every replica down or lagging, and no
    /// primary to fall back to.
    #[error("no usable database node")]
    NoNode,
    /// Too many uncached reads at once: no permit within the queue wait
    /// (`crate::admission`).
    #[error("too many uncached reads in progress")]
    Overloaded,
    /// A read on the node named (its `X-Served-From` value) failed with
    /// the inner error: the answer says which node it read.
    #[error("{1}")]
    OnNode(HeaderValue, Box<ReadError>),
    /// The database or a broken invariant: 503 or 500.
    #[error(transparent)]
    Common(Arc<CommonError>),
}

impl From<CommonError> for ReadError {
    fn from(err: CommonError) -> Self {
        Self::Common(Arc::new(err))
    }
}

platform::wraps_common_errors!(ReadError);

impl ReadError {
    /// Whether another node may succeed where this read failed: a replica
    /// that cancelled the query (a conflict with replay) or went away.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Common(err) if matches!(&**err, CommonError::Db(db) if db.is_transient()))
    }

    /// Whether the node could not be reached at all (so the router should
    /// stop choosing it until its next check).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Common(err) if matches!(&**err, CommonError::Db(DbError::Unavailable(_))))
    }

    /// The answer, without side effects (the middleware logs a 5xx cause).
    /// No `_` arm: a new variant must decide its status here.
    pub fn to_problem(&self) -> Problem {
        match self {
            Self::InvalidParameter(err) => Problem::new(ErrorCode::InvalidParameter)
                .detail(format!("`{}`: {}", err.name, err.message))
                .field(err.name.clone(), err.message.clone()),
            Self::InvalidCursor => Problem::new(ErrorCode::InvalidCursor)
                .detail("the cursor is invalid or belongs to another list")
                .field("cursor", "is invalid"),
            Self::InvalidToken(err) => Problem::new(ErrorCode::InvalidConsistencyToken)
                .detail(format!("X-Consistency-Token: {err}"))
                .field("X-Consistency-Token", err.to_string()),
            Self::NotFound(what) => {
                Problem::new(ErrorCode::NotFound).detail(format!("no such {what}"))
            }
            Self::SubjectsNotFound(slugs) => {
                let problem = Problem::new(ErrorCode::NotFound)
                    .detail(format!("no such subject: {}", slugs.join(", ")));
                slugs.iter().fold(problem, |p, slug| {
                    p.field("subjects", format!("no such subject: {slug}"))
                })
            }
            Self::NoNode => Problem::unavailable(self, 1),
            // No cause: a flood refused request by request would otherwise
            // write a warning for each; the counter and the access log
            // line say it.
            Self::Overloaded => Problem::new(ErrorCode::ServiceUnavailable).retry_after(1),
            Self::OnNode(node, inner) => inner.to_problem().header(X_SERVED_FROM, node.clone()),
            Self::Common(err) => err.to_problem(),
        }
    }
}

impl From<ParamError> for ReadError {
    fn from(err: ParamError) -> Self {
        Self::InvalidParameter(err)
    }
}

impl actix_web::ResponseError for ReadError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.to_problem().status()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        self.to_problem().to_response()
    }
}

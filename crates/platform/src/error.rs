//! The failures every service shares — its dependencies and its own bugs —
//! which each service's error enum wraps in one variant, so that the
//! classification (503 or 500, the metric outcome) is written once.

use std::fmt;

use crate::Problem;
use crate::db::DbError;

/// What any handler can fail on besides its own rules.
#[derive(Debug, thiserror::Error)]
pub enum CommonError {
    #[error(transparent)]
    Db(#[from] DbError),
    /// A broken invariant (a row that must exist, a value that must
    /// serialise): 500, the cause in the log only.
    #[error("internal: {0}")]
    Internal(String),
}

impl CommonError {
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// The answer; the cause rides along for the log, never sent.
    pub fn to_problem(&self) -> Problem {
        match self {
            Self::Db(err) => err.to_problem(),
            Self::Internal(cause) => Problem::internal(cause),
        }
    }

    /// The metric label of an outcome: `unavailable` or `error`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Db(err) => err.outcome(),
            Self::Internal(_) => "error",
        }
    }
}

impl From<tokio_postgres::Error> for CommonError {
    fn from(err: tokio_postgres::Error) -> Self {
        Self::Db(DbError::from(err))
    }
}

impl From<deadpool_postgres::PoolError> for CommonError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        Self::Db(DbError::from(err))
    }
}

/// The `From` impls that let `?` turn driver, pool and database errors into
/// a service's error enum through [`CommonError`] (and so through the
/// classification). The type must itself implement `From<CommonError>`
/// (usually `Common(#[from] CommonError)`): `platform::wraps_common_errors!(WriteError);`.
/// Also gives the type `internal(cause)`: a broken invariant, 500, the
/// cause in the log only.
#[macro_export]
macro_rules! wraps_common_errors {
    ($ty:ty) => {
        impl $ty {
            /// A broken invariant: 500, the cause in the log only.
            pub fn internal(cause: impl ::std::fmt::Display) -> Self {
                Self::from($crate::error::CommonError::internal(cause))
            }
        }
        impl From<$crate::db::DbError> for $ty {
            fn from(err: $crate::db::DbError) -> Self {
                Self::from($crate::error::CommonError::from(err))
            }
        }
        impl From<$crate::db::PgError> for $ty {
            fn from(err: $crate::db::PgError) -> Self {
                Self::from($crate::error::CommonError::from(err))
            }
        }
        impl From<$crate::db::PoolError> for $ty {
            fn from(err: $crate::db::PoolError) -> Self {
                Self::from($crate::error::CommonError::from(err))
            }
        }
    };
}

//! What every service shares: settings, telemetry, metrics, problem+json
//! errors, request conventions, health endpoints, database and Redis
//! handles, and JWT verification.

pub mod audit;
pub mod bearer;
pub mod changes;
pub mod consistency;
pub mod content;
pub mod cursor;
pub mod db;
pub mod error;
// The fuzz targets' checks: built for this crate's tests and with the
// `fuzzing` feature (fuzz/ turns it on), never into the services.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod http;
pub mod jwt;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod redis;
pub mod request_id;
pub mod server;
pub mod settings;
pub mod surrogate;
pub mod telemetry;

pub use problem::Problem;

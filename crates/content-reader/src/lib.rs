//! The content-reader service: every public read (list, search, detail,
//! catalog, compare), one deployment per region, on that region's
//! streaming replicas behind that region's Redis. It never writes.

pub mod admission;
pub mod cache;
pub mod encoding;
pub mod error;
pub mod flight;
pub mod invalidation;
// The fuzz targets' checks: built for this crate's tests and with the
// `fuzzing` feature (fuzz/ turns it on), never into the services.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod openapi;
pub mod params;
pub mod queries;
pub mod router;
pub mod routes;
mod serve;
pub mod settings;
pub mod startup;

pub use settings::Settings;
pub use startup::{Application, build};

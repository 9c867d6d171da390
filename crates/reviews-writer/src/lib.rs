//! The reviews-writer service: every write to reviews (create, update,
//! retract, publish) and an editor's own drafts, on the PostgreSQL primary.
//! Every write is one transaction that also bumps `content_state.version`
//! (readers' cache invalidation) with its change-feed row, appends to
//! `audit_log` and records the `Idempotency-Key` answer; every successful
//! write answers an `X-Consistency-Token` readers honour for
//! read-your-writes, and records where it lies in the WAL so that its
//! editor can watch it reach each region.

pub mod answer;
pub mod changed;
pub mod error;
pub mod idempotency;
pub mod openapi;
pub mod purge;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod subjects;

pub use settings::Settings;
pub use startup::{Application, build};

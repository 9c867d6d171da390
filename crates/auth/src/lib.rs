//! The auth service: editor accounts (argon2id), login, refresh-token
//! rotation with reuse detection, logout, editor administration, and the
//! JWKS that other services verify access tokens with.

pub mod admin;
pub mod cli;
pub mod editors;
pub mod error;
pub mod keys;
pub mod openapi;
pub mod password;
pub mod routes;
pub mod sessions;
pub mod settings;
pub mod startup;
pub mod throttle;
pub mod tokens;

pub use settings::Settings;
pub use startup::{Application, build};

//! HTTP tests of the reviews-writer, started the way `main` starts it, next
//! to a real auth service, against a real PostgreSQL primary and replica.

mod helpers;

mod authorization;
mod create;
mod durability;
mod embargo;
mod feed;
mod idempotency;
mod propagation;
mod reads;
mod service;
mod updates;
mod validation;

//! HTTP tests of the auth service, started the way `main` starts it, against
//! a real PostgreSQL and Redis.

mod helpers;

mod accounts;
mod admin;
mod audit;
mod conventions;
mod login;
mod refresh;
mod resets;
mod sessions;

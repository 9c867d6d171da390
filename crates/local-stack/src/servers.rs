//! The PostgreSQL primary, its streaming replicas and Redis, set up the one
//! way both the local stack and the tests use: where the programs are, the
//! user PostgreSQL runs as, initdb and the replication settings, TLS with a
//! local certificate authority, base backups with a slot, the command lines
//! that run the servers, stopping them, and whether they answer.
//!
//! How long the processes live is the caller's: the local stack runs them
//! as daemons that outlive the launcher, on fixed ports; `test-support`
//! runs them as children that die with the test binary, on free ports.
//! Everything here is blocking, so the sync launcher can use it directly
//! and the async tests from a thread of their own.

mod postgres;
mod redis;
mod tls;

pub use self::postgres::{
    Durability, PgUser, Postgres, SUPERUSER, StopMode, replication_conninfo,
    replication_conninfo_any,
};
pub use self::redis::{RedisServer, redis_flush, redis_ping};
pub use self::tls::{LocalCa, ServerCert, conninfo_value, url_encode_path};
pub use crate::process::free_port;

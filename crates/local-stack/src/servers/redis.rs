//! Redis: a cache on loopback that persists nothing, and whether it answers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{self, StackError};

/// The `redis-server` program.
#[derive(Debug, Clone)]
pub struct RedisServer {
    binary: PathBuf,
}

impl RedisServer {
    pub fn locate() -> Result<Self, StackError> {
        process::find_binary("redis-server").map(|binary| Self { binary })
    }

    /// A server on 127.0.0.1:`port` working in `dir`, where it writes
    /// nothing: a cache is refilled, never restored. The caller adds how it
    /// runs (daemon or child) and where it logs.
    pub fn command(&self, port: u16, dir: &Path) -> Command {
        let mut redis = Command::new(&self.binary);
        redis
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .current_dir(dir)
            .stdin(Stdio::null());
        redis
    }
}

/// Whether the Redis on `port` answers PING within two seconds.
pub fn redis_ping(port: u16) -> bool {
    redis_command(port, "PING").is_ok_and(|pong| pong == "PONG")
}

/// Empties the Redis on `port` (`FLUSHALL`): what a point-in-time restore
/// does to every region's cache.
pub fn redis_flush(port: u16) -> Result<(), StackError> {
    redis_command(port, "FLUSHALL")
        .map(|_| ())
        .map_err(|e| StackError::new(format!("redis on port {port}: FLUSHALL: {e}")))
}

/// Sends a command without arguments to the Redis on `port`, waiting two
/// seconds at most; its answer.
fn redis_command(port: u16, command: &str) -> ::redis::RedisResult<String> {
    let timeout = Duration::from_secs(2);
    ::redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .and_then(|client| client.get_connection_with_timeout(timeout))
        .and_then(|mut connection| {
            connection.set_read_timeout(Some(timeout))?;
            ::redis::cmd(command).query::<String>(&mut connection)
        })
}

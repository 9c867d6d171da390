//! A Redis handle that never blocks a request for long and never stops a
//! service from starting: it connects lazily, reconnects by itself, and
//! bounds every command with a short timeout. Callers treat an error as
//! "Redis is not there" and carry on (a cache miss, an unthrottled login).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::settings::{RedisSettings, SettingsError};

/// Cloneable (the manager is shared).
#[derive(Clone)]
pub struct RedisHandle {
    conn: ConnectionManager,
    timeout: Duration,
}

impl std::fmt::Debug for RedisHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisHandle")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Redis did not answer in time or at all.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis timed out")]
    Timeout,
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

impl RedisHandle {
    /// Must be called inside a tokio runtime. Does not connect.
    pub fn new(settings: &RedisSettings) -> Result<Self, SettingsError> {
        let client = redis::Client::open(settings.url.expose())
            .map_err(|e| SettingsError::new(format!("redis.url is not valid: {e}")))?;
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // Reconnection is retried on the next command, not in a loop
            // that would hold the caller.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| SettingsError::new(format!("redis: {e}")))?;
        Ok(Self { conn, timeout })
    }

    /// Runs one command (or pipeline) with the timeout.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, RedisError> {
        let mut conn = self.conn.clone();
        tokio::time::timeout(self.timeout, cmd.query_async(&mut conn))
            .await
            .map_err(|_| RedisError::Timeout)?
            .map_err(RedisError::from)
    }

    pub async fn pipeline<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, RedisError> {
        let mut conn = self.conn.clone();
        tokio::time::timeout(self.timeout, pipe.query_async(&mut conn))
            .await
            .map_err(|_| RedisError::Timeout)?
            .map_err(RedisError::from)
    }

    /// `PING`, for readiness.
    pub async fn ping(&self) -> Result<(), RedisError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }
}

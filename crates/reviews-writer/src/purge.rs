//! Background deletion of what the writer keeps for a while only: expired
//! idempotency keys (24 h) and old change-feed rows (7 days), each on its
//! own interval, for as long as the process runs.
//!
//! A failed round (the primary down, the pool exhausted) is logged at
//! debug level and retried on the next tick: nothing waits for a purge.

use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool};

/// Rows the feed purge deletes per statement: small enough that a round
/// never holds many row locks or writes a burst of WAL for the replicas.
pub const FEED_BATCH: i64 = 1000;

/// What a purger deletes, and past which age.
#[derive(Debug, Clone, Copy)]
pub enum Expired {
    /// Idempotency keys older than their TTL.
    IdempotencyKeys(Duration),
    /// Change-feed rows older than the retention.
    FeedRows(Duration),
}

impl Expired {
    /// The table, for the log.
    fn table(self) -> &'static str {
        match self {
            Self::IdempotencyKeys(_) => "idempotency_keys",
            Self::FeedRows(_) => "content_changes",
        }
    }

    /// One round; how many rows went.
    async fn purge(self, client: &impl GenericClient) -> Result<u64, tokio_postgres::Error> {
        match self {
            Self::IdempotencyKeys(ttl) => crate::idempotency::purge(client, ttl).await,
            Self::FeedRows(keep) => feed(client, keep).await,
        }
    }
}

/// Purges `what` every `interval`.
pub fn spawn_every(pool: Pool, interval: Duration, what: Expired) {
    actix_web::rt::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            let purged = match pool.get().await {
                Ok(client) => what.purge(&client).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let table = what.table();
            match purged {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, table, "expired rows deleted"),
                Err(e) => tracing::debug!(error = %e, table, "purge skipped"),
            }
        }
    });
}

/// Deletes change-feed rows older than `keep`, [`FEED_BATCH`] at a time,
/// oldest versions first; returns how many. Each batch is the lowest
/// versions (a range of the primary key, however long the feed), of which
/// those past `keep` go: `at` follows the version order, so the first
/// batch short of full ends the round.
pub async fn feed(
    client: &impl GenericClient,
    keep: Duration,
) -> Result<u64, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "DELETE FROM content_changes
              WHERE version IN (SELECT version FROM content_changes ORDER BY version LIMIT $1)
                AND at < now() - make_interval(secs => $2)",
        )
        .await?;
    let mut total = 0;
    loop {
        let deleted = client
            .execute(&stmt, &[&FEED_BATCH, &keep.as_secs_f64()])
            .await?;
        total += deleted;
        if deleted < FEED_BATCH.unsigned_abs() {
            return Ok(total);
        }
    }
}

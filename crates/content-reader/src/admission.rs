//! The reader's own bound on uncached database work (SPEC §10.2): a flood
//! of distinct searches must not starve the reads the cache answers.
//!
//! Every snapshot read takes a permit first; there are
//! `routing.max_concurrent_reads` of them (the query pool's size unless
//! set). A read that finds none waits at most `routing.queue_wait_ms` in a
//! short queue, then is refused at once: 503 with `Retry-After: 1`, counted
//! in `rcr_db_read_refusals_total`. Cache hits never take a permit, nor do
//! the requests that wait on another's single-flight miss: only the one
//! read that goes to the database does.

use std::time::Duration;

use prometheus::IntCounter;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::ReadError;

/// Permits for snapshot reads, and the bound on waiting for one.
pub struct Admission {
    permits: Semaphore,
    /// How long a read waits for a permit before it is refused.
    queue_wait: Duration,
    /// Reads refused for want of a permit.
    refusals: IntCounter,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("available", &self.permits.available_permits())
            .field("queue_wait", &self.queue_wait)
            .finish_non_exhaustive()
    }
}

impl Admission {
    /// `permits` concurrent reads (at least one); refusals counted in
    /// `metrics`.
    pub fn new(
        permits: usize,
        queue_wait: Duration,
        metrics: &platform::metrics::Metrics,
    ) -> Result<Self, prometheus::Error> {
        let refusals = IntCounter::new(
            "db_read_refusals_total",
            "Uncached reads refused (503): no database permit within routing.queue_wait_ms",
        )?;
        metrics.register(Box::new(refusals.clone()));
        Ok(Self {
            permits: Semaphore::new(permits.max(1)),
            queue_wait,
            refusals,
        })
    }

    /// A permit for one snapshot read, held until dropped; refused with
    /// [`ReadError::Overloaded`] when none frees up within the queue wait.
    pub async fn enter(&self) -> Result<SemaphorePermit<'_>, ReadError> {
        // No timer on the common path: a free permit is taken at once.
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        match tokio::time::timeout(self.queue_wait, self.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Timed out (the semaphore is never closed).
            Ok(Err(_)) | Err(_) => {
                self.refusals.inc();
                Err(ReadError::Overloaded)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_waits_for_a_freed_permit_but_one_past_the_queue_wait_is_refused() {
        let metrics = platform::metrics::Metrics::new("test", "sa");
        let no_queue = Admission::new(1, Duration::ZERO, &metrics).expect("metric");
        let held = no_queue.enter().await.expect("a free permit");
        let refused = no_queue.enter().await;
        assert!(matches!(refused, Err(ReadError::Overloaded)), "{refused:?}");
        assert_eq!(no_queue.refusals.get(), 1);
        drop(held);
        assert!(no_queue.enter().await.is_ok(), "the permit came back");

        let metrics = platform::metrics::Metrics::new("test", "sa");
        let queue = Admission::new(1, Duration::from_secs(60), &metrics).expect("metric");
        let held = queue.enter().await.expect("a free permit");
        let (waiter, ()) = tokio::join!(queue.enter(), async {
            tokio::task::yield_now().await;
            drop(held);
        });
        assert!(waiter.is_ok(), "a permit freed within the wait is taken");
        assert_eq!(queue.refusals.get(), 0);
    }
}

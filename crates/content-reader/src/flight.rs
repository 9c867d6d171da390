//! Single flight: concurrent misses for one key make one database query;
//! the others wait for its result (SPEC §6).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// In-progress computations by key. Shared by every worker thread.
pub struct Flights<T> {
    inflight: Mutex<HashMap<String, Arc<OnceCell<T>>>>,
}

impl<T> std::fmt::Debug for Flights<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights").finish_non_exhaustive()
    }
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Self {
            inflight: Mutex::new(HashMap::new()),
        }
    }
}

/// What a call of [`Flights::run`] got.
#[derive(Debug)]
pub struct Shared<T> {
    pub value: T,
    /// Whether this call ran the computation (else it joined one).
    pub led: bool,
}

impl<T: Clone> Flights<T> {
    /// Runs `compute` unless a computation for `key` is already running, in
    /// which case its result is awaited and shared.
    pub async fn run<F, Fut>(&self, key: &str, compute: F) -> Shared<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let cell = {
            let mut inflight = self
                .inflight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            inflight.entry(key.to_owned()).or_default().clone()
        };
        let mut led = false;
        let value = cell
            .get_or_init(|| {
                led = true;
                compute()
            })
            .await
            .clone();
        // The first finisher removes the flight so that later misses (a new
        // version, an expired entry) compute afresh.
        let mut inflight = self
            .inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if inflight
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, &cell))
        {
            inflight.remove(key);
        }
        Shared { value, led }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_computation() {
        let flights = Arc::new(Flights::<usize>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..50 {
            let flights = flights.clone();
            let calls = calls.clone();
            handles.push(tokio::spawn(async move {
                flights
                    .run("k", || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        42
                    })
                    .await
            }));
        }
        let mut leaders = 0;
        for handle in handles {
            let shared = handle.await.expect("joined");
            assert_eq!(shared.value, 42);
            leaders += usize::from(shared.led);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(leaders, 1);
    }

    #[tokio::test]
    async fn a_finished_flight_does_not_answer_later_calls() {
        let flights = Flights::<usize>::default();
        assert_eq!(flights.run("k", || async { 1 }).await.value, 1);
        assert_eq!(flights.run("k", || async { 2 }).await.value, 2);
    }
}

//! Running async code from sync code that may itself be inside a runtime.
//!
//! `cluster()`, `start()` and `Drop` are sync but get called from
//! `#[tokio::test]` and `#[actix_web::test]` bodies, where `block_on` on the
//! current thread would panic ("cannot start a runtime from within a
//! runtime"). A scoped thread with its own current-thread runtime works
//! everywhere and may borrow from the caller.

use std::future::Future;

/// Runs `make()`'s future to completion on a private thread and runtime.
pub(crate) fn block_on<F, Fut>(make: F) -> Fut::Output
where
    F: FnOnce() -> Fut + Send,
    Fut: Future,
    Fut::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a current-thread runtime builds")
                    .block_on(make())
            })
            .join()
            // Re-raise the helper's panic (with its message) in the caller.
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

//! Bounded concurrency for CPU-bound requests. A search (query embedding, both branches,
//! rerank) runs on a blocking thread and cannot be cancelled once started, so without a bound
//! a burst of requests piles up threads and work nobody waits for any more. At most
//! `max_concurrent_searches` run at once; up to `max_queued_searches` more wait for a turn (a
//! waiting request that times out or disconnects just leaves the queue); beyond that the
//! answer is 503 `unavailable` at once. The permit travels into the blocking task, so it is
//! held exactly as long as the work runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::Error;

#[derive(Debug)]
pub struct Gate {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    what: &'static str,
}

/// Leaves the queue count when dropped, also when the waiting future is dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    /// `running` at once (at least 1), `queued` more waiting.
    pub fn new(what: &'static str, running: usize, queued: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(running.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting: queued,
            what,
        }
    }

    /// A turn: at once when one is free, after a wait when the queue has room, else
    /// [`Error::Unavailable`].
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Error> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Unavailable(format!(
                "too many {} at once, retry shortly",
                self.what
            )));
        }
        let _waiting = Waiting(&self.waiting);
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Unavailable("shutting down".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_queues_then_refuses() {
        let gate = Arc::new(Gate::new("searches", 1, 1));
        let first = gate.enter().await.unwrap();
        // The second waits for the first.
        let g = gate.clone();
        let second = tokio::spawn(async move { g.enter().await.map(|_| ()) });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!second.is_finished());
        // The third finds the queue full.
        let err = gate.enter().await.unwrap_err();
        assert!(matches!(err, Error::Unavailable(_)), "{err}");
        drop(first);
        second.await.unwrap().unwrap();
        // All permits back: the next goes straight in.
        drop(gate.enter().await.unwrap());
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_the_queue() {
        let gate = Arc::new(Gate::new("searches", 1, 1));
        let held = gate.enter().await.unwrap();
        let gave_up =
            tokio::time::timeout(std::time::Duration::from_millis(20), gate.enter()).await;
        assert!(gave_up.is_err(), "it had to wait");
        // Its place is free again: another may wait.
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.enter().await.map(|_| ()) });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(held);
        waiter.await.unwrap().unwrap();
    }
}

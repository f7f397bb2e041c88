//! Index maintenance. Qdrant Edge never optimizes by itself: without it, new points pile up
//! in small segments searched by full scan, and deleted points (document deletes, re-ingested
//! changed files) are never vacuumed. So when the job queue has been empty for
//! `[index] optimize_idle_secs` and the index changed since the last pass, the optimizers run
//! (merge small segments, build HNSW for large ones, vacuum deleted points) on a thread of
//! lower priority (`optimize_nice`). Writes wait while it runs; searches do not.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::service::AppState;

/// Whether a pass is due: the queue has been empty since `quiet_since` for at least `idle`,
/// and the index changed since the last pass.
pub fn due(quiet_since: Option<Instant>, now: Instant, idle: Duration, changes: u64) -> bool {
    changes > 0 && quiet_since.is_some_and(|t| now.saturating_duration_since(t) >= idle)
}

/// The maintenance loop; returns at shutdown.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let idle_secs = state.config.index.optimize_idle_secs;
    // A Qdrant server optimizes its collections by itself.
    if idle_secs == 0 || state.default_space().index.is_remote() {
        return;
    }
    let idle = Duration::from_secs(idle_secs);
    let every = Duration::from_secs(idle_secs.clamp(1, 5));
    let mut quiet_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
        match state.store.pending_jobs().await {
            Ok(0) => {
                quiet_since.get_or_insert_with(Instant::now);
            }
            Ok(_) => quiet_since = None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the job queue");
                continue;
            }
        }
        for space in state.spaces.all() {
            let changes = space.index.changes_since_optimize();
            if due(quiet_since, Instant::now(), idle, changes) {
                optimize(&state, space.index.clone()).await;
            }
        }
    }
}

/// One optimization pass of one index on its own lower-priority thread; the outcome is
/// recorded and logged.
pub async fn optimize(state: &AppState, index: std::sync::Arc<retrieval::Index>) {
    let nice = state.config.index.optimize_nice;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let started = Instant::now();
    let spawned = std::thread::Builder::new()
        .name("ragd-optimize".into())
        .spawn(move || {
            if let Err(e) = retrieval::priority::lower_current_thread(nice) {
                tracing::warn!(error = %e, "cannot lower the optimizer's priority");
            }
            let outcome = (|| {
                let before = index.info()?;
                let changed = index.optimize()?;
                Ok((changed, before, index.info()?))
            })();
            let _ = tx.send(outcome);
        });
    let outcome = match spawned {
        Ok(_) => rx
            .await
            .unwrap_or_else(|_| Err(retrieval::Error::Index("the optimizer stopped".into()))),
        Err(e) => Err(retrieval::Error::Index(format!(
            "cannot start the optimizer: {e}"
        ))),
    };
    let took = started.elapsed();
    match outcome {
        Ok((changed, before, after)) => {
            tracing::info!(
                changed,
                ms = took.as_millis() as u64,
                segments_before = before.segments,
                segments = after.segments,
                points = after.points,
                indexed_vectors = after.indexed_vectors,
                "index optimized"
            );
            state.maintenance.finished(took, None);
        }
        Err(e) => {
            tracing::error!(error = %e, "index optimization failed");
            state
                .maintenance
                .finished(took, Some("optimization failed".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_needs_changes_and_a_quiet_queue_long_enough() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(60);
        let later = t0 + Duration::from_secs(61);
        assert!(due(Some(t0), later, idle, 3));
        assert!(!due(Some(t0), later, idle, 0), "nothing changed");
        assert!(!due(None, later, idle, 3), "the queue is busy");
        assert!(
            !due(Some(t0), t0 + Duration::from_secs(59), idle, 3),
            "not quiet long enough"
        );
    }
}

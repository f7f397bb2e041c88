//! Work done once across replicas sharing one PostgreSQL database goes to whoever holds its
//! named lease (a row in `leases`): the [`SCHEDULER`] (source runs and backups) and the
//! embedded index's owner ([`crate::service::state::EMBEDDED_INDEX_LEASE`]). A lease lasts
//! `lease_secs`; this loop renews the ones this replica holds a third of that apart and gives
//! them up at shutdown, so a replica that dies hands its work over once its leases ran out.
//! Job claims are renewed by the worker that runs the job ([`keep_claim`]).

use std::time::Duration;

use tokio::sync::watch;

use crate::service::state::EMBEDDED_INDEX_LEASE;
use crate::service::AppState;

/// The lease of the replica that queues scheduled source runs and takes scheduled backups.
pub const SCHEDULER: &str = "scheduler";

/// How often a held lease or claim is renewed.
pub fn renew_every(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(500))
}

/// Renews the leases this replica holds until `shutdown`, then releases them.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let every = renew_every(state.store.lease());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
        for name in [SCHEDULER, EMBEDDED_INDEX_LEASE] {
            if let Err(e) = state.store.renew_lease(name).await {
                tracing::warn!(lease = name, error = %e, "cannot renew a lease");
            }
        }
    }
    for name in [SCHEDULER, EMBEDDED_INDEX_LEASE] {
        if let Err(e) = state.store.release_lease(name).await {
            tracing::warn!(lease = name, error = %e, "cannot release a lease");
        }
    }
}

/// Renews this replica's claim on job `job_id` until the returned task is aborted.
pub fn keep_claim(state: &AppState, job_id: i64) -> tokio::task::JoinHandle<()> {
    let store = state.store.clone();
    tokio::spawn(async move {
        let every = renew_every(store.lease());
        loop {
            tokio::time::sleep(every).await;
            match store.renew_claim(job_id).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        job = job_id,
                        "lost the claim on a job: its lease ran out and another replica took it"
                    );
                    return;
                }
                Err(e) => tracing::warn!(job = job_id, error = %e, "cannot renew a job claim"),
            }
        }
    })
}

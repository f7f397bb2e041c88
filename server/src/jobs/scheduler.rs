//! The scheduler: every `sources.tick_secs` it queues a run for each enabled source whose
//! cron schedule fired since the fire it last handled. Fires missed while the server was
//! down collapse into one run at start-up (trigger `startup`). A source never has two runs
//! at once: a fire that finds one still active is recorded as handled and skipped.
//!
//! Replicas sharing a PostgreSQL database take turns: only the holder of the scheduler's lease
//! ([`super::leases::SCHEDULER`]) ticks, so a fire queues one run.
//!
//! The same tick takes scheduled backups (`[backup] schedule`, [`crate::service::backup::tick`]); a
//! fire missed while the server was down (since the newest backup) gives one at start-up.

use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

use crate::schedule::Schedule;
use crate::service::AppState;

/// Runs until `shutdown` turns true.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_secs(state.config.sources.tick_secs.max(1));
    let mut startup = true;
    let backups = state.config.backup.parsed_schedule().ok().flatten();
    let mut last_backup = crate::service::backup::newest(&state)
        .await
        .unwrap_or_else(Timestamp::now);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let now = Timestamp::now();
        // Replicas sharing a database take turns: the lease's holder schedules.
        match state.store.hold_lease(super::leases::SCHEDULER).await {
            Ok(true) => {
                if let Err(e) = tick(&state, now, startup).await {
                    tracing::error!(error = %e, "scheduler tick failed");
                }
                if let Some(schedule) = &backups {
                    crate::service::backup::tick(&state, schedule, &mut last_backup, now).await;
                }
                startup = false;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot take the scheduler's lease"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Queues the runs due at `now`; returns how many were queued.
pub async fn tick(
    state: &AppState,
    now: Timestamp,
    startup: bool,
) -> Result<usize, crate::store::StoreError> {
    let mut queued = 0;
    for source in state.store.scheduled_sources().await? {
        let Some(expr) = &source.schedule else {
            continue;
        };
        let schedule = match Schedule::parse(expr, &source.timezone) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(source = %source.id, error = %e, "bad schedule");
                continue;
            }
        };
        let last = source
            .last_fire
            .as_deref()
            .unwrap_or(&source.created_at)
            .parse::<Timestamp>()
            .unwrap_or(now);
        let Some(fire) = schedule.due(last, now) else {
            continue;
        };
        let trigger = if startup { "startup" } else { "schedule" };
        match state
            .store
            .start_run(&source.id, trigger, Some(&fire.to_string()))
            .await?
        {
            Ok(run) => {
                tracing::info!(source = %source.id, run = run.id, trigger, %fire, "sync run queued");
                queued += 1;
            }
            Err(active) => {
                tracing::info!(source = %source.id, run = active.id, %fire, "fire skipped: a run is still active");
            }
        }
    }
    if queued > 0 {
        state.wake.notify_waiters();
    }
    Ok(queued)
}

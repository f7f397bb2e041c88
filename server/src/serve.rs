//! `ragd serve`: the HTTP server and the job workers, with a clean shutdown on SIGINT and
//! SIGTERM (workers stop, the index is flushed).

use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::config::Config;
use crate::jobs::{leases, maintenance, scheduler, worker};
use crate::service::State;

/// How long shutdown waits for a running job before flushing and leaving it to the restart.
const WORKER_GRACE: Duration = Duration::from_secs(20);

pub async fn serve(config: Config) -> anyhow::Result<()> {
    crate::service::auth::check_exposure(&config.listen, &config.auth)
        .map_err(|e| anyhow::anyhow!(e))?;
    crate::http::metrics::install();
    let state = State::open(config).await?;
    // Searches come: the query model loads now (an ingest-only command never loads it).
    let embedder = state.default_space().embedder.clone();
    tokio::task::spawn_blocking(move || embedder.prepare_queries())
        .await?
        .context("cannot load the embedding model for queries")?;
    let recovered = state.store.recover().await?;
    if recovered > 0 {
        tracing::info!(
            jobs = recovered,
            "requeued jobs cut off by the last shutdown"
        );
    }
    // Before the workers start: what ended re-indexes left is deleted, then index and
    // metadata are brought back in line. With replicas on one database, only the first to
    // start does this: others already running have work in flight it must not touch.
    if state.store.hold_lease(leases::SCHEDULER).await? {
        if let Err(e) = crate::service::reindex::clean_up(&state).await {
            tracing::error!(error = %e, "cannot delete what a re-index left");
        }
        if let Err(e) = crate::service::reconcile::run(&state).await {
            tracing::error!(error = %e, "cannot reconcile the index with the metadata");
        }
    } else {
        tracing::info!("another replica holds the scheduler; start-up repairs left to it");
    }
    let listener = tokio::net::TcpListener::bind(&state.config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", state.config.listen))?;
    let url = format!("http://{}", listener.local_addr()?);
    state.lock.publish_url(&url)?;
    tracing::info!(%url, data_dir = %state.config.data_dir.display(), "ragd listening");
    println!("ragd listening on {url}");

    let (stop, stopped) = watch::channel(false);
    let workers = tokio::spawn(worker::run(state.clone(), stopped.clone()));
    let scheduler = tokio::spawn(scheduler::run(state.clone(), stopped.clone()));
    let maintenance = tokio::spawn(maintenance::run(state.clone(), stopped.clone()));
    let leases = tokio::spawn(leases::run(state.clone(), stopped));
    let app = crate::http::app(state.clone())
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    let _ = scheduler.await;
    let _ = maintenance.await;
    if tokio::time::timeout(WORKER_GRACE, workers).await.is_err() {
        tracing::warn!("a job is still running; it will be taken up again at the next start");
    }
    state.flush().await?;
    let _ = leases.await;
    tracing::info!("index flushed, bye");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

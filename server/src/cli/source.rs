//! `ragd source add|list|run|cancel|runs|remove`: folders and URL lists kept in sync.

use std::time::Duration;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};

use super::backend::Backend;
use super::ingest::{finish_local_drain, start_local_drain};
use super::SourceCommand;
use crate::service::sources::manage::{NewSource, RunView};

/// One line about a run: status and counts.
fn run_summary(view: &RunView) -> String {
    let r = &view.run;
    let duration = r
        .duration_ms
        .map(|ms| format!(" in {:.1}s", ms as f64 / 1000.0))
        .unwrap_or_default();
    format!(
        "run {} {}: {} added, {} updated, {} deleted, {} renamed, {} unchanged, {} failed{duration}",
        r.id, r.status, r.added, r.updated, r.deleted, r.renamed, r.unchanged, r.failed,
    )
}

fn is_active(view: &RunView) -> bool {
    matches!(view.run.status.as_str(), "queued" | "running")
}

pub async fn run(backend: &Backend, command: SourceCommand) -> anyhow::Result<()> {
    match command {
        SourceCommand::Add {
            kb,
            folder,
            url,
            include,
            exclude,
            schedule,
            timezone,
            disabled,
        } => {
            let (kind, path) = match folder {
                Some(path) => {
                    let path = std::path::absolute(&path).unwrap_or(path);
                    ("folder", Some(path.to_string_lossy().into_owned()))
                }
                None if !url.is_empty() => ("urls", None),
                None => bail!("name a --folder or at least one --url"),
            };
            let source = backend
                .add_source(
                    &kb,
                    NewSource {
                        kind: kind.into(),
                        path,
                        urls: url,
                        include,
                        exclude,
                        schedule,
                        timezone,
                        enabled: Some(!disabled),
                    },
                )
                .await?;
            println!("added source {}", source.id);
            if let Some(next) = &source.next_run_at {
                println!("next scheduled run: {next}");
            }
        }
        SourceCommand::List { kb } => {
            let sources = backend.sources(&kb).await?;
            if sources.is_empty() {
                println!("no sources yet: ragd source add --kb {kb} --folder PATH");
            }
            for s in sources {
                let target = match s.kind.as_str() {
                    "folder" => s.path.clone().unwrap_or_default(),
                    _ => format!("{} urls", s.urls.len()),
                };
                println!(
                    "{}\t{}\t{}\t{}{}",
                    s.id,
                    s.kind,
                    target,
                    s.schedule.as_deref().unwrap_or("manual"),
                    if s.enabled { "" } else { " (disabled)" },
                );
                if let Some(last) = &s.last_run {
                    println!("  last {}", run_summary(last));
                }
            }
        }
        SourceCommand::Run { kb, id, no_wait } => {
            let run = backend.run_source(&kb, &id).await?;
            println!("queued run {}", run.run.id);
            if no_wait {
                return Ok(());
            }
            follow_run(backend, &kb, &id, run.run.id).await?;
        }
        SourceCommand::Cancel { kb, id } => {
            let runs = backend.runs(&kb, &id).await?;
            let Some(active) = runs.first().filter(|r| is_active(r)) else {
                bail!("source {id} has no active run");
            };
            let cancelled = backend.cancel_run(&kb, &id, active.run.id).await?;
            println!("{}", run_summary(&cancelled));
        }
        SourceCommand::Runs { kb, id } => {
            for run in backend.runs(&kb, &id).await? {
                println!(
                    "{} ({}, {})",
                    run_summary(&run),
                    run.run.trigger,
                    run.run.created_at
                );
                for e in &run.errors {
                    println!("  {}: {}", e.path, e.error);
                }
            }
        }
        SourceCommand::Remove { kb, id } => {
            backend.remove_source(&kb, &id).await?;
            println!("removed source {id} and its documents");
        }
    }
    Ok(())
}

/// Follows a run with a progress bar until it ends (processing the queue here in embedded
/// mode), then prints its summary and per-file errors.
async fn follow_run(backend: &Backend, kb: &str, id: &str, run_id: i64) -> anyhow::Result<()> {
    let drain = start_local_drain(backend);
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let view = loop {
        let view = backend.run(kb, id, run_id).await?;
        if !is_active(&view) {
            break view;
        }
        let r = &view.run;
        let n = |v: i64| v.max(0) as u64;
        if r.phase.as_deref() == Some("ingesting") {
            let queued = n(r.added) + n(r.updated);
            bar.set_length(queued);
            bar.set_position(queued.saturating_sub(n(r.docs_pending)));
            bar.set_message("documents ingested");
        } else {
            bar.set_length(n(r.files_total.unwrap_or(0)));
            bar.set_position(n(r.files_scanned));
            bar.set_message("files scanned");
        }
        if drain.as_ref().is_some_and(|d| d.is_finished()) {
            // Embedded mode with an empty queue: the run cannot move any more.
            break backend.run(kb, id, run_id).await?;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    bar.finish_and_clear();
    finish_local_drain(backend, drain).await?;
    println!("{}", run_summary(&view));
    for e in &view.errors {
        println!("  failed {}: {}", e.path, e.error);
    }
    if let Some(error) = &view.run.error {
        bail!("the run failed: {error}");
    }
    Ok(())
}

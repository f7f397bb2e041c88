//! `ragd migrate --to CONFIG`: this deployment's metadata and files copied to the engines
//! CONFIG names (a `ragd.toml`; only the file counts, not the `RAGD_*` variables, which name
//! the source), with a progress bar per table, resumable, and a count of both sides at the
//! end. The source must be stopped (its data folder's lock is taken).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{Config, Overrides};
use crate::lock::DataLock;
use crate::service::migrate::{self, Progress, Side};
use crate::service::state::{open_files, open_store};

pub async fn run(source: Config, to: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(to)
        .with_context(|| format!("cannot read the target configuration {}", to.display()))?;
    let target = Config::layered(Some(&text), &HashMap::new(), &Overrides::default())
        .with_context(|| format!("invalid target configuration {}", to.display()))?;
    if target.database_url.is_empty() && target.storage_url.is_empty() {
        bail!("the target configuration names no engines: set database_url and storage_url");
    }
    let _lock = DataLock::acquire(&source.data_dir)?;
    let (from_store, from_files) = (open_store(&source).await?, open_files(&source)?);
    let (to_store, to_files) = (open_store(&target).await?, open_files(&target)?);
    println!(
        "copying {} + {} → {} + {}",
        from_store.dialect().engine(),
        from_files.describe(),
        to_store.dialect().engine(),
        to_files.describe()
    );
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>18} {bar:30} {pos}/{len} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut current = String::new();
    let report = migrate::copy(
        Side {
            store: &from_store,
            files: &from_files,
        },
        Side {
            store: &to_store,
            files: &to_files,
        },
        &mut |p: Progress<'_>| {
            if p.what != current {
                if !current.is_empty() {
                    bar.finish();
                    bar.reset();
                }
                current = p.what.to_string();
                bar.set_message(current.clone());
            }
            bar.set_length(p.total.max(0) as u64);
            bar.set_position(p.done.max(0) as u64);
        },
    )
    .await?;
    bar.finish_and_clear();
    for t in &report.tables {
        let mark = if t.source == t.target {
            "ok"
        } else {
            "DIFFERS"
        };
        println!("{:>18}  {:>8} → {:>8}  {mark}", t.table, t.source, t.target);
    }
    println!(
        "{:>18}  {:>8} → {:>8}  {} copied now",
        "files",
        report.files,
        report.files - report.files_missing_in_target,
        report.files_copied
    );
    if report.uncached_chunks > 0 {
        println!(
            "note: {} chunks have no cached vector; the target embeds them again at its first start",
            report.uncached_chunks
        );
    }
    if !report.matches() {
        bail!("the counts differ: run the same command again to go on");
    }
    println!("done: start ragd on the target configuration; its first start rebuilds the index from the copied vectors");
    Ok(())
}

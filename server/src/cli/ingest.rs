//! `ragd ingest`: files and folders into a knowledge base (created if missing), followed
//! with a progress bar. In embedded mode the queue is processed here.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;

use super::backend::Backend;
use crate::service::knowledge_bases::NewKnowledgeBase;
use crate::store::DocStatus;

pub async fn run(backend: &Backend, kb: &str, paths: &[PathBuf]) -> anyhow::Result<()> {
    let files = collect_files(paths)?;
    if files.is_empty() {
        bail!("no files found");
    }
    ingest_items(backend, kb, files.into_iter().map(Item::Path).collect()).await
}

/// Something to ingest: a file, or named bytes (a corpus record).
pub enum Item {
    Path(PathBuf),
    Bytes(String, Vec<u8>),
}

impl Item {
    fn label(&self) -> String {
        match self {
            Item::Path(p) => p.display().to_string(),
            Item::Bytes(name, _) => name.clone(),
        }
    }

    fn load(self) -> std::io::Result<(String, Vec<u8>)> {
        match self {
            Item::Path(p) => {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Ok((name, std::fs::read(&p)?))
            }
            Item::Bytes(name, bytes) => Ok((name, bytes)),
        }
    }
}

/// Embedded mode: the queue is processed here, in the background, while the command follows
/// its progress. `None` against a server, which has its own workers.
pub fn start_local_drain(backend: &Backend) -> Option<JoinHandle<anyhow::Result<()>>> {
    let state = backend.local()?.clone();
    Some(tokio::spawn(async move {
        crate::jobs::worker::drain(&state).await?;
        Ok(())
    }))
}

/// Waits for the local queue to empty and makes the index durable (embedded mode).
pub async fn finish_local_drain(
    backend: &Backend,
    drain: Option<JoinHandle<anyhow::Result<()>>>,
) -> anyhow::Result<()> {
    if let Some(d) = drain {
        d.await??;
    }
    if let Some(state) = backend.local() {
        state.flush().await?;
    }
    Ok(())
}

/// Queues `items` into `kb` (created if missing), waits for them with a progress bar.
pub async fn ingest_items(backend: &Backend, kb: &str, items: Vec<Item>) -> anyhow::Result<()> {
    let kb_row = match backend.get_kb(kb).await {
        Ok(row) => row,
        Err(_) => {
            let row = backend
                .create_kb(NewKnowledgeBase {
                    name: kb.to_string(),
                    ..Default::default()
                })
                .await?;
            eprintln!("created knowledge base {kb}");
            row
        }
    };

    // Queue every item.
    let mut queued: Vec<String> = Vec::new();
    let mut skipped = 0usize;
    for item in items {
        let label = item.label();
        let result = match item.load() {
            Ok((name, bytes)) => backend.upload(&kb_row.id, &name, bytes).await,
            Err(e) => Err(e.into()),
        };
        match result {
            Ok(doc) => queued.push(doc.doc.id),
            Err(e) => {
                eprintln!("skipped {label}: {e}");
                skipped += 1;
            }
        }
    }

    let drain = start_local_drain(backend);
    let bar = ProgressBar::new(queued.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} files · {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut finished = 0usize;
    let (mut chunks, mut tokens, mut failed) = (0i64, 0i64, Vec::new());
    while finished < queued.len() {
        let doc = backend.document(&kb_row.id, &queued[finished]).await?.doc;
        match doc.status {
            DocStatus::Ready => {
                chunks += doc.chunk_count;
                tokens += doc.token_count;
                finished += 1;
            }
            DocStatus::Failed => {
                failed.push(format!("{}: {}", doc.name, doc.error.unwrap_or_default()));
                finished += 1;
            }
            _ => {
                if drain.as_ref().is_some_and(|d| d.is_finished()) {
                    // The local queue is empty but this document is not done: look again once.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                } else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        let secs = started.elapsed().as_secs_f64().max(0.001);
        bar.set_position(finished as u64);
        bar.set_message(format!(
            "{chunks} chunks · {:.1} chunks/s · {:.0} tokens/s",
            chunks as f64 / secs,
            tokens as f64 / secs
        ));
    }
    bar.finish();
    finish_local_drain(backend, drain).await?;
    println!(
        "{} ready, {} failed, {} skipped; {chunks} chunks in {:.1}s",
        queued.len() - failed.len(),
        failed.len(),
        skipped,
        started.elapsed().as_secs_f64()
    );
    for f in &failed {
        println!("  failed {f}");
    }
    Ok(())
}

/// Every file under `paths`, recursively, skipping hidden entries, in a stable order.
pub fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p)?;
            if meta.is_dir() {
                walk(&p, out)?;
            } else if meta.is_file() {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_collected_recursively_without_hidden_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/.git")).unwrap();
        std::fs::write(dir.path().join("a/x.md"), "x").unwrap();
        std::fs::write(dir.path().join("a/.git/config"), "x").unwrap();
        std::fs::write(dir.path().join("b.txt"), "x").unwrap();
        let files = collect_files(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["x.md", "b.txt"]);
    }
}

//! `ragd migrate --to CONFIG`: a deployment copied to other engines, e.g. from the embedded
//! defaults to PostgreSQL + S3: every table of the metadata (conversations, sources and their
//! runs, the job queue included), then the original files, then a count of both sides.
//!
//! Vectors travel in the embedding cache (`embedding_cache`, keyed by model and chunk text):
//! the target's first start finds ready documents without points (its reconciliation) and
//! rebuilds them from the cached vectors without calling the model. Chunks ingested while the
//! cache was off are embedded again there; [`Report::uncached_chunks`] says how many.
//!
//! The copy keeps what the target already has, so one cut off is run again and goes on.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::{copy::TABLES, Files, Store};

/// One side of the copy.
pub struct Side<'a> {
    pub store: &'a Store,
    pub files: &'a Files,
}

/// Rows of one table on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct TableCount {
    pub table: &'static str,
    pub source: i64,
    pub target: i64,
}

/// What was copied, and whether the counts match.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tables: Vec<TableCount>,
    pub files: usize,
    pub files_copied: usize,
    pub files_missing_in_target: usize,
    /// Chunks of ready documents with no vector in the embedding cache (the target embeds
    /// them again).
    pub uncached_chunks: i64,
}

impl Report {
    /// Every table has as many rows on both sides, and every file is in the target.
    pub fn matches(&self) -> bool {
        self.files_missing_in_target == 0 && self.tables.iter().all(|t| t.source == t.target)
    }
}

/// A step of the copy, for a progress bar.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub what: &'a str,
    pub done: i64,
    pub total: i64,
}

/// Copies `source` into `target`; `progress` hears each step.
pub async fn copy(
    source: Side<'_>,
    target: Side<'_>,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<Report> {
    if source.store.dialect() == target.store.dialect()
        && source.files.describe() == target.files.describe()
        && source.store.dialect() == crate::store::Dialect::Sqlite
    {
        return Err(Error::bad_request(
            "the target is the source's own engines: name other ones in the target configuration",
        ));
    }
    for (table, order) in TABLES {
        let total = source.store.count_rows(table).await?;
        source
            .store
            .copy_table_to(target.store, table, order, &mut |done| {
                progress(Progress {
                    what: table,
                    done,
                    total,
                })
            })
            .await?;
    }
    let hashes = source.store.all_hashes().await?;
    let total = hashes.len() as i64;
    let mut copied = 0;
    for (i, hash) in hashes.iter().enumerate() {
        if !target.files.exists(hash).await? {
            let bytes = source.files.get(hash).await?;
            target.files.put(hash, &bytes).await?;
            copied += 1;
        }
        progress(Progress {
            what: "files",
            done: i as i64 + 1,
            total,
        });
    }
    // The check at the end: counted again on both sides.
    let mut tables = Vec::new();
    for (table, _) in TABLES {
        tables.push(TableCount {
            table,
            source: source.store.count_rows(table).await?,
            target: target.store.count_rows(table).await?,
        });
    }
    let mut missing = 0;
    for hash in &hashes {
        if !target.files.exists(hash).await? {
            missing += 1;
        }
    }
    Ok(Report {
        tables,
        files: hashes.len(),
        files_copied: copied,
        files_missing_in_target: missing,
        uncached_chunks: source.store.uncached_chunks().await?,
    })
}

//! Online backups: a consistent copy of the data folder, taken while the server runs.
//!
//! A backup is a data folder of its own (`ragd.sqlite`, `vectors/`, `files/`) under
//! `[backup] dir` (default `<data_dir>/backups`), named `backup-<UTC time>`; to restore, start
//! ragd on it (`ragd serve --data-dir <backup>`) or move it into place. It is taken with index
//! writes held back ([`retrieval::Index::with_writes_paused`]): the metadata is copied with
//! SQLite's `VACUUM INTO`, then the index folder, then the original files (hard links where
//! the backup folder is on the same file system: they never change, since they are named by
//! content). Searches go on meanwhile; ingest waits at its write. It is built under a
//! `.partial` name and renamed when complete, so a listed backup is a whole one.
//!
//! Backups are taken on demand (`POST /api/v1/backups`, `ragd backup`) and on a cron
//! schedule (`[backup] schedule`, checked by the scheduler's tick); after each one only the
//! newest `keep` are kept ([`to_prune`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use jiff::Timestamp;

use super::{AppState, State};
use crate::error::{Error, Result};
use crate::schedule::Schedule;

/// A finished backup.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Backup {
    pub name: String,
    pub path: String,
    /// Bytes the backup takes on disk (hard-linked files included; sparse files by their
    /// written blocks).
    pub bytes: u64,
    pub created_at: Option<String>,
    /// Time the index writes were held back, in milliseconds (only for a new backup).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_ms: Option<u64>,
}

/// Where backups go.
pub fn root(state: &State) -> PathBuf {
    state
        .config
        .backup
        .dir
        .clone()
        .unwrap_or_else(|| state.config.data_dir.join("backups"))
}

/// The backups to delete so that the newest `keep` remain (`keep` 0: none deleted). Names
/// sort by time (`backup-<UTC time>`).
pub fn to_prune(names: &[String], keep: usize) -> Vec<String> {
    if keep == 0 {
        return Vec::new();
    }
    let mut sorted: Vec<&String> = names.iter().filter(|n| n.starts_with("backup-")).collect();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.into_iter().skip(keep).cloned().collect()
}

/// Deletes the backups beyond `[backup] keep`.
async fn prune(state: &AppState) {
    let root = root(state);
    for name in to_prune(&names(&root).await, state.config.backup.keep) {
        tracing::info!(backup = %name, "removing an old backup");
        if let Err(e) = tokio::fs::remove_dir_all(root.join(&name)).await {
            tracing::warn!(backup = %name, error = %e, "cannot remove an old backup");
        }
    }
}

/// The names in the backup folder (none when it does not exist yet).
async fn names(root: &Path) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(mut entries) = tokio::fs::read_dir(root).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            names.push(entry.file_name().to_string_lossy().to_string());
        }
    }
    names
}

/// When the newest backup was taken (its folder's time), if there is one.
pub async fn newest(state: &AppState) -> Option<Timestamp> {
    let root = root(state);
    let newest = names(&root)
        .await
        .into_iter()
        .filter(|n| n.starts_with("backup-"))
        .max()?;
    let modified = tokio::fs::metadata(root.join(newest))
        .await
        .ok()?
        .modified()
        .ok()?;
    Timestamp::try_from(modified).ok()
}

/// Takes a scheduled backup when its schedule fired since `last` (the last fire handled,
/// which this updates). A backup already running makes this fire a skip.
pub async fn tick(state: &AppState, schedule: &Schedule, last: &mut Timestamp, now: Timestamp) {
    let Some(fire) = schedule.due(*last, now) else {
        return;
    };
    *last = fire;
    if state.backups.try_lock().is_err() {
        tracing::info!(%fire, "scheduled backup skipped: a backup is running");
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        match create_backup(&state).await {
            Ok(b) => tracing::info!(backup = %b.path, %fire, "scheduled backup written"),
            Err(e) => tracing::error!(error = %e, %fire, "scheduled backup failed"),
        }
    });
}

/// Runs `f` while every index in `indexes` holds its writes.
fn with_all_writes_paused<T>(
    indexes: &[std::sync::Arc<retrieval::Index>],
    f: &dyn Fn() -> T,
) -> retrieval::Result<T> {
    match indexes {
        [] => Ok(f()),
        [first, rest @ ..] => first
            .with_writes_paused(|_| with_all_writes_paused(rest, f))
            .and_then(|r| r),
    }
}

/// Takes one backup, then prunes the old ones.
pub async fn create_backup(state: &AppState) -> Result<Backup> {
    // No silent half-backup: what ragd cannot copy whole, it refuses, and says who can.
    if state.store.dialect() == crate::store::Dialect::Postgres {
        return Err(Error::Conflict(
            "the metadata is in postgresql: back it up with pg_dump (pg_dump -Fc DATABASE_URL), \
             the points with qdrant's snapshots and the files with the object store's \
             versioning; ragd writes no partial backup"
                .into(),
        ));
    }
    if state.default_space().index.is_remote() {
        return Err(Error::Conflict(
            "the points are on a qdrant server: back its collection up with qdrant's snapshots, \
             and the data folder while ragd is stopped"
                .into(),
        ));
    }
    let Some(files_root) = state.files.root().map(Path::to_path_buf) else {
        return Err(Error::Conflict(
            "the original files are in an object store: keep them with the bucket's versioning \
             or replication; ragd writes no backup without them"
                .into(),
        ));
    };
    // One at a time: a second request waits behind the first one's pause anyway.
    let _turn = state.backups.lock().await;
    let root = root(state);
    let name = format!(
        "backup-{}",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.3fZ")
    );
    let partial = root.join(format!(".{name}.partial"));
    let done = root.join(&name);
    remove_stale_partials(&root).await;
    let st = state.clone();
    let handle = tokio::runtime::Handle::current();
    let work = partial.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<u64, String> {
        std::fs::create_dir_all(&work)
            .map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        // Every embedding model's index holds its writes; all of them lie under `vectors`.
        let indexes: Vec<_> = st.spaces.all().iter().map(|s| s.index.clone()).collect();
        let vectors = st.config.data_dir.join("vectors");
        let started = Instant::now();
        with_all_writes_paused(&indexes, &|| -> Result<(), String> {
            let db = work.join("ragd.sqlite");
            handle
                .block_on(st.store.copy_to(&db))
                .map_err(|e| format!("metadata copy: {e}"))?;
            copy_tree(&vectors, &work.join("vectors"), false)
                .map_err(|e| format!("index copy: {e}"))?;
            copy_tree(&files_root, &work.join("files"), true)
                .map_err(|e| format!("files copy: {e}"))?;
            Ok(())
        })
        .map_err(|e| e.to_string())??;
        Ok(started.elapsed().as_millis() as u64)
    })
    .await?;
    let paused_ms = match result {
        Ok(ms) => ms,
        Err(e) => {
            let _ = tokio::fs::remove_dir_all(&partial).await;
            return Err(Error::internal(format!("backup failed: {e}")));
        }
    };
    tokio::fs::rename(&partial, &done).await?;
    tracing::info!(backup = %done.display(), paused_ms, "backup written");
    let mut backup = describe(done).await?;
    backup.paused_ms = Some(paused_ms);
    prune(state).await;
    Ok(backup)
}

/// Removes what a backup cut off by a crash left (none runs now: the caller holds the turn).
async fn remove_stale_partials(root: &Path) {
    for name in names(root).await {
        if name.starts_with(".backup-") && name.ends_with(".partial") {
            let path = root.join(&name);
            tracing::warn!(path = %path.display(), "removing an unfinished backup");
            let _ = tokio::fs::remove_dir_all(path).await;
        }
    }
}

/// Every finished backup, newest first.
pub async fn list(state: &State) -> Result<Vec<Backup>> {
    let root = root(state);
    let mut backups = Vec::new();
    for name in names(&root).await {
        let path = root.join(&name);
        if name.starts_with("backup-") && tokio::fs::metadata(&path).await?.is_dir() {
            backups.push(describe(path).await?);
        }
    }
    backups.sort_by(|a, b| b.name.cmp(&a.name));
    Ok(backups)
}

async fn describe(path: PathBuf) -> Result<Backup> {
    let scan = path.clone();
    let bytes = tokio::task::spawn_blocking(move || tree_size(&scan)).await??;
    let created_at = tokio::fs::metadata(&path)
        .await?
        .modified()
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .map(|t| t.to_string());
    Ok(Backup {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        path: path.display().to_string(),
        bytes,
        created_at,
        paused_ms: None,
    })
}

/// Copies the tree at `from` to `to` (created); files are hard-linked when `link` is set and
/// the file system allows it, else copied sparsely ([`copy_sparse`]). Symbolic links are not
/// followed.
pub fn copy_tree(from: &Path, to: &Path, link: bool) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    if !from.exists() {
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(from).follow_links(false) {
        let entry = entry.map_err(std::io::Error::other)?;
        let rel = entry
            .path()
            .strip_prefix(from)
            .map_err(std::io::Error::other)?;
        let target = to.join(rel);
        let kind = entry.file_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
        } else if kind.is_file() && !(link && std::fs::hard_link(entry.path(), &target).is_ok()) {
            copy_sparse(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Copies a file, leaving holes where it has blocks of zeros. Qdrant preallocates its WAL and
/// segment files as sparse files (32 MiB of which a few are written); a plain copy would fill
/// them in, making a backup of a small index about fifty times its size on disk.
pub fn copy_sparse(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    const BLOCK: usize = 64 * 1024;
    let mut src = std::fs::File::open(from)?;
    let mut dst = std::fs::File::create(to)?;
    let mut buf = vec![0u8; BLOCK];
    let mut len = 0u64;
    loop {
        let mut filled = 0;
        while filled < BLOCK {
            match src.read(&mut buf[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            break;
        }
        if buf[..filled].iter().all(|&b| b == 0) {
            dst.seek(SeekFrom::Current(filled as i64))?;
        } else {
            dst.write_all(&buf[..filled])?;
        }
        len += filled as u64;
        if filled < BLOCK {
            break;
        }
    }
    dst.set_len(len)?;
    dst.sync_all()
}

/// Disk use of the files under `path` (allocated blocks, so holes do not count).
fn tree_size(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in walkdir::WalkDir::new(path).follow_links(false) {
        let entry = entry.map_err(std::io::Error::other)?;
        if entry.file_type().is_file() {
            total += entry.metadata().map_err(std::io::Error::other)?.blocks() * 512;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BackupConfig;

    #[test]
    fn pruning_keeps_the_newest() {
        let names: Vec<String> = [
            "backup-20261101T030000.000Z",
            "backup-20261103T030000.000Z",
            ".backup-20261104T030000.000Z.partial",
            "backup-20261102T030000.000Z",
            "notes.txt",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(to_prune(&names, 2), ["backup-20261101T030000.000Z"]);
        assert_eq!(to_prune(&names, 1).len(), 2);
        assert!(to_prune(&names, 3).is_empty());
        assert!(to_prune(&names, 0).is_empty(), "0 keeps all");
    }

    #[test]
    fn the_schedule_is_checked() {
        assert!(BackupConfig::default().validate().is_ok());
        let bad = BackupConfig {
            schedule: "every night".into(),
            ..BackupConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("cron"));
    }

    #[test]
    fn copy_tree_copies_or_links_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        std::fs::create_dir_all(from.join("ab")).unwrap();
        std::fs::write(from.join("ab/abc"), b"one").unwrap();
        std::fs::write(from.join("top"), b"two").unwrap();
        for link in [false, true] {
            let to = dir.path().join(format!("to-{link}"));
            copy_tree(&from, &to, link).unwrap();
            assert_eq!(std::fs::read(to.join("ab/abc")).unwrap(), b"one");
            assert_eq!(std::fs::read(to.join("top")).unwrap(), b"two");
            assert!(tree_size(&to).unwrap() > 0);
        }
        // Zeros become holes, and the content stays the same.
        let mut sparse = vec![0u8; 300 * 1024];
        sparse[5] = 7;
        sparse[200 * 1024] = 9;
        std::fs::write(from.join("sparse"), &sparse).unwrap();
        let to = dir.path().join("to-sparse");
        copy_tree(&from, &to, false).unwrap();
        assert_eq!(std::fs::read(to.join("sparse")).unwrap(), sparse);
        let on_disk = std::fs::metadata(to.join("sparse")).unwrap().len();
        assert_eq!(on_disk, sparse.len() as u64);
        assert!(tree_size(&to).unwrap() < 200 * 1024, "holes take no blocks");
        // A missing source is an empty tree.
        copy_tree(&dir.path().join("none"), &dir.path().join("empty"), true).unwrap();
        assert!(dir.path().join("empty").is_dir());
    }
}

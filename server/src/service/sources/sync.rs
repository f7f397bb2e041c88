//! Running one sync of a source (the `sync` job of a run).
//!
//! 1. List the folder (or take the URL list) and plan against what the source saw last.
//! 2. Read and hash each file that may have changed, one at a time; apply it at once
//!    (new → queued; changed → re-ingested in place; same content elsewhere → linked;
//!    a vanished path's content → renamed). Each change is one transaction with its counter.
//! 3. Remove vanished paths: points first, then rows, so a crash never leaves points of a
//!    deleted document.
//! 4. The run waits for the ingest jobs it queued; the worker ends it when the last one is
//!    done ([`after_ingest`]).
//!
//! A run cut off by a crash is resumed by its requeued job: files it already handled carry
//! its id and are neither redone nor counted twice.

use std::collections::HashMap;
use std::path::PathBuf;

use super::fetch::{self, Fetch, Fetcher};
use super::scan::{self, Action, Entry, Filters};
use super::{Kind, SourceRow};
use crate::service::documents;
use crate::service::AppState;
use crate::store::{content_hash, DocStatus, Seen, Validators};

/// Files between progress writes and cancellation checks.
const PROGRESS_EVERY: usize = 50;

/// Runs the scan of `run_id` to its end. Errors are the run's own (recorded as its error).
pub async fn run(state: &AppState, run_id: i64) -> Result<(), String> {
    let db = &state.store;
    let Some(run) = db.get_run(run_id).await.map_err(internal)? else {
        return Ok(());
    };
    if !matches!(run.status.as_str(), "queued" | "running") {
        return Ok(());
    }
    let Some(source) = db.source_by_id(&run.source_id).await.map_err(internal)? else {
        return Ok(());
    };
    db.run_scanning(run_id).await.map_err(internal)?;
    let result = scan_and_apply(state, &source, run_id).await;
    match result {
        Ok(()) => {
            if db.finish_run_if_idle(run_id).await.map_err(internal)? {
                metrics::counter!("ragd_source_runs_total", "outcome" => "done").increment(1);
            }
            Ok(())
        }
        Err(e) => {
            tracing::warn!(run = run_id, source = %source.id, error = %e, "sync run failed");
            db.fail_run(run_id, &e).await.map_err(internal)?;
            metrics::counter!("ragd_source_runs_total", "outcome" => "failed").increment(1);
            Ok(())
        }
    }
}

/// Gives each document of a folder source the fields of its sidecar file
/// ([`scan::SIDECAR`]): they override the document's, the others stay. A metadata change
/// needs no re-ingest. A sidecar that cannot be read or is not a metadata object is a run
/// error.
async fn apply_sidecars(
    state: &AppState,
    source: &SourceRow,
    run_id: i64,
    root: &std::path::Path,
) -> Result<(), String> {
    let db = &state.store;
    let walk_root = root.to_path_buf();
    let sidecars = tokio::task::spawn_blocking(move || scan::list_sidecars(&walk_root))
        .await
        .map_err(internal)?;
    if sidecars.is_empty() {
        return Ok(());
    }
    let known = db.known_files(&source.id).await.map_err(internal)?;
    for (path, text) in sidecars {
        let Some(doc_id) = known.get(&path).and_then(|k| k.document_id.clone()) else {
            continue;
        };
        let meta = text.and_then(|t| {
            crate::service::metadata::parse(&t).map_err(|e| format!("{path}{}: {e}", scan::SIDECAR))
        });
        let meta = match meta {
            Ok(m) => m,
            Err(e) => {
                db.record_run_error(run_id, &format!("{path}{}", scan::SIDECAR), &e)
                    .await
                    .map_err(internal)?;
                continue;
            }
        };
        let Some(doc) = db.get_document(&doc_id).await.map_err(internal)? else {
            continue;
        };
        let current: crate::service::metadata::Metadata =
            serde_json::from_str(&doc.metadata).unwrap_or_default();
        let mut merged = current.clone();
        merged.extend(meta);
        if merged != current {
            let json = serde_json::Value::Object(merged).to_string();
            db.set_metadata(&doc_id, &json).await.map_err(internal)?;
        }
    }
    Ok(())
}

fn internal(e: impl std::fmt::Display) -> String {
    format!("internal error: {e}")
}

/// Where a run reads files from.
enum Origin {
    Folder(PathBuf),
    Urls(Box<Fetcher>),
}

async fn scan_and_apply(state: &AppState, source: &SourceRow, run_id: i64) -> Result<(), String> {
    let db = &state.store;
    let config = &state.config.sources;
    let kind = Kind::parse(&source.kind).ok_or("unknown source kind")?;
    let (listing, list_errors, origin) = match kind {
        Kind::Folder => {
            let stored = PathBuf::from(source.path.clone().unwrap_or_default());
            let roots = config.folder_roots.clone();
            let root = tokio::task::spawn_blocking(move || super::confine(&stored, &roots))
                .await
                .map_err(internal)??;
            let filters = Filters::new(&source.include(), &source.exclude())?;
            let max = config.max_files;
            let walk_root = root.clone();
            let (entries, errors) =
                tokio::task::spawn_blocking(move || scan::list_folder(&walk_root, &filters, max))
                    .await
                    .map_err(internal)??;
            (entries, errors, Origin::Folder(root))
        }
        Kind::Urls => {
            let entries = source
                .urls()
                .into_iter()
                .map(|url| Entry {
                    path: url,
                    size: 0,
                    mtime_ns: 0,
                })
                .collect();
            let fetcher = Fetcher::new(config).map_err(internal)?;
            (entries, Vec::new(), Origin::Urls(Box::new(fetcher)))
        }
    };
    let total = listing.len() as i64;
    db.run_progress(run_id, Some(total), 0)
        .await
        .map_err(internal)?;
    let known = db.known_files(&source.id).await.map_err(internal)?;
    let plan = scan::plan(listing, &known, run_id, kind == Kind::Folder);
    // Paths that could not even be listed are failures, not deletions.
    let unlisted: std::collections::HashSet<&str> =
        list_errors.iter().map(|(p, _)| p.as_str()).collect();
    let mut gone_by_hash: HashMap<String, Vec<String>> = HashMap::new();
    for (path, hash) in &plan.gone {
        if !hash.is_empty() && !unlisted.contains(path.as_str()) {
            gone_by_hash
                .entry(hash.clone())
                .or_default()
                .push(path.clone());
        }
    }
    for (path, error) in &list_errors {
        db.record_run_error(run_id, path, error)
            .await
            .map_err(internal)?;
    }

    let mut renamed = std::collections::HashSet::new();
    let mut scanned = plan.unchanged + plan.already_done;
    let mut unchanged = plan.unchanged;
    db.run_progress(run_id, None, scanned as i64)
        .await
        .map_err(internal)?;
    for (n, entry) in plan.to_check.into_iter().enumerate() {
        if n % PROGRESS_EVERY == 0 && n > 0 {
            db.run_progress(run_id, None, scanned as i64)
                .await
                .map_err(internal)?;
            if !db.run_active(run_id).await.map_err(internal)? {
                return Ok(());
            }
        }
        scanned += 1;
        let previous = known.get(&entry.path);
        // Only a body whose content is still on record can be confirmed by a 304.
        let validators = previous
            .filter(|k| !k.hash.is_empty())
            .map(|k| k.validators.clone())
            .unwrap_or_default();
        let Loaded {
            bytes,
            size,
            format,
            hash,
            validators,
        } = match load(&origin, &entry, config.max_file_bytes, &validators).await {
            Ok(Some(loaded)) => loaded,
            Ok(None) => {
                // Not modified since the last fetch: nothing to read, nothing to record.
                unchanged += 1;
                continue;
            }
            Err(e) => {
                db.record_run_error(run_id, &entry.path, &e)
                    .await
                    .map_err(internal)?;
                continue;
            }
        };
        let seen = Seen {
            path: entry.path.clone(),
            size: size as i64,
            mtime_ns: entry.mtime_ns,
            hash,
            format: format.as_str().to_string(),
            validators,
        };
        match scan::classify(previous, &seen.hash, &mut gone_by_hash) {
            Action::Touch => {
                db.touch_file(&source.id, &seen).await.map_err(internal)?;
                unchanged += 1;
            }
            Action::Renamed { from } => {
                db.rename_file(&source.id, run_id, &from, &seen)
                    .await
                    .map_err(internal)?;
                renamed.insert(from);
            }
            Action::New | Action::Changed => {
                state
                    .files
                    .put(&seen.hash, &bytes)
                    .await
                    .map_err(internal)?;
                drop(bytes);
                let applied = db
                    .upsert_file(&source.kb_id, &source.id, run_id, &seen, previous)
                    .await
                    .map_err(internal)?;
                if applied.queued {
                    state.wake.notify_waiters();
                }
                remove_documents(state, &source.kb_id, applied.orphaned).await?;
                if let Some(old) = previous.filter(|k| !k.hash.is_empty() && k.hash != seen.hash) {
                    documents::remove_files_if_unused(
                        &state.store,
                        &state.files,
                        vec![old.hash.clone()],
                    )
                    .await;
                }
            }
        }
    }

    // Whatever vanished and was not a rename is deleted.
    let deleted: Vec<String> = plan
        .gone
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| !renamed.contains(p) && !unlisted.contains(p.as_str()))
        .collect();
    if !db.run_active(run_id).await.map_err(internal)? {
        return Ok(());
    }
    let orphaned = db
        .remove_files(&source.id, run_id, &deleted)
        .await
        .map_err(internal)?;
    remove_documents(state, &source.kb_id, orphaned).await?;
    // Documents left behind by a run cut off between a change and its cleanup.
    let leftover = db
        .unreferenced_documents(&source.id)
        .await
        .map_err(internal)?;
    remove_documents(state, &source.kb_id, leftover).await?;
    if let Origin::Folder(root) = &origin {
        apply_sidecars(state, source, run_id, root).await?;
    }
    db.run_scanned(run_id, unchanged as i64, scanned as i64)
        .await
        .map_err(internal)?;
    Ok(())
}

/// A file or URL body with its size, format, content hash and HTTP validators.
struct Loaded {
    bytes: Vec<u8>,
    size: u64,
    format: ingest::Format,
    hash: String,
    validators: Validators,
}

/// Reads one file or fetches one URL (conditionally, with the `known` validators), then
/// detects its format and hashes it; `None`: the server says the URL is not modified.
/// Reading, detection (which may open an archive) and hashing run off the async runtime.
async fn load(
    origin: &Origin,
    entry: &Entry,
    max_bytes: u64,
    known: &Validators,
) -> Result<Option<Loaded>, String> {
    fn inspect(
        bytes: Vec<u8>,
        name: &str,
        size: u64,
        validators: Validators,
    ) -> Result<Option<Loaded>, String> {
        let format = ingest::load::detect(&bytes, name).map_err(|e| e.to_string())?;
        let hash = content_hash(&bytes);
        Ok(Some(Loaded {
            bytes,
            size,
            format,
            hash,
            validators,
        }))
    }
    match origin {
        Origin::Folder(root) => {
            let root = root.clone();
            let rel = entry.path.clone();
            let size = entry.size;
            tokio::task::spawn_blocking(move || {
                let bytes = fetch::read_file(&root, &rel, max_bytes)?;
                inspect(bytes, &rel, size, Validators::default())
            })
            .await
            .map_err(internal)?
        }
        Origin::Urls(fetcher) => {
            let fetched = match fetcher.fetch(&entry.path, known).await? {
                Fetch::NotModified => return Ok(None),
                Fetch::Body(fetched) => fetched,
            };
            let name = fetch::detection_name(&entry.path, &fetched.content_type);
            // A URL has no stat: its size is the body's.
            let size = fetched.bytes.len() as u64;
            tokio::task::spawn_blocking(move || {
                inspect(fetched.bytes, &name, size, fetched.validators)
            })
            .await
            .map_err(internal)?
        }
    }
}

/// Removes documents through the one delete path ([`documents::remove`]).
pub async fn remove_documents(
    state: &AppState,
    kb_id: &str,
    ids: Vec<String>,
) -> Result<(), String> {
    if ids.is_empty() {
        return Ok(());
    }
    let indexes = crate::service::reindex::indexes_of_id(state, kb_id)
        .await
        .map_err(internal)?;
    documents::remove(&state.store, &indexes, &state.files, ids)
        .await
        .map_err(internal)
}

/// Called by the worker after an ingest job of a run: a failure goes into the run's record,
/// and the last job ends the run.
pub async fn after_ingest(state: &AppState, run_id: i64, doc_id: &str) {
    let db = &state.store;
    if let Ok(Some(doc)) = db.get_document(doc_id).await {
        if doc.status == DocStatus::Failed {
            let error = doc.error.unwrap_or_else(|| "ingest failed".into());
            if let Err(e) = db.record_run_error(run_id, &doc.name, &error).await {
                tracing::error!(run = run_id, error = %e, "cannot record a run error");
            }
        }
    }
    match db.finish_run_if_idle(run_id).await {
        Ok(true) => {
            metrics::counter!("ragd_source_runs_total", "outcome" => "done").increment(1);
        }
        Ok(false) => {}
        Err(e) => tracing::error!(run = run_id, error = %e, "cannot finish a run"),
    }
}

#[cfg(test)]
mod tests {
    use crate::jobs::worker::drain;
    use crate::service::auth::Caller;
    use crate::service::sources::manage::{self, NewSource, RunView};
    use crate::service::{documents, testing, AppState, State};
    use crate::store::DocStatus;

    async fn sync(state: &AppState, source: &str) -> RunView {
        let run = manage::run_now(state, &Caller::ADMIN, "kb", source)
            .await
            .unwrap();
        drain(state).await.unwrap();
        manage::run(state, &Caller::ADMIN, "kb", source, run.run.id)
            .await
            .unwrap()
    }

    /// A folder source on `root` in knowledge base `kb`.
    async fn folder_source(
        state: &State,
        root: &std::path::Path,
    ) -> crate::service::sources::manage::SourceView {
        manage::create(
            state,
            &Caller::ADMIN,
            "kb",
            NewSource {
                kind: "folder".into(),
                path: Some(root.to_string_lossy().into_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
    }

    fn counts(v: &RunView) -> [i64; 5] {
        let r = &v.run;
        [r.added, r.updated, r.deleted, r.renamed, r.unchanged]
    }

    async fn names(state: &State) -> Vec<(String, DocStatus)> {
        let page = documents::list(state, &Caller::ADMIN, "kb", Default::default())
            .await
            .unwrap();
        let mut names: Vec<_> = page
            .documents
            .into_iter()
            .map(|d| (d.doc.name, d.doc.status))
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        names
    }

    #[tokio::test]
    async fn each_run_confines_its_folder_to_the_roots_configured_now() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside, other) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let root_path = root.path().canonicalize().unwrap();
        let docs = root_path.join("docs");
        std::fs::create_dir(&docs).unwrap();
        std::fs::write(docs.join("a.md"), "# A\n\nHarbour notes.").unwrap();
        std::fs::write(
            outside.path().join("secret.md"),
            "# Secret\n\nThe vault code.",
        )
        .unwrap();
        let roots = vec![root_path.clone()];
        let state = testing::state_with(dir.path(), |c| c.sources.folder_roots = roots).await;
        testing::kb(&state, "kb").await;
        let source = folder_source(&state, &docs).await;
        assert_eq!(counts(&sync(&state, &source.id).await), [1, 0, 0, 0, 0]);

        // The folder swapped for a link to a folder outside the roots: the run fails.
        std::fs::rename(&docs, root_path.join("docs-old")).unwrap();
        std::os::unix::fs::symlink(outside.path(), &docs).unwrap();
        let run = sync(&state, &source.id).await;
        assert_eq!(run.run.status, "failed", "{run:?}");
        assert!(
            run.run
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("outside"),
            "{run:?}"
        );
        // A link that stays inside the roots is refused too: the stored path is canonical.
        std::fs::remove_file(&docs).unwrap();
        std::os::unix::fs::symlink(root_path.join("docs-old"), &docs).unwrap();
        let run = sync(&state, &source.id).await;
        assert_eq!(run.run.status, "failed", "{run:?}");
        assert!(
            run.run
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("symbolic link"),
            "{run:?}"
        );
        assert!(names(&state).await.iter().all(|(n, _)| n != "secret.md"));
        std::fs::remove_file(&docs).unwrap();
        std::fs::rename(root_path.join("docs-old"), &docs).unwrap();
        drop(state);

        // The roots changed since the source was made: its runs fail.
        let roots = vec![other.path().to_path_buf()];
        let state = testing::state_with(dir.path(), |c| c.sources.folder_roots = roots).await;
        let run = sync(&state, &source.id).await;
        assert_eq!(run.run.status, "failed", "{run:?}");
        assert!(
            run.run
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("outside sources.folder_roots"),
            "{run:?}"
        );
    }

    #[tokio::test]
    async fn sidecar_files_give_documents_their_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let root_path = root.path().canonicalize().unwrap();
        let folder = root_path.clone();
        let state = testing::state_with(dir.path(), |c| {
            c.sources.folder_roots = vec![folder];
        })
        .await;
        testing::kb(&state, "kb").await;
        let write = |name: &str, text: &str| std::fs::write(root_path.join(name), text).unwrap();
        write(
            "a.md",
            "---\nauthor: Front\nyear: 2020\n---\n# A\n\nAlpha harbour notes.",
        );
        write("a.md.meta.json", r#"{"author": "Li", "tags": ["harbour"]}"#);
        write("b.txt", "Bravo garden notes.");
        write("b.txt.meta.json", "{not json");
        let source = folder_source(&state, &root_path).await;
        let run = sync(&state, &source.id).await;
        // Sidecars are not documents; a broken one is a run error naming it.
        assert_eq!(counts(&run), [2, 0, 0, 0, 0], "{run:?}");
        assert!(
            run.errors.iter().any(|e| e.path == "b.txt.meta.json"),
            "{:?}",
            run.errors
        );
        let meta = |name: &'static str| {
            let state = state.clone();
            async move {
                let page = documents::list(&state, &Caller::ADMIN, "kb", Default::default())
                    .await
                    .unwrap();
                let d = page
                    .documents
                    .into_iter()
                    .find(|d| d.doc.name == name)
                    .unwrap();
                serde_json::from_str::<serde_json::Value>(&d.doc.metadata).unwrap()
            }
        };
        // The sidecar's fields win over the front matter's; the others stay.
        assert_eq!(
            meta("a.md").await,
            serde_json::json!({"author": "Li", "tags": ["harbour"], "year": 2020})
        );
        // A changed sidecar alone updates the metadata, without a re-ingest.
        write("a.md.meta.json", r#"{"author": "Wang"}"#);
        let run = sync(&state, &source.id).await;
        assert_eq!(counts(&run), [0, 0, 0, 0, 2], "{run:?}");
        assert_eq!(meta("a.md").await["author"], "Wang");
    }

    #[tokio::test]
    async fn a_folder_sync_adds_changes_renames_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let root_path = root.path().canonicalize().unwrap();
        let folder = root_path.clone();
        let state = testing::state_with(dir.path(), |c| {
            c.sources.folder_roots = vec![folder];
        })
        .await;
        let kb = testing::kb(&state, "kb").await;
        let write = |name: &str, text: &str| std::fs::write(root_path.join(name), text).unwrap();
        write("a.md", "# A\n\nAlpha harbour notes.");
        write("b.md", "# B\n\nBravo garden notes.");
        write("c.md", "# C\n\nCharlie kitchen notes.");
        let source = folder_source(&state, &root_path).await;

        let first = sync(&state, &source.id).await;
        assert_eq!(first.run.status, "done", "{first:?}");
        assert_eq!(counts(&first), [3, 0, 0, 0, 0]);
        let ready = |n: &str| (n.to_string(), DocStatus::Ready);
        assert_eq!(
            names(&state).await,
            [ready("a.md"), ready("b.md"), ready("c.md")]
        );

        // Nothing changed: nothing is read again.
        assert_eq!(counts(&sync(&state, &source.id).await), [0, 0, 0, 0, 3]);

        // b changes, c is renamed to d, a is deleted.
        write("b.md", "# B\n\nBravo garden notes, revised with roses.");
        std::fs::rename(root_path.join("c.md"), root_path.join("d.md")).unwrap();
        std::fs::remove_file(root_path.join("a.md")).unwrap();
        let third = sync(&state, &source.id).await;
        assert_eq!(third.run.status, "done", "{third:?}");
        assert_eq!(counts(&third), [0, 1, 1, 1, 0]);
        assert_eq!(names(&state).await, [ready("b.md"), ready("d.md")]);

        // Points follow: one document per file, each with as many points as chunks.
        for d in documents::list(&state, &Caller::ADMIN, "kb", Default::default())
            .await
            .unwrap()
            .documents
        {
            assert_eq!(
                testing::points_of(&state, &kb.id, &d.doc.id),
                d.doc.chunk_count as usize,
                "{}",
                d.doc.name
            );
        }
        let stats = crate::service::knowledge_bases::stats(&state, &Caller::ADMIN, "kb")
            .await
            .unwrap();
        assert_eq!(stats.points as i64, stats.chunks);
    }
}

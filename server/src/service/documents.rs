//! Documents: accept an upload (name, format, hash: off the runtime), queue its ingest, list,
//! get, re-parse, download; and [`remove`], the one path every deletion takes.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::knowledge_bases;
use super::metadata::Metadata;
use super::State;
use crate::error::{Error, Result};
use crate::store::{
    content_hash, ChunkRow, DocStatus, Document, Files, KnowledgeBase, NewDocument, Store,
};

/// A document as the interfaces show it: the stored row, plus live embedding progress.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentView {
    #[serde(flatten)]
    pub doc: Document,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressView>,
    /// On upload: whether the knowledge base already held the same content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProgressView {
    pub chunks_done: usize,
    pub chunks_total: usize,
}

/// One page of a knowledge base's documents.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentPage {
    pub documents: Vec<DocumentView>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// One page of a document's chunks.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChunkPage {
    pub chunks: Vec<ChunkRow>,
    pub total: i64,
}

/// Which documents to list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub fn view(state: &State, doc: Document) -> DocumentView {
    let progress = state
        .progress_of(&doc.id)
        .map(|(done, total)| ProgressView {
            chunks_done: done,
            chunks_total: total,
        });
    DocumentView {
        doc,
        progress,
        duplicate: None,
    }
}

/// Cleans a client-supplied file name: last path component, no control characters,
/// at most 255 bytes; never used as a path on disk.
pub fn clean_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let mut name = cleaned.trim().trim_start_matches('.').trim().to_string();
    if name.is_empty() {
        name = "unnamed".into();
    }
    while name.len() > 255 {
        name.pop();
    }
    name
}

/// A file accepted for ingest: named, its format detected, its content hashed.
#[derive(Debug)]
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
    pub format: ingest::Format,
    pub hash: String,
}

/// Validates one file (not empty, a supported format) and hashes it. Blocking: detection may
/// open an archive and hashing reads every byte; [`accept`] runs it off the runtime.
pub fn accept_file(name: &str, bytes: Vec<u8>) -> Result<Upload> {
    let name = clean_file_name(name);
    let format = ingest::load::detect(&bytes, &name).map_err(|e| match Error::from(e) {
        Error::EmptyFile(m) => Error::EmptyFile(format!("{name}: {m}")),
        Error::UnsupportedFormat(m) => Error::UnsupportedFormat(format!("{name}: {m}")),
        other => other,
    })?;
    let hash = content_hash(&bytes);
    Ok(Upload {
        name,
        bytes,
        format,
        hash,
    })
}

/// [`accept_file`] on a blocking thread.
pub async fn accept(name: String, bytes: Vec<u8>) -> Result<Upload> {
    tokio::task::spawn_blocking(move || accept_file(&name, bytes)).await?
}

/// Stores the file and queues its ingest with `metadata`; a duplicate returns the existing
/// document (whose metadata `metadata` replaces, when given).
pub async fn enqueue(
    state: &State,
    kb: &KnowledgeBase,
    upload: Upload,
    metadata: Option<&Metadata>,
) -> Result<DocumentView> {
    state.files.put(&upload.hash, &upload.bytes).await?;
    let json =
        serde_json::to_string(&metadata.cloned().unwrap_or_default()).map_err(Error::internal)?;
    let new = NewDocument {
        id: uuid::Uuid::now_v7().to_string(),
        kb_id: kb.id.clone(),
        name: upload.name,
        content_hash: upload.hash,
        size_bytes: upload.bytes.len() as i64,
        format: upload.format.as_str().to_string(),
        metadata: json.clone(),
    };
    let (mut doc, created) = state.store.enqueue_document(&new).await?;
    if created {
        state.wake.notify_waiters();
    } else if metadata.is_some() {
        state.store.set_metadata(&doc.id, &json).await?;
        doc.metadata = json;
    }
    let mut v = view(state, doc);
    v.duplicate = Some(!created);
    Ok(v)
}

/// Accepts and queues named files into `kb`; all are checked before any is queued.
pub async fn upload(
    state: &State,
    caller: &Caller,
    kb: &str,
    files: Vec<(String, Vec<u8>)>,
) -> Result<Vec<DocumentView>> {
    upload_with(state, caller, kb, files, None).await
}

/// [`upload`], each file with `metadata` (checked first).
pub async fn upload_with(
    state: &State,
    caller: &Caller,
    kb: &str,
    files: Vec<(String, Vec<u8>)>,
    metadata: Option<Metadata>,
) -> Result<Vec<DocumentView>> {
    let kb = knowledge_bases::find(state, caller, kb).await?;
    if files.is_empty() {
        return Err(Error::bad_request(
            "no file: send one or more multipart parts named \"file\"",
        ));
    }
    let mut accepted = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        accepted.push(accept(name, bytes).await?);
    }
    let mut documents = Vec::with_capacity(accepted.len());
    for upload in accepted {
        documents.push(enqueue(state, &kb, upload, metadata.as_ref()).await?);
    }
    Ok(documents)
}

pub async fn list(state: &State, caller: &Caller, kb: &str, q: ListQuery) -> Result<DocumentPage> {
    let kb = knowledge_bases::find(state, caller, kb).await?;
    let status = match &q.status {
        Some(s) => Some(DocStatus::parse(s).ok_or_else(|| {
            let all: Vec<&str> = DocStatus::ALL.iter().map(|d| d.as_str()).collect();
            Error::bad_request(format!("status must be one of {}", all.join(", ")))
        })?),
        None => None,
    };
    let limit = q.limit.unwrap_or(50);
    let offset = q.offset.unwrap_or(0);
    if !(1..=1000).contains(&limit) || offset < 0 {
        return Err(Error::bad_request(
            "limit must be 1 to 1000 and offset at least 0",
        ));
    }
    let (docs, total) = state
        .store
        .list_documents(&kb.id, status, limit, offset)
        .await?;
    Ok(DocumentPage {
        documents: docs.into_iter().map(|d| view(state, d)).collect(),
        total,
        limit,
        offset,
    })
}

/// A document of a knowledge base; another knowledge base's document is not found.
pub async fn find(
    state: &State,
    caller: &Caller,
    kb: &str,
    id: &str,
) -> Result<(KnowledgeBase, Document)> {
    let kb = knowledge_bases::find(state, caller, kb).await?;
    match state.store.get_document(id).await? {
        Some(doc) if doc.kb_id == kb.id => Ok((kb, doc)),
        _ => Err(Error::not_found("document", id)),
    }
}

pub async fn get(state: &State, caller: &Caller, kb: &str, id: &str) -> Result<DocumentView> {
    let (_, doc) = find(state, caller, kb, id).await?;
    Ok(view(state, doc))
}

/// The document and its original bytes.
pub async fn file(
    state: &State,
    caller: &Caller,
    kb: &str,
    id: &str,
) -> Result<(Document, Vec<u8>)> {
    let (_, doc) = find(state, caller, kb, id).await?;
    let bytes = state.files.get(&doc.content_hash).await?;
    Ok((doc, bytes))
}

/// Resolution of the page images shown with citations.
pub const PAGE_DPI: u32 = 110;
/// Page images kept in the cache; past this the older half is removed (pages of deleted
/// documents go that way too).
const PAGE_CACHE_FILES: usize = 2048;

/// A page of a PDF or image document as an image to show (the citation view): its media
/// type and bytes. PDF pages are rendered by poppler on first use and kept under
/// `data_dir/cache/pages`; an image is its own page.
pub async fn page_image(
    state: &State,
    caller: &Caller,
    kb: &str,
    id: &str,
    page: u32,
) -> Result<(&'static str, Vec<u8>)> {
    let (_, doc) = find(state, caller, kb, id).await?;
    let pages = u32::try_from(doc.page_count.unwrap_or(0)).unwrap_or(0);
    if page == 0 || page > pages.max(1) {
        return Err(Error::not_found("page", page.to_string()));
    }
    match doc.format.as_deref() {
        Some("pdf") => {}
        Some("image") => {
            let bytes = state.files.get(&doc.content_hash).await?;
            let media = match ingest::load::image_kind(&bytes) {
                Some("png") => "image/png",
                Some("jpeg") => "image/jpeg",
                Some("webp") => "image/webp",
                _ => {
                    return Err(Error::UnsupportedFormat(
                        "a tiff image cannot be shown in a browser; download the file".into(),
                    ))
                }
            };
            return Ok((media, bytes));
        }
        _ => {
            return Err(Error::bad_request(
                "only pdf and image documents have page images",
            ))
        }
    }
    let cache = state
        .config
        .data_dir
        .join("cache")
        .join("pages")
        .join(format!("{}-{page}-{PAGE_DPI}.png", doc.content_hash));
    if let Ok(png) = tokio::fs::read(&cache).await {
        return Ok(("image/png", png));
    }
    let bytes = state.files.get(&doc.content_hash).await?;
    let png = tokio::task::spawn_blocking(move || {
        ingest::parse::ocr::page_png(&bytes, page, PAGE_DPI, std::time::Duration::from_secs(60))
    })
    .await
    .map_err(Error::internal)?
    .map_err(|e| match e {
        ingest::Error::OcrUnavailable(m) => Error::Unavailable(m),
        other => Error::internal(other),
    })?;
    // A cache: a failed write costs a render next time, nothing else.
    if let Some(dir) = cache.parent() {
        let partial = cache.with_extension("part");
        let written = async {
            tokio::fs::create_dir_all(dir).await?;
            tokio::fs::write(&partial, &png).await?;
            tokio::fs::rename(&partial, &cache).await
        };
        if let Err(e) = written.await {
            tracing::warn!(error = %e, "cannot cache a page image");
        }
        let dir = dir.to_path_buf();
        let _ = tokio::task::spawn_blocking(move || trim_cache(&dir, PAGE_CACHE_FILES)).await;
    }
    Ok(("image/png", png))
}

/// Removes the older half of the files in `dir` when it holds more than `max`.
fn trim_cache(dir: &std::path::Path, max: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let modified = e.metadata().ok()?.modified().ok()?;
            Some((modified, e.path()))
        })
        .collect();
    if files.len() <= max {
        return;
    }
    files.sort();
    for (_, path) in &files[..files.len() - max / 2] {
        let _ = std::fs::remove_file(path);
    }
}

pub async fn chunks(
    state: &State,
    caller: &Caller,
    kb: &str,
    id: &str,
    limit: Option<i64>,
    offset: Option<i64>,
) -> Result<ChunkPage> {
    let (_, doc) = find(state, caller, kb, id).await?;
    let limit = limit.unwrap_or(1000).clamp(1, 10_000);
    let offset = offset.unwrap_or(0).max(0);
    let chunks = state.store.list_chunks(&doc.id, limit, offset).await?;
    Ok(ChunkPage {
        chunks,
        total: doc.chunk_count,
    })
}

/// Queues a document again (parse, chunk, embed anew).
pub async fn reparse(state: &State, caller: &Caller, kb: &str, id: &str) -> Result<DocumentView> {
    let (_, doc) = find(state, caller, kb, id).await?;
    if doc.status.is_pending() {
        return Err(Error::Conflict(
            "the document is already being processed".into(),
        ));
    }
    state.store.requeue_document(&doc.id).await?;
    state.wake.notify_waiters();
    let doc = state
        .store
        .get_document(&doc.id)
        .await?
        .ok_or_else(|| Error::not_found("document", id))?;
    Ok(view(state, doc))
}

/// Changes to a document.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentChanges {
    /// Replaces its metadata (an object; `{}` clears it).
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// Changes a document's metadata; searches filter on it at once (no re-index).
pub async fn update(
    state: &State,
    caller: &Caller,
    kb: &str,
    id: &str,
    changes: DocumentChanges,
) -> Result<DocumentView> {
    let (_, doc) = find(state, caller, kb, id).await?;
    if let Some(v) = &changes.metadata {
        let meta = super::metadata::validate(v)?;
        let json = serde_json::to_string(&meta).map_err(Error::internal)?;
        state.store.set_metadata(&doc.id, &json).await?;
    }
    get(state, caller, kb, id).await
}

/// The metadata of some documents, by id (those that exist).
pub async fn metadata_of(
    state: &State,
    ids: &[String],
) -> Result<std::collections::HashMap<String, Metadata>> {
    let mut all = std::collections::HashMap::new();
    for id in ids {
        if all.contains_key(id) {
            continue;
        }
        if let Some(doc) = state.store.get_document(id).await? {
            all.insert(
                id.clone(),
                serde_json::from_str(&doc.metadata).unwrap_or_default(),
            );
        }
    }
    Ok(all)
}

pub async fn delete(state: &State, caller: &Caller, kb: &str, id: &str) -> Result<()> {
    let (kb, doc) = find(state, caller, kb, id).await?;
    // A running ingest of it stops at its next batch instead of finishing for nothing.
    state.cancel_ingest(&doc.id);
    let indexes = super::reindex::indexes(state, &kb).await?;
    remove(&state.store, &indexes, &state.files, vec![doc.id]).await
}

/// Deletes documents, always in this order: their index points (flushed), then their rows
/// (chunks and jobs go with them), then the original files no other document uses. A crash
/// in between leaves rows whose points are gone (deleted again, or repaired at start by
/// [`super::reconcile`]), never points that no row refers to.
pub async fn remove(
    store: &Store,
    indexes: &[Arc<retrieval::Index>],
    files: &Files,
    ids: Vec<String>,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    remove_points(indexes, ids.clone()).await?;
    let hashes = store.delete_documents(&ids).await?;
    remove_files_if_unused(store, files, hashes).await;
    Ok(())
}

/// Deletes the points of documents in each of `indexes` and flushes, off the runtime.
pub async fn remove_points(indexes: &[Arc<retrieval::Index>], ids: Vec<String>) -> Result<()> {
    let indexes = indexes.to_vec();
    tokio::task::spawn_blocking(move || -> retrieval::Result<()> {
        for index in &indexes {
            for id in &ids {
                index.delete(retrieval::filter::document(id))?;
            }
            index.flush()?;
        }
        Ok(())
    })
    .await??;
    Ok(())
}

/// How long a document waits for an embedding server that was down, after `waits` earlier
/// waits: 2 s, doubling, at most 2 minutes.
pub fn wait_after(waits: i64) -> std::time::Duration {
    let exp = u32::try_from(waits.clamp(0, 16)).unwrap_or(16);
    std::time::Duration::from_secs(2u64.saturating_mul(1 << exp)).min(MAX_WAIT)
}

/// The longest wait for an embedding server.
pub const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Removes the original files that no document refers to any more.
pub async fn remove_files_if_unused(store: &Store, files: &Files, hashes: Vec<String>) {
    for hash in hashes {
        match store.hash_in_use(&hash).await {
            Ok(false) => {
                if let Err(e) = files.remove(&hash).await {
                    tracing::warn!(hash, error = %e, "cannot remove file");
                }
            }
            Ok(true) => {}
            Err(e) => tracing::warn!(hash, error = %e, "cannot check file use"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_cache_keeps_the_newer_half_past_its_size() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..10 {
            std::fs::write(dir.path().join(format!("p{i}.png")), b"x").unwrap();
            let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000 + i);
            let f = std::fs::File::options()
                .write(true)
                .open(dir.path().join(format!("p{i}.png")))
                .unwrap();
            f.set_modified(t).unwrap();
        }
        trim_cache(dir.path(), 10);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 10);
        trim_cache(dir.path(), 8);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["p6.png", "p7.png", "p8.png", "p9.png"]);
    }

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("C:\\Users\\a\\doc.pdf"), "doc.pdf");
        assert_eq!(clean_file_name("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(clean_file_name(".."), "unnamed");
        assert_eq!(clean_file_name(".hidden"), "hidden");
        assert_eq!(clean_file_name("中文名.md"), "中文名.md");
        assert!(clean_file_name(&"x".repeat(400)).len() <= 255);
    }

    #[test]
    fn accept_file_rejects_empty_and_unknown() {
        assert!(matches!(
            accept_file("a.txt", vec![]),
            Err(Error::EmptyFile(_))
        ));
        assert!(matches!(
            accept_file("a.png", b"\x89PNG....".to_vec()),
            Err(Error::UnsupportedFormat(_))
        ));
        let ok = accept_file("dir/a.md", b"# hi".to_vec()).unwrap();
        assert_eq!(ok.name, "a.md");
        assert_eq!(ok.format, ingest::Format::Markdown);
        assert_eq!(ok.hash, content_hash(b"# hi"));
    }
}

//! The HTTP API under `/api/v1` (JSON), `/healthz`, and the web UI at `/`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Path, Query, Request, State,
};
use axum::http::{header, request::Parts, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::blobs::content_hash;
use crate::db::{Document, KnowledgeBase, NewDocument};
use crate::error::ApiError;
use crate::state::AppState;

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let body_limit = usize::try_from(state.config.max_upload_bytes).unwrap_or(usize::MAX);
    let timeout = Duration::from_secs(state.config.request_timeout_secs.max(1));
    let api = Router::new()
        .route("/knowledge-bases", post(create_kb).get(list_kbs))
        .route(
            "/knowledge-bases/{kb}",
            get(get_kb).patch(update_kb).delete(delete_kb),
        )
        .route("/knowledge-bases/{kb}/stats", get(kb_stats))
        .route(
            "/knowledge-bases/{kb}/documents",
            post(upload).get(list_documents),
        )
        .route(
            "/knowledge-bases/{kb}/documents/{id}",
            get(get_document).delete(delete_document),
        )
        .route(
            "/knowledge-bases/{kb}/documents/{id}/chunks",
            get(list_chunks),
        )
        .route("/knowledge-bases/{kb}/documents/{id}/file", get(download))
        .route(
            "/knowledge-bases/{kb}/documents/{id}/reparse",
            post(reparse),
        )
        .route("/search", post(search))
        .route("/index", get(index_info))
        .merge(crate::sources_api::routes())
        .merge(crate::auth::routes())
        .fallback(|| async { ApiError::not_found("route", "no such api endpoint") });
    let timed = Router::new()
        .merge(crate::web::routes())
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .nest("/api/v1", api)
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            with_timeout(req, next, timeout)
        }));
    let guard = state.guard.clone();
    // Answers run as long as the LLM needs; the LLM client enforces its own timeouts.
    Router::new()
        // Backups run as long as the copy takes.
        .nest(
            "/api/v1",
            crate::chat_api::routes().merge(crate::backup::routes()),
        )
        .nest("/v1", crate::openai_api::routes())
        .merge(timed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            crate::auth::require(guard.clone(), req, next)
        }))
        .with_state(state)
}

async fn with_timeout(req: Request, next: Next, limit: Duration) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

// ---- extractors whose rejections are API errors ----

/// `Json<T>` with JSON error bodies.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(
                ApiError::PayloadTooLarge("request body is too large".into()),
            ),
            Err(r) => Err(ApiError::bad_request(r.body_text().to_lowercase())),
        }
    }
}

/// `Query<T>` with JSON error bodies.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|r| ApiError::bad_request(r.body_text().to_lowercase()))
    }
}

// ---- knowledge bases ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKb {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    chunk_size: Option<usize>,
    #[serde(default)]
    chunk_overlap: Option<usize>,
}

/// Checks a knowledge-base name: 1 to 100 characters, no control characters or slashes.
pub fn validate_kb_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("name must be 1 to 100 characters"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(ApiError::bad_request(
            "name must not contain slashes or control characters",
        ));
    }
    Ok(name.to_string())
}

async fn create_kb(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateKb>,
) -> Result<(StatusCode, Json<KnowledgeBase>), ApiError> {
    let name = validate_kb_name(&req.name)?;
    let chunking = ingest::ChunkConfig {
        size: req.chunk_size.unwrap_or(state.config.chunking.size),
        overlap: req.chunk_overlap.unwrap_or(state.config.chunking.overlap),
    };
    chunking
        .validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if state.db.get_kb(&name).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "a knowledge base named {name:?} already exists"
        )));
    }
    let description = req.description.unwrap_or_default();
    if description.chars().count() > 2000 {
        return Err(ApiError::bad_request(
            "description must be at most 2000 characters",
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let kb = state
        .db
        .create_kb(
            &id,
            &name,
            description.trim(),
            chunking.size as i64,
            chunking.overlap as i64,
        )
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                ApiError::Conflict(format!("a knowledge base named {name:?} already exists"))
            }
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(kb)))
}

async fn list_kbs(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let kbs = state.db.list_kbs().await?;
    Ok(Json(
        json!({ "knowledge_bases": kbs, "embedding_model": state.searcher.embedder.name() }),
    ))
}

/// Finds a knowledge base by id or name, or answers 404.
pub async fn find_kb(state: &AppState, kb: &str) -> Result<KnowledgeBase, ApiError> {
    state
        .db
        .get_kb(kb)
        .await?
        .ok_or_else(|| ApiError::not_found("knowledge base", kb))
}

/// Consistency figures: documents and chunks in the metadata store, points in the index.
/// `points == chunks` when nothing is duplicated, orphaned or missing.
/// The vector index: segments, points, indexed vectors, and the optimization passes.
async fn index_info(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let index = state.searcher.index.clone();
    let info = tokio::task::spawn_blocking(move || index.info()).await??;
    Ok(Json(json!({
        "segments": info.segments,
        "points": info.points,
        "indexed_vectors": info.indexed_vectors,
        "changes_since_optimize": info.changes_since_optimize,
        "optimize": state.maintenance.record(),
    })))
}

async fn kb_stats(
    State(state): State<AppState>,
    Path(kb): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let kb = find_kb(&state, &kb).await?;
    let (by_status, stored): (Vec<(String, i64)>, i64) = state.db.kb_stats(&kb.id).await?;
    let index = state.pipeline.index.clone();
    let scope = retrieval::filter::Scope {
        knowledge_bases: vec![kb.id.clone()],
        documents: None,
    };
    let points = tokio::task::spawn_blocking(move || index.count(&scope)).await??;
    let documents: serde_json::Map<String, serde_json::Value> =
        by_status.into_iter().map(|(s, n)| (s, json!(n))).collect();
    Ok(Json(json!({
        "documents": documents,
        "chunks": stored,
        "points": points,
    })))
}

async fn get_kb(
    State(state): State<AppState>,
    Path(kb): Path<String>,
) -> Result<Json<KnowledgeBase>, ApiError> {
    Ok(Json(find_kb(&state, &kb).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateKb {
    description: Option<String>,
    /// The knowledge base's own system prompt for answers; "" restores the default.
    system_prompt: Option<String>,
    /// Search defaults: fusion, rerank, weights, thresholds (`{}` clears them).
    retrieval: Option<retrieval::SearchOptions>,
}

async fn update_kb(
    State(state): State<AppState>,
    Path(kb): Path<String>,
    ApiJson(req): ApiJson<UpdateKb>,
) -> Result<Json<KnowledgeBase>, ApiError> {
    let kb = find_kb(&state, &kb).await?;
    if req
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 2000)
    {
        return Err(ApiError::bad_request(
            "description must be at most 2000 characters",
        ));
    }
    if req
        .system_prompt
        .as_ref()
        .is_some_and(|p| p.chars().count() > 8000)
    {
        return Err(ApiError::bad_request(
            "system_prompt must be at most 8000 characters",
        ));
    }
    let retrieval_json = match &req.retrieval {
        Some(o) => {
            o.validate()?;
            Some(serde_json::to_string(o).map_err(ApiError::internal)?)
        }
        None => None,
    };
    state
        .db
        .update_kb(
            &kb.id,
            req.description.as_deref().map(str::trim),
            req.system_prompt.as_deref().map(str::trim),
            retrieval_json.as_deref(),
        )
        .await?;
    Ok(Json(find_kb(&state, &kb.id).await?))
}

async fn delete_kb(
    State(state): State<AppState>,
    Path(kb): Path<String>,
) -> Result<StatusCode, ApiError> {
    let kb = find_kb(&state, &kb).await?;
    let hashes = state.db.kb_hashes(&kb.id).await?;
    state.db.delete_kb(&kb.id).await?;
    let index = state.pipeline.index.clone();
    let kb_id = kb.id.clone();
    tokio::task::spawn_blocking(move || index.delete_knowledge_base(&kb_id)).await??;
    for hash in hashes {
        remove_blob_if_unused(&state, &hash).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove_blob_if_unused(state: &AppState, hash: &str) {
    match state.db.hash_in_use(hash).await {
        Ok(false) => {
            if let Err(e) = state.blobs.remove(hash).await {
                tracing::warn!(hash, error = %e, "cannot remove file");
            }
        }
        Ok(true) => {}
        Err(e) => tracing::warn!(hash, error = %e, "cannot check file use"),
    }
}

// ---- documents ----

/// A document as the API shows it: the stored row, plus live embedding progress.
#[derive(Serialize)]
pub struct DocumentView {
    #[serde(flatten)]
    pub doc: Document,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
}

#[derive(Serialize)]
pub struct ProgressView {
    pub chunks_done: usize,
    pub chunks_total: usize,
}

fn view(state: &AppState, doc: Document) -> DocumentView {
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

/// A file accepted for ingest.
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
    pub format: ingest::Format,
}

/// Validates one file: not empty, a supported format.
pub fn accept_file(name: &str, bytes: Vec<u8>) -> Result<Upload, ApiError> {
    let name = clean_file_name(name);
    let format = ingest::load::detect(&bytes, &name).map_err(|e| match ApiError::from(e) {
        ApiError::EmptyFile(m) => ApiError::EmptyFile(format!("{name}: {m}")),
        ApiError::UnsupportedFormat(m) => ApiError::UnsupportedFormat(format!("{name}: {m}")),
        other => other,
    })?;
    Ok(Upload {
        name,
        bytes,
        format,
    })
}

/// Stores the file and queues its ingest; a duplicate returns the existing document.
pub async fn enqueue(
    state: &AppState,
    kb: &KnowledgeBase,
    upload: Upload,
) -> Result<DocumentView, ApiError> {
    let hash = content_hash(&upload.bytes);
    state.blobs.put(&hash, &upload.bytes).await?;
    let new = NewDocument {
        id: uuid::Uuid::now_v7().to_string(),
        kb_id: kb.id.clone(),
        name: upload.name,
        content_hash: hash,
        size_bytes: upload.bytes.len() as i64,
        format: upload.format.as_str().to_string(),
    };
    let (doc, created) = state.db.enqueue_document(&new).await?;
    if created {
        state.wake.notify_waiters();
    }
    let mut v = view(state, doc);
    v.duplicate = Some(!created);
    Ok(v)
}

async fn upload(
    State(state): State<AppState>,
    Path(kb): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let kb = find_kb(&state, &kb).await?;
    let mut multipart = multipart.map_err(|e| {
        ApiError::bad_request(format!(
            "expected a multipart/form-data body: {}",
            e.body_text().to_lowercase()
        ))
    })?;
    let mut files = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e)),
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("unnamed").to_string();
        let bytes = field.bytes().await.map_err(multipart_error)?;
        files.push(accept_file(&name, bytes.to_vec())?);
    }
    if files.is_empty() {
        return Err(ApiError::bad_request(
            "no file: send one or more multipart parts named \"file\"",
        ));
    }
    let mut documents = Vec::with_capacity(files.len());
    for f in files {
        documents.push(enqueue(&state, &kb, f).await?);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "documents": documents })),
    ))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(
            "upload is larger than the configured limit (max_upload_bytes)".into(),
        )
    } else {
        ApiError::bad_request(format!(
            "bad multipart body: {}",
            e.body_text().to_lowercase()
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

const STATUSES: &[&str] = &["queued", "parsing", "embedding", "ready", "failed"];

async fn list_documents(
    State(state): State<AppState>,
    Path(kb): Path<String>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let kb = find_kb(&state, &kb).await?;
    if let Some(s) = &p.status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ApiError::bad_request(format!(
                "status must be one of {}",
                STATUSES.join(", ")
            )));
        }
    }
    let limit = p.limit.unwrap_or(50);
    let offset = p.offset.unwrap_or(0);
    if !(1..=1000).contains(&limit) || offset < 0 {
        return Err(ApiError::bad_request(
            "limit must be 1 to 1000 and offset at least 0",
        ));
    }
    let (docs, total) = state
        .db
        .list_documents(&kb.id, p.status.as_deref(), limit, offset)
        .await?;
    let documents: Vec<DocumentView> = docs.into_iter().map(|d| view(&state, d)).collect();
    Ok(Json(
        json!({ "documents": documents, "total": total, "limit": limit, "offset": offset }),
    ))
}

async fn find_document(
    state: &AppState,
    kb: &str,
    id: &str,
) -> Result<(KnowledgeBase, Document), ApiError> {
    let kb = find_kb(state, kb).await?;
    match state.db.get_document(id).await? {
        Some(doc) if doc.kb_id == kb.id => Ok((kb, doc)),
        _ => Err(ApiError::not_found("document", id)),
    }
}

async fn get_document(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> Result<Json<DocumentView>, ApiError> {
    let (_, doc) = find_document(&state, &kb, &id).await?;
    Ok(Json(view(&state, doc)))
}

async fn delete_document(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (_, doc) = find_document(&state, &kb, &id).await?;
    state.db.delete_document(&doc.id).await?;
    let index = state.pipeline.index.clone();
    let doc_id = doc.id.clone();
    tokio::task::spawn_blocking(move || index.delete_document(&doc_id)).await??;
    remove_blob_if_unused(&state, &doc.content_hash).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn reparse(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<DocumentView>), ApiError> {
    let (_, doc) = find_document(&state, &kb, &id).await?;
    if matches!(doc.status.as_str(), "queued" | "parsing" | "embedding") {
        return Err(ApiError::Conflict(
            "the document is already being processed".into(),
        ));
    }
    state.db.requeue_document(&doc.id).await?;
    state.wake.notify_waiters();
    let doc = state
        .db
        .get_document(&doc.id)
        .await?
        .ok_or_else(|| ApiError::not_found("document", &id))?;
    Ok((StatusCode::ACCEPTED, Json(view(&state, doc))))
}

async fn download(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (_, doc) = find_document(&state, &kb, &id).await?;
    let bytes = state.blobs.get(&doc.content_hash).await?;
    let content_type = match doc.format.as_deref() {
        Some("pdf") => "application/pdf",
        Some("html") => "text/html; charset=utf-8",
        Some("markdown") => "text/markdown; charset=utf-8",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("pptx") => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("epub") => "application/epub+zip",
        Some("csv") => "text/csv; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };
    // RFC 5987 encoding keeps non-ASCII names intact and quotes out of the header.
    let encoded = crate::client::encode(&doc.name);
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename*=UTF-8''{encoded}"),
        )
        .header("x-content-type-options", "nosniff")
        // An uploaded HTML file opened from this origin must not run as this origin.
        .header(
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        )
        .body(Body::from(bytes))
        .map_err(ApiError::internal)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChunkParams {
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list_chunks(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
    ApiQuery(p): ApiQuery<ChunkParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, doc) = find_document(&state, &kb, &id).await?;
    let limit = p.limit.unwrap_or(1000).clamp(1, 10_000);
    let offset = p.offset.unwrap_or(0).max(0);
    let chunks = state.db.list_chunks(&doc.id, limit, offset).await?;
    Ok(Json(json!({ "chunks": chunks, "total": doc.chunk_count })))
}

// ---- search ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    pub knowledge_bases: Vec<String>,
    pub query: String,
    #[serde(default)]
    pub top_k: Option<usize>,
    #[serde(default)]
    pub document_ids: Option<Vec<String>>,
    /// Report ranks and the query terms each hit matched.
    #[serde(default)]
    pub explain: bool,
    /// Per-request search options (mode, fusion, rrf_k, weights, prefetch, rerank,
    /// vector_weight, top_n, similarity_threshold); the first knowledge base's defaults fill
    /// what is not given.
    #[serde(flatten)]
    pub options: retrieval::SearchOptions,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SearchHit {
    pub chunk_id: String,
    pub document_id: String,
    pub document_name: String,
    pub knowledge_base: String,
    pub knowledge_base_id: String,
    pub page: Option<u32>,
    pub heading: String,
    pub ordinal: u32,
    pub text: String,
    /// The score the hits are ordered by: rerank when a reranker ran, else fused.
    pub score: f32,
    pub scores: HitScoresView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<ExplainView>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct HitScoresView {
    pub dense: Option<f32>,
    pub sparse: Option<f32>,
    pub fused: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerank: Option<f32>,
}

/// Why a hit ranked where it did.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ExplainView {
    /// 1-based rank in the dense branch.
    pub dense_rank: Option<usize>,
    /// 1-based rank in the sparse (BM25) branch.
    pub sparse_rank: Option<usize>,
    pub dense_score: Option<f32>,
    pub sparse_score: Option<f32>,
    pub fused_score: f32,
    pub rerank_score: Option<f32>,
    /// The query's BM25 terms (as BM25 tokenized them) found in this chunk.
    pub matched_terms: Vec<String>,
}

/// Runs a hybrid search for the API and the CLI.
pub async fn run_search(state: &AppState, body: SearchBody) -> Result<Vec<SearchHit>, ApiError> {
    if body.query.trim().is_empty() {
        return Err(ApiError::bad_request("query must not be empty"));
    }
    if body.query.chars().count() > 4000 {
        return Err(ApiError::bad_request(
            "query must be at most 4000 characters",
        ));
    }
    if body.knowledge_bases.is_empty() {
        return Err(ApiError::bad_request(
            "knowledge_bases must name at least one knowledge base",
        ));
    }
    if let Some(k) = body.top_k {
        if !(1..=100).contains(&k) {
            return Err(ApiError::bad_request("top_k must be 1 to 100"));
        }
    }
    let mut names = std::collections::HashMap::new();
    let mut defaults = None;
    for kb in &body.knowledge_bases {
        let kb = find_kb(state, kb).await?;
        // Options: the request, then the first knowledge base's defaults.
        defaults.get_or_insert_with(|| kb.search_defaults());
        names.insert(kb.id, kb.name);
    }
    let options = body.options.or(&defaults.unwrap_or_default());
    options.validate()?;
    let request = retrieval::SearchRequest {
        query: body.query,
        scope: retrieval::Scope {
            knowledge_bases: names.keys().cloned().collect(),
            documents: body.document_ids,
        },
        top_k: body.top_k,
        options,
        explain: body.explain,
    };
    let searcher = state.searcher.clone();
    let turn = state.searches.enter().await?;
    let hits = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        searcher.search(&request)
    })
    .await??;
    Ok(hits
        .into_iter()
        .map(|h| SearchHit {
            chunk_id: h.chunk_id.to_string(),
            document_id: h.chunk.doc_id,
            document_name: h.chunk.doc_name,
            knowledge_base: names.get(&h.chunk.kb_id).cloned().unwrap_or_default(),
            knowledge_base_id: h.chunk.kb_id,
            page: h.chunk.page,
            heading: h.chunk.heading,
            ordinal: h.chunk.ordinal,
            text: h.chunk.text,
            score: h.scores.rerank.unwrap_or(h.scores.fused),
            explain: h.matched_terms.map(|matched_terms| ExplainView {
                dense_rank: h.scores.dense_rank.map(|r| r + 1),
                sparse_rank: h.scores.sparse_rank.map(|r| r + 1),
                dense_score: h.scores.dense,
                sparse_score: h.scores.sparse,
                fused_score: h.scores.fused,
                rerank_score: h.scores.rerank,
                matched_terms,
            }),
            scores: HitScoresView {
                dense: h.scores.dense,
                sparse: h.scores.sparse,
                fused: h.scores.fused,
                rerank: h.scores.rerank,
            },
        })
        .collect())
}

async fn search(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SearchBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let language = retrieval::normalize::language(&body.query);
    let dense_used = state.searcher.embedder.covers(language);
    let hits = run_search(&state, body).await?;
    let mut reply = json!({ "hits": hits, "dense_used": dense_used });
    if !dense_used {
        reply["notice"] = json!(format!(
            "the embedding model does not understand {language} queries: BM25 ranks them (configure a multilingual model to add dense search)"
        ));
    }
    Ok(Json(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn kb_names_are_checked() {
        assert!(validate_kb_name("docs").is_ok());
        assert!(validate_kb_name("知识库 1").is_ok());
        assert!(validate_kb_name("  ").is_err());
        assert!(validate_kb_name("a/b").is_err());
        assert!(validate_kb_name(&"x".repeat(101)).is_err());
    }

    #[test]
    fn accept_file_rejects_empty_and_unknown() {
        assert!(matches!(
            accept_file("a.txt", vec![]),
            Err(ApiError::EmptyFile(_))
        ));
        assert!(matches!(
            accept_file("a.png", b"\x89PNG....".to_vec()),
            Err(ApiError::UnsupportedFormat(_))
        ));
        let ok = accept_file("dir/a.md", b"# hi".to_vec()).unwrap();
        assert_eq!(ok.name, "a.md");
        assert_eq!(ok.format, ingest::Format::Markdown);
    }
}

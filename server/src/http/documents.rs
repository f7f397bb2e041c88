//! `/api/v1/knowledge-bases/{kb}/documents`: upload (multipart, with an optional `metadata`
//! part), list, get, change (metadata), delete, chunks, the original file, re-parse.

use axum::body::Body;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery};
use crate::error::Error;
use crate::service::documents::{
    self, ChunkPage, DocumentChanges, DocumentPage, DocumentView, ListQuery,
};
use crate::service::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/knowledge-bases/{kb}/documents", post(upload).get(list))
        .route(
            "/knowledge-bases/{kb}/documents/{id}",
            get(get_one).patch(update).delete(delete),
        )
        .route("/knowledge-bases/{kb}/documents/{id}/chunks", get(chunks))
        .route("/knowledge-bases/{kb}/documents/{id}/file", get(download))
        .route(
            "/knowledge-bases/{kb}/documents/{id}/reparse",
            post(reparse),
        )
}

/// The documents an upload queued (or found already there).
#[derive(Debug, Serialize, Deserialize)]
pub struct Uploaded {
    pub documents: Vec<DocumentView>,
}

async fn upload(
    State(state): State<AppState>,
    Path(kb): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<Uploaded>)> {
    // An unknown knowledge base is 404 before the body is read.
    crate::service::knowledge_bases::find(&state, &kb).await?;
    let mut multipart = multipart.map_err(|e| {
        Error::bad_request(format!(
            "expected a multipart/form-data body: {}",
            e.body_text().to_lowercase()
        ))
    })?;
    let mut files = Vec::new();
    let mut metadata = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e)),
        };
        match field.name() {
            Some("file") => {
                let name = field.file_name().unwrap_or("unnamed").to_string();
                let bytes = field.bytes().await.map_err(multipart_error)?;
                files.push((name, bytes.to_vec()));
            }
            // Metadata for every file of this upload: a JSON object.
            Some("metadata") => {
                let text = field.text().await.map_err(multipart_error)?;
                metadata = Some(crate::service::metadata::parse(&text)?);
            }
            _ => {}
        }
    }
    let documents = documents::upload_with(&state, &kb, files, metadata).await?;
    Ok((StatusCode::ACCEPTED, Json(Uploaded { documents })))
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::PayloadTooLarge(
            "upload is larger than the configured limit (max_upload_bytes)".into(),
        )
        .into()
    } else {
        Error::bad_request(format!(
            "bad multipart body: {}",
            e.body_text().to_lowercase()
        ))
        .into()
    }
}

async fn list(
    State(state): State<AppState>,
    Path(kb): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<DocumentPage>> {
    Ok(Json(documents::list(&state, &kb, q).await?))
}

async fn get_one(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<Json<DocumentView>> {
    Ok(Json(documents::get(&state, &kb, &id).await?))
}

async fn delete(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    documents::delete(&state, &kb, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn update(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
    ApiJson(changes): ApiJson<DocumentChanges>,
) -> ApiResult<Json<DocumentView>> {
    Ok(Json(documents::update(&state, &kb, &id, changes).await?))
}

async fn reparse(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<DocumentView>)> {
    let doc = documents::reparse(&state, &kb, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(doc)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChunkParams {
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn chunks(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
    ApiQuery(p): ApiQuery<ChunkParams>,
) -> ApiResult<Json<ChunkPage>> {
    Ok(Json(
        documents::chunks(&state, &kb, &id, p.limit, p.offset).await?,
    ))
}

async fn download(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (doc, bytes) = documents::file(&state, &kb, &id).await?;
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
    let encoded = encode(&doc.name);
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
        .map_err(|e| Error::internal(e).into())
}

/// Percent-encodes a path segment or a header parameter (RFC 3986 unreserved kept).
pub fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

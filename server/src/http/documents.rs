//! `/api/v1/knowledge-bases/{kb}/documents`: upload (multipart, with an optional `metadata`
//! part), list, get, change (metadata), delete, chunks, the original file, re-parse.

use crate::service::auth::Caller;
use axum::body::Body;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery};
use super::openapi::ErrorBody;
use crate::error::Error;
use crate::service::documents::{
    self, ChunkPage, DocumentChanges, DocumentPage, DocumentView, ListQuery,
};
use crate::service::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload, list))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(chunks))
        .routes(routes!(download))
        .routes(routes!(page_image))
        .routes(routes!(reparse))
}

/// An upload: one or more `file` parts, and optionally one `metadata` part.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the form only
struct UploadForm {
    /// A file to ingest (repeat the part for several).
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: Vec<u8>,
    /// Metadata for every file of the request: a JSON object (strings, numbers, dates,
    /// lists of strings).
    metadata: Option<String>,
}

/// The documents an upload queued (or found already there).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Uploaded {
    pub documents: Vec<DocumentView>,
}

#[utoipa::path(post, path = "/knowledge-bases/{kb}/documents", tag = "documents", params(("kb" = String, Path, description = "knowledge base id or name")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 202, description = "queued for ingest (or already there: `duplicate`)", body = Uploaded), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(kb): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<Uploaded>)> {
    // An unknown knowledge base is 404 before the body is read.
    crate::service::knowledge_bases::find(&state, &caller, &kb).await?;
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
    let documents = documents::upload_with(&state, &caller, &kb, files, metadata).await?;
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

#[utoipa::path(get, path = "/knowledge-bases/{kb}/documents", tag = "documents", params(("kb" = String, Path, description = "knowledge base id or name"), ListQuery),
    responses((status = 200, description = "a page of documents", body = DocumentPage), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(kb): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<DocumentPage>> {
    Ok(Json(documents::list(&state, &caller, &kb, q).await?))
}

#[utoipa::path(get, path = "/knowledge-bases/{kb}/documents/{id}", tag = "documents", params(("kb" = String, Path, description = "knowledge base id or name"), ("id" = String, Path, description = "document id")),
    responses((status = 200, description = "the document, with its progress while it is processed", body = DocumentView), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<Json<DocumentView>> {
    Ok(Json(documents::get(&state, &caller, &kb, &id).await?))
}

#[utoipa::path(delete, path = "/knowledge-bases/{kb}/documents/{id}", tag = "documents", params(("kb" = String, Path, description = "knowledge base id or name"), ("id" = String, Path, description = "document id")),
    responses((status = 204, description = "deleted with its points and, if unused, its file"), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    documents::delete(&state, &caller, &kb, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(patch, path = "/knowledge-bases/{kb}/documents/{id}", tag = "documents", params(("kb" = String, Path, description = "knowledge base id or name"), ("id" = String, Path, description = "document id")), request_body = DocumentChanges,
    responses((status = 200, description = "changed", body = DocumentView), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((kb, id)): Path<(String, String)>,
    ApiJson(changes): ApiJson<DocumentChanges>,
) -> ApiResult<Json<DocumentView>> {
    Ok(Json(
        documents::update(&state, &caller, &kb, &id, changes).await?,
    ))
}

#[utoipa::path(post, path = "/knowledge-bases/{kb}/documents/{id}/reparse", tag = "documents", params(("kb" = String, Path, description = "knowledge base id or name"), ("id" = String, Path, description = "document id")),
    responses((status = 202, description = "queued again", body = DocumentView), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn reparse(
    State(state): State<AppState>,
    caller: Caller,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<DocumentView>)> {
    let doc = documents::reparse(&state, &caller, &kb, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(doc)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ChunkParams {
    limit: Option<i64>,
    offset: Option<i64>,
}

#[utoipa::path(get, path = "/knowledge-bases/{kb}/documents/{id}/chunks", tag = "documents", params(("kb" = String, Path, description = "knowledge base id or name"), ("id" = String, Path, description = "document id"), ChunkParams),
    responses((status = 200, description = "a page of the document's chunks", body = ChunkPage), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn chunks(
    State(state): State<AppState>,
    caller: Caller,
    Path((kb, id)): Path<(String, String)>,
    ApiQuery(p): ApiQuery<ChunkParams>,
) -> ApiResult<Json<ChunkPage>> {
    Ok(Json(
        documents::chunks(&state, &caller, &kb, &id, p.limit, p.offset).await?,
    ))
}

#[utoipa::path(get, path = "/knowledge-bases/{kb}/documents/{id}/file", tag = "documents", params(("kb" = String, Path, description = "knowledge base id or name"), ("id" = String, Path, description = "document id")),
    responses((status = 200, description = "the original file", content_type = "application/octet-stream", body = Vec<u8>), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path((kb, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (doc, bytes) = documents::file(&state, &caller, &kb, &id).await?;
    let content_type = match doc.format.as_deref() {
        Some("pdf") => "application/pdf",
        Some("html") => "text/html; charset=utf-8",
        Some("markdown") => "text/markdown; charset=utf-8",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("pptx") => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("epub") => "application/epub+zip",
        Some("csv") => "text/csv; charset=utf-8",
        Some("image") => "application/octet-stream",
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

#[utoipa::path(get, path = "/knowledge-bases/{kb}/documents/{id}/pages/{page}/image", tag = "documents", params(("kb" = String, Path, description = "knowledge base id or name"), ("id" = String, Path, description = "document id"), ("page" = u32, Path, description = "page number, from 1")),
    responses((status = 200, description = "the page as an image (PDF pages rendered as PNG; an image document is its own page)", content_type = "image/png", body = Vec<u8>), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn page_image(
    State(state): State<AppState>,
    caller: Caller,
    Path((kb, id, page)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let page: u32 = page
        .parse()
        .map_err(|_| Error::bad_request("the page must be a number from 1"))?;
    let (media, bytes) = documents::page_image(&state, &caller, &kb, &id, page).await?;
    Response::builder()
        .header(header::CONTENT_TYPE, media)
        .header(header::CACHE_CONTROL, "private, max-age=3600")
        .header("x-content-type-options", "nosniff")
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

//! Dify's External Knowledge API: `POST /api/v1/dify/retrieval`. A Dify user registers
//! `http://host:port/api/v1/dify` and an API key (a reader key will do); a Dify app then
//! retrieves from a ragd knowledge base unchanged. A thin adapter over the search service.
//!
//! - `knowledge_id`: a knowledge base's id or name; `retrieval_setting.top_k` and
//!   `score_threshold` are honoured; `metadata_condition` is a metadata filter
//!   ([`crate::service::metadata::Filter`], Dify's shape and operators).
//! - `score` is the rerank score, in 0..1 and comparable across queries: the weighted blend of
//!   the share of the query's terms the passage contains and the cosine similarity (RAGFlow's
//!   "weighted" rerank), or the cross-encoder's probability when one is configured. Not the
//!   fused RRF score, which depends on ranks only.
//! - Errors in Dify's shape `{"error_code", "error_msg"}`: 1001 (no or malformed
//!   `Authorization`) and 1002 (a wrong key) with 403 (see `auth.rs`), 2001 (no such
//!   knowledge base) with 404, and 400, 503 or 500 with the HTTP status as the code.

use crate::service::auth::Caller;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Error;
use crate::service::metadata::Filter;
use crate::service::{documents, knowledge_bases, search, AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(retrieval))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct RetrievalRequest {
    knowledge_id: String,
    query: String,
    #[serde(default)]
    retrieval_setting: RetrievalSetting,
    #[serde(default)]
    metadata_condition: Option<Filter>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct RetrievalSetting {
    #[serde(default = "default_top_k")]
    top_k: usize,
    #[serde(default)]
    score_threshold: f32,
}

impl Default for RetrievalSetting {
    fn default() -> Self {
        Self {
            top_k: default_top_k(),
            score_threshold: 0.0,
        }
    }
}

fn default_top_k() -> usize {
    5
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Record {
    content: String,
    score: f32,
    title: String,
    metadata: Map<String, Value>,
}

/// An error in Dify's shape.
pub fn dify_error(status: StatusCode, code: u16, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"error_code": code, "error_msg": message.into()})),
    )
        .into_response()
}

fn from_error(e: Error) -> Response {
    let status = super::error::status(&e);
    let message = super::error::body(&e)["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match e {
        Error::NotFound { .. } => dify_error(StatusCode::NOT_FOUND, 2001, message),
        _ => dify_error(status, status.as_u16(), message),
    }
}

/// Dify's answer: `{"records": [...]}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the answer only
struct Records {
    records: Vec<Record>,
}

/// Dify's error: `{"error_code", "error_msg"}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the answer only
struct DifyError {
    error_code: u16,
    error_msg: String,
}

#[utoipa::path(post, path = "/dify/retrieval", tag = "dify", request_body = RetrievalRequest,
    responses((status = 200, description = "the passages found", body = Records),
        (status = 400, description = "bad input", body = DifyError),
        (status = 403, description = "1001: no or malformed Authorization; 1002: a wrong key", body = DifyError),
        (status = 404, description = "2001: no such knowledge base", body = DifyError)))]
async fn retrieval(State(state): State<AppState>, caller: Caller, body: Bytes) -> Response {
    let req: RetrievalRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return dify_error(
                StatusCode::BAD_REQUEST,
                400,
                format!("invalid request body: {e}"),
            )
        }
    };
    match retrieve(&state, &caller, req).await {
        Ok(records) => Json(json!({ "records": records })).into_response(),
        Err(e) => from_error(e),
    }
}

async fn retrieve(
    state: &AppState,
    caller: &Caller,
    req: RetrievalRequest,
) -> Result<Vec<Record>, Error> {
    let top_k = req.retrieval_setting.top_k;
    if !(1..=100).contains(&top_k) {
        return Err(Error::bad_request(
            "retrieval_setting.top_k must be 1 to 100",
        ));
    }
    let threshold = req.retrieval_setting.score_threshold;
    if !(0.0..=1.0).contains(&threshold) {
        return Err(Error::bad_request(
            "retrieval_setting.score_threshold must be 0 to 1",
        ));
    }
    let kb = knowledge_bases::find(state, caller, &req.knowledge_id).await?;
    let rerank = if state.cross_encoder.is_some() {
        retrieval::rerank::RerankKind::CrossEncoder
    } else {
        retrieval::rerank::RerankKind::Weighted
    };
    let reply = search::search(
        state,
        caller,
        search::SearchRequest {
            knowledge_bases: vec![kb.id.clone()],
            query: req.query,
            top_k: Some(top_k),
            filters: req.metadata_condition,
            options: retrieval::SearchOptions {
                rerank: Some(rerank),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await?;
    let ids: Vec<String> = reply.hits.iter().map(|h| h.document_id.clone()).collect();
    let metadata = documents::metadata_of(state, &ids).await?;
    Ok(reply
        .hits
        .into_iter()
        .filter(|h| h.score >= threshold)
        .map(|h| {
            let mut meta = metadata.get(&h.document_id).cloned().unwrap_or_default();
            meta.insert("document_id".into(), json!(h.document_id));
            meta.insert("document_name".into(), json!(h.document_name));
            meta.insert("page".into(), json!(h.page));
            meta.insert("heading".into(), json!(h.heading));
            meta.insert("chunk_id".into(), json!(h.chunk_id));
            meta.insert("knowledge_base".into(), json!(h.knowledge_base));
            Record {
                content: h.text,
                score: h.score.clamp(0.0, 1.0),
                title: h.document_name,
                metadata: meta,
            }
        })
        .collect())
}

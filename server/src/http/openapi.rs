//! The OpenAPI 3.1 document of the HTTP API, generated from the code: each handler's
//! `#[utoipa::path]` names its path, parameters, body and answers, and the routers are built
//! from the same annotations (`utoipa_axum`), so every route the API serves is in the
//! document and nothing else is. Served at `GET /api/v1/openapi.json`. Not in it: the web
//! UI's files and `/mcp` (the MCP protocol, see the README).

use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi};

/// Every error: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// `bad_request`, `empty_file`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `payload_too_large`, `unsupported_format`, `rate_limited`, `timeout`, `unavailable`,
    /// `llm_error`, `llm_unavailable`, `llm_timeout` or `internal`.
    pub code: String,
    /// What went wrong, for people (lowercase, no trailing period).
    pub message: String,
}

/// Completes the document the routers collected: title, version, the bearer key.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    doc.info = InfoBuilder::new()
        .title("ragd")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "A self-hosted RAG knowledge base: documents, hybrid search, answers with citations. \
             Send `Authorization: Bearer <api key>` when the server has keys.",
        ))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "api_key",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    // Handlers share names across resources (`list`, `create`): ids from method and path.
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ] {
            if let Some(op) = op {
                let id: String = format!("{method}{path}")
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                op.operation_id = Some(id.replace("__", "_").trim_end_matches('_').to_string());
            }
        }
    }
    doc.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
        "api_key",
        Vec::<String>::new(),
    )]);
    doc
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "system", security(()),
    responses((status = 200, description = "the OpenAPI 3.1 document of this API", body = Object)))]
pub async fn document() -> Json<serde_json::Value> {
    Json(crate::http::openapi_json())
}

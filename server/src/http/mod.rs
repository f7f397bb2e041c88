//! The HTTP interface, axum only: `/api/v1` (JSON), the OpenAI-compatible `/v1`, `/healthz`
//! and the web UI at `/`. One file per resource; each handler reads its request, calls one
//! service operation and writes its reply. Errors become statuses in one table
//! ([`error::status`]); credentials are checked by [`auth::require`].

pub mod auth;
pub mod backups;
pub mod chat;
pub mod dify;
pub mod documents;
pub mod error;
pub mod eval;
pub mod extract;
pub mod keys;
pub mod knowledge_bases;
pub mod metrics;
pub mod openai;
pub mod openapi;
pub mod search;
pub mod sources;
pub mod system;
pub mod web;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::error::Error;
use crate::service::AppState;
use error::ApiError;

/// The OpenAPI document of the API ([`openapi`]), made once from the routers.
static OPENAPI: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();

/// The routes of the API, each documented by its handler's `#[utoipa::path]`: the axum
/// routers for [`app`] and the OpenAPI document, from the same registrations.
fn api_routes() -> (
    utoipa_axum::router::OpenApiRouter<AppState>,
    utoipa_axum::router::OpenApiRouter<AppState>,
    utoipa_axum::router::OpenApiRouter<AppState>,
) {
    use utoipa_axum::router::OpenApiRouter;
    // Under the request timeout.
    let timed = OpenApiRouter::new()
        .merge(knowledge_bases::routes())
        .merge(documents::routes())
        .merge(search::routes())
        .merge(system::routes())
        .merge(sources::routes())
        .merge(auth::routes())
        .merge(dify::routes())
        .merge(keys::routes())
        .routes(utoipa_axum::routes!(openapi::document));
    // As long as the LLM, a copy or an evaluation takes.
    let long = OpenApiRouter::new()
        .merge(chat::routes())
        .merge(system::llm_routes())
        .merge(eval::routes())
        .merge(backups::routes());
    let outside = OpenApiRouter::new()
        .routes(utoipa_axum::routes!(system::healthz))
        .routes(utoipa_axum::routes!(metrics::scrape))
        .nest("/v1", openai::routes());
    (timed, long, outside)
}

/// The OpenAPI document as JSON.
pub fn openapi_json() -> serde_json::Value {
    OPENAPI
        .get_or_init(|| {
            let (timed, long, outside) = api_routes();
            let all = utoipa_axum::router::OpenApiRouter::<AppState>::new()
                .nest("/api/v1", timed.merge(long))
                .merge(outside);
            let doc = openapi::finish(all.into_openapi());
            serde_json::to_value(doc).unwrap_or_default()
        })
        .clone()
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let body_limit = usize::try_from(state.config.max_upload_bytes).unwrap_or(usize::MAX);
    let timeout = Duration::from_secs(state.config.request_timeout_secs.max(1));
    let (timed, long, outside) = api_routes();
    let (timed, _) = timed.split_for_parts();
    let (long, _) = long.split_for_parts();
    let (outside, _) = outside.split_for_parts();
    let api =
        timed.fallback(|| async { ApiError(Error::not_found("route", "no such api endpoint")) });
    let timed = Router::new()
        .merge(web::routes())
        .nest("/api/v1", api)
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            with_timeout(req, next, timeout)
        }));
    // Answers, evaluations and backups may take long, but not forever; a streamed answer
    // gets its headers at once, and its LLM's idle timeout bounds the silence after that.
    let long_limit = Duration::from_secs(state.config.long_request_timeout_secs.max(1));
    let long = long.layer(middleware::from_fn(move |req: Request, next: Next| {
        with_timeout(req, next, long_limit)
    }));
    let guard = state.guard.clone();
    let allowed_hosts = std::sync::Arc::new(state.config.auth.allowed_hosts.clone());
    let store = state.store.clone();
    Router::new()
        .nest("/api/v1", long)
        .merge(outside)
        // MCP over streamable HTTP: long-lived streams, so outside the request timeout.
        .nest_service("/mcp", mcp_service(&state))
        .merge(timed)
        .layer(middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            auth::require(
                guard.clone(),
                allowed_hosts.clone(),
                store.clone(),
                req,
                next,
            )
        }))
        .with_state(state)
}

async fn with_timeout(req: Request, next: Next, limit: Duration) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError(Error::Timeout).into_response(),
    }
}

/// The MCP server at `/mcp` ([`crate::mcp`]) on this process's services. With API keys, the
/// keys guard it and any `Host` is accepted; without, only loopback hosts (DNS rebinding).
fn mcp_service(
    state: &AppState,
) -> rmcp::transport::streamable_http_server::StreamableHttpService<
    crate::mcp::Ragd,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
> {
    use rmcp::transport::streamable_http_server::{
        session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
    };
    let mut config = StreamableHttpServerConfig::default();
    if state.guard.is_some() {
        config = config.disable_allowed_hosts();
    }
    let backend: std::sync::Arc<dyn crate::mcp::Backend> =
        std::sync::Arc::new(crate::mcp::Local(state.clone()));
    StreamableHttpService::new(
        move || Ok(crate::mcp::Ragd::over_http(backend.clone())),
        std::sync::Arc::new(LocalSessionManager::default()),
        config,
    )
}

#[cfg(test)]
mod tests {
    /// Every route of the API is registered through its `#[utoipa::path]` (so it is in the
    /// OpenAPI document), and every annotated handler is in the document: a plain axum
    /// `.route(` is allowed only for the web UI's files, and `/mcp` is the one nested service.
    #[test]
    fn the_router_serves_what_the_openapi_document_lists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
        let mut annotated = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            // Not the tests, which name what they look for.
            let text = text.split("#[cfg(test)]").next().unwrap_or_default();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            annotated += text.matches("#[utoipa::path(").count();
            let plain = text.matches(".route(").count() + text.matches(".route_service(").count();
            if name == "web.rs" {
                assert_eq!(plain, 2, "web.rs serves / and /ui/* only");
            } else {
                assert_eq!(plain, 0, "{name}: a route outside the OpenAPI document");
            }
            let nested = text.matches(".nest_service(").count();
            assert_eq!(nested, usize::from(name == "mod.rs"), "{name}");
        }
        let doc = super::openapi_json();
        let operations: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| {
                ["get", "put", "post", "delete", "patch"]
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .count()
            })
            .sum();
        assert_eq!(
            operations, annotated,
            "each annotated handler is routed once"
        );
    }
}

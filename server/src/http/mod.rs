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
pub mod knowledge_bases;
pub mod metrics;
pub mod openai;
pub mod search;
pub mod sources;
pub mod system;
pub mod web;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::Error;
use crate::service::AppState;
use error::ApiError;

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let body_limit = usize::try_from(state.config.max_upload_bytes).unwrap_or(usize::MAX);
    let timeout = Duration::from_secs(state.config.request_timeout_secs.max(1));
    let api = Router::new()
        .merge(knowledge_bases::routes())
        .merge(documents::routes())
        .merge(search::routes())
        .merge(system::routes())
        .merge(sources::routes())
        .merge(auth::routes())
        .merge(dify::routes())
        .fallback(|| async { ApiError(Error::not_found("route", "no such api endpoint")) });
    let timed = Router::new()
        .merge(web::routes())
        .route("/healthz", get(system::healthz))
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
            chat::routes()
                .merge(system::llm_routes())
                .merge(eval::routes())
                .merge(backups::routes()),
        )
        .nest("/v1", openai::routes())
        // MCP over streamable HTTP: long-lived streams, so outside the request timeout.
        .nest_service("/mcp", mcp_service(&state))
        .route("/metrics", get(metrics::scrape))
        .merge(timed)
        .layer(middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            auth::require(guard.clone(), req, next)
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
        move || Ok(crate::mcp::Ragd::new(backend.clone())),
        std::sync::Arc::new(LocalSessionManager::default()),
        config,
    )
}

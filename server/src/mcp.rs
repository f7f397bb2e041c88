//! The MCP server (Model Context Protocol, the official Rust SDK `rmcp`): the knowledge
//! bases as tools for agents. An interface like `http/` and `cli/`: a thin adapter over the
//! same service calls, reached over two transports:
//!
//! - stdio: `ragd mcp`, on the data folder or with `--url` on a running server (the CLI
//!   implements [`Backend`] for both);
//! - streamable HTTP at `/mcp` on the main server, behind the API keys (reader keys too),
//!   through [`Local`].
//!
//! Tools: `search`, `ask`, `list_knowledge_bases`, `list_documents`, `get_document`. Each
//! returns the JSON the REST API returns for the same input; a failure is a tool error with
//! the REST API's message.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Extensions, ServerCapabilities, ServerConfig};
use rmcp::{schemars, tool, tool_handler, tool_router, ServerHandler};
use serde::Deserialize;
use serde_json::Value;

use crate::service::answer::{self, AskRequest, Reply};
use crate::service::auth::Caller;
use crate::service::documents::{self, ListQuery};
use crate::service::metadata::Filter;
use crate::service::search::{self, SearchRequest};
use crate::service::{knowledge_bases, AppState};

/// A boxed future of a backend call: the REST API's JSON, or its error message.
pub type Call<'a> = Pin<Box<dyn Future<Output = Result<Value, String>> + Send + 'a>>;

/// What the tools call: the services in this process, or a running server.
/// Each call names its caller: the services check its scope; a running server checks the
/// key the backend holds instead.
pub trait Backend: Send + Sync + 'static {
    fn search(&self, caller: Caller, req: SearchRequest) -> Call<'_>;
    fn ask(&self, caller: Caller, req: AskRequest) -> Call<'_>;
    fn knowledge_bases(&self, caller: Caller) -> Call<'_>;
    fn documents(&self, caller: Caller, kb: String, status: Option<String>) -> Call<'_>;
    fn document(&self, caller: Caller, kb: String, id: String, offset: i64, limit: i64)
        -> Call<'_>;
}

/// What `get_document` returns: the document, and a page of its chunks (the REST API's
/// `…/chunks` reply) with their total.
pub fn document_reply(doc: Value, chunks: &Value) -> Value {
    serde_json::json!({"document": doc, "chunks": chunks["chunks"], "total_chunks": chunks["total"]})
}

/// The services of this process.
#[derive(Clone)]
pub struct Local(pub AppState);

fn json<T: serde::Serialize>(r: Result<T, crate::error::Error>) -> Result<Value, String> {
    r.map_err(|e| e.to_string())
        .and_then(|v| serde_json::to_value(v).map_err(|e| e.to_string()))
}

impl Backend for Local {
    fn search(&self, caller: Caller, req: SearchRequest) -> Call<'_> {
        Box::pin(async move { json(search::search(&self.0, &caller, req).await) })
    }

    fn ask(&self, caller: Caller, mut req: AskRequest) -> Call<'_> {
        req.stream = false;
        Box::pin(async move {
            match answer::ask(&self.0, &caller, req).await {
                Ok(Reply::Whole(a)) => json(Ok(a)),
                Ok(Reply::Stream(_)) => Err("the answer came as a stream".into()),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn knowledge_bases(&self, caller: Caller) -> Call<'_> {
        Box::pin(async move { json(knowledge_bases::list(&self.0, &caller).await) })
    }

    fn documents(&self, caller: Caller, kb: String, status: Option<String>) -> Call<'_> {
        Box::pin(async move {
            let q = ListQuery {
                status,
                limit: Some(1000),
                offset: None,
            };
            json(documents::list(&self.0, &caller, &kb, q).await)
        })
    }

    fn document(
        &self,
        caller: Caller,
        kb: String,
        id: String,
        offset: i64,
        limit: i64,
    ) -> Call<'_> {
        Box::pin(async move {
            let doc = json(documents::get(&self.0, &caller, &kb, &id).await)?;
            let chunks = json(
                documents::chunks(&self.0, &caller, &kb, &id, Some(limit), Some(offset)).await,
            )?;
            Ok(document_reply(doc, &chunks))
        })
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SearchParams {
    #[schemars(description = "What to look for, in any language: a question or keywords")]
    pub query: String,
    #[schemars(
        description = "Knowledge bases to search, by name or id (list_knowledge_bases names them)"
    )]
    pub knowledge_bases: Vec<String>,
    #[schemars(description = "How many passages to return (1 to 100, default 5)")]
    pub top_k: Option<usize>,
    #[schemars(
        description = "Optional metadata filter: {\"logical_operator\": \"and\"|\"or\", \"conditions\": [{\"name\": \"year\", \"comparison_operator\": \"≥\", \"value\": 2024}]}; operators: contains, not contains, start with, end with, is, is not, in, not in, empty, not empty, =, ≠, >, <, ≥, ≤, before, after"
    )]
    pub filters: Option<Value>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AskParams {
    #[schemars(description = "The question to answer from the knowledge bases")]
    pub question: String,
    #[schemars(description = "Knowledge bases to answer from, by name or id")]
    pub knowledge_bases: Vec<String>,
    #[schemars(description = "Optional metadata filter, as for search")]
    pub filters: Option<Value>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListDocumentsParams {
    #[schemars(description = "The knowledge base, by name or id")]
    pub knowledge_base: String,
    #[schemars(
        description = "Only documents in this state: queued, parsing, embedding, ready or failed"
    )]
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct GetDocumentParams {
    #[schemars(description = "The knowledge base, by name or id")]
    pub knowledge_base: String,
    #[schemars(description = "The document's id (list_documents gives it)")]
    pub document_id: String,
    #[schemars(description = "First chunk to return (default 0)")]
    pub offset: Option<i64>,
    #[schemars(description = "Chunks to return (1 to 200, default 50)")]
    pub limit: Option<i64>,
}

/// The MCP server over a [`Backend`].
#[derive(Clone)]
pub struct Ragd {
    backend: Arc<dyn Backend>,
    /// Who calls when the request says nothing: the admin over stdio (the data folder's
    /// owner, or a running server that checks its own key); nobody at `/mcp`, where the
    /// HTTP middleware names the caller of every request.
    stdio_caller: Option<Caller>,
    #[allow(dead_code)] // read by the tool_handler macro
    tool_router: ToolRouter<Self>,
}

impl Ragd {
    /// Over stdio: every call is the admin's.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self {
            backend,
            stdio_caller: Some(Caller::ADMIN),
            tool_router: Self::tool_router(),
        }
    }

    /// At `/mcp`: each call is the caller the HTTP middleware found for its request.
    pub fn over_http(backend: Arc<dyn Backend>) -> Self {
        Self {
            stdio_caller: None,
            ..Self::new(backend)
        }
    }

    /// The caller of a tool call: from its HTTP request, else the stdio default.
    fn caller(&self, ext: &Extensions) -> Result<Caller, String> {
        ext.get::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<Caller>().cloned())
            .or_else(|| self.stdio_caller.clone())
            .ok_or_else(|| "missing or invalid api key".to_string())
    }
}

/// A tool's result: the JSON as text, or a tool error with the message.
fn result(r: Result<Value, String>) -> CallToolResult {
    match r {
        Ok(v) => CallToolResult::success(vec![ContentBlock::text(
            serde_json::to_string_pretty(&v).unwrap_or_default(),
        )]),
        Err(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
    }
}

fn filter(v: Option<Value>) -> Result<Option<Filter>, String> {
    v.map(|v| serde_json::from_value(v).map_err(|e| format!("filters: {e}")))
        .transpose()
}

#[tool_router]
impl Ragd {
    #[tool(
        description = "Search the knowledge bases (hybrid: dense vectors and BM25, fused and reranked). Returns passages with their document, page, heading and score, best first. Use it to find facts before answering."
    )]
    async fn search(
        &self,
        Parameters(p): Parameters<SearchParams>,
        ext: Extensions,
    ) -> CallToolResult {
        let (filters, caller) = match filter(p.filters).and_then(|f| Ok((f, self.caller(&ext)?))) {
            Ok(f) => f,
            Err(e) => return result(Err(e)),
        };
        result(
            self.backend
                .search(
                    caller,
                    SearchRequest {
                        knowledge_bases: p.knowledge_bases,
                        query: p.query,
                        top_k: p.top_k,
                        filters,
                        ..Default::default()
                    },
                )
                .await,
        )
    }

    #[tool(
        description = "Answer a question from the knowledge bases with the configured LLM, citing the passages used ([n] refers to citations[n-1]: document and page). Without an LLM the answer is the best passages, quoted."
    )]
    async fn ask(&self, Parameters(p): Parameters<AskParams>, ext: Extensions) -> CallToolResult {
        let (filters, caller) = match filter(p.filters).and_then(|f| Ok((f, self.caller(&ext)?))) {
            Ok(f) => f,
            Err(e) => return result(Err(e)),
        };
        result(
            self.backend
                .ask(
                    caller,
                    AskRequest {
                        knowledge_bases: p.knowledge_bases,
                        question: p.question,
                        history: Vec::new(),
                        stream: false,
                        top_k: None,
                        filters,
                    },
                )
                .await,
        )
    }

    #[tool(
        description = "List the knowledge bases with their description, document and chunk counts and embedding model."
    )]
    async fn list_knowledge_bases(&self, ext: Extensions) -> CallToolResult {
        match self.caller(&ext) {
            Ok(caller) => result(self.backend.knowledge_bases(caller).await),
            Err(e) => result(Err(e)),
        }
    }

    #[tool(
        description = "List the documents of a knowledge base: id, name, status, chunks, pages and metadata."
    )]
    async fn list_documents(
        &self,
        Parameters(p): Parameters<ListDocumentsParams>,
        ext: Extensions,
    ) -> CallToolResult {
        match self.caller(&ext) {
            Ok(caller) => result(
                self.backend
                    .documents(caller, p.knowledge_base, p.status)
                    .await,
            ),
            Err(e) => result(Err(e)),
        }
    }

    #[tool(
        description = "Read a document: its details and metadata, and its chunks' text in order, a page of chunks at a time (offset, limit)."
    )]
    async fn get_document(
        &self,
        Parameters(p): Parameters<GetDocumentParams>,
        ext: Extensions,
    ) -> CallToolResult {
        let limit = p.limit.unwrap_or(50).clamp(1, 200);
        let offset = p.offset.unwrap_or(0).max(0);
        match self.caller(&ext) {
            Ok(caller) => result(
                self.backend
                    .document(caller, p.knowledge_base, p.document_id, offset, limit)
                    .await,
            ),
            Err(e) => result(Err(e)),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Ragd {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "ragd: search and ask the user's knowledge bases. Call list_knowledge_bases first, then search (passages with sources) or ask (an answer with citations).",
        )
    }
}

/// Serves MCP over stdin and stdout until the client leaves.
pub async fn serve_stdio(backend: Arc<dyn Backend>) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let service = Ragd::new(backend)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("mcp: {e}"))?;
    service.waiting().await?;
    Ok(())
}

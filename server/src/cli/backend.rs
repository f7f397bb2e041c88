//! What the commands need from ragd, typed, over two transports: the services in this
//! process (embedded mode, on the data folder), or a running server's HTTP API (`--url`),
//! whose replies decode into the same types. Errors carry the service's message either way.

use crate::service::auth::Caller;
use anyhow::{anyhow, bail, Context};
use futures_util::StreamExt;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::http::backups::Backups;
use crate::http::documents::{encode, Uploaded};
use crate::http::keys::Keys;
use crate::http::sources::{Runs, Sources};
use crate::service::answer::{self, AnswerEvent, AskRequest, Citation, Done, Reply};
use crate::service::backup::{self, Backup};
use crate::service::documents::{self, DocumentView};
use crate::service::eval::{self, EvalBody, EvalReport};
use crate::service::keys::{self, CreatedKey, KeyView, NewKey};
use crate::service::knowledge_bases::{self, KnowledgeBases, NewKnowledgeBase};
use crate::service::reindex::{self, ReindexRequest, ReindexView};
use crate::service::search::{self, SearchReply, SearchRequest};
use crate::service::sources::manage::{self, NewSource, RunView, SourceView};
use crate::service::system::{self, LlmReport};
use crate::service::AppState;
use crate::store::KnowledgeBase;

/// One event of a streamed answer, as the CLI prints it.
#[derive(Debug, Clone)]
pub enum AskEvent {
    Reasoning(String),
    Delta(String),
    Citations(Vec<Citation>),
    Done(Done),
    Error(String),
}

impl From<AnswerEvent> for AskEvent {
    fn from(e: AnswerEvent) -> Self {
        match e {
            AnswerEvent::Reasoning(t) => AskEvent::Reasoning(t),
            AnswerEvent::Delta(t) => AskEvent::Delta(t),
            AnswerEvent::Citations(c) => AskEvent::Citations(c),
            AnswerEvent::Done(d) => AskEvent::Done(d),
            AnswerEvent::Error(e) => AskEvent::Error(e.to_string()),
        }
    }
}

/// A running server.
pub struct Remote {
    http: reqwest::Client,
    base: String,
}

/// Where the commands run.
pub enum Backend {
    /// The data folder, opened by this process.
    Local(AppState),
    Remote(Remote),
}

#[derive(Deserialize)]
struct ErrorReply {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: String,
}

impl Remote {
    /// A client of the server at `url`; a non-empty `api_key` is sent as a bearer token.
    pub fn new(url: &str, api_key: &str) -> anyhow::Result<Self> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--url must start with http:// or https://");
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if !api_key.is_empty() {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {api_key}"))
                .context("the api key must be printable ascii")?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        Ok(Remote {
            http: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .default_headers(headers)
                .build()?,
            base,
        })
    }

    /// Sends a request under `/api/v1`; an error reply becomes an error with its message.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        checked(resp).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> anyhow::Result<T> {
        let resp = self.send(method, path, body).await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| anyhow!("unexpected reply (HTTP {status}): {e}"))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.call(Method::GET, path, None::<&()>).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &(impl Serialize + ?Sized),
    ) -> anyhow::Result<T> {
        self.call(Method::POST, path, Some(body)).await
    }
}

/// The response, or the error its reply carries.
async fn checked(resp: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    let status = resp.status().as_u16();
    if status < 400 {
        return Ok(resp);
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<ErrorReply>(&bytes) {
        Ok(e) => bail!("{} (HTTP {status})", e.error.message),
        Err(_) => bail!("request failed (HTTP {status})"),
    }
}

fn kb_path(kb: &str) -> String {
    format!("/knowledge-bases/{}", encode(kb))
}

fn source_path(kb: &str, id: &str) -> String {
    format!("{}/sources/{}", kb_path(kb), encode(id))
}

impl Backend {
    /// The state of embedded mode, whose queue the command must process itself.
    pub fn local(&self) -> Option<&AppState> {
        match self {
            Backend::Local(state) => Some(state),
            Backend::Remote(_) => None,
        }
    }

    pub async fn create_key(&self, req: NewKey) -> anyhow::Result<CreatedKey> {
        match self {
            Backend::Local(s) => Ok(keys::create(s, &Caller::ADMIN, req).await?),
            Backend::Remote(r) => r.post("/keys", &req).await,
        }
    }

    pub async fn list_keys(&self) -> anyhow::Result<Vec<KeyView>> {
        match self {
            Backend::Local(s) => Ok(keys::list(s, &Caller::ADMIN).await?),
            Backend::Remote(r) => Ok(r.get::<Keys>("/keys").await?.keys),
        }
    }

    pub async fn revoke_key(&self, id: &str) -> anyhow::Result<KeyView> {
        match self {
            Backend::Local(s) => Ok(keys::revoke(s, &Caller::ADMIN, id).await?),
            Backend::Remote(r) => {
                let resp = r
                    .send(
                        Method::DELETE,
                        &format!("/keys/{}", encode(id)),
                        None::<&()>,
                    )
                    .await?;
                Ok(resp.json().await?)
            }
        }
    }

    pub async fn list_kbs(&self) -> anyhow::Result<KnowledgeBases> {
        match self {
            Backend::Local(s) => Ok(knowledge_bases::list(s, &Caller::ADMIN).await?),
            Backend::Remote(r) => r.get("/knowledge-bases").await,
        }
    }

    pub async fn get_kb(&self, kb: &str) -> anyhow::Result<KnowledgeBase> {
        match self {
            Backend::Local(s) => Ok(knowledge_bases::get(s, &Caller::ADMIN, kb).await?),
            Backend::Remote(r) => r.get(&kb_path(kb)).await,
        }
    }

    pub async fn create_kb(&self, req: NewKnowledgeBase) -> anyhow::Result<KnowledgeBase> {
        match self {
            Backend::Local(s) => Ok(knowledge_bases::create(s, &Caller::ADMIN, req).await?),
            Backend::Remote(r) => r.post("/knowledge-bases", &req).await,
        }
    }

    pub async fn delete_kb(&self, kb: &str) -> anyhow::Result<()> {
        match self {
            Backend::Local(s) => Ok(knowledge_bases::delete(s, &Caller::ADMIN, kb).await?),
            Backend::Remote(r) => {
                r.send(Method::DELETE, &kb_path(kb), None::<&()>).await?;
                Ok(())
            }
        }
    }

    pub async fn reindex(&self, kb: &str, req: ReindexRequest) -> anyhow::Result<ReindexView> {
        match self {
            Backend::Local(s) => Ok(reindex::start(s, &Caller::ADMIN, kb, req).await?),
            Backend::Remote(r) => r.post(&format!("{}/reindex", kb_path(kb)), &req).await,
        }
    }

    pub async fn reindex_status(&self, kb: &str) -> anyhow::Result<ReindexView> {
        match self {
            Backend::Local(s) => Ok(reindex::latest(s, &Caller::ADMIN, kb).await?),
            Backend::Remote(r) => r.get(&format!("{}/reindex", kb_path(kb))).await,
        }
    }

    pub async fn reindex_cancel(&self, kb: &str) -> anyhow::Result<ReindexView> {
        match self {
            Backend::Local(s) => Ok(reindex::cancel(s, &Caller::ADMIN, kb).await?),
            Backend::Remote(r) => {
                r.post(&format!("{}/reindex/cancel", kb_path(kb)), &())
                    .await
            }
        }
    }

    /// Uploads one file; a duplicate returns the document already there.
    pub async fn upload(
        &self,
        kb: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<DocumentView> {
        let mut docs = match self {
            Backend::Local(s) => {
                documents::upload(s, &Caller::ADMIN, kb, vec![(name.to_string(), bytes)]).await?
            }
            Backend::Remote(r) => {
                let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_string());
                let form = reqwest::multipart::Form::new().part("file", part);
                let resp = r
                    .http
                    .post(format!("{}/api/v1{}/documents", r.base, kb_path(kb)))
                    .multipart(form)
                    .send()
                    .await
                    .with_context(|| format!("cannot reach {}", r.base))?;
                let uploaded: Uploaded = checked(resp).await?.json().await?;
                uploaded.documents
            }
        };
        docs.pop()
            .ok_or_else(|| anyhow!("the upload queued no document"))
    }

    pub async fn document(&self, kb: &str, id: &str) -> anyhow::Result<DocumentView> {
        match self {
            Backend::Local(s) => Ok(documents::get(s, &Caller::ADMIN, kb, id).await?),
            Backend::Remote(r) => {
                r.get(&format!("{}/documents/{}", kb_path(kb), encode(id)))
                    .await
            }
        }
    }

    pub async fn search(&self, req: SearchRequest) -> anyhow::Result<SearchReply> {
        match self {
            Backend::Local(s) => Ok(search::search(s, &Caller::ADMIN, req).await?),
            Backend::Remote(r) => r.post("/search", &req).await,
        }
    }

    /// Asks a question; the answer streams in as events.
    pub async fn ask(&self, mut req: AskRequest) -> anyhow::Result<mpsc::Receiver<AskEvent>> {
        req.stream = true;
        let (tx, rx) = mpsc::channel(64);
        match self {
            Backend::Local(s) => match answer::ask(s, &Caller::ADMIN, req).await? {
                Reply::Stream(mut events) => {
                    tokio::spawn(async move {
                        while let Some(e) = events.recv().await {
                            if tx.send(e.into()).await.is_err() {
                                break;
                            }
                        }
                    });
                }
                Reply::Whole(_) => bail!("the answer was not streamed"),
            },
            Backend::Remote(r) => {
                let resp = r.send(Method::POST, "/ask", Some(&req)).await?;
                tokio::spawn(forward_sse(resp, tx));
            }
        }
        Ok(rx)
    }

    pub async fn eval(&self, body: EvalBody) -> anyhow::Result<EvalReport> {
        match self {
            Backend::Local(s) => Ok(eval::eval(s, &Caller::ADMIN, body).await?),
            Backend::Remote(r) => r.post("/eval", &body).await,
        }
    }

    pub async fn llm(&self) -> anyhow::Result<LlmReport> {
        match self {
            Backend::Local(s) => Ok(system::llm_report(s).await),
            Backend::Remote(r) => r.get("/llm").await,
        }
    }

    pub async fn backup(&self) -> anyhow::Result<Backup> {
        match self {
            Backend::Local(s) => Ok(backup::create_backup(s).await?),
            Backend::Remote(r) => r.post("/backups", &()).await,
        }
    }

    pub async fn backups(&self) -> anyhow::Result<Vec<Backup>> {
        match self {
            Backend::Local(s) => Ok(backup::list(s).await?),
            Backend::Remote(r) => Ok(r.get::<Backups>("/backups").await?.backups),
        }
    }

    pub async fn add_source(&self, kb: &str, req: NewSource) -> anyhow::Result<SourceView> {
        match self {
            Backend::Local(s) => Ok(manage::create(s, &Caller::ADMIN, kb, req).await?),
            Backend::Remote(r) => r.post(&format!("{}/sources", kb_path(kb)), &req).await,
        }
    }

    pub async fn sources(&self, kb: &str) -> anyhow::Result<Vec<SourceView>> {
        match self {
            Backend::Local(s) => Ok(manage::list(s, &Caller::ADMIN, kb).await?),
            Backend::Remote(r) => Ok(r
                .get::<Sources>(&format!("{}/sources", kb_path(kb)))
                .await?
                .sources),
        }
    }

    pub async fn run_source(&self, kb: &str, id: &str) -> anyhow::Result<RunView> {
        match self {
            Backend::Local(s) => Ok(manage::run_now(s, &Caller::ADMIN, kb, id).await?),
            Backend::Remote(r) => r.post(&format!("{}/run", source_path(kb, id)), &()).await,
        }
    }

    pub async fn runs(&self, kb: &str, id: &str) -> anyhow::Result<Vec<RunView>> {
        match self {
            Backend::Local(s) => Ok(manage::runs(s, &Caller::ADMIN, kb, id).await?),
            Backend::Remote(r) => Ok(r
                .get::<Runs>(&format!("{}/runs", source_path(kb, id)))
                .await?
                .runs),
        }
    }

    pub async fn run(&self, kb: &str, id: &str, run: i64) -> anyhow::Result<RunView> {
        match self {
            Backend::Local(s) => Ok(manage::run(s, &Caller::ADMIN, kb, id, run).await?),
            Backend::Remote(r) => r.get(&format!("{}/runs/{run}", source_path(kb, id))).await,
        }
    }

    pub async fn cancel_run(&self, kb: &str, id: &str, run: i64) -> anyhow::Result<RunView> {
        match self {
            Backend::Local(s) => Ok(manage::cancel(s, &Caller::ADMIN, kb, id, run).await?),
            Backend::Remote(r) => {
                r.post(&format!("{}/runs/{run}/cancel", source_path(kb, id)), &())
                    .await
            }
        }
    }

    pub async fn remove_source(&self, kb: &str, id: &str) -> anyhow::Result<()> {
        match self {
            Backend::Local(s) => Ok(manage::remove(s, &Caller::ADMIN, kb, id).await?),
            Backend::Remote(r) => {
                r.send(Method::DELETE, &source_path(kb, id), None::<&()>)
                    .await?;
                Ok(())
            }
        }
    }
}

#[derive(Deserialize)]
struct Text {
    text: String,
}

#[derive(Deserialize)]
struct Citations {
    citations: Vec<Citation>,
}

/// One Server-Sent Events block as an answer event; `None` for comments and unknown events.
pub fn parse_sse_block(block: &str) -> Option<AskEvent> {
    let mut event = "message";
    let mut data = String::new();
    for line in block.lines() {
        if let Some(e) = line.strip_prefix("event:") {
            event = e.trim();
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.trim_start());
        }
    }
    let parsed = match event {
        "reasoning" => serde_json::from_str::<Text>(&data).map(|t| AskEvent::Reasoning(t.text)),
        "delta" => serde_json::from_str::<Text>(&data).map(|t| AskEvent::Delta(t.text)),
        "citations" => {
            serde_json::from_str::<Citations>(&data).map(|c| AskEvent::Citations(c.citations))
        }
        "done" => serde_json::from_str::<Done>(&data).map(AskEvent::Done),
        "error" => {
            serde_json::from_str::<ErrorReply>(&data).map(|e| AskEvent::Error(e.error.message))
        }
        _ => return None,
    };
    Some(parsed.unwrap_or_else(|e| AskEvent::Error(format!("unreadable {event} event: {e}"))))
}

/// Reads the SSE reply and sends its events until it ends or the receiver goes away.
async fn forward_sse(resp: reqwest::Response, tx: mpsc::Sender<AskEvent>) {
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    while let Some(bytes) = stream.next().await {
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                let _ = tx
                    .send(AskEvent::Error(format!("the stream broke off: {e}")))
                    .await;
                return;
            }
        };
        buf.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if let Some(event) = parse_sse_block(&block) {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The MCP tools over the CLI's backend: the services of the data folder, or the REST API of
/// a running server (`ragd mcp --url`).
impl crate::mcp::Backend for Backend {
    fn search(&self, caller: Caller, req: SearchRequest) -> crate::mcp::Call<'_> {
        Box::pin(async move {
            match self {
                Backend::Local(s) => crate::mcp::Local(s.clone()).search(caller, req).await,
                Backend::Remote(r) => r.post("/search", &req).await.map_err(|e| e.to_string()),
            }
        })
    }

    fn ask(&self, caller: Caller, mut req: AskRequest) -> crate::mcp::Call<'_> {
        req.stream = false;
        Box::pin(async move {
            match self {
                Backend::Local(s) => crate::mcp::Local(s.clone()).ask(caller, req).await,
                Backend::Remote(r) => r.post("/ask", &req).await.map_err(|e| e.to_string()),
            }
        })
    }

    fn knowledge_bases(&self, caller: Caller) -> crate::mcp::Call<'_> {
        Box::pin(async move {
            match self {
                Backend::Local(s) => crate::mcp::Local(s.clone()).knowledge_bases(caller).await,
                Backend::Remote(r) => r.get("/knowledge-bases").await.map_err(|e| e.to_string()),
            }
        })
    }

    fn documents(
        &self,
        caller: Caller,
        kb: String,
        status: Option<String>,
    ) -> crate::mcp::Call<'_> {
        Box::pin(async move {
            match self {
                Backend::Local(s) => {
                    crate::mcp::Local(s.clone())
                        .documents(caller, kb, status)
                        .await
                }
                Backend::Remote(r) => {
                    let mut path = format!("{}/documents?limit=1000", kb_path(&kb));
                    if let Some(st) = status {
                        path.push_str(&format!("&status={}", encode(&st)));
                    }
                    r.get(&path).await.map_err(|e| e.to_string())
                }
            }
        })
    }

    fn document(
        &self,
        caller: Caller,
        kb: String,
        id: String,
        offset: i64,
        limit: i64,
    ) -> crate::mcp::Call<'_> {
        Box::pin(async move {
            match self {
                Backend::Local(s) => {
                    crate::mcp::Local(s.clone())
                        .document(caller, kb, id, offset, limit)
                        .await
                }
                Backend::Remote(r) => {
                    let base = format!("{}/documents/{}", kb_path(&kb), encode(&id));
                    let doc: serde_json::Value = r.get(&base).await.map_err(|e| e.to_string())?;
                    let chunks: serde_json::Value = r
                        .get(&format!("{base}/chunks?offset={offset}&limit={limit}"))
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(crate::mcp::document_reply(doc, &chunks))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks() {
        let e = parse_sse_block("event: delta\ndata: {\"text\":\"hi\"}\n\n");
        assert!(matches!(e, Some(AskEvent::Delta(t)) if t == "hi"));
        assert!(parse_sse_block(": keep-alive\n\n").is_none());
        let e = parse_sse_block(
            "event: error\ndata: {\"error\":{\"code\":\"llm_timeout\",\"message\":\"slow\"}}\n\n",
        );
        assert!(matches!(e, Some(AskEvent::Error(m)) if m == "slow"));
    }
}

//! Answer endpoints: `POST /api/v1/ask`, conversations, and `GET /api/v1/llm`. Streaming
//! replies are Server-Sent Events: `reasoning`, `delta`, `citations`, `done`, `error`.

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::answer::memory;
use crate::answer::prompt::Message;
use crate::answer::{answer, answer_whole, AnswerEvent, AskRequest, Citation};
use crate::api::{find_kb, ApiJson};
use crate::error::ApiError;
use crate::llm::LlmClient;
use crate::state::AppState;

/// Routes that may run as long as the LLM takes (no request timeout: the LLM client has its
/// own first-token and idle timeouts).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ask", post(ask))
        .route(
            "/conversations",
            post(create_conversation).get(list_conversations),
        )
        .route(
            "/conversations/{id}",
            get(get_conversation).delete(delete_conversation),
        )
        .route("/conversations/{id}/messages", post(add_message))
        .route("/llm", get(llm_status))
        .route("/eval", post(crate::eval::eval))
}

/// The SSE form of an answer event.
pub fn sse_event(ev: &AnswerEvent) -> Event {
    let (name, data) = match ev {
        AnswerEvent::Reasoning(t) => ("reasoning", json!({ "text": t })),
        AnswerEvent::Delta(t) => ("delta", json!({ "text": t })),
        AnswerEvent::Citations(c) => ("citations", json!({ "citations": c })),
        AnswerEvent::Done(d) => ("done", serde_json::to_value(d).unwrap_or(Value::Null)),
        AnswerEvent::Error(e) => {
            let (_, code) = e.status_and_code();
            (
                "error",
                json!({"error": {"code": code, "message": e.to_string()}}),
            )
        }
    };
    Event::default().event(name).data(data.to_string())
}

/// Streams `rx` as SSE; the stream ends after `done` or `error`.
pub fn sse_from(
    rx: mpsc::Receiver<AnswerEvent>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let s = stream::unfold(rx, |mut rx| async move {
        let ev = rx.recv().await?;
        Some((Ok(sse_event(&ev)), rx))
    });
    Sse::new(s).keep_alive(KeepAlive::default())
}

async fn validate_kbs(state: &AppState, kbs: &[String]) -> Result<Vec<String>, ApiError> {
    if kbs.is_empty() {
        return Err(ApiError::bad_request(
            "knowledge_bases must name at least one knowledge base",
        ));
    }
    let mut ids = Vec::new();
    for kb in kbs {
        ids.push(find_kb(state, kb).await?.id);
    }
    Ok(ids)
}

async fn ask(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AskRequest>,
) -> Result<Response, ApiError> {
    validate_kbs(&state, &req.knowledge_bases).await?;
    if req.question.trim().is_empty() {
        return Err(ApiError::bad_request("question must not be empty"));
    }
    if req.stream {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(answer(state, req, tx));
        Ok(sse_from(rx).into_response())
    } else {
        Ok(Json(answer_whole(state, req).await?).into_response())
    }
}

// ---- conversations ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewConversation {
    knowledge_bases: Vec<String>,
    #[serde(default)]
    title: Option<String>,
}

async fn create_conversation(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<NewConversation>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ids = validate_kbs(&state, &req.knowledge_bases).await?;
    let title: String = req
        .title
        .unwrap_or_default()
        .trim()
        .chars()
        .take(200)
        .collect();
    let id = uuid::Uuid::now_v7().to_string();
    let c = state.db.create_conversation(&id, &title, &ids).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": c.id, "title": c.title, "knowledge_bases": ids, "created_at": c.created_at, "updated_at": c.updated_at}),
        ),
    ))
}

async fn list_conversations(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let list = state.db.list_conversations(200).await?;
    let items: Vec<Value> = list
        .iter()
        .map(|c| json!({"id": c.id, "title": c.title, "knowledge_bases": c.kb_ids(), "created_at": c.created_at, "updated_at": c.updated_at}))
        .collect();
    Ok(Json(json!({ "conversations": items })))
}

async fn get_conversation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = state
        .db
        .get_conversation(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation", &id))?;
    let messages: Vec<Value> = state
        .db
        .list_messages(&id)
        .await?
        .into_iter()
        .map(|m| {
            let citations: Value = m.citations.as_deref().and_then(|c| serde_json::from_str(c).ok()).unwrap_or(json!([]));
            json!({"role": m.role, "content": m.content, "reasoning": m.reasoning, "citations": citations, "created_at": m.created_at})
        })
        .collect();
    Ok(Json(
        json!({"id": c.id, "title": c.title, "knowledge_bases": c.kb_ids(), "created_at": c.created_at, "updated_at": c.updated_at, "messages": messages}),
    ))
}

async fn delete_conversation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.db.delete_conversation(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("conversation", id))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    question: String,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    top_k: Option<usize>,
}

/// Collects the parts of an answer as they stream by, to store the assistant message.
#[derive(Default)]
struct Collected {
    text: String,
    reasoning: String,
    citations: Vec<Citation>,
    done: bool,
}

impl Collected {
    fn add(&mut self, ev: &AnswerEvent) {
        match ev {
            AnswerEvent::Reasoning(r) => self.reasoning.push_str(r),
            AnswerEvent::Delta(d) => self.text.push_str(d),
            AnswerEvent::Citations(c) => self.citations = c.clone(),
            AnswerEvent::Done(_) => self.done = true,
            AnswerEvent::Error(_) => {}
        }
    }
}

/// Stores a completed exchange: the question, then the answer. A failed answer stores
/// nothing, so the conversation never shows a question without its reply.
async fn save_exchange(state: &AppState, conversation: &str, question: &str, c: &Collected) {
    let citations = serde_json::to_string(&c.citations).unwrap_or_else(|_| "[]".into());
    let reasoning = (!c.reasoning.is_empty()).then_some(c.reasoning.as_str());
    let db = &state.db;
    let stored = async {
        db.add_message(conversation, "user", question, None, None)
            .await?;
        db.add_message(
            conversation,
            "assistant",
            &c.text,
            reasoning,
            Some(&citations),
        )
        .await
    };
    if let Err(e) = stored.await {
        tracing::error!(conversation, error = %e, "cannot store the exchange");
    }
}

async fn add_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NewMessage>,
) -> Result<Response, ApiError> {
    let conv = state
        .db
        .get_conversation(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation", &id))?;
    let question = req.question.trim().to_string();
    if question.is_empty() {
        return Err(ApiError::bad_request("question must not be empty"));
    }
    let history: Vec<Message> = state
        .db
        .list_messages(&id)
        .await?
        .into_iter()
        .filter(|m| !m.content.is_empty())
        .map(|m| Message::new(&m.role, m.content))
        .collect();
    let ask = AskRequest {
        knowledge_bases: conv.kb_ids(),
        question: question.clone(),
        history,
        stream: req.stream,
        top_k: req.top_k,
    };
    validate_kbs(&state, &ask.knowledge_bases).await?;

    if req.stream {
        let (tx, mut rx) = mpsc::channel(64);
        tokio::spawn(answer(state.clone(), ask, tx));
        // Store the answer from the events as they pass, even if the client goes away.
        let (copy_tx, copy_rx) = mpsc::channel::<AnswerEvent>(64);
        let st = state.clone();
        let conv_id = id.clone();
        tokio::spawn(async move {
            let mut collected = Collected::default();
            while let Some(ev) = rx.recv().await {
                collected.add(&ev);
                let _ = copy_tx.send(ev).await;
            }
            if collected.done {
                save_exchange(&st, &conv_id, &question, &collected).await;
            }
        });
        Ok(sse_from(copy_rx).into_response())
    } else {
        let a = answer_whole(state.clone(), ask).await?;
        let collected = Collected {
            text: a.answer.clone(),
            reasoning: a.reasoning.clone().unwrap_or_default(),
            citations: a.citations.clone(),
            done: true,
        };
        save_exchange(&state, &id, &question, &collected).await;
        Ok(Json(a).into_response())
    }
}

// ---- LLM status ----

/// The configured model, whether its backend answers, and the GPU memory it needs.
pub async fn llm_report(state: &AppState) -> Value {
    let cfg = &state.config.llm;
    if !cfg.is_configured() {
        return json!({"configured": false, "reachable": false,
            "message": "no llm is configured: set RAGD_LLM_BASE_URL and RAGD_LLM_MODEL (answers are extractive meanwhile)"});
    }
    let client = LlmClient::new(cfg.clone());
    let ping = client.ping().await;
    let details = client.model_details().await;
    let (params, quant) = details.unwrap_or((None, None));
    let estimate = memory::estimate(&cfg.model, params.as_deref(), quant.as_deref());
    json!({
        "configured": true,
        "provider": cfg.provider,
        "base_url": cfg.base_url,
        "model": cfg.model,
        "context_window": cfg.context_window,
        "reachable": ping.is_ok(),
        "error": ping.err().map(|e| e.to_string()),
        "gpu_memory_estimate": estimate,
        "formula": "M = P × 4 bytes × 1.2 / (32 / Q)",
    })
}

async fn llm_status(State(state): State<AppState>) -> Json<Value> {
    Json(llm_report(&state).await)
}

//! The OpenAI-compatible endpoint: `POST /v1/chat/completions` and `GET /v1/models`, so Open
//! WebUI, Chatbox or the `openai` SDK can use ragd as a model provider. The model `kb:<name>`
//! answers from that knowledge base; citations travel in an extra `citations` field.

use crate::service::auth::Caller;
use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::ApiJson;
use super::openapi::ErrorBody;
use crate::error::Error;
use crate::service::answer::prompt::Message;
use crate::service::answer::{answer, answer_whole, AnswerEvent, AskRequest};
use crate::service::{knowledge_bases, AppState};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(chat_completions))
        .routes(routes!(models))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[utoipa::path(get, path = "/models", tag = "openai",
    responses((status = 200, description = "one model `kb:<name>` per knowledge base the key may see", body = Object), (status = "4XX", description = "bad request, not found", body = ErrorBody), (status = "5XX", description = "the LLM failed or is unavailable", body = ErrorBody)))]
async fn models(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let kbs = knowledge_bases::list(&state, &caller)
        .await?
        .knowledge_bases;
    let data: Vec<Value> = kbs
        .iter()
        .map(|k| json!({"id": format!("kb:{}", k.name), "object": "model", "created": 0, "owned_by": "ragd"}))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

/// The parts of an OpenAI request ragd uses; other fields are accepted and ignored.
#[derive(Deserialize, utoipa::ToSchema)]
struct ChatRequest {
    /// `kb:<knowledge base>` (several: `kb:a,b`).
    model: String,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ChatMessage {
    role: String,
    /// A string, or a list of parts whose `text` is read.
    #[serde(default)]
    #[schema(value_type = Object)]
    content: Value,
}

/// Text of a message whose content is a string or a list of parts.
fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

#[utoipa::path(post, path = "/chat/completions", tag = "openai", request_body = ChatRequest,
    responses((status = 200, description = "an OpenAI chat completion (with `citations`); with `stream` an SSE stream of chunks ending in `[DONE]`", content((Object = "application/json"), (String = "text/event-stream"))), (status = "4XX", description = "bad request, not found", body = ErrorBody), (status = "5XX", description = "the LLM failed or is unavailable", body = ErrorBody)))]
async fn chat_completions(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let Some(kb_name) = req.model.strip_prefix("kb:") else {
        return Err(Error::not_found(
            "model",
            format!(
                "{} (use kb:<knowledge base>; see GET /v1/models)",
                req.model
            ),
        )
        .into());
    };
    let kb = knowledge_bases::find(&state, &caller, kb_name).await?;
    let mut turns: Vec<Message> = req
        .messages
        .iter()
        .filter(|m| m.role == "user" || m.role == "assistant")
        .map(|m| Message::new(&m.role, content_text(&m.content)))
        .collect();
    let question = match turns.pop() {
        Some(m) if m.role == "user" && !m.content.trim().is_empty() => m.content,
        _ => {
            return Err(
                Error::bad_request("the last message must be a non-empty user message").into(),
            )
        }
    };
    let ask = AskRequest {
        knowledge_bases: vec![kb.id],
        question,
        history: turns,
        stream: req.stream,
        top_k: None,
        filters: None,
    };
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = now();
    let model = req.model.clone();
    if !req.stream {
        let a = answer_whole(state, caller, ask).await?;
        let mut message = json!({"role": "assistant", "content": a.answer});
        if let Some(r) = &a.reasoning {
            message["reasoning_content"] = json!(r);
        }
        return Ok(Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": a.usage.prompt_tokens,
                "completion_tokens": a.usage.completion_tokens,
                "total_tokens": a.usage.prompt_tokens + a.usage.completion_tokens,
            },
            "citations": a.citations,
        }))
        .into_response());
    }

    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(answer(state, caller, ask, tx));
    let chunk = move |delta: Value, finish: Option<&str>| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    // State: (receiver, citations seen, role sent, finished)
    let s = stream::unfold(
        (rx, Value::Null, false, false),
        move |(mut rx, mut citations, mut role_sent, finished)| {
            let chunk = chunk.clone();
            async move {
                if finished {
                    return None;
                }
                loop {
                    let Some(ev) = rx.recv().await else {
                        return Some((
                            Ok::<_, Infallible>(Event::default().data("[DONE]")),
                            (rx, citations, role_sent, true),
                        ));
                    };
                    let mut delta = json!({});
                    if !role_sent {
                        delta["role"] = json!("assistant");
                        role_sent = true;
                    }
                    let data = match ev {
                        AnswerEvent::Reasoning(r) => {
                            delta["reasoning_content"] = json!(r);
                            chunk(delta, None)
                        }
                        AnswerEvent::Delta(d) => {
                            delta["content"] = json!(d);
                            chunk(delta, None)
                        }
                        AnswerEvent::Citations(c) => {
                            citations = json!(c);
                            continue;
                        }
                        AnswerEvent::Done(d) => {
                            let mut last = chunk(delta, Some("stop"));
                            last["citations"] = citations.clone();
                            last["usage"] = json!({
                                "prompt_tokens": d.usage.prompt_tokens,
                                "completion_tokens": d.usage.completion_tokens,
                                "total_tokens": d.usage.prompt_tokens + d.usage.completion_tokens,
                            });
                            last
                        }
                        AnswerEvent::Error(e) => {
                            json!({"error": {"message": e.to_string(), "type": "server_error", "code": e.code()}})
                        }
                    };
                    return Some((
                        Ok(Event::default().data(data.to_string())),
                        (rx, citations, role_sent, false),
                    ));
                }
            }
        },
    );
    Ok(Sse::new(s).keep_alive(KeepAlive::default()).into_response())
}

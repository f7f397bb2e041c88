//! A small LLM server for tests that speaks the real wire protocols: Ollama's `/api/chat`
//! (NDJSON) and the OpenAI `/v1/chat/completions` (SSE), streamed and not.
//!
//! What it streams is chosen by a marker in the last user message:
//! - `#think`: reasoning first (Ollama: inline `<think>` tags split across chunks; OpenAI:
//!   `reasoning_content` deltas), then the answer;
//! - `#fail`: HTTP 500 with an error body;
//! - `#slow`: the reply starts after 5 seconds;
//! - `#drop`: two chunks, then the connection is cut;
//! - otherwise: `Plants use sunlight [2]. Unknown [9]. Also [1].` in three chunks.
//!
//! Non-streamed requests (query rewriting) get [`MockLlm::REWRITE`]. Every request body is
//! recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Protocol {
    Ollama,
    OpenAi,
}

pub struct MockLlm {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Shared {
    protocol: Protocol,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl MockLlm {
    pub const REWRITE: &'static str = "How do green plants make sugar from sunlight?";
    pub const ANSWER: [&'static str; 3] =
        ["Plants use sunlight [2]", ". Unknown [9]", ". Also [1]."];

    pub async fn start(protocol: Protocol) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            protocol,
            requests: requests.clone(),
        };
        let app = Router::new()
            .route("/api/chat", post(chat))
            .route("/v1/chat/completions", post(chat))
            .route("/api/version", get(|| async { Json(json!({"version": "0.0.0-mock"})) }))
            .route("/api/show", post(|| async { Json(json!({"details": {"parameter_size": "7.6B", "quantization_level": "Q4_K_M"}})) }))
            .route("/v1/models", get(|| async { Json(json!({"object": "list", "data": [{"id": "mock", "object": "model"}]})) }))
            .with_state(shared);
        let (url, task) = crate::serve_local(app).await.expect("bind mock llm");
        Self {
            url,
            requests,
            task,
        }
    }

    /// Streamed chat requests received so far.
    pub fn streamed_requests(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r["stream"] == true)
            .cloned()
            .collect()
    }

    pub fn all_requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

fn last_user(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string()
}

fn line(protocol: Protocol, content: Option<&str>, reasoning: Option<&str>) -> String {
    match protocol {
        Protocol::Ollama => {
            let mut message = json!({"role": "assistant", "content": content.unwrap_or("")});
            if let Some(r) = reasoning {
                message["thinking"] = json!(r);
            }
            format!(
                "{}\n",
                json!({"model": "mock", "created_at": "2026-01-01T00:00:00Z", "message": message, "done": false})
            )
        }
        Protocol::OpenAi => {
            let mut delta = json!({});
            if let Some(c) = content {
                delta["content"] = json!(c);
            }
            if let Some(r) = reasoning {
                delta["reasoning_content"] = json!(r);
            }
            format!(
                "data: {}\n\n",
                json!({"id": "x", "object": "chat.completion.chunk", "model": "mock", "choices": [{"index": 0, "delta": delta, "finish_reason": null}]})
            )
        }
    }
}

fn end(protocol: Protocol) -> String {
    match protocol {
        Protocol::Ollama => format!(
            "{}\n",
            json!({"model": "mock", "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop", "prompt_eval_count": 42, "eval_count": 7})
        ),
        Protocol::OpenAi => format!(
            "data: {}\n\ndata: [DONE]\n\n",
            json!({"id": "x", "object": "chat.completion.chunk", "model": "mock", "choices": [], "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}})
        ),
    }
}

async fn chat(State(shared): State<Shared>, Json(body): Json<Value>) -> Response {
    shared.requests.lock().unwrap().push(body.clone());
    let p = shared.protocol;
    let question = last_user(&body);
    if question.contains("#fail") {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "model exploded"})),
        )
            .into_response();
    }
    if body["stream"] != true {
        return match p {
            Protocol::Ollama => Json(json!({"model": "mock", "message": {"role": "assistant", "content": MockLlm::REWRITE}, "done": true})).into_response(),
            Protocol::OpenAi => Json(json!({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": MockLlm::REWRITE}, "finish_reason": "stop"}]})).into_response(),
        };
    }
    if question.contains("#slow") {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let mut lines: Vec<Result<String, std::io::Error>> = Vec::new();
    if question.contains("#think") {
        match p {
            Protocol::Ollama => {
                for piece in ["<th", "ink>The user asks", " about plants.</th", "ink>\n\n"] {
                    lines.push(Ok(line(p, Some(piece), None)));
                }
            }
            Protocol::OpenAi => {
                for piece in ["The user asks", " about plants."] {
                    lines.push(Ok(line(p, None, Some(piece))));
                }
            }
        }
    }
    if question.contains("#drop") {
        lines.push(Ok(line(p, Some(MockLlm::ANSWER[0]), None)));
        lines.push(Ok(line(p, Some(MockLlm::ANSWER[1]), None)));
        lines.push(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "dropped",
        )));
    } else {
        for piece in MockLlm::ANSWER {
            lines.push(Ok(line(p, Some(piece), None)));
        }
        lines.push(Ok(end(p)));
    }
    let stream = futures_util::stream::unfold(lines.into_iter(), |mut it| async move {
        let next = it.next()?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        Some((next.map(Bytes::from), it))
    });
    let content_type = match p {
        Protocol::Ollama => "application/x-ndjson",
        Protocol::OpenAi => "text/event-stream",
    };
    Response::builder()
        .header("content-type", content_type)
        .body(Body::from_stream(stream))
        .unwrap()
}

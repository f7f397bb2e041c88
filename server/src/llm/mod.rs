//! The LLM client (reqwest): Ollama's native `/api/chat` (streamed NDJSON) and the
//! OpenAI-compatible `/v1/chat/completions` (streamed SSE), which covers vLLM, llama.cpp's
//! server, LM Studio and TGI.
//!
//! Failures are typed ([`LlmError`]): the backend cannot be reached, it is too slow (first
//! token or between tokens), it answers non-2xx, or its stream ends before it is complete.

pub mod think;

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use crate::config::llm::{LlmConfig, Provider};

/// Why the LLM gave no (complete) answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum LlmError {
    #[error("no llm is configured")]
    NotConfigured,
    #[error("the llm backend at {0} cannot be reached")]
    Unreachable(String),
    #[error("the llm backend did not answer within {0} seconds")]
    Timeout(u64),
    #[error("the llm backend answered http {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the llm backend reported an error: {0}")]
    Backend(String),
    #[error("the llm stream broke off: {0}")]
    Stream(String),
}

/// One piece of a streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmEvent {
    Content(String),
    /// Reasoning sent separately (OpenAI-style `reasoning_content`, Ollama's `thinking`).
    Reasoning(String),
    Usage {
        prompt_tokens: u64,
        completion_tokens: u64,
    },
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LlmClient {
    pub config: LlmConfig,
    http: reqwest::Client,
}

impl LlmClient {
    pub fn new(config: LlmConfig) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs.max(1)))
            .build()
            .unwrap_or_default();
        Self { config, http }
    }

    fn request(&self, url: &str, body: &Value) -> reqwest::RequestBuilder {
        let mut req = self.http.post(url).json(body);
        if !self.config.api_key.is_empty() {
            req = req.bearer_auth(self.config.api_key.expose());
        }
        req
    }

    fn body(&self, messages: &[Message], stream: bool) -> Value {
        let c = &self.config;
        match c.provider {
            Provider::Ollama => json!({
                "model": c.model,
                "messages": messages,
                "stream": stream,
                "options": {"num_ctx": c.context_window, "temperature": c.temperature},
            }),
            Provider::Openai => {
                let mut b = json!({
                    "model": c.model,
                    "messages": messages,
                    "stream": stream,
                    "temperature": c.temperature,
                    "max_tokens": c.max_answer_tokens,
                });
                if stream {
                    b["stream_options"] = json!({"include_usage": true});
                }
                b
            }
        }
    }

    async fn send(&self, body: Value) -> Result<reqwest::Response, LlmError> {
        if !self.config.is_configured() {
            return Err(LlmError::NotConfigured);
        }
        let url = self.config.chat_url();
        let wait = Duration::from_secs(self.config.first_token_timeout_secs.max(1));
        let resp = match tokio::time::timeout(wait, self.request(&url, &body).send()).await {
            Err(_) => return Err(LlmError::Timeout(wait.as_secs())),
            Ok(Err(e)) if e.is_timeout() => return Err(LlmError::Timeout(wait.as_secs())),
            Ok(Err(_)) => return Err(LlmError::Unreachable(self.config.base_url.clone())),
            Ok(Ok(r)) => r,
        };
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let text = tokio::time::timeout(Duration::from_secs(5), resp.text())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            return Err(LlmError::Status {
                status,
                message: backend_message(&text),
            });
        }
        Ok(resp)
    }

    /// A streamed chat completion.
    pub async fn chat_stream(&self, messages: &[Message]) -> Result<LlmStream, LlmError> {
        let resp = self.send(self.body(messages, true)).await?;
        Ok(LlmStream {
            provider: self.config.provider,
            body: resp.bytes_stream().boxed(),
            buf: Vec::new(),
            queue: Vec::new(),
            finished: false,
            idle: Duration::from_secs(self.config.idle_timeout_secs.max(1)),
        })
    }

    /// A whole (non-streamed) chat completion: the answer text.
    pub async fn chat(&self, messages: &[Message]) -> Result<String, LlmError> {
        let resp = self.send(self.body(messages, false)).await?;
        let idle = Duration::from_secs(self.config.idle_timeout_secs.max(1));
        let v: Value = match tokio::time::timeout(idle, resp.json()).await {
            Err(_) => return Err(LlmError::Timeout(idle.as_secs())),
            Ok(Err(e)) => return Err(LlmError::Stream(e.to_string().to_lowercase())),
            Ok(Ok(v)) => v,
        };
        if let Some(err) = error_message(&v) {
            return Err(LlmError::Backend(err));
        }
        let text = match self.config.provider {
            Provider::Ollama => v["message"]["content"].as_str(),
            Provider::Openai => v["choices"][0]["message"]["content"].as_str(),
        };
        text.map(str::to_string)
            .ok_or_else(|| LlmError::Backend("the reply has no content".into()))
    }

    /// Whether the backend answers (Ollama `/api/version`, OpenAI `/v1/models`).
    pub async fn ping(&self) -> Result<(), LlmError> {
        if !self.config.is_configured() {
            return Err(LlmError::NotConfigured);
        }
        let base = self.config.base_url.trim_end_matches('/');
        let url = match self.config.provider {
            Provider::Ollama => format!("{base}/api/version"),
            Provider::Openai if base.ends_with("/v1") => format!("{base}/models"),
            Provider::Openai => format!("{base}/v1/models"),
        };
        let mut req = self.http.get(&url).timeout(Duration::from_secs(10));
        if !self.config.api_key.is_empty() {
            req = req.bearer_auth(self.config.api_key.expose());
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(LlmError::Status {
                status: r.status().as_u16(),
                message: "health check failed".into(),
            }),
            Err(e) if e.is_timeout() => Err(LlmError::Timeout(10)),
            Err(_) => Err(LlmError::Unreachable(self.config.base_url.clone())),
        }
    }

    /// Ollama's `/api/show` details: (parameter size, quantization level).
    pub async fn model_details(&self) -> Option<(Option<String>, Option<String>)> {
        if self.config.provider != Provider::Ollama || !self.config.is_configured() {
            return None;
        }
        let url = format!("{}/api/show", self.config.base_url.trim_end_matches('/'));
        let r = self
            .http
            .post(url)
            .json(&json!({"model": self.config.model}))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        let v: Value = r.error_for_status().ok()?.json().await.ok()?;
        let d = &v["details"];
        Some((
            d["parameter_size"].as_str().map(str::to_string),
            d["quantization_level"].as_str().map(str::to_string),
        ))
    }
}

fn error_message(v: &Value) -> Option<String> {
    match &v["error"] {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => Some(
            o.get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
                .to_string(),
        ),
        _ => None,
    }
}

/// A short, single-line message from a backend's error body.
fn backend_message(body: &str) -> String {
    let msg = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| error_message(&v))
        .unwrap_or_else(|| body.to_string());
    let msg: String = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    let msg: String = msg.chars().take(300).collect();
    if msg.is_empty() {
        "no details".into()
    } else {
        msg
    }
}

/// A streamed reply, read piece by piece with [`LlmStream::next`].
pub struct LlmStream {
    provider: Provider,
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    buf: Vec<u8>,
    queue: Vec<LlmEvent>,
    finished: bool,
    idle: Duration,
}

impl LlmStream {
    /// The next piece; `None` once the reply is complete.
    pub async fn next(&mut self) -> Option<Result<LlmEvent, LlmError>> {
        loop {
            if !self.queue.is_empty() {
                return Some(Ok(self.queue.remove(0)));
            }
            if self.finished {
                return None;
            }
            // Complete lines first.
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&line).trim().to_string();
                match parse_line(self.provider, &line) {
                    Ok(Parsed::Events(events, done)) => {
                        self.queue.extend(events);
                        self.finished = done;
                    }
                    Err(e) => {
                        self.finished = true;
                        return Some(Err(e));
                    }
                }
                continue;
            }
            match tokio::time::timeout(self.idle, self.body.next()).await {
                Err(_) => {
                    self.finished = true;
                    return Some(Err(LlmError::Timeout(self.idle.as_secs())));
                }
                Ok(Some(Ok(bytes))) => self.buf.extend_from_slice(&bytes),
                Ok(Some(Err(e))) => {
                    self.finished = true;
                    return Some(Err(LlmError::Stream(e.to_string().to_lowercase())));
                }
                Ok(None) => {
                    // The connection closed. A last line without newline may still be there.
                    if !self.buf.is_empty() {
                        self.buf.push(b'\n');
                        continue;
                    }
                    self.finished = true;
                    return Some(Err(LlmError::Stream(
                        "the reply ended before it was complete".into(),
                    )));
                }
            }
        }
    }
}

enum Parsed {
    Events(Vec<LlmEvent>, bool),
}

/// Parses one line of the wire protocol: Ollama NDJSON, or an SSE line of the OpenAI API.
fn parse_line(provider: Provider, line: &str) -> Result<Parsed, LlmError> {
    if line.is_empty() {
        return Ok(Parsed::Events(vec![], false));
    }
    let json_text = match provider {
        Provider::Ollama => line,
        Provider::Openai => {
            let Some(data) = line.strip_prefix("data:") else {
                // `event:`, `id:`, `retry:` and `:` comments carry nothing we need.
                return Ok(Parsed::Events(vec![], false));
            };
            let data = data.trim();
            if data == "[DONE]" {
                return Ok(Parsed::Events(vec![], true));
            }
            data
        }
    };
    let v: Value = serde_json::from_str(json_text)
        .map_err(|_| LlmError::Stream("the backend sent a malformed line".into()))?;
    if let Some(err) = error_message(&v) {
        return Err(LlmError::Backend(err));
    }
    let mut events = Vec::new();
    let text = |s: &Value| s.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    match provider {
        Provider::Ollama => {
            if let Some(t) = text(&v["message"]["thinking"]) {
                events.push(LlmEvent::Reasoning(t));
            }
            if let Some(t) = text(&v["message"]["content"]) {
                events.push(LlmEvent::Content(t));
            }
            let done = v["done"].as_bool().unwrap_or(false);
            if done {
                events.push(LlmEvent::Usage {
                    prompt_tokens: v["prompt_eval_count"].as_u64().unwrap_or(0),
                    completion_tokens: v["eval_count"].as_u64().unwrap_or(0),
                });
            }
            Ok(Parsed::Events(events, done))
        }
        Provider::Openai => {
            let delta = &v["choices"][0]["delta"];
            if let Some(t) = text(&delta["reasoning_content"]).or_else(|| text(&delta["reasoning"]))
            {
                events.push(LlmEvent::Reasoning(t));
            }
            if let Some(t) = text(&delta["content"]) {
                events.push(LlmEvent::Content(t));
            }
            if v["usage"].is_object() {
                events.push(LlmEvent::Usage {
                    prompt_tokens: v["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
                    completion_tokens: v["usage"]["completion_tokens"].as_u64().unwrap_or(0),
                });
            }
            Ok(Parsed::Events(events, false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(p: Provider, line: &str) -> (Vec<LlmEvent>, bool) {
        match parse_line(p, line).unwrap() {
            Parsed::Events(e, d) => (e, d),
        }
    }

    #[test]
    fn ollama_lines() {
        let (e, done) = events(
            Provider::Ollama,
            r#"{"message":{"role":"assistant","content":"Hi"},"done":false}"#,
        );
        assert_eq!((e, done), (vec![LlmEvent::Content("Hi".into())], false));
        let (e, done) = events(
            Provider::Ollama,
            r#"{"message":{"role":"assistant","content":""},"done":true,"prompt_eval_count":12,"eval_count":3}"#,
        );
        assert!(done);
        assert_eq!(
            e,
            vec![LlmEvent::Usage {
                prompt_tokens: 12,
                completion_tokens: 3
            }]
        );
        let (e, _) = events(
            Provider::Ollama,
            r#"{"message":{"content":"","thinking":"hmm"},"done":false}"#,
        );
        assert_eq!(e, vec![LlmEvent::Reasoning("hmm".into())]);
        assert!(
            matches!(parse_line(Provider::Ollama, r#"{"error":"model not found"}"#), Err(LlmError::Backend(m)) if m == "model not found")
        );
    }

    #[test]
    fn openai_sse_lines() {
        let (e, _) = events(
            Provider::Openai,
            r#"data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
        );
        assert_eq!(e, vec![LlmEvent::Content("Hi".into())]);
        let (e, _) = events(
            Provider::Openai,
            r#"data: {"choices":[{"delta":{"reasoning_content":"think"}}]}"#,
        );
        assert_eq!(e, vec![LlmEvent::Reasoning("think".into())]);
        let (e, _) = events(
            Provider::Openai,
            r#"data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#,
        );
        assert_eq!(
            e,
            vec![LlmEvent::Usage {
                prompt_tokens: 5,
                completion_tokens: 2
            }]
        );
        assert!(events(Provider::Openai, "data: [DONE]").1);
        assert!(events(Provider::Openai, ": keep-alive").0.is_empty());
        assert!(events(Provider::Openai, "event: message").0.is_empty());
        assert!(matches!(
            parse_line(Provider::Openai, "data: {nope"),
            Err(LlmError::Stream(_))
        ));
    }

    #[test]
    fn urls_per_provider() {
        let mut c = LlmConfig {
            base_url: "http://h:11434/".into(),
            model: "m".into(),
            ..LlmConfig::default()
        };
        assert_eq!(c.chat_url(), "http://h:11434/api/chat");
        c.provider = Provider::Openai;
        assert_eq!(c.chat_url(), "http://h:11434/v1/chat/completions");
        c.base_url = "http://h:8000/v1".into();
        assert_eq!(c.chat_url(), "http://h:8000/v1/chat/completions");
        assert!(!LlmConfig::default().is_configured());
    }

    #[test]
    fn backend_messages_are_short_single_lines() {
        assert_eq!(
            backend_message(r#"{"error":{"message":"bad\nmodel"}}"#),
            "bad model"
        );
        assert_eq!(backend_message(""), "no details");
        assert_eq!(backend_message(&"x".repeat(1000)).len(), 300);
    }
}

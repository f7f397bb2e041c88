//! The remote providers: a model server over HTTP.
//!
//! - `openai`: `POST {base_url}/embeddings` `{"model", "input": [..], "encoding_format":
//!   "float"}` (plus `"input_type": "query" | "passage"` when configured) → `{"data":
//!   [{"index", "embedding"}]}`: vLLM, TEI, Infinity, llama.cpp's server, LM Studio, LocalAI.
//! - `ollama`: `POST {base_url}/api/embed` `{"model", "input": [..], "truncate": true}` →
//!   `{"embeddings": [[..]]}`.
//!
//! A batch of documents is split into requests of `batch_size` texts, `concurrency` of them
//! in flight, so the server is kept busy. A request that fails for a reason that may pass
//! (connection refused or reset, timeout, 429, 5xx) is retried `retries` times with
//! exponential backoff; after that the error is [`Error::EmbeddingUnavailable`] or
//! [`Error::EmbeddingTimeout`], which callers treat as an outage (work waits, searches may
//! fall back to BM25). Any other answer (401, 404, 400, a malformed body, a wrong vector size)
//! is [`Error::Model`]: asking again will not help.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokenizers::Tokenizer;

use super::{Embed, EmbeddingConfig, Provider};
use crate::error::{Error, Result};

/// Largest response body read (a batch of large vectors as JSON).
const MAX_BODY: u64 = 512 * 1024 * 1024;
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A model served over HTTP.
pub struct Remote {
    config: EmbeddingConfig,
    name: String,
    dim: usize,
    url: String,
    tokenizer: Tokenizer,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("dim", &self.dim)
            .finish()
    }
}

/// One request's answer, filled in by whichever thread sent it.
type Slot = Mutex<Option<Result<Vec<Vec<f32>>>>>;

/// Whether a query or documents are embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Query,
    Document,
}

/// Why one attempt failed: worth another try, or not.
#[derive(Debug)]
enum Failure {
    Passing(Error),
    Final(Error),
}

#[derive(Deserialize)]
struct OpenAiReply {
    data: Vec<OpenAiItem>,
}

#[derive(Deserialize)]
struct OpenAiItem {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct OllamaReply {
    embeddings: Vec<Vec<f32>>,
}

impl Remote {
    /// A client of the configured server. `dim`: the known vector size; `None` asks the
    /// server once (a probe) and fails when it cannot be reached.
    pub fn new(config: &EmbeddingConfig, dim: Option<usize>) -> Result<Self> {
        let base = config.base_url.trim().trim_end_matches('/');
        let url = match config.provider {
            Provider::Openai => format!("{base}/embeddings"),
            Provider::Ollama => format!("{base}/api/embed"),
            Provider::Local => {
                return Err(Error::Invalid(
                    "the local provider is not a remote server".into(),
                ))
            }
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(config.timeout_secs.max(1))))
            .http_status_as_error(false)
            .max_idle_connections_per_host(config.concurrency.max(1) * 2)
            .build()
            .into();
        let mut remote = Self {
            name: config.model_name(),
            config: config.clone(),
            dim: dim.unwrap_or(0),
            url,
            tokenizer: config.sizing_tokenizer()?,
            agent,
        };
        if dim.is_none() {
            let probe = remote.request(&["dimension probe".to_string()], Side::Query)?;
            remote.dim = probe.first().map_or(0, Vec::len);
            if remote.dim == 0 {
                return Err(Error::Model(format!(
                    "{} returned an empty embedding",
                    remote.url
                )));
            }
        }
        Ok(remote)
    }

    /// The endpoint requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `text` with the side's prefix, cut to `max_length` tokens.
    fn prepare<'a>(&self, text: &'a str, side: Side) -> Cow<'a, str> {
        let prefix = match side {
            Side::Query => &self.config.query_prefix,
            Side::Document => &self.config.document_prefix,
        };
        let text = cut_to_tokens(&self.tokenizer, text, self.config.max_length);
        if prefix.is_empty() {
            text
        } else {
            Cow::Owned(format!("{prefix}{text}"))
        }
    }

    /// One request, retried while its failure may pass.
    fn request(&self, texts: &[String], side: Side) -> Result<Vec<Vec<f32>>> {
        let mut attempt = 0;
        loop {
            match self.send(texts, side) {
                Ok(vectors) => return Ok(vectors),
                Err(Failure::Passing(e)) if attempt < self.config.retries => {
                    let wait = backoff(self.config.backoff_ms, attempt);
                    tracing::warn!(url = %self.url, attempt, wait_ms = wait.as_millis() as u64, error = %e, "embedding request failed, retrying");
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                Err(Failure::Passing(e) | Failure::Final(e)) => return Err(e),
            }
        }
    }

    /// One attempt.
    fn send(&self, texts: &[String], side: Side) -> std::result::Result<Vec<Vec<f32>>, Failure> {
        let url = &self.url;
        let model = &self.config.model;
        let body = match self.config.provider {
            Provider::Ollama => json!({"model": model, "input": texts, "truncate": true}),
            _ => {
                let mut body = json!({"model": model, "input": texts, "encoding_format": "float"});
                if self.config.input_type {
                    body["input_type"] = json!(match side {
                        Side::Query => "query",
                        Side::Document => "passage",
                    });
                }
                body
            }
        };
        let mut request = self.agent.post(url.as_str());
        if let Some(key) = self.config.api_key.as_deref().filter(|k| !k.is_empty()) {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let mut response = request.send_json(&body).map_err(|e| transport(url, e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| transport(url, e))?;
        if status == 429 || status >= 500 {
            return Err(Failure::Passing(Error::EmbeddingUnavailable(format!(
                "{url} answered {status}: {}",
                snippet(&text)
            ))));
        }
        if status >= 400 {
            return Err(Failure::Final(Error::Model(format!(
                "embedding server {url} answered {status}: {}",
                snippet(&text)
            ))));
        }
        let bad = |m: String| Failure::Final(Error::Model(format!("embedding server {url}: {m}")));
        let vectors = match self.config.provider {
            Provider::Ollama => {
                serde_json::from_str::<OllamaReply>(&text)
                    .map_err(|e| bad(format!("unexpected answer ({e})")))?
                    .embeddings
            }
            _ => {
                let mut data = serde_json::from_str::<OpenAiReply>(&text)
                    .map_err(|e| bad(format!("unexpected answer ({e})")))?
                    .data;
                data.sort_by_key(|d| d.index);
                data.into_iter().map(|d| d.embedding).collect()
            }
        };
        if vectors.len() != texts.len() {
            return Err(bad(format!(
                "{} embeddings for {} texts",
                vectors.len(),
                texts.len()
            )));
        }
        let expected = if self.dim > 0 {
            self.dim
        } else {
            vectors.first().map_or(0, Vec::len)
        };
        if let Some(v) = vectors.iter().find(|v| v.len() != expected || v.is_empty()) {
            return Err(bad(format!(
                "a vector of {} dimensions, expected {expected}",
                v.len()
            )));
        }
        Ok(vectors)
    }
}

/// A transport error: connection and timeout failures may pass, the rest will not.
fn transport(url: &str, e: ureq::Error) -> Failure {
    match e {
        ureq::Error::Timeout(t) => Failure::Passing(Error::EmbeddingTimeout(format!(
            "{url}: no answer in time ({t})"
        ))),
        ureq::Error::Io(ref io) if io.kind() == std::io::ErrorKind::TimedOut => {
            Failure::Passing(Error::EmbeddingTimeout(format!("{url}: no answer in time")))
        }
        ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Io(_)
        | ureq::Error::Protocol(_) => {
            Failure::Passing(Error::EmbeddingUnavailable(format!("{url}: {e}")))
        }
        other => Failure::Final(Error::Model(format!("embedding server {url}: {other}"))),
    }
}

/// The wait before attempt `attempt + 1`: `first_ms` doubled per attempt, at most 30 s.
fn backoff(first_ms: u64, attempt: u32) -> Duration {
    Duration::from_millis(first_ms.saturating_mul(1u64 << attempt.min(16))).min(MAX_BACKOFF)
}

/// The start of an error body, for messages.
fn snippet(text: &str) -> String {
    let t: String = text.trim().chars().take(200).collect();
    if t.is_empty() {
        "(empty body)".into()
    } else {
        t
    }
}

/// `text` cut after its first `max` tokens (counted with `tokenizer`), at a character
/// boundary; unchanged when it fits.
pub fn cut_to_tokens<'a>(tokenizer: &Tokenizer, text: &'a str, max: usize) -> Cow<'a, str> {
    let Ok(encoding) = tokenizer.encode(text, false) else {
        return Cow::Borrowed(text);
    };
    let offsets = encoding.get_offsets();
    if offsets.len() <= max || max == 0 {
        return Cow::Borrowed(text);
    }
    // Offsets are byte offsets into `text`.
    let end = offsets[max - 1].1.min(text.len());
    let end = (0..=end)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    tracing::warn!(
        tokens = offsets.len(),
        max,
        "a text longer than the embedding model takes was cut"
    );
    Cow::Owned(text[..end].to_string())
}

impl Embed for Remote {
    fn name(&self) -> &str {
        &self.name
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn covers(&self, language: &str) -> bool {
        self.config.covers(language)
    }

    /// Enough texts for every request in flight, twice over.
    fn batch_size(&self) -> usize {
        (self.config.batch() * self.config.concurrency * 2).clamp(1, 4096)
    }

    fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        let text = self.prepare(text, Side::Query).into_owned();
        self.request(&[text], Side::Query)?
            .pop()
            .ok_or_else(|| Error::Model("no embedding returned".into()))
    }

    /// Requests of `batch_size` texts, `concurrency` in flight; the vectors in input order.
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let prepared: Vec<String> = texts
            .iter()
            .map(|t| self.prepare(t, Side::Document).into_owned())
            .collect();
        let requests: Vec<&[String]> = prepared.chunks(self.config.batch().max(1)).collect();
        if requests.len() <= 1 {
            return match requests.first() {
                Some(r) => self.request(r, Side::Document),
                None => Ok(Vec::new()),
            };
        }
        let results: Vec<Slot> = requests.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let failed = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            for _ in 0..self.config.concurrency.clamp(1, requests.len()) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests.len() || failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let out = self.request(requests[i], Side::Document);
                    if out.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(out);
                });
            }
        });
        let mut vectors = Vec::with_capacity(texts.len());
        for slot in results {
            match slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
                Some(out) => vectors.extend(out?),
                None => {
                    return Err(Error::Model(
                        "an embedding request was not sent after another failed".into(),
                    ))
                }
            }
        }
        Ok(vectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(500, 0), Duration::from_millis(500));
        assert_eq!(backoff(500, 2), Duration::from_millis(2000));
        assert_eq!(backoff(500, 30), MAX_BACKOFF);
    }

    #[test]
    fn long_texts_are_cut_to_the_limit() {
        let t = super::super::word_tokenizer();
        assert_eq!(cut_to_tokens(&t, "one two three", 5), "one two three");
        assert_eq!(cut_to_tokens(&t, "one two three four", 2), "one two");
        assert_eq!(cut_to_tokens(&t, "大模型资源", 3), "大模型");
    }
}

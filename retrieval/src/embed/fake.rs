//! A fake model server **for tests**: speaks the OpenAI embeddings API or Ollama's
//! `/api/embed` on a free local port, with [`HashEmbed`] vectors, records what it was sent,
//! and can be told to fail (503 for a while, or any status), like a real server that is
//! loading, overloaded or misconfigured. One request per connection; a thread per server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::{HashEmbed, Provider};

/// What the server saw, and how it answers next.
#[derive(Debug, Default)]
pub struct Seen {
    bodies: Mutex<Vec<Value>>,
    auth: Mutex<Vec<Option<String>>>,
    fail_first: AtomicUsize,
    status: AtomicUsize,
    texts: AtomicUsize,
    stopped: AtomicBool,
}

/// A running fake server; it stops when dropped.
#[derive(Debug)]
pub struct FakeServer {
    /// `http://127.0.0.1:PORT`: the Ollama base URL; add `/v1` for the OpenAI one.
    pub url: String,
    seen: Arc<Seen>,
}

impl FakeServer {
    /// Starts a server of `provider`'s format with vectors of `dim` dimensions.
    pub fn start(provider: Provider, dim: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        std::thread::spawn(move || {
            let embed = HashEmbed::new(dim);
            for stream in listener.incoming() {
                if s.stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let _ = answer(stream, provider, &embed, &s);
                }
            }
        });
        Self { url, seen }
    }

    /// Answer the next `n` requests with 503.
    pub fn fail_next(&self, n: usize) {
        self.seen.fail_first.store(n, Ordering::SeqCst);
    }

    /// Answer every request with `status` (0: answer normally again).
    pub fn set_status(&self, status: u16) {
        self.seen
            .status
            .store(usize::from(status), Ordering::SeqCst);
    }

    /// The JSON bodies received, in order.
    pub fn bodies(&self) -> Vec<Value> {
        self.seen
            .bodies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The `Authorization` header of each request.
    pub fn auth(&self) -> Vec<Option<String>> {
        self.seen
            .auth
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Texts embedded so far (answered requests only).
    pub fn texts(&self) -> usize {
        self.seen.texts.load(Ordering::SeqCst)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.seen.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

fn answer(
    mut stream: TcpStream,
    provider: Provider,
    embed: &HashEmbed,
    seen: &Seen,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut length = 0;
    let mut auth = None;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((name, value)) = l.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => auth = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.bodies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(body.clone());
    seen.auth
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(auth);
    let texts: Vec<String> = match &body["input"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => vec![],
    };
    let forced = seen.status.load(Ordering::SeqCst);
    let (status, reply) = if forced != 0 {
        (forced, json!({"error": "refused by the test"}))
    } else if seen
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        (503, json!({"error": "loading"}))
    } else {
        seen.texts.fetch_add(texts.len(), Ordering::SeqCst);
        let vectors: Vec<Vec<f32>> = texts.iter().map(|t| embed.vector(t)).collect();
        if provider == Provider::Ollama {
            (200, json!({"model": body["model"], "embeddings": vectors}))
        } else {
            // Out of order on purpose: clients must sort by index.
            let data: Vec<Value> = vectors
                .iter()
                .enumerate()
                .rev()
                .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
                .collect();
            (
                200,
                json!({"object": "list", "data": data, "model": body["model"]}),
            )
        }
    };
    let text = reply.to_string();
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )
}

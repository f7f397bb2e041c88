//! One client for the CLI, two transports: a running server over HTTP (`--url`), or the data
//! folder directly, by driving the same [`crate::app`] router in process. Either way the CLI
//! sees the same API, errors included.

use anyhow::{anyhow, bail, Context};
use axum::body::Body;
use axum::http::{Method, Request};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::service::AppState;

pub enum Client {
    Remote {
        http: reqwest::Client,
        base: String,
    },
    Local {
        state: AppState,
        router: axum::Router,
    },
}

impl Client {
    /// A client of the server at `url`; a non-empty `api_key` is sent as a bearer token.
    pub fn remote(url: &str, api_key: &str) -> anyhow::Result<Self> {
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
        Ok(Client::Remote {
            http: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .default_headers(headers)
                .build()?,
            base,
        })
    }

    pub fn local(state: AppState) -> Self {
        let router = crate::app(state.clone());
        Client::Local { state, router }
    }

    /// Calls the API; `path` is under `/api/v1`. Error responses become errors carrying the
    /// server's message.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let path = format!("/api/v1{path}");
        let (status, bytes) = match self {
            Client::Remote { http, base } => {
                let mut req = http.request(method, format!("{base}{path}"));
                if let Some(b) = body {
                    req = req.json(&b);
                }
                let resp = req
                    .send()
                    .await
                    .with_context(|| format!("cannot reach {base}"))?;
                let status = resp.status().as_u16();
                (status, resp.bytes().await?.to_vec())
            }
            Client::Local { router, state } => {
                let mut req = local_request(state).method(method).uri(&path);
                let body = match body {
                    Some(b) => {
                        req = req.header("content-type", "application/json");
                        Body::from(serde_json::to_vec(&b)?)
                    }
                    None => Body::empty(),
                };
                let resp = router.clone().oneshot(req.body(body)?).await?;
                let status = resp.status().as_u16();
                let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await?;
                (status, bytes.to_vec())
            }
        };
        decode(status, &bytes)
    }

    /// POSTs JSON and returns the reply body as a byte stream (for Server-Sent Events).
    pub async fn post_stream(
        &self,
        path: &str,
        body: Value,
    ) -> anyhow::Result<BoxStream<'static, anyhow::Result<Bytes>>> {
        let path = format!("/api/v1{path}");
        match self {
            Client::Remote { http, base } => {
                let resp = http
                    .post(format!("{base}{path}"))
                    .json(&body)
                    .send()
                    .await
                    .with_context(|| format!("cannot reach {base}"))?;
                let status = resp.status().as_u16();
                if status >= 400 {
                    let bytes = resp.bytes().await?;
                    return Err(error_of(status, &bytes));
                }
                Ok(resp
                    .bytes_stream()
                    .map(|r| r.map_err(anyhow::Error::from))
                    .boxed())
            }
            Client::Local { router, state } => {
                let req = local_request(state)
                    .method(Method::POST)
                    .uri(&path)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&body)?))?;
                let resp = router.clone().oneshot(req).await?;
                let status = resp.status().as_u16();
                if status >= 400 {
                    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await?;
                    return Err(error_of(status, &bytes));
                }
                Ok(resp
                    .into_body()
                    .into_data_stream()
                    .map(|r| r.map_err(anyhow::Error::from))
                    .boxed())
            }
        }
    }

    /// Uploads one file to a knowledge base (remote only; local ingest queues directly).
    pub async fn upload(&self, kb: &str, name: &str, bytes: Vec<u8>) -> anyhow::Result<Value> {
        let Client::Remote { http, base } = self else {
            bail!("upload is only used against a server");
        };
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_string());
        let form = reqwest::multipart::Form::new().part("file", part);
        let resp = http
            .post(format!(
                "{base}/api/v1/knowledge-bases/{}/documents",
                crate::http::documents::encode(kb)
            ))
            .multipart(form)
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?;
        let status = resp.status().as_u16();
        decode(status, &resp.bytes().await?)
    }
}

/// The error an error reply carries.
fn error_of(status: u16, bytes: &[u8]) -> anyhow::Error {
    decode(status, bytes)
        .err()
        .unwrap_or_else(|| anyhow!("request failed (HTTP {status})"))
}

fn decode(status: u16, bytes: &[u8]) -> anyhow::Result<Value> {
    if status == 204 {
        return Ok(Value::Null);
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|_| anyhow!("unexpected reply (HTTP {status})"))?;
    if status >= 400 {
        let msg = value["error"]["message"]
            .as_str()
            .unwrap_or("request failed");
        bail!("{msg} (HTTP {status})");
    }
    Ok(value)
}

/// An in-process request: the data folder is open to this process anyway, so it carries the
/// configured API key.
fn local_request(state: &AppState) -> axum::http::request::Builder {
    let builder = Request::builder();
    let key = &state.config.auth.api_key;
    if key.is_empty() {
        builder
    } else {
        builder.header(axum::http::header::AUTHORIZATION, format!("Bearer {key}"))
    }
}

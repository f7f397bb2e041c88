//! Answer endpoints: `POST /api/v1/ask` and conversations. Streaming replies are Server-Sent
//! Events: `reasoning`, `delta`, `citations`, `done`, `error`. No request timeout here: the
//! LLM client has its own first-token and idle timeouts.

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::error::ApiResult;
use super::extract::ApiJson;
use crate::service::answer::{self, AnswerEvent, AskRequest, Reply};
use crate::service::conversations::{
    self, ConversationDetail, ConversationView, NewConversation, NewMessage,
};
use crate::service::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ask", post(ask))
        .route("/conversations", post(create).get(list))
        .route("/conversations/{id}", get(get_one).delete(delete))
        .route("/conversations/{id}/messages", post(add_message))
}

/// The SSE form of an answer event.
pub fn sse_event(ev: &AnswerEvent) -> Event {
    let (name, data) = match ev {
        AnswerEvent::Reasoning(t) => ("reasoning", json!({ "text": t })),
        AnswerEvent::Delta(t) => ("delta", json!({ "text": t })),
        AnswerEvent::Citations(c) => ("citations", json!({ "citations": c })),
        AnswerEvent::Done(d) => ("done", serde_json::to_value(d).unwrap_or(Value::Null)),
        AnswerEvent::Error(e) => ("error", super::error::body(e)),
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

fn reply(r: Reply) -> Response {
    match r {
        Reply::Stream(rx) => sse_from(rx).into_response(),
        Reply::Whole(a) => Json(a).into_response(),
    }
}

async fn ask(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AskRequest>,
) -> ApiResult<Response> {
    Ok(reply(answer::ask(&state, req).await?))
}

async fn create(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<NewConversation>,
) -> ApiResult<(StatusCode, Json<ConversationView>)> {
    Ok((
        StatusCode::CREATED,
        Json(conversations::create(&state, req).await?),
    ))
}

/// The conversations, most recent first.
#[derive(Debug, Serialize, Deserialize)]
pub struct Conversations {
    pub conversations: Vec<ConversationView>,
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Conversations>> {
    Ok(Json(Conversations {
        conversations: conversations::list(&state).await?,
    }))
}

async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversationDetail>> {
    Ok(Json(conversations::get(&state, &id).await?))
}

async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    conversations::delete(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NewMessage>,
) -> ApiResult<Response> {
    Ok(reply(conversations::add_message(&state, &id, req).await?))
}

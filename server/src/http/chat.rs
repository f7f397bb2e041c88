//! Answer endpoints: `POST /api/v1/ask` and conversations. Streaming replies are Server-Sent
//! Events: `reasoning`, `delta`, `citations`, `done`, `error`. No request timeout here: the
//! LLM client has its own first-token and idle timeouts.

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extract::ApiJson;
use super::openapi::ErrorBody;
use crate::service::answer::Answer;
use crate::service::answer::{self, AnswerEvent, AskRequest, Reply};
use crate::service::auth::Caller;
use crate::service::conversations::{
    self, ConversationDetail, ConversationView, NewConversation, NewMessage,
};
use crate::service::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ask))
        .routes(routes!(create, list))
        .routes(routes!(get_one, delete))
        .routes(routes!(add_message))
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

#[utoipa::path(post, path = "/ask", tag = "answers", request_body = AskRequest,
    responses((status = 200, description = "the answer with its citations; with `\"stream\": true` a `text/event-stream` of `reasoning`, `delta`, `citations`, then `done` or `error` events", content((Answer = "application/json"), (String = "text/event-stream"))), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn ask(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AskRequest>,
) -> ApiResult<Response> {
    Ok(reply(answer::ask(&state, &caller, req).await?))
}

#[utoipa::path(post, path = "/conversations", tag = "answers", request_body = NewConversation,
    responses((status = 201, description = "created", body = ConversationView), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewConversation>,
) -> ApiResult<(StatusCode, Json<ConversationView>)> {
    Ok((
        StatusCode::CREATED,
        Json(conversations::create(&state, &caller, req).await?),
    ))
}

/// The conversations, most recent first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conversations {
    pub conversations: Vec<ConversationView>,
}

#[utoipa::path(get, path = "/conversations", tag = "answers",
    responses((status = 200, description = "the conversations, most recent first", body = Conversations), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Conversations>> {
    Ok(Json(Conversations {
        conversations: conversations::list(&state, &caller).await?,
    }))
}

#[utoipa::path(get, path = "/conversations/{id}", tag = "answers", params(("id" = String, Path, description = "conversation id")),
    responses((status = 200, description = "the conversation with its messages", body = ConversationDetail), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversationDetail>> {
    Ok(Json(conversations::get(&state, &caller, &id).await?))
}

#[utoipa::path(delete, path = "/conversations/{id}", tag = "answers", params(("id" = String, Path, description = "conversation id")),
    responses((status = 204, description = "deleted"), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    conversations::delete(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "answers", params(("id" = String, Path, description = "conversation id")), request_body = NewMessage,
    responses((status = 200, description = "the answer with its citations; with `\"stream\": true` a `text/event-stream` of `reasoning`, `delta`, `citations`, then `done` or `error` events", content((Answer = "application/json"), (String = "text/event-stream"))), (status = "4XX", description = "bad request, not found or conflict", body = ErrorBody), (status = "5XX", description = "unavailable or internal", body = ErrorBody)))]
async fn add_message(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NewMessage>,
) -> ApiResult<Response> {
    Ok(reply(
        conversations::add_message(&state, &caller, &id, req).await?,
    ))
}

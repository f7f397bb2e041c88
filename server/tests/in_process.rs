//! Drives `server::app(state)` in process (no socket): the router, extractors and error
//! mapping, with the real models and a temporary data folder.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use server::config::{Config, Overrides};
use server::service::State;
use tower::ServiceExt;

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn router_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = Overrides {
        listen: None,
        data_dir: Some(dir.path().to_path_buf()),
    };
    let mut config = Config::load(None, &overrides).unwrap();
    // This test binary is not `ragd`: documents are parsed in this process.
    config.parse_isolation = false;
    let state = State::open(config).await.unwrap();
    let app = server::app(state.clone());

    let (s, b) = call(&app, "GET", "/healthz", None).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("ok")));

    let (s, kb) = call(
        &app,
        "POST",
        "/api/v1/knowledge-bases",
        Some(json!({"name": "知识库", "description": "d"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{kb}");
    assert_eq!(kb["chunk_size"], 256);
    assert_eq!(kb["document_count"], 0);

    let (s, list) = call(&app, "GET", "/api/v1/knowledge-bases", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["knowledge_bases"].as_array().unwrap().len(), 1);
    assert_eq!(
        list["embedding_model"],
        "local:all-minilm-l6-v2-int8-dynamic"
    );

    // by id and by (percent-encoded) name
    let id = kb["id"].as_str().unwrap();
    let (s, _) = call(&app, "GET", &format!("/api/v1/knowledge-bases/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(
        &app,
        "GET",
        "/api/v1/knowledge-bases/%E7%9F%A5%E8%AF%86%E5%BA%93",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    let (s, hits) = call(
        &app,
        "POST",
        "/api/v1/search",
        Some(json!({"knowledge_bases": [id], "query": "anything"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{hits}");
    assert_eq!(hits["hits"].as_array().unwrap().len(), 0);

    let (s, e) = call(
        &app,
        "POST",
        "/api/v1/search",
        Some(json!({"knowledge_bases": [id], "query": "x", "top_k": 0})),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    let (s, e) = call(
        &app,
        "POST",
        "/api/v1/search",
        Some(json!({"knowledge_bases": [id], "query": "x", "extra": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, e) = call(&app, "POST", "/api/v1/knowledge-bases/x/documents", None).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (s, e) = call(
        &app,
        "POST",
        &format!("/api/v1/knowledge-bases/{id}/documents"),
        None,
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request")),
        "{e}"
    );

    let (s, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/knowledge-bases/{id}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(&app, "GET", &format!("/api/v1/knowledge-bases/{id}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

//! Dify's External Knowledge API (`POST /api/v1/dify/retrieval`), a contract test: the
//! requests of Dify's documentation, the exact response shapes, its error codes, and a reader
//! key doing the retrieval a Dify app does.

use e2e::Server;
use reqwest::header::AUTHORIZATION;
use serde_json::{json, Value};

const KEY: &str = "dify-admin-key-0123456789";
const READER: &str = "dify-reader-key-0123456789";

async fn call(server: &Server, auth: Option<&str>, body: Value) -> anyhow::Result<(u16, Value)> {
    let mut req = reqwest::Client::new()
        .post(server.api("/dify/retrieval"))
        .json(&body);
    if let Some(a) = auth {
        req = req.header(AUTHORIZATION, a);
    }
    let r = req.send().await?;
    Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dify_external_knowledge_api_contract() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(
        dir.path(),
        &[("RAGD_API_KEY", KEY), ("RAGD_API_READER_KEYS", READER)],
    )?;
    let server = server.authorized(KEY)?;
    let reader = format!("Bearer {READER}");
    let id = server.create_kb("handbook").await?;
    let docs = [
        (
            "leave.md",
            "# Annual leave\n\nEmployees get twenty-five days of annual leave per year.",
            json!({"category": "HR policy", "year": 2024}),
        ),
        (
            "gpu.md",
            "# GPU cluster\n\nThe AI team runs training jobs on the GPU cluster every night.",
            json!({"category": "AI infrastructure", "year": 2025}),
        ),
        (
            "lunch.md",
            "# Canteen\n\nThe canteen serves lunch from noon to two.",
            json!({"category": "facilities"}),
        ),
    ];
    for (name, text, meta) in &docs {
        server.upload_ready("handbook", name, text, meta).await?;
    }

    // The request of Dify's documentation, with a reader key, by id and by name.
    for knowledge_id in [id.as_str(), "handbook"] {
        let (status, body) = call(
            &server,
            Some(&reader),
            json!({"knowledge_id": knowledge_id, "query": "how many days of annual leave",
                   "retrieval_setting": {"top_k": 2, "score_threshold": 0.1}}),
        )
        .await?;
        assert_eq!(status, 200, "{body}");
        let records = body["records"].as_array().unwrap();
        assert!(!records.is_empty() && records.len() <= 2, "{body}");
        let top = &records[0];
        let mut keys: Vec<&str> = top
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(keys, ["content", "metadata", "score", "title"], "{top}");
        assert_eq!(top["title"], "leave.md");
        assert!(top["content"]
            .as_str()
            .unwrap()
            .contains("twenty-five days"));
        let score = top["score"].as_f64().unwrap();
        assert!((0.1..=1.0).contains(&score), "{top}");
        assert!(top["metadata"].is_object());
        assert_eq!(top["metadata"]["category"], "HR policy");
        assert_eq!(top["metadata"]["document_name"], "leave.md");
        assert!(top["metadata"]["document_id"].is_string());
        assert!(records.iter().all(|r| r["score"].as_f64().unwrap() >= 0.1));
    }
    // A high threshold keeps fewer (here none) of the weak matches.
    let (_, body) = call(
        &server,
        Some(&reader),
        json!({"knowledge_id": "handbook", "query": "canteen lunch", "retrieval_setting": {"top_k": 3, "score_threshold": 0.99}}),
    )
    .await?;
    assert!(
        body["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["score"].as_f64().unwrap() >= 0.99),
        "{body}"
    );

    // metadata_condition, as in Dify's documentation (name is a list), and one without value.
    let (status, body) = call(
        &server,
        Some(&reader),
        json!({"knowledge_id": "handbook", "query": "jobs", "retrieval_setting": {"top_k": 5, "score_threshold": 0.0},
               "metadata_condition": {"logical_operator": "and", "conditions": [
                   {"name": ["category"], "comparison_operator": "contains", "value": "AI"}]}}),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    let titles: Vec<&str> = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["gpu.md"], "{body}");
    let (status, body) = call(
        &server,
        Some(&reader),
        json!({"knowledge_id": "handbook", "query": "lunch leave jobs", "retrieval_setting": {"top_k": 5, "score_threshold": 0.0},
               "metadata_condition": {"logical_operator": "or", "conditions": [
                   {"name": ["year"], "comparison_operator": "empty"}]}}),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    let titles: Vec<&str> = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["lunch.md"], "{body}");

    // Errors in Dify's shape.
    let q = json!({"knowledge_id": "handbook", "query": "leave", "retrieval_setting": {"top_k": 2, "score_threshold": 0.5}});
    let (status, body) = call(&server, None, q.clone()).await?;
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (403, Some(1001)),
        "{body}"
    );
    let (status, body) = call(&server, Some("Basic abc"), q.clone()).await?;
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (403, Some(1001)),
        "{body}"
    );
    let (status, body) = call(&server, Some("Bearer wrong-key-0123456789"), q.clone()).await?;
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (403, Some(1002)),
        "{body}"
    );
    assert!(body["error_msg"].is_string());
    let (status, body) = call(
        &server,
        Some(&reader),
        json!({"knowledge_id": "nope", "query": "leave", "retrieval_setting": {"top_k": 2, "score_threshold": 0.5}}),
    )
    .await?;
    assert_eq!(
        (status, body["error_code"].as_i64()),
        (404, Some(2001)),
        "{body}"
    );
    let (status, body) = call(&server, Some(&reader), json!({"query": "leave"})).await?;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_msg"].as_str().unwrap().contains("knowledge_id"),
        "{body}"
    );
    let (status, body) = call(
        &server,
        Some(&reader),
        json!({"knowledge_id": "handbook", "query": "leave", "retrieval_setting": {"top_k": 2, "score_threshold": 0.5},
               "metadata_condition": {"conditions": [{"name": ["year"], "comparison_operator": ">", "value": "soon"}]}}),
    )
    .await?;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_msg"].as_str().unwrap().contains("\"year\""),
        "{body}"
    );
    server.stop()?;
    Ok(())
}

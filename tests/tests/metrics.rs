//! Prometheus metrics at `/metrics`: scraped after some traffic, parsed with
//! prometheus_client's parser (PyPI, in `.cache/pytools` from `make test-deps`;
//! `RAGD_TEST_PYTHON` may name another interpreter), and checked to have moved by what was
//! done. Only admin keys may scrape.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::Context;
use e2e::mock_llm::{MockLlm, Protocol};
use e2e::Server;
use reqwest::header::AUTHORIZATION;
use serde_json::{json, Value};

const KEY: &str = "metrics-admin-key-0123456789";
const READER: &str = "metrics-reader-key-0123456789";

/// The samples of a scrape: (name, labels, value).
fn parse(text: &str) -> anyhow::Result<Vec<(String, Value, f64)>> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("metrics_parse.py");
    let mut child = Command::new(e2e::pytools_python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run the parser")?;
    child.stdin.take().unwrap().write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "the parser refused the scrape:\n{text}"
    );
    String::from_utf8(out.stdout)?
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)?;
            Ok((
                v["name"].as_str().unwrap().to_string(),
                v["labels"].clone(),
                v["value"].as_f64().unwrap(),
            ))
        })
        .collect()
}

/// The sum of a metric's samples whose labels include `labels`.
fn value(samples: &[(String, Value, f64)], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l[*k] == *v))
        .map(|(_, _, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_traffic() -> anyhow::Result<()> {
    let llm = MockLlm::start(Protocol::Ollama).await;
    let dir = tempfile::tempdir()?;
    let server = Server::start(
        dir.path(),
        &[
            ("RAGD_API_KEY", KEY),
            ("RAGD_API_READER_KEYS", READER),
            ("RAGD_LLM_PROVIDER", "ollama"),
            ("RAGD_LLM_BASE_URL", &llm.url),
            ("RAGD_LLM_MODEL", "qwen2.5:7b"),
        ],
    )?;
    let http = reqwest::Client::new();
    let admin = format!("Bearer {KEY}");
    let scrape = || {
        let req = http
            .get(format!("{}/metrics", server.url))
            .header(AUTHORIZATION, &admin);
        async move {
            let r = req.send().await?;
            anyhow::ensure!(r.status() == 200, "scrape: {}", r.status());
            parse(&r.text().await?)
        }
    };
    let r = http
        .post(server.api("/knowledge-bases"))
        .header(AUTHORIZATION, &admin)
        .json(&json!({"name": "kb"}))
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    for (name, text) in [
        ("a.md", "# Ferry\n\nThe ferry leaves the harbour at six."),
        ("b.md", "# Bakery\n\nThe bakery sells rye bread."),
    ] {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(text.as_bytes().to_vec()).file_name(name),
        );
        let r = http
            .post(server.api("/knowledge-bases/kb/documents"))
            .header(AUTHORIZATION, &admin)
            .multipart(form)
            .send()
            .await?;
        assert_eq!(r.status(), 202);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let s: Value = http
            .get(server.api("/knowledge-bases/kb/stats"))
            .header(AUTHORIZATION, &admin)
            .send()
            .await?
            .json()
            .await?;
        if s["documents"]["ready"] == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{s}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let search = || {
        http.post(server.api("/search"))
            .header(AUTHORIZATION, &admin)
            .json(&json!({"knowledge_bases": ["kb"], "query": "when does the ferry leave"}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(search().await?.status(), 200);
    }
    let r = http
        .post(server.api("/ask"))
        .header(AUTHORIZATION, &admin)
        .json(&json!({"knowledge_bases": ["kb"], "question": "When does the ferry leave?"}))
        .send()
        .await?;
    assert_eq!(r.status(), 200);

    let m = scrape().await?;
    let search_200 = [
        ("route", "/api/v1/search"),
        ("method", "POST"),
        ("status", "200"),
    ];
    assert_eq!(value(&m, "ragd_http_requests_total", &search_200), 3.0);
    assert_eq!(
        value(&m, "ragd_http_request_duration_seconds_count", &search_200),
        3.0
    );
    assert_eq!(
        value(&m, "ragd_searches_total", &[]),
        4.0,
        "3 searches and the answer's"
    );
    assert_eq!(
        value(&m, "ragd_search_stage_seconds_count", &[("stage", "embed")]),
        4.0
    );
    assert_eq!(
        value(
            &m,
            "ragd_search_stage_seconds_count",
            &[("stage", "rerank")]
        ),
        4.0
    );
    assert_eq!(
        value(&m, "ragd_ingest_documents_total", &[("outcome", "ready")]),
        2.0
    );
    assert_eq!(value(&m, "ragd_ingest_chunks_total", &[]), 2.0);
    assert!(value(&m, "ragd_ingest_tokens_total", &[]) > 10.0);
    assert_eq!(
        value(&m, "ragd_ingest_stage_seconds_count", &[("stage", "embed")]),
        2.0
    );
    assert_eq!(
        value(&m, "ragd_jobs", &[("kind", "ingest"), ("status", "done")]),
        2.0
    );
    assert_eq!(value(&m, "ragd_documents", &[("status", "ready")]), 2.0);
    assert_eq!(value(&m, "ragd_index_points", &[]), 2.0);
    assert!(value(&m, "ragd_index_segments", &[]) >= 1.0);
    assert_eq!(value(&m, "ragd_answers_total", &[("mode", "llm")]), 1.0);
    assert_eq!(value(&m, "ragd_answer_first_token_seconds_count", &[]), 1.0);

    // One more search moves the counters by one.
    assert_eq!(search().await?.status(), 200);
    let after = scrape().await?;
    assert_eq!(value(&after, "ragd_http_requests_total", &search_200), 4.0);
    assert_eq!(value(&after, "ragd_searches_total", &[]), 5.0);

    // Admin keys only.
    let r = http
        .get(format!("{}/metrics", server.url))
        .header(AUTHORIZATION, format!("Bearer {READER}"))
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let r = http.get(format!("{}/metrics", server.url)).send().await?;
    assert_eq!(r.status(), 401);
    server.stop()?;
    Ok(())
}

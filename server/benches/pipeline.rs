//! `make bench`: ingest throughput, search latency at 10,000+ chunks, and memory.
//!
//! Reads the evaluation corpora from `../shared/eval` when present (dbpedia abstracts and
//! CMRC passages), else generates a synthetic corpus. Prints a Markdown table (also written
//! to `target/bench-results.md`) for BENCHMARKS.md.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use server::config::{Config, Overrides};
use server::service::documents::{accept_file, enqueue};
use server::service::search::{hits as run_search, SearchRequest as SearchBody};
use server::service::State;

mod common;
use common::{latency, mb, percentile, proc_status_kb, start_server_env};

/// Chunks the search index must hold.
const TARGET_CHUNKS: i64 = 10_000;
/// Chunk size of the search corpus: dbpedia abstracts are short (≈75 tokens), so small
/// chunks reach 10,000 chunks from 5,000 abstracts.
const SEARCH_CHUNK_SIZE: i64 = 32;
/// Ceiling of MiniLM-L6 on this 2-core AVX2 machine (≈22 MFLOP per token).
const CEILING_TOKENS_PER_S: f64 = 6000.0;

struct Doc {
    name: String,
    text: String,
}

fn shared_eval() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/eval");
    root.is_dir().then_some(root)
}

fn read_jsonl(
    path: &Path,
    f: impl Fn(&serde_json::Value) -> Option<Doc>,
) -> anyhow::Result<Vec<Doc>> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        if let Some(d) = f(&v) {
            out.push(d);
        }
    }
    Ok(out)
}

/// Documents and queries: the shared eval sets, or a deterministic synthetic corpus.
fn corpus() -> anyhow::Result<(Vec<Doc>, Vec<String>, &'static str)> {
    if let Some(root) = shared_eval() {
        let doc = |v: &serde_json::Value| {
            Some(Doc {
                name: format!(
                    "{}.txt",
                    v["_id"].as_str()?.replace(['<', '>', ':', '/'], "_")
                ),
                text: format!(
                    "{}\n{}",
                    v["title"].as_str().unwrap_or(""),
                    v["text"].as_str()?
                ),
            })
        };
        let mut docs = read_jsonl(&root.join("dbpedia/corpus.jsonl"), doc)?;
        docs.extend(read_jsonl(&root.join("cmrc2018-trial/corpus.jsonl"), doc)?);
        let q = |v: &serde_json::Value| {
            Some(Doc {
                name: String::new(),
                text: v["text"].as_str()?.to_string(),
            })
        };
        let mut queries: Vec<String> = read_jsonl(&root.join("dbpedia/queries.jsonl"), q)?
            .into_iter()
            .map(|d| d.text)
            .collect();
        queries.extend(
            read_jsonl(&root.join("cmrc2018-trial/queries.jsonl"), q)?
                .into_iter()
                .map(|d| d.text),
        );
        return Ok((
            docs,
            queries,
            "../shared/eval: dbpedia (5,000 abstracts) + cmrc2018-trial (256 passages)",
        ));
    }
    // Synthetic: pseudo-words from a fixed generator.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let syllables = [
        "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "qu", "dra",
    ];
    let vocab: Vec<String> = (0..3000)
        .map(|i| {
            (0..2 + i % 3)
                .map(|j| syllables[(i * 7 + j * 5) % syllables.len()])
                .collect::<String>()
                + &i.to_string()
        })
        .collect();
    let mut word = || vocab[(next() % vocab.len() as u64) as usize].clone();
    let docs = (0..5000)
        .map(|i| Doc {
            name: format!("doc{i}.txt"),
            text: (0..60).map(|_| word()).collect::<Vec<_>>().join(" ") + ".",
        })
        .collect();
    let queries = (0..1000)
        .map(|_| (0..5).map(|_| word()).collect::<Vec<_>>().join(" "))
        .collect();
    Ok((
        docs,
        queries,
        "synthetic (5,000 documents of 60 pseudo-words; ../shared absent)",
    ))
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let mut rows: Vec<(String, String)> = Vec::new();
    let (docs, queries, source) = corpus()?;
    eprintln!("corpus: {source}");
    let tmp = tempfile::tempdir()?;
    let data_dir = tmp.path().join("data");
    let mut config = Config::load(
        None,
        &Overrides {
            listen: None,
            data_dir: Some(data_dir.clone()),
        },
    )?;
    // In this process, as before parse isolation (`make bench-parse` measures the child).
    config.parse_isolation = false;
    let threads = config.embedding.threads;

    // 1. Parse: a generated 100-page PDF, parse stage only.
    let page_text: String = (0..40)
        .map(|i| {
            format!("Line {i} of a report about revenue, costs and the annual dividend policy.\n")
        })
        .collect();
    let pages: Vec<&str> = (0..100).map(|_| page_text.as_str()).collect();
    let pdf = e2e::make_pdf(&pages);
    let started = Instant::now();
    let rounds = 5;
    for _ in 0..rounds {
        let parsed =
            ingest::parse::parse(&pdf, ingest::Format::Pdf, &ingest::ParseLimits::default())?;
        assert_eq!(parsed.pages, 100);
    }
    let pages_per_s = (rounds * 100) as f64 / started.elapsed().as_secs_f64();
    rows.push((
        "PDF parse (lopdf text layer, 100-page generated PDF)".into(),
        format!("{pages_per_s:.0} pages/s"),
    ));

    // 2. Ingest the search corpus end to end through the server's queue, until 10,000 chunks.
    let state = State::open(config.clone()).await?;
    let kb = server::service::knowledge_bases::create(
        &state,
        &server::service::auth::Caller::ADMIN,
        server::service::knowledge_bases::NewKnowledgeBase {
            name: "bench".into(),
            chunk_size: Some(SEARCH_CHUNK_SIZE as usize),
            chunk_overlap: Some(4),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let mut total_chunks = 0i64;
    let mut total_tokens = 0i64;
    let mut ingested = 0usize;
    for batch in docs.chunks(500) {
        for d in batch {
            let upload = accept_file(&d.name, d.text.clone().into_bytes())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            enqueue(&state, &kb, upload, None)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        server::jobs::worker::drain(&state).await?;
        ingested += batch.len();
        let (c, t) = state.store.ready_totals().await?;
        total_chunks = c;
        total_tokens = t;
        eprintln!(
            "ingested {ingested} documents, {total_chunks} chunks, {:.0}s",
            started.elapsed().as_secs_f64()
        );
        if total_chunks >= TARGET_CHUNKS {
            break;
        }
    }
    let ingest_secs = started.elapsed().as_secs_f64();
    let (by_status, _) = state.store.kb_stats(&kb.id).await?;
    let failed: i64 = by_status
        .iter()
        .filter(|(s, _)| s == "failed")
        .map(|(_, n)| n)
        .sum();
    rows.push((
        format!("End-to-end ingest ({ingested} docs, chunk size {SEARCH_CHUNK_SIZE}, {} workers, {threads} ONNX threads)", config.workers),
        format!(
            "{:.0} docs/s · {:.0} chunks/s · {:.0} tokens/s · {total_chunks} chunks in {ingest_secs:.0} s · {failed} failed",
            ingested as f64 / ingest_secs,
            total_chunks as f64 / ingest_secs,
            total_tokens as f64 / ingest_secs
        ),
    ));
    if total_chunks < TARGET_CHUNKS {
        bail!("only {total_chunks} chunks: the corpus is too small");
    }
    let peak_ingest = proc_status_kb("self", "VmHWM:");

    // 3. Embed stage alone at the default chunk size (256 tokens): length-sorted batches.
    let embedder = state.default_space().embedder.clone();
    let long_docs: Vec<String> = docs
        .chunks(4)
        .take(400)
        .map(|g| {
            g.iter()
                .map(|d| d.text.as_str())
                .collect::<Vec<_>>()
                .join("\n\n")
        })
        .collect();
    let mut chunks = Vec::new();
    for text in &long_docs {
        let parsed = ingest::parse::parse(
            text.as_bytes(),
            ingest::Format::Text,
            &ingest::ParseLimits::default(),
        )?;
        chunks.extend(ingest::chunk::chunk(
            &parsed,
            embedder.tokenizer(),
            ingest::ChunkConfig {
                size: 256,
                overlap: 32,
                template: ingest::Template::General,
            },
        )?);
    }
    chunks.truncate(600);
    let tokens: usize = chunks.iter().map(|c| c.tokens).sum();
    let bm25 = state.bm25.clone();
    let e = embedder.clone();
    let started = Instant::now();
    let n = chunks.len();
    tokio::task::spawn_blocking(move || ingest::embed::embed(&chunks, &e, &bm25, |_| {})).await??;
    let secs = started.elapsed().as_secs_f64();
    let tps = tokens as f64 / secs;
    rows.push((
        format!("Embed stage ({n} chunks of ≤256 tokens, avg {:.0}, batch {}, {threads} threads)", tokens as f64 / n as f64, config.embedding.batch_size),
        format!("{tps:.0} tokens/s · {:.1} chunks/s · {:.0}% of the {CEILING_TOKENS_PER_S:.0} tokens/s ceiling", n as f64 / secs, 100.0 * tps / CEILING_TOKENS_PER_S),
    ));

    // 4. Search latency in process (SQLite kb lookup + query embedding + dense ∥ sparse + fusion).
    let searches: Vec<String> = queries.iter().take(500).cloned().collect();
    for phase in ["brute force (no HNSW yet)", "after optimize (HNSW)"] {
        if phase.starts_with("after") {
            let index = state.default_space().index.clone();
            let t = Instant::now();
            tokio::task::spawn_blocking(move || index.optimize()).await??;
            rows.push((
                "HNSW build (optimize) over the corpus".into(),
                format!("{:.1} s", t.elapsed().as_secs_f64()),
            ));
        }
        let mut lat = Vec::new();
        for q in &searches {
            let t = Instant::now();
            let hits = run_search(
                &state,
                &server::service::auth::Caller::ADMIN,
                SearchBody {
                    knowledge_bases: vec!["bench-kb".into()],
                    query: q.clone(),
                    top_k: Some(8),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(!hits.is_empty());
        }
        lat.sort_by(f64::total_cmp);
        rows.push((
            format!(
                "Search in process, {total_chunks} chunks, {} queries, {phase}",
                lat.len()
            ),
            latency(&lat),
        ));
    }
    rows.push((
        "Peak RSS of the ingest process (model + index + SQLite)".into(),
        mb(peak_ingest),
    ));
    state.flush().await?;
    drop(state);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 5. The release server: idle RSS (fresh and with the 10k-chunk index), HTTP search latency.
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/ragd");
    if !bin.is_file() {
        bail!("{} missing: run `make release` first", bin.display());
    }
    let empty_dir = tmp.path().join("empty");
    let (mut fresh, _) = start_server(&bin, &empty_dir)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_fresh = proc_status_kb(&fresh.id().to_string(), "VmRSS:");
    let _ = fresh.kill();
    let _ = fresh.wait();
    rows.push((
        "Idle RSS of `ragd serve`, empty data folder".into(),
        mb(idle_fresh),
    ));

    let (mut srv, url) = start_server(&bin, &data_dir)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = srv.id().to_string();
    let idle_loaded = proc_status_kb(&pid, "VmRSS:");
    rows.push((
        format!("Idle RSS of `ragd serve`, {total_chunks}-chunk index"),
        mb(idle_loaded),
    ));
    let http = reqwest::Client::new();
    let mut lat = Vec::new();
    for q in &searches {
        let t = Instant::now();
        let r = http
            .post(format!("{url}/api/v1/search"))
            .json(&serde_json::json!({"knowledge_bases": ["bench-kb"], "query": q, "top_k": 8}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("search failed: {}", r.status());
        }
        let _: serde_json::Value = r.json().await?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    rows.push((
        format!(
            "Search over HTTP, {total_chunks} chunks, {} queries, sequential",
            lat.len()
        ),
        latency(&lat),
    ));
    rows.push((
        "Peak RSS of `ragd serve` after the searches".into(),
        mb(proc_status_kb(&pid, "VmHWM:")),
    ));
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let _ = srv.wait();

    // 6. Answers: ragd's own time before the LLM's first token (retrieval + prompt), against
    // an in-process LLM server that answers at once.
    let mock = e2e::mock_llm::MockLlm::start(e2e::mock_llm::Protocol::Ollama).await;
    let llm_env = [
        ("RAGD_LLM_BASE_URL", mock.url.as_str()),
        ("RAGD_LLM_MODEL", "mock:7b"),
        ("RAGD_ANSWER_MIN_SCORE", "-1"),
    ];
    let (mut srv, url) = start_server_env(&bin, &data_dir, &llm_env)?;
    let mut own = Vec::new();
    let mut first_delta = Vec::new();
    for q in searches.iter().take(300) {
        let t = Instant::now();
        let r = http
            .post(format!("{url}/api/v1/ask"))
            .json(&serde_json::json!({"knowledge_bases": ["bench-kb"], "question": q, "stream": true}))
            .send()
            .await?;
        let mut body = r.bytes_stream();
        let mut text = String::new();
        let mut got_first = false;
        while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
            text.push_str(&String::from_utf8_lossy(&chunk?));
            if !got_first && text.contains("event: delta") {
                first_delta.push(t.elapsed().as_secs_f64() * 1000.0);
                got_first = true;
            }
        }
        let done = text
            .split("event: done\ndata: ")
            .nth(1)
            .context("no done event")?;
        let done: serde_json::Value = serde_json::from_str(done.lines().next().unwrap_or(""))?;
        own.push(
            done["usage"]["retrieval_ms"]
                .as_f64()
                .context("retrieval_ms")?,
        );
    }
    own.sort_by(f64::total_cmp);
    first_delta.sort_by(f64::total_cmp);
    rows.push((
        format!("Ask: ragd's own time before the LLM call (retrieval + prompt), {total_chunks} chunks, {} questions", own.len()),
        format!("p50 {:.1} ms · p95 {:.1} ms", percentile(&own, 0.5), percentile(&own, 0.95)),
    ));
    rows.push((
        "Ask: client-side time to the first streamed answer token (instant mock LLM)".into(),
        format!(
            "p50 {:.1} ms · p95 {:.1} ms",
            percentile(&first_delta, 0.5),
            percentile(&first_delta, 0.95)
        ),
    ));
    let _ = Command::new("kill")
        .args(["-TERM", &srv.id().to_string()])
        .status();
    let _ = srv.wait();

    let mut out = format!("Corpus: {source}\n\n| what | figure |\n|---|---|\n");
    for (k, v) in &rows {
        out.push_str(&format!("| {k} | {v} |\n"));
    }
    println!("{out}");
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results.md");
    std::fs::write(&target, &out)?;
    eprintln!("written to {}", target.display());
    Ok(())
}

fn start_server(bin: &Path, data_dir: &Path) -> anyhow::Result<(std::process::Child, String)> {
    start_server_env(bin, data_dir, &[])
}

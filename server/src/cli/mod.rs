//! The command line: `serve`, `ingest`, `search`, `kb`. Every command but `serve` works on
//! the data folder directly, or against a running server with `--url`.

pub mod client;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::http::Method;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::http::documents::encode;
use client::Client;
use crate::config::{Config, Overrides};
use crate::service::State;

#[derive(Debug, Parser)]
#[command(
    name = "ragd",
    version,
    about = "A self-hosted RAG knowledge base: upload documents, search them, ask them"
)]
pub struct Cli {
    /// Configuration file (default: ./ragd.toml when present).
    #[arg(long, global = true, env = "RAGD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data folder (env RAGD_DATA_DIR, default ./data).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Talk to a running server instead of opening the data folder.
    #[arg(long, global = true, env = "RAGD_URL")]
    pub url: Option<String>,
    /// Log filter, e.g. `info` or `ragd=debug` (env RAGD_LOG).
    #[arg(long, global = true, env = "RAGD_LOG")]
    pub log: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server and the ingest workers.
    Serve {
        /// ADDR:PORT to listen on (env RAGD_LISTEN, default 127.0.0.1:8080; port 0 picks one).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Ingest files or folders (recursively) into a knowledge base, created if missing.
    Ingest {
        #[arg(long)]
        kb: String,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Hybrid search.
    Search {
        /// Knowledge base(s) to search; repeat for several.
        #[arg(long, required = true)]
        kb: Vec<String>,
        #[arg(long)]
        top_k: Option<usize>,
        /// Print the raw JSON reply.
        #[arg(long)]
        json: bool,
        query: String,
    },
    /// Ask a question: the answer streams in, reasoning dimmed, sources listed at the end.
    Ask {
        /// Knowledge base(s) to answer from; repeat for several.
        #[arg(long, required = true)]
        kb: Vec<String>,
        #[arg(long)]
        top_k: Option<usize>,
        question: String,
    },
    /// Evaluate retrieval on a BEIR set: nDCG@10, Recall@10/100, MRR@10 for dense only,
    /// BM25 only, hybrid and hybrid + rerank, side by side.
    Eval {
        #[arg(long)]
        kb: String,
        /// queries.jsonl ({"_id", "text"} per line).
        #[arg(long)]
        queries: PathBuf,
        /// qrels TSV (query-id, corpus-id, score; header line allowed).
        #[arg(long)]
        qrels: PathBuf,
        /// corpus.jsonl to load into the knowledge base first ({"_id", "title", "text"}).
        #[arg(long)]
        corpus: Option<PathBuf>,
        /// Print the raw JSON reply.
        #[arg(long)]
        json: bool,
    },
    /// The configured LLM.
    Llm {
        #[command(subcommand)]
        command: LlmCommand,
    },
    /// Manage knowledge bases.
    Kb {
        #[command(subcommand)]
        command: KbCommand,
    },
    /// Folders and URL lists a knowledge base keeps in sync, on a schedule or on demand.
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// Write a consistent backup of the data folder (also while the server runs, with --url);
    /// restore by starting ragd on it.
    Backup {
        /// List the backups instead.
        #[arg(long)]
        list: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Add a folder (--folder) or a URL list (--url, repeatable) to a knowledge base.
    Add {
        #[arg(long)]
        kb: String,
        /// Absolute folder path (must lie under sources.folder_roots).
        #[arg(long, conflicts_with = "url")]
        folder: Option<PathBuf>,
        /// An http(s) URL; repeat for several.
        #[arg(long)]
        url: Vec<String>,
        /// Glob of files to take, relative to the folder; repeat for several.
        #[arg(long)]
        include: Vec<String>,
        /// Glob of files to leave out; repeat for several.
        #[arg(long)]
        exclude: Vec<String>,
        /// Cron expression, e.g. "0 */6 * * *" (every 6 hours); none = manual only.
        #[arg(long)]
        schedule: Option<String>,
        /// IANA time zone of the schedule (default: sources.default_timezone).
        #[arg(long)]
        timezone: Option<String>,
        /// Add it disabled (the scheduler leaves it alone).
        #[arg(long)]
        disabled: bool,
    },
    /// List a knowledge base's sources with their last run.
    List {
        #[arg(long)]
        kb: String,
    },
    /// Sync a source now and follow its progress.
    Run {
        #[arg(long)]
        kb: String,
        id: String,
        /// Queue the run and return at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// Cancel a source's active run.
    Cancel {
        #[arg(long)]
        kb: String,
        id: String,
    },
    /// A source's recent runs.
    Runs {
        #[arg(long)]
        kb: String,
        id: String,
    },
    /// Remove a source and the documents it brought in.
    Remove {
        #[arg(long)]
        kb: String,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LlmCommand {
    /// Show the configured model, whether its backend answers, and the GPU memory it needs.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum KbCommand {
    List,
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    Delete {
        name: String,
    },
}

impl Cli {
    /// The default log filter of a command: servers say more than one-shot commands.
    pub fn default_log(&self) -> &'static str {
        match self.command {
            Command::Serve { .. } => "info,qdrant_edge=error",
            _ => "warn,qdrant_edge=error",
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        _ => None,
    };
    let overrides = Overrides {
        listen,
        data_dir: cli.data_dir.clone(),
    };
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    if let Command::Serve { .. } = cli.command {
        return crate::serve::serve(config).await;
    }
    let client = match &cli.url {
        Some(url) => Client::remote(url, &config.auth.api_key)?,
        None => Client::local(State::open(config).await?),
    };
    match cli.command {
        Command::Serve { .. } => unreachable!("handled above"),
        Command::Kb { command } => kb(&client, command).await,
        Command::Source { command } => source(&client, command).await,
        Command::Search {
            kb,
            top_k,
            json,
            query,
        } => search(&client, kb, top_k, json, query).await,
        Command::Ingest { kb, paths } => ingest(&client, &kb, &paths).await,
        Command::Eval {
            kb,
            queries,
            qrels,
            corpus,
            json,
        } => eval(&client, &kb, &queries, &qrels, corpus.as_deref(), json).await,
        Command::Ask {
            kb,
            top_k,
            question,
        } => ask(&client, kb, top_k, question).await,
        Command::Llm {
            command: LlmCommand::Check,
        } => llm_check(&client).await,
        Command::Backup { list } => backup(&client, list).await,
    }
}

async fn backup(client: &Client, list: bool) -> anyhow::Result<()> {
    if list {
        let v = client.call(Method::GET, "/backups", None).await?;
        for b in v["backups"].as_array().into_iter().flatten() {
            println!(
                "{}\t{}\t{:.1} MB",
                b["name"].as_str().unwrap_or_default(),
                b["created_at"].as_str().unwrap_or_default(),
                b["bytes"].as_f64().unwrap_or(0.0) / 1e6
            );
        }
        return Ok(());
    }
    let b = client.call(Method::POST, "/backups", None).await?;
    println!(
        "backup written to {} ({:.1} MB; writes paused {} ms)",
        b["path"].as_str().unwrap_or_default(),
        b["bytes"].as_f64().unwrap_or(0.0) / 1e6,
        b["paused_ms"].as_u64().unwrap_or(0)
    );
    Ok(())
}

async fn kb(client: &Client, command: KbCommand) -> anyhow::Result<()> {
    match command {
        KbCommand::List => {
            let v = client.call(Method::GET, "/knowledge-bases", None).await?;
            let kbs = v["knowledge_bases"].as_array().cloned().unwrap_or_default();
            if kbs.is_empty() {
                println!("no knowledge bases yet: ragd kb create NAME");
            }
            for k in kbs {
                println!(
                    "{}\t{} documents\t{} chunks\t{}",
                    k["name"].as_str().unwrap_or(""),
                    k["document_count"],
                    k["chunk_count"],
                    k["description"].as_str().unwrap_or("")
                );
            }
        }
        KbCommand::Create { name, description } => {
            let v = client
                .call(
                    Method::POST,
                    "/knowledge-bases",
                    Some(json!({"name": name, "description": description})),
                )
                .await?;
            println!(
                "created knowledge base {} ({})",
                v["name"].as_str().unwrap_or(""),
                v["id"].as_str().unwrap_or("")
            );
        }
        KbCommand::Delete { name } => {
            client
                .call(
                    Method::DELETE,
                    &format!("/knowledge-bases/{}", encode(&name)),
                    None,
                )
                .await?;
            println!("deleted knowledge base {name}");
        }
    }
    Ok(())
}

fn sources_path(kb: &str) -> String {
    format!("/knowledge-bases/{}/sources", encode(kb))
}

/// One line about a run: status and counts.
fn run_summary(run: &Value) -> String {
    let n = |k: &str| run[k].as_i64().unwrap_or(0);
    let duration = run["duration_ms"]
        .as_i64()
        .map(|ms| format!(" in {:.1}s", ms as f64 / 1000.0))
        .unwrap_or_default();
    format!(
        "run {} {}: {} added, {} updated, {} deleted, {} renamed, {} unchanged, {} failed{duration}",
        run["id"],
        run["status"].as_str().unwrap_or(""),
        n("added"),
        n("updated"),
        n("deleted"),
        n("renamed"),
        n("unchanged"),
        n("failed"),
    )
}

async fn source(client: &Client, command: SourceCommand) -> anyhow::Result<()> {
    match command {
        SourceCommand::Add {
            kb,
            folder,
            url,
            include,
            exclude,
            schedule,
            timezone,
            disabled,
        } => {
            let body = match folder {
                Some(path) => {
                    let path = std::path::absolute(&path).unwrap_or(path);
                    json!({"kind": "folder", "path": path})
                }
                None if !url.is_empty() => json!({"kind": "urls", "urls": url}),
                None => bail!("name a --folder or at least one --url"),
            };
            let mut body = body;
            body["include"] = json!(include);
            body["exclude"] = json!(exclude);
            body["schedule"] = json!(schedule);
            body["enabled"] = json!(!disabled);
            if let Some(tz) = timezone {
                body["timezone"] = json!(tz);
            }
            let v = client
                .call(Method::POST, &sources_path(&kb), Some(body))
                .await?;
            println!("added source {}", v["id"].as_str().unwrap_or(""));
            if let Some(next) = v["next_run_at"].as_str() {
                println!("next scheduled run: {next}");
            }
        }
        SourceCommand::List { kb } => {
            let v = client.call(Method::GET, &sources_path(&kb), None).await?;
            let sources = v["sources"].as_array().cloned().unwrap_or_default();
            if sources.is_empty() {
                println!("no sources yet: ragd source add --kb {kb} --folder PATH");
            }
            for s in sources {
                let target = match s["kind"].as_str() {
                    Some("folder") => s["path"].as_str().unwrap_or("").to_string(),
                    _ => format!("{} urls", s["urls"].as_array().map_or(0, Vec::len)),
                };
                println!(
                    "{}\t{}\t{}\t{}{}",
                    s["id"].as_str().unwrap_or(""),
                    s["kind"].as_str().unwrap_or(""),
                    target,
                    s["schedule"].as_str().unwrap_or("manual"),
                    if s["enabled"].as_bool() == Some(false) {
                        " (disabled)"
                    } else {
                        ""
                    },
                );
                if !s["last_run"].is_null() {
                    println!("  last {}", run_summary(&s["last_run"]));
                }
            }
        }
        SourceCommand::Run { kb, id, no_wait } => {
            let base = format!("{}/{}", sources_path(&kb), encode(&id));
            let run = client
                .call(Method::POST, &format!("{base}/run"), None)
                .await?;
            let run_id = run["id"].as_i64().unwrap_or(0);
            println!("queued run {run_id}");
            if no_wait {
                return Ok(());
            }
            follow_run(client, &format!("{base}/runs/{run_id}")).await?;
        }
        SourceCommand::Cancel { kb, id } => {
            let base = format!("{}/{}", sources_path(&kb), encode(&id));
            let runs = client
                .call(Method::GET, &format!("{base}/runs"), None)
                .await?;
            let active = runs["runs"]
                .as_array()
                .and_then(|r| r.first())
                .filter(|r| matches!(r["status"].as_str(), Some("queued" | "running")))
                .and_then(|r| r["id"].as_i64());
            let Some(run) = active else {
                bail!("source {id} has no active run");
            };
            let v = client
                .call(Method::POST, &format!("{base}/runs/{run}/cancel"), None)
                .await?;
            println!("{}", run_summary(&v));
        }
        SourceCommand::Runs { kb, id } => {
            let v = client
                .call(
                    Method::GET,
                    &format!("{}/{}/runs", sources_path(&kb), encode(&id)),
                    None,
                )
                .await?;
            for run in v["runs"].as_array().cloned().unwrap_or_default() {
                println!(
                    "{} ({}, {})",
                    run_summary(&run),
                    run["trigger"].as_str().unwrap_or(""),
                    run["created_at"].as_str().unwrap_or("")
                );
                for e in run["errors"].as_array().cloned().unwrap_or_default() {
                    println!(
                        "  {}: {}",
                        e["path"].as_str().unwrap_or(""),
                        e["error"].as_str().unwrap_or("")
                    );
                }
            }
        }
        SourceCommand::Remove { kb, id } => {
            client
                .call(
                    Method::DELETE,
                    &format!("{}/{}", sources_path(&kb), encode(&id)),
                    None,
                )
                .await?;
            println!("removed source {id} and its documents");
        }
    }
    Ok(())
}

/// Embedded mode: the queue is processed here, in the background, while the command follows
/// its progress. `None` against a server, which has its own workers.
fn start_local_drain(client: &Client) -> Option<tokio::task::JoinHandle<anyhow::Result<()>>> {
    match client {
        Client::Local { state, .. } => {
            let state = state.clone();
            Some(tokio::spawn(
                async move { crate::jobs::worker::drain(&state).await.map_err(anyhow::Error::from) },
            ))
        }
        Client::Remote { .. } => None,
    }
}

/// Waits for the local queue to empty and makes the index durable (embedded mode).
async fn finish_local_drain(
    client: &Client,
    drain: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
) -> anyhow::Result<()> {
    if let Some(d) = drain {
        d.await??;
    }
    if let Client::Local { state, .. } = client {
        state.flush().await?;
    }
    Ok(())
}

/// Follows a run with a progress bar until it ends (processing the queue here in embedded
/// mode), then prints its summary and per-file errors.
async fn follow_run(client: &Client, run_path: &str) -> anyhow::Result<()> {
    let drain = start_local_drain(client);
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let run = loop {
        let run = client.call(Method::GET, run_path, None).await?;
        let status = run["status"].as_str().unwrap_or("");
        if !matches!(status, "queued" | "running") {
            break run;
        }
        let n = |k: &str| run[k].as_i64().unwrap_or(0).max(0) as u64;
        if run["phase"] == "ingesting" {
            let queued = n("added") + n("updated");
            bar.set_length(queued);
            bar.set_position(queued.saturating_sub(n("docs_pending")));
            bar.set_message("documents ingested");
        } else {
            bar.set_length(n("files_total"));
            bar.set_position(n("files_scanned"));
            bar.set_message("files scanned");
        }
        if drain.as_ref().is_some_and(|d| d.is_finished()) {
            // Embedded mode with an empty queue: the run cannot move any more.
            let run = client.call(Method::GET, run_path, None).await?;
            break run;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    bar.finish_and_clear();
    finish_local_drain(client, drain).await?;
    println!("{}", run_summary(&run));
    for e in run["errors"].as_array().cloned().unwrap_or_default() {
        println!(
            "  failed {}: {}",
            e["path"].as_str().unwrap_or(""),
            e["error"].as_str().unwrap_or("")
        );
    }
    if let Some(error) = run["error"].as_str() {
        bail!("the run failed: {error}");
    }
    Ok(())
}

async fn search(
    client: &Client,
    kbs: Vec<String>,
    top_k: Option<usize>,
    raw: bool,
    query: String,
) -> anyhow::Result<()> {
    let v = client
        .call(
            Method::POST,
            "/search",
            Some(json!({"knowledge_bases": kbs, "query": query, "top_k": top_k})),
        )
        .await?;
    if raw {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let hits = v["hits"].as_array().cloned().unwrap_or_default();
    if hits.is_empty() {
        println!("no results");
    }
    for (i, h) in hits.iter().enumerate() {
        let page = h["page"]
            .as_u64()
            .map(|p| format!(" p.{p}"))
            .unwrap_or_default();
        let heading = h["heading"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(|s| format!(" § {s}"))
            .unwrap_or_default();
        let score = |k: &str| {
            h["scores"][k]
                .as_f64()
                .map_or("-".to_string(), |s| format!("{s:.3}"))
        };
        println!(
            "{}. {}{}{}  [fused {:.4} · dense {} · bm25 {}]",
            i + 1,
            h["document_name"].as_str().unwrap_or(""),
            page,
            heading,
            h["score"].as_f64().unwrap_or(0.0),
            score("dense"),
            score("sparse"),
        );
        let text: String = h["text"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let excerpt: String = text.chars().take(240).collect();
        println!(
            "   {excerpt}{}",
            if text.chars().count() > 240 {
                "…"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// Every file under `paths`, recursively, skipping hidden entries, in a stable order.
pub fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p)?;
            if meta.is_dir() {
                walk(&p, out)?;
            } else if meta.is_file() {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

async fn ingest(client: &Client, kb: &str, paths: &[PathBuf]) -> anyhow::Result<()> {
    let files = collect_files(paths)?;
    if files.is_empty() {
        bail!("no files found");
    }
    ingest_items(client, kb, files.into_iter().map(Item::Path).collect()).await
}

/// Something to ingest: a file, or named bytes (a corpus record).
pub enum Item {
    Path(PathBuf),
    Bytes(String, Vec<u8>),
}

impl Item {
    fn label(&self) -> String {
        match self {
            Item::Path(p) => p.display().to_string(),
            Item::Bytes(name, _) => name.clone(),
        }
    }

    fn load(self) -> std::io::Result<(String, Vec<u8>)> {
        match self {
            Item::Path(p) => {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Ok((name, std::fs::read(&p)?))
            }
            Item::Bytes(name, bytes) => Ok((name, bytes)),
        }
    }
}

/// Queues `items` into `kb` (created if missing), waits for them with a progress bar.
async fn ingest_items(client: &Client, kb: &str, items: Vec<Item>) -> anyhow::Result<()> {
    let kb_path = format!("/knowledge-bases/{}", encode(kb));
    if client.call(Method::GET, &kb_path, None).await.is_err() {
        client
            .call(Method::POST, "/knowledge-bases", Some(json!({"name": kb})))
            .await?;
        eprintln!("created knowledge base {kb}");
    }
    let kb_info = client.call(Method::GET, &kb_path, None).await?;

    // Queue every item.
    let mut queued: Vec<String> = Vec::new();
    let mut skipped = 0usize;
    for item in items {
        let label = item.label();
        let (name, bytes) = match item.load() {
            Ok(x) => x,
            Err(e) => {
                eprintln!("skipped {label}: {e}");
                skipped += 1;
                continue;
            }
        };
        let result = match client {
            Client::Remote { .. } => client
                .upload(kb, &name, bytes)
                .await
                .map(|v| v["documents"][0].clone()),
            Client::Local { state, .. } => {
                let kb_row = crate::service::knowledge_bases::find(state, kb)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                match crate::service::documents::accept(name.clone(), bytes).await {
                    Ok(upload) => crate::service::documents::enqueue(state, &kb_row, upload)
                        .await
                        .map(|d| serde_json::to_value(d).unwrap_or(Value::Null))
                        .map_err(|e| anyhow::anyhow!("{e}")),
                    Err(e) => Err(anyhow::anyhow!("{e}")),
                }
            }
        };
        match result {
            Ok(doc) => {
                if let Some(id) = doc["id"].as_str() {
                    queued.push(id.to_string());
                }
            }
            Err(e) => {
                eprintln!("skipped {label}: {e}");
                skipped += 1;
            }
        }
    }

    // Local mode: process the queue here.
    let drain = start_local_drain(client);

    let bar = ProgressBar::new(queued.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} files · {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let kb_id = kb_info["id"].as_str().unwrap_or(kb).to_string();
    let mut finished = 0usize;
    let (mut chunks, mut tokens, mut failed) = (0i64, 0i64, Vec::new());
    while finished < queued.len() {
        let doc = client
            .call(
                Method::GET,
                &format!(
                    "/knowledge-bases/{}/documents/{}",
                    encode(&kb_id),
                    queued[finished]
                ),
                None,
            )
            .await?;
        match doc["status"].as_str() {
            Some("ready") => {
                chunks += doc["chunk_count"].as_i64().unwrap_or(0);
                tokens += doc["token_count"].as_i64().unwrap_or(0);
                finished += 1;
            }
            Some("failed") => {
                failed.push(format!(
                    "{}: {}",
                    doc["name"].as_str().unwrap_or(""),
                    doc["error"].as_str().unwrap_or("")
                ));
                finished += 1;
            }
            _ => {
                if drain.as_ref().is_some_and(|d| d.is_finished()) && finished < queued.len() {
                    // The local queue is empty but this document is not done: look again once.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                } else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        let secs = started.elapsed().as_secs_f64().max(0.001);
        bar.set_position(finished as u64);
        bar.set_message(format!(
            "{chunks} chunks · {:.1} chunks/s · {:.0} tokens/s",
            chunks as f64 / secs,
            tokens as f64 / secs
        ));
    }
    bar.finish();
    finish_local_drain(client, drain).await?;
    println!(
        "{} ready, {} failed, {} skipped; {chunks} chunks in {:.1}s",
        queued.len() - failed.len(),
        failed.len(),
        skipped,
        started.elapsed().as_secs_f64()
    );
    for f in &failed {
        println!("  failed {f}");
    }
    Ok(())
}

async fn ask(
    client: &Client,
    kbs: Vec<String>,
    top_k: Option<usize>,
    question: String,
) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    use std::io::{IsTerminal, Write};
    let mut stream = client
        .post_stream(
            "/ask",
            json!({"knowledge_bases": kbs, "question": question, "top_k": top_k, "stream": true}),
        )
        .await?;
    let tty = std::io::stdout().is_terminal();
    let (dim, reset) = if tty {
        ("\x1b[2m", "\x1b[0m")
    } else {
        ("", "")
    };
    let mut out = std::io::stdout();
    let mut buf = String::new();
    let mut in_reasoning = false;
    let mut citations = Vec::new();
    while let Some(bytes) = stream.next().await {
        buf.push_str(&String::from_utf8_lossy(&bytes?));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (event, data) = parse_sse_block(&block);
            match event.as_str() {
                "reasoning" => {
                    if !in_reasoning {
                        write!(out, "{dim}")?;
                        in_reasoning = true;
                    }
                    write!(out, "{}", data["text"].as_str().unwrap_or(""))?;
                }
                "delta" => {
                    if in_reasoning {
                        writeln!(out, "{reset}\n")?;
                        in_reasoning = false;
                    }
                    write!(out, "{}", data["text"].as_str().unwrap_or(""))?;
                }
                "citations" => {
                    citations = data["citations"].as_array().cloned().unwrap_or_default()
                }
                "done" => {
                    writeln!(out)?;
                    if let Some(n) = data["notice"].as_str() {
                        writeln!(out, "\n{dim}({n}){reset}")?;
                    }
                    if !citations.is_empty() {
                        writeln!(out, "\nSources:")?;
                    }
                    for c in &citations {
                        let page = c["page"]
                            .as_u64()
                            .map(|p| format!(", page {p}"))
                            .unwrap_or_default();
                        writeln!(
                            out,
                            "  [{}] {}{}",
                            c["n"],
                            c["document_name"].as_str().unwrap_or(""),
                            page
                        )?;
                    }
                }
                "error" => {
                    if in_reasoning {
                        write!(out, "{reset}")?;
                    }
                    writeln!(out)?;
                    bail!(
                        "{}",
                        data["error"]["message"]
                            .as_str()
                            .unwrap_or("the answer failed")
                    );
                }
                _ => {}
            }
            out.flush()?;
        }
    }
    Ok(())
}

/// The event name and JSON data of one SSE block.
fn parse_sse_block(block: &str) -> (String, Value) {
    let mut event = String::from("message");
    let mut data = String::new();
    for line in block.lines() {
        if let Some(e) = line.strip_prefix("event:") {
            event = e.trim().to_string();
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.trim_start());
        }
    }
    (event, serde_json::from_str(&data).unwrap_or(Value::Null))
}

fn read_jsonl(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}: line {} is not json", path.display(), i + 1))
        })
        .collect()
}

async fn eval(
    client: &Client,
    kb: &str,
    queries: &Path,
    qrels: &Path,
    corpus: Option<&Path>,
    raw: bool,
) -> anyhow::Result<()> {
    if let Some(corpus) = corpus {
        let items: Vec<Item> = read_jsonl(corpus)?
            .into_iter()
            .filter_map(|d| {
                let id = d["_id"].as_str()?.to_string();
                let title = d["title"].as_str().unwrap_or("");
                let text = d["text"].as_str().unwrap_or("");
                let body = if title.is_empty() {
                    text.to_string()
                } else {
                    format!("{title}\n{text}")
                };
                Some(Item::Bytes(format!("{id}.txt"), body.into_bytes()))
            })
            .collect();
        eprintln!(
            "loading {} documents from {}",
            items.len(),
            corpus.display()
        );
        ingest_items(client, kb, items).await?;
    }
    let queries: Vec<Value> = read_jsonl(queries)?
        .into_iter()
        .filter_map(|q| Some(json!({"id": q["_id"].as_str()?, "text": q["text"].as_str()?})))
        .collect();
    let qrels_text = std::fs::read_to_string(qrels)
        .with_context(|| format!("cannot read {}", qrels.display()))?;
    let qrels = retrieval::eval::parse_qrels(&qrels_text);
    // Judgements name corpus ids; documents are named `<id>.txt`, cleaned like any upload.
    let qrels: std::collections::HashMap<String, std::collections::HashMap<String, u32>> = qrels
        .into_iter()
        .map(|(q, docs)| {
            (
                q,
                docs.into_iter()
                    .map(|(d, g)| {
                        (
                            crate::service::eval::doc_key(&crate::service::documents::clean_file_name(&format!("{d}.txt")))
                                .to_string(),
                            g,
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    let v = client
        .call(
            Method::POST,
            "/eval",
            Some(json!({"knowledge_base": kb, "queries": queries, "qrels": qrels})),
        )
        .await?;
    if raw {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("| setting | nDCG@10 | Recall@10 | Recall@100 | MRR@10 | ms/query |");
    println!("|---|---|---|---|---|---|");
    for r in v["results"].as_array().cloned().unwrap_or_default() {
        println!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.1} |",
            r["setting"].as_str().unwrap_or(""),
            r["ndcg_at_10"].as_f64().unwrap_or(0.0),
            r["recall_at_10"].as_f64().unwrap_or(0.0),
            r["recall_at_100"].as_f64().unwrap_or(0.0),
            r["mrr_at_10"].as_f64().unwrap_or(0.0),
            r["ms_per_query"].as_f64().unwrap_or(0.0),
        );
    }
    if let Some(r) = v["results"].as_array().and_then(|r| r.first()) {
        println!("({} judged queries)", r["queries"]);
    }
    Ok(())
}

async fn llm_check(client: &Client) -> anyhow::Result<()> {
    let v = client.call(Method::GET, "/llm", None).await?;
    if v["configured"] != true {
        println!(
            "{}",
            v["message"].as_str().unwrap_or("no llm is configured")
        );
        return Ok(());
    }
    println!(
        "model:      {} ({} at {})",
        v["model"].as_str().unwrap_or(""),
        v["provider"].as_str().unwrap_or(""),
        v["base_url"].as_str().unwrap_or("")
    );
    println!("context:    {} tokens", v["context_window"]);
    match v["gpu_memory_estimate"].as_object() {
        Some(e) => println!(
            "gpu memory: about {} GB ({}B parameters at {} bits, from the {}; {})",
            e["gigabytes"],
            e["parameters_billion"],
            e["bits_per_weight"],
            e["source"].as_str().unwrap_or(""),
            v["formula"].as_str().unwrap_or("")
        ),
        None => println!(
            "gpu memory: unknown (no parameter count in the model name or from the backend)"
        ),
    }
    if v["reachable"] == true {
        println!("backend:    answers");
        Ok(())
    } else {
        bail!(
            "backend: {}",
            v["error"].as_str().unwrap_or("does not answer")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks() {
        let (e, d) = parse_sse_block("event: delta\ndata: {\"text\":\"hi\"}\n\n");
        assert_eq!((e.as_str(), d["text"].as_str()), ("delta", Some("hi")));
        let (e, d) = parse_sse_block(": keep-alive\n\n");
        assert_eq!((e.as_str(), d), ("message", Value::Null));
    }

    #[test]
    fn files_are_collected_recursively_without_hidden_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/.git")).unwrap();
        std::fs::write(dir.path().join("a/x.md"), "x").unwrap();
        std::fs::write(dir.path().join("a/.git/config"), "x").unwrap();
        std::fs::write(dir.path().join("b.txt"), "x").unwrap();
        let files = collect_files(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["x.md", "b.txt"]);
    }
}

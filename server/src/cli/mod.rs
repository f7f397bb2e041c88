//! The command line, one file per command. Every command but `serve` works on the data
//! folder directly (embedded mode: it calls the services in this process) or against a
//! running server with `--url` (a typed HTTP client); both through [`backend::Backend`].

mod ask;
pub mod backend;
mod backup;
mod eval;
mod ingest;
mod kb;
mod key;
mod llm;
mod migrate;
mod search;
mod source;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::service::State;
use backend::{Backend, Remote};

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
    /// API keys: make one for an application (its secret is printed once), list, revoke.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Write a consistent backup of the data folder (also while the server runs, with --url);
    /// restore by starting ragd on it.
    Backup {
        /// List the backups instead.
        #[arg(long)]
        list: bool,
    },
    /// Copy this deployment (metadata, job queue, files, cached vectors) to the engines a
    /// target configuration names, e.g. PostgreSQL + S3; resumable, counts checked at the end.
    /// Stop the server first.
    Migrate {
        /// The target's ragd.toml (database_url, storage_url, index settings).
        #[arg(long)]
        to: PathBuf,
    },
    /// Parses one document from stdin for the worker, in a process of its own.
    #[command(hide = true)]
    ParseChild(crate::isolate::ChildArgs),
    /// An MCP server on stdin and stdout (for Claude Desktop, Cursor and other agents): the
    /// knowledge bases of the data folder, or of the server at --url, as tools.
    Mcp,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a key; its secret is printed once and kept only hashed.
    Create {
        /// What the key is for.
        #[arg(long)]
        name: String,
        /// admin, editor (change what its knowledge bases hold) or reader (read, search, ask).
        #[arg(long, default_value = "reader")]
        role: String,
        /// A knowledge base the key may touch; repeat for several; none: all of them.
        #[arg(long)]
        kb: Vec<String>,
        /// Days until the key stops working; none: never.
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// The keys, newest first, with their role, scope and state (never their secrets).
    List,
    /// Revoke a key: it and its web sessions stop working at once.
    Revoke { id: String },
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
    /// The knowledge bases, with the embedding model of each, and the presets offered.
    List,
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// The embedding model: a preset's name (`default`, or one of
        /// `[embedding_presets]`); unset: the server default.
        #[arg(long)]
        embedding: Option<String>,
        /// Chunk size in tokens.
        #[arg(long)]
        chunk_size: Option<usize>,
        /// How documents are cut: general, qa, table or parent_child.
        #[arg(long)]
        chunk_template: Option<String>,
        /// Languages OCR reads in, comma-separated Tesseract names (`eng,chi_sim`); `none`
        /// turns OCR off. Unset: the server's `[ocr] languages`.
        #[arg(long)]
        ocr_languages: Option<String>,
    },
    Delete {
        name: String,
    },
    /// Re-index in place with another embedding model and/or chunking: the new index is built
    /// beside the old one, which searches use until the switch. Follows it with a progress
    /// bar (Ctrl-C leaves it running on a server; `--cancel` stops it).
    Reindex {
        name: String,
        /// The new embedding model: a preset's name (`default`, or one of
        /// `[embedding_presets]`).
        #[arg(long)]
        embedding: Option<String>,
        /// New chunk size in tokens.
        #[arg(long)]
        chunk_size: Option<usize>,
        /// New chunk overlap in tokens.
        #[arg(long)]
        chunk_overlap: Option<usize>,
        /// New chunk template: general, qa, table or parent_child.
        #[arg(long)]
        chunk_template: Option<String>,
        /// Stop the running re-index; the knowledge base keeps its index.
        #[arg(long, conflicts_with_all = ["embedding", "chunk_size", "chunk_overlap", "chunk_template", "status"])]
        cancel: bool,
        /// Show the newest re-index and follow it if it runs.
        #[arg(long, conflicts_with_all = ["embedding", "chunk_size", "chunk_overlap", "chunk_template"])]
        status: bool,
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
    if let Command::Migrate { to } = &cli.command {
        if cli.url.is_some() {
            anyhow::bail!("migrate works on the data folder, not through --url: stop the server and run it where the data is");
        }
        return migrate::run(config, to).await;
    }
    let backend = match &cli.url {
        Some(url) => Backend::Remote(Remote::new(url, &config.auth.api_key)?),
        None => Backend::Local(State::open(config).await?),
    };
    match cli.command {
        Command::Serve { .. } => unreachable!("handled above"),
        Command::Kb { command } => kb::run(&backend, command).await,
        Command::Source { command } => source::run(&backend, command).await,
        Command::Search {
            kb,
            top_k,
            json,
            query,
        } => search::run(&backend, kb, top_k, json, query).await,
        Command::Ingest { kb, paths } => ingest::run(&backend, &kb, &paths).await,
        Command::Eval {
            kb,
            queries,
            qrels,
            corpus,
            json,
        } => eval::run(&backend, &kb, &queries, &qrels, corpus.as_deref(), json).await,
        Command::Ask {
            kb,
            top_k,
            question,
        } => ask::run(&backend, kb, top_k, question).await,
        Command::Llm {
            command: LlmCommand::Check,
        } => llm::check(&backend).await,
        Command::Backup { list } => backup::run(&backend, list).await,
        Command::Key { command } => key::run(&backend, command).await,
        Command::Migrate { .. } => unreachable!("handled above"),
        Command::ParseChild(args) => match crate::isolate::child_main(&args) {
            0 => Ok(()),
            code => Err(anyhow::anyhow!("the parser process ended with {code}")),
        },
        Command::Mcp => crate::mcp::serve_stdio(std::sync::Arc::new(backend)).await,
    }
}

//! `make bench-sync`: folder sources against the release `ragd serve`.
//!
//! 1. Re-sync: a generated folder of 10,000 small text and Markdown files (nested folders) is
//!    synced into a knowledge base (the first run ingests everything), then synced again
//!    unchanged (goal: ≤ 5 s), then again after 1,000 files were rewritten with the same
//!    content (new mtime) and 100 were changed.
//! 2. Fairness: sequential searches over HTTP while the first run ingests, against the same
//!    searches on the idle server just before (knowledge base pre-loaded with 500 documents
//!    by another source) and after (goal: p95 during ≤ 3 × idle p95), and the server's peak
//!    RSS.
//!
//! The server inherits the environment, so `RAGD_WORKERS=1 make bench-sync` measures another
//! configuration. `BENCH_SYNC_FILES=2000` shrinks the folder for a quick try. Prints a
//! Markdown table (also written to `target/bench-sync-results.md`) for BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use server::config::{Config, Overrides};

mod common;
use common::{latency, mb, percentile, proc_status_kb, start_server_env};

/// Files of the synced folder (`BENCH_SYNC_FILES` overrides).
const FILES: usize = 10_000;
/// Documents in the knowledge base before the big sync (a separate source).
const SEED_FILES: usize = 500;
/// Sequential searches of each idle measurement.
const IDLE_SEARCHES: usize = 200;
const KB: &str = "bench-sync";

static WORDS: LazyLock<Vec<&str>> = LazyLock::new(|| {
    "river harbor engine garden ledger market signal winter copper village budget protocol \
    orchard tunnel meadow invoice glacier library voltage harvest compass lantern quarry \
    satellite timber canal furnace archive pasture reactor bridge cellar forest journal \
    kettle mineral network oyster pepper quartz railway sensor turbine umbrella vessel \
    warehouse yacht zephyr anchor basalt cathedral dynamo estuary falcon granite highway \
    island jasmine kiln lagoon monsoon nectar observatory pipeline quarantine reservoir \
    schooner tariff upland vineyard windmill xylophone yogurt zinc audit battery census \
    delta erosion festival gravity horizon irrigation junction keystone latitude mortgage \
    nitrogen ozone pension quota rainfall sediment telescope uranium valley wildlife \
    yield zoning acid barley cargo dairy ember ferry guild hinge ivory jetty kernel \
    lumber magnet nickel olive plaza quill rubber saddle thermal utility velvet wheat"
        .split(' ')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect()
});
static VERBS: LazyLock<Vec<&str>> = LazyLock::new(|| {
    "supplies measures protects records connects replaces inspects reduces follows \
    describes delays improves requires crosses feeds shelters reports balances cools \
    powers"
        .split(' ')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect()
});
static LINKS: LazyLock<Vec<&str>> = LazyLock::new(|| {
    "near the,before the,after the,under the,beside the,within the,across the,through the,\
    against the,around the"
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect()
});

/// Deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[(self.next() % list.len() as u64) as usize]
    }
}

fn sentence(rng: &mut Rng) -> String {
    let mut s = format!(
        "The {} {} the {} {} {} {}",
        rng.pick(&WORDS),
        rng.pick(&VERBS),
        rng.pick(&WORDS),
        rng.pick(&WORDS),
        rng.pick(&LINKS),
        rng.pick(&WORDS)
    );
    if rng.next().is_multiple_of(2) {
        s.push_str(&format!(
            " and {} the {}",
            rng.pick(&VERBS),
            rng.pick(&WORDS)
        ));
    }
    s.push('.');
    s
}

/// File `i` of a folder: a few sentences, unique (its number is in it), Markdown or text.
fn file_text(prefix: &str, i: usize, markdown: bool) -> String {
    let salt = prefix
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    let mut rng = Rng::new((i as u64) << 16 ^ salt);
    let sentences: Vec<String> = (0..3 + rng.next() % 4)
        .map(|_| sentence(&mut rng))
        .collect();
    if markdown {
        format!(
            "# {prefix} {i}: {} {}\n\n{}\n",
            rng.pick(&WORDS),
            rng.pick(&WORDS),
            sentences.join(" ")
        )
    } else {
        format!("{prefix} {i}. {}\n", sentences.join(" "))
    }
}

/// Relative path of file `i`: 10 areas × 10 topics × files, half Markdown.
fn file_path(i: usize) -> String {
    let ext = if i.is_multiple_of(2) { "md" } else { "txt" };
    format!(
        "area{:02}/topic{:02}/note{i:05}.{ext}",
        (i / 1000) % 100,
        (i / 100) % 10
    )
}

fn write_folder(root: &Path, prefix: &str, n: usize) -> anyhow::Result<u64> {
    let mut bytes = 0;
    for i in 0..n {
        let path = root.join(file_path(i));
        std::fs::create_dir_all(path.parent().context("parent")?)?;
        let text = file_text(prefix, i, i.is_multiple_of(2));
        bytes += text.len() as u64;
        std::fs::write(path, text)?;
    }
    Ok(bytes)
}

fn queries(n: usize) -> Vec<String> {
    let mut rng = Rng::new(0xC0FFEE);
    (0..n)
        .map(|_| {
            format!(
                "{} {} {} {}",
                rng.pick(&WORDS),
                rng.pick(&VERBS),
                rng.pick(&WORDS),
                rng.pick(&WORDS)
            )
        })
        .collect()
}

struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.url));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    async fn post(&self, path: &str, body: Value, want: u16) -> anyhow::Result<Value> {
        let (status, v) = self.call(reqwest::Method::POST, path, Some(body)).await?;
        if status != want {
            bail!("POST {path}: {status} {v}");
        }
        Ok(v)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let (status, v) = self.call(reqwest::Method::GET, path, None).await?;
        if status != 200 {
            bail!("GET {path}: {status} {v}");
        }
        Ok(v)
    }

    async fn add_source(&self, folder: &Path) -> anyhow::Result<String> {
        let v = self
            .post(
                &format!("/knowledge-bases/{KB}/sources"),
                json!({"kind": "folder", "path": folder}),
                201,
            )
            .await?;
        Ok(v["id"].as_str().context("source id")?.to_string())
    }

    async fn start_run(&self, source: &str) -> anyhow::Result<i64> {
        let v = self
            .post(
                &format!("/knowledge-bases/{KB}/sources/{source}/run"),
                json!({}),
                202,
            )
            .await?;
        v["id"].as_i64().context("run id")
    }

    async fn run(&self, source: &str, run: i64) -> anyhow::Result<Value> {
        self.get(&format!(
            "/knowledge-bases/{KB}/sources/{source}/runs/{run}"
        ))
        .await
    }

    /// One search; its latency in milliseconds, or an error for a non-2xx answer.
    async fn search(&self, query: &str) -> anyhow::Result<f64> {
        let t = Instant::now();
        let r = self
            .http
            .post(format!("{}/api/v1/search", self.url))
            .json(&json!({"knowledge_bases": [KB], "query": query, "top_k": 8}))
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        if !status.is_success() {
            bail!("search: {status} {body}");
        }
        Ok(t.elapsed().as_secs_f64() * 1000.0)
    }

    /// The server's search time so far, per stage and in all (`/metrics`): stage → (seconds,
    /// count).
    async fn search_time(&self) -> anyhow::Result<std::collections::BTreeMap<String, (f64, f64)>> {
        let text = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await?
            .text()
            .await?;
        let mut out = std::collections::BTreeMap::<String, (f64, f64)>::new();
        for line in text.lines() {
            let Some((key, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = key.split_once('{').unwrap_or((key, ""));
            let (metric, is_sum) = match (name.strip_suffix("_sum"), name.strip_suffix("_count")) {
                (Some(m), _) => (m, true),
                (None, Some(m)) => (m, false),
                (None, None) => continue,
            };
            let stage = match metric {
                "ragd_search_stage_seconds" => labels
                    .split_once("stage=\"")
                    .and_then(|(_, rest)| rest.split_once('"'))
                    .map(|(stage, _)| stage.to_string()),
                "ragd_search_seconds" => Some("search total".to_string()),
                "ragd_http_request_duration_seconds"
                    if labels.contains("route=\"/api/v1/search\"") =>
                {
                    Some("http handler".to_string())
                }
                _ => None,
            };
            let Some(stage) = stage else {
                continue;
            };
            let entry = out.entry(stage).or_default();
            if is_sum {
                entry.0 += value;
            } else {
                entry.1 += value;
            }
        }
        Ok(out)
    }

    /// `n` sequential searches, sorted latencies.
    async fn searches(&self, queries: &[String], n: usize) -> anyhow::Result<Vec<f64>> {
        let mut lat = Vec::with_capacity(n);
        for q in queries.iter().cycle().take(n) {
            lat.push(self.search(q).await?);
        }
        lat.sort_by(f64::total_cmp);
        Ok(lat)
    }
}

/// Mean milliseconds per search of each stage between two `/metrics` readings.
fn stage_means(
    before: &std::collections::BTreeMap<String, (f64, f64)>,
    after: &std::collections::BTreeMap<String, (f64, f64)>,
) -> String {
    let order = [
        "embed",
        "dense",
        "sparse",
        "fusion",
        "rerank",
        "search total",
        "http handler",
    ];
    order
        .iter()
        .filter_map(|stage| {
            let (s1, c1) = after.get(*stage)?;
            let (s0, c0) = before.get(*stage).copied().unwrap_or_default();
            let n = c1 - c0;
            (n > 0.0).then(|| format!("{stage} {:.2}", (s1 - s0) / n * 1000.0))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// CPU ticks since boot from `/proc/stat`: (busy, all).
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7)?;
    Some((busy, busy + v.get(3)? + v.get(4)?))
}

/// User + system CPU ticks of a process (all its threads), `pid` may be `self`.
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut f = stat.rsplit_once(')')?.1.split_whitespace();
    // after the name: state is field 3; utime and stime are fields 14 and 15
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Shares of the machine's CPU over an interval: the server, this benchmark, everything else.
struct CpuShare {
    machine: (u64, u64),
    server: u64,
    bench: u64,
}

impl CpuShare {
    fn now(pid: &str) -> Option<Self> {
        Some(Self {
            machine: machine_ticks()?,
            server: process_ticks(pid)?,
            bench: process_ticks("self")?,
        })
    }

    /// `server x% · benchmark client y% · other processes z%` of all cores since `self`.
    fn since(&self, pid: &str) -> String {
        let Some(now) = Self::now(pid) else {
            return "n/a".into();
        };
        let all = now.machine.1.saturating_sub(self.machine.1).max(1) as f64;
        let busy = now.machine.0.saturating_sub(self.machine.0);
        let server = now.server.saturating_sub(self.server);
        let bench = now.bench.saturating_sub(self.bench);
        let other = busy.saturating_sub(server + bench);
        format!(
            "`ragd serve` {:.0}% · benchmark client {:.0}% · other processes {:.0}% · idle {:.0}%",
            100.0 * server as f64 / all,
            100.0 * bench as f64 / all,
            100.0 * other as f64 / all,
            100.0 * (all - busy as f64).max(0.0) / all
        )
    }
}

fn finished(run: &Value) -> bool {
    !matches!(run["status"].as_str(), Some("queued" | "running"))
}

/// Polls a run every `every` until it is over: the run and the wall time since `started`.
async fn wait_run(
    api: &Api,
    source: &str,
    run: i64,
    started: Instant,
    every: Duration,
) -> anyhow::Result<(Value, f64)> {
    loop {
        let v = api.run(source, run).await?;
        if finished(&v) {
            return Ok((v, started.elapsed().as_secs_f64()));
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("run {run} still {} after an hour", v["status"]);
        }
        tokio::time::sleep(every).await;
    }
}

fn counters(run: &Value) -> String {
    [
        "added",
        "updated",
        "renamed",
        "deleted",
        "unchanged",
        "failed",
    ]
    .iter()
    .map(|k| format!("{} {}", run[*k].as_i64().unwrap_or(-1), k))
    .collect::<Vec<_>>()
    .join(", ")
}

fn check_done(run: &Value, what: &str) -> anyhow::Result<()> {
    if run["status"] != "done" {
        bail!("{what}: run ended {}: {run}", run["status"]);
    }
    Ok(())
}

fn duration_s(run: &Value) -> f64 {
    run["duration_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0
}

fn p95(sorted: &[f64]) -> f64 {
    percentile(sorted, 0.95)
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let bench_started = Instant::now();
    let files: usize = match std::env::var("BENCH_SYNC_FILES") {
        Ok(v) => v.parse().context("BENCH_SYNC_FILES")?,
        Err(_) => FILES,
    };
    let touched = files / 10;
    let changed = files / 100;
    let mut rows: Vec<(String, String)> = Vec::new();

    let tmp = tempfile::tempdir()?;
    let data_dir = tmp.path().join("data");
    let roots = tmp.path().join("sources");
    let corpus = roots.join("corpus");
    let seed = roots.join("seed");
    // The server's effective settings (the same environment it inherits).
    let config = Config::load(
        None,
        &Overrides {
            listen: None,
            data_dir: Some(data_dir.clone()),
        },
    )?;
    let setting = format!(
        "{} workers, {} ONNX ingest threads, {} query thread",
        config.workers, config.embedding.threads, config.embedding.query_threads
    );
    eprintln!("settings: {setting}");

    let t = Instant::now();
    let corpus_bytes = write_folder(&corpus, "Note", files)?;
    write_folder(&seed, "Seed", SEED_FILES)?;
    eprintln!(
        "generated {files} + {SEED_FILES} files ({:.1} MB) in {:.1} s",
        corpus_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    // `RAGD_BIN` runs another build (an older commit's, side by side).
    let bin = std::env::var_os("RAGD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ragd")));
    let roots_env = roots.to_string_lossy().into_owned();
    let (mut srv, url) = start_server_env(&bin, &data_dir, &[("RAGD_SOURCE_ROOTS", &roots_env)])?;
    let pid = srv.id().to_string();
    let api = Arc::new(Api {
        http: reqwest::Client::new(),
        url,
    });
    let outcome = measure(
        &api, &pid, &corpus, &seed, files, touched, changed, &mut rows,
    )
    .await;
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let _ = srv.wait();
    outcome?;

    let mut out = format!(
        "Folder: {files} generated .md/.txt files of a few sentences ({:.1} MB, 10 × 10 nested folders); \
         knowledge base pre-loaded with {SEED_FILES} documents by another source; {setting}; \
         default chunking (256 tokens, one chunk per file).\n\n| what | figure |\n|---|---|\n",
        corpus_bytes as f64 / 1e6
    );
    for (k, v) in &rows {
        out.push_str(&format!("| {k} | {v} |\n"));
    }
    println!("{out}");
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-sync-results.md");
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&target, &out)?;
    eprintln!(
        "written to {} (benchmark took {:.0} s)",
        target.display(),
        bench_started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What the searches saw of the big sync.
const BEFORE: u8 = 0;
const SCANNING: u8 = 1;
const INGESTING: u8 = 2;

/// One search during the big sync: the run's phase, the documents indexed so far, latency.
struct Sample {
    phase: u8,
    docs: u64,
    ms: f64,
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    api: &Arc<Api>,
    pid: &str,
    corpus: &Path,
    seed: &Path,
    files: usize,
    touched: usize,
    changed: usize,
    rows: &mut Vec<(String, String)>,
) -> anyhow::Result<()> {
    let queries = Arc::new(queries(300));
    api.post("/knowledge-bases", json!({"name": KB}), 201)
        .await?;

    // Pre-load the knowledge base, then the idle baseline.
    let seed_source = api.add_source(seed).await?;
    let t = Instant::now();
    let run = api.start_run(&seed_source).await?;
    let (seed_run, _) = wait_run(api, &seed_source, run, t, Duration::from_millis(200)).await?;
    check_done(&seed_run, "seed sync")?;
    eprintln!(
        "seed: {SEED_FILES} documents in {:.1} s",
        duration_s(&seed_run)
    );
    rows.push((
        format!("Pre-load: another source of {SEED_FILES} files, first sync, no searches running"),
        format!(
            "{:.1} s · {:.0} docs/s",
            duration_s(&seed_run),
            SEED_FILES as f64 / duration_s(&seed_run)
        ),
    ));
    api.searches(&queries, 20).await?; // warm-up
    let t0 = api.search_time().await?;
    let idle_before = api.searches(&queries, IDLE_SEARCHES).await?;
    let t1 = api.search_time().await?;
    eprintln!("idle before: {}", latency(&idle_before));
    let rss_before = proc_status_kb(pid, "VmRSS:");

    // 1. First sync of the folder, with sequential searches the whole time.
    let source = api.add_source(corpus).await?;
    let phase = Arc::new(AtomicU8::new(BEFORE));
    // Documents of the knowledge base indexed so far (from the run's counters).
    let indexed = Arc::new(AtomicU64::new(SEED_FILES as u64));
    let stop = Arc::new(AtomicBool::new(false));
    let searcher = {
        let (api, queries, phase, indexed, stop) = (
            api.clone(),
            queries.clone(),
            phase.clone(),
            indexed.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut seen: Vec<Sample> = Vec::new();
            let mut errors = 0usize;
            for q in queries.iter().cycle() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let p = phase.load(Ordering::Relaxed);
                let docs = indexed.load(Ordering::Relaxed);
                match api.search(q).await {
                    Ok(ms) => seen.push(Sample {
                        phase: p.max(phase.load(Ordering::Relaxed)),
                        docs,
                        ms,
                    }),
                    Err(e) => {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!("search during sync failed: {e:#}");
                        }
                    }
                }
            }
            (seen, errors)
        })
    };
    let cpu = CpuShare::now(pid);
    let started = Instant::now();
    let run = api.start_run(&source).await?;
    let mut scan_end: Option<f64> = None;
    let mut rss_peak_sampled = 0u64;
    let mut last_log = Instant::now();
    let first = loop {
        let v = api.run(&source, run).await?;
        if let Some(kb) = proc_status_kb(pid, "VmRSS:") {
            rss_peak_sampled = rss_peak_sampled.max(kb);
        }
        match v["phase"].as_str() {
            Some("scanning") => phase.store(SCANNING, Ordering::Relaxed),
            Some("ingesting") => {
                phase.store(INGESTING, Ordering::Relaxed);
                scan_end.get_or_insert(started.elapsed().as_secs_f64());
            }
            _ => {}
        }
        if let (Some(added), Some(pending)) = (v["added"].as_u64(), v["docs_pending"].as_u64()) {
            indexed.store(
                SEED_FILES as u64 + added.saturating_sub(pending),
                Ordering::Relaxed,
            );
        }
        if finished(&v) {
            break v;
        }
        if last_log.elapsed() > Duration::from_secs(15) {
            last_log = Instant::now();
            eprintln!(
                "  {:.0} s: {} {}, scanned {}/{}, added {}, pending {}",
                started.elapsed().as_secs_f64(),
                v["status"],
                v["phase"],
                v["files_scanned"],
                v["files_total"],
                v["added"],
                v["docs_pending"]
            );
        }
        if started.elapsed() > Duration::from_secs(3600) {
            bail!("first sync still running after an hour");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let first_wall = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (during, search_errors) = searcher.await?;
    let cpu_during = cpu.map_or("n/a".into(), |c| c.since(pid));
    check_done(&first, "first sync")?;
    let hwm_first = proc_status_kb(pid, "VmHWM:");
    let stats = api.get(&format!("/knowledge-bases/{KB}/stats")).await?;
    let ready = stats["documents"]["ready"].as_i64().unwrap_or(0);
    if ready != (files + SEED_FILES) as i64 || stats["chunks"] != stats["points"] {
        bail!("after the first sync: {stats}");
    }
    let chunks = stats["chunks"].as_i64().unwrap_or(0);
    let secs = duration_s(&first);
    rows.push((
        format!("First sync: {files} new files (scan + ingest)"),
        format!(
            "{secs:.1} s (wall {first_wall:.1} s) · {:.0} docs/s · scan phase over after {:.1} s · {}",
            files as f64 / secs,
            scan_end.unwrap_or(f64::NAN),
            counters(&first)
        ),
    ));
    rows.push((
        format!(
            "CPU during it, share of all {} cores",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        ),
        cpu_during,
    ));
    rows.push((
        "Knowledge base after it".into(),
        format!(
            "{ready} documents ready, {chunks} chunks = {} points",
            stats["points"]
        ),
    ));

    let t2 = api.search_time().await?;
    let idle_after = api.searches(&queries, IDLE_SEARCHES).await?;
    let t3 = api.search_time().await?;
    eprintln!("idle after: {}", latency(&idle_after));
    let stages = [
        ("idle before", stage_means(&t0, &t1)),
        ("during", stage_means(&t1, &t2)),
        ("idle after", stage_means(&t2, &t3)),
    ];
    for (when, means) in &stages {
        eprintln!("search stages, mean ms, {when}: {means}");
    }
    let sorted = |keep: &dyn Fn(&Sample) -> bool| {
        let mut v: Vec<f64> = during.iter().filter(|s| keep(s)).map(|s| s.ms).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    // Search cost grows with the knowledge base (500 → 10,500 documents here): the first and
    // last fifth of the growth are compared with the idle figure at about the same size.
    let small = (SEED_FILES + files / 5) as u64;
    let large = (SEED_FILES + files * 4 / 5) as u64;
    let all = sorted(&|_| true);
    let scanning = sorted(&|s| s.phase != INGESTING);
    let ingesting = sorted(&|s| s.phase == INGESTING);
    let early = sorted(&|s| s.docs <= small);
    let late = sorted(&|s| s.docs >= large);
    rows.push((
        format!("Search over HTTP, idle, before the sync ({SEED_FILES} docs, {IDLE_SEARCHES} sequential)"),
        latency(&idle_before),
    ));
    rows.push((
        format!(
            "Search over HTTP during the first sync ({} sequential, {search_errors} failed)",
            all.len()
        ),
        latency(&all),
    ));
    rows.push((
        format!(
            "… while the run was scanning (files read, hashed, queued; {} searches)",
            scanning.len()
        ),
        latency(&scanning),
    ));
    rows.push((
        format!(
            "… after the scan, ingest only ({} searches)",
            ingesting.len()
        ),
        latency(&ingesting),
    ));
    rows.push((
        format!(
            "… while the knowledge base held ≤ {small} indexed docs ({} searches)",
            early.len()
        ),
        latency(&early),
    ));
    rows.push((
        format!(
            "… while it held ≥ {large} indexed docs ({} searches)",
            late.len()
        ),
        latency(&late),
    ));
    rows.push((
        format!(
            "Search over HTTP, idle, after the sync ({} docs, {IDLE_SEARCHES} sequential)",
            files + SEED_FILES
        ),
        latency(&idle_after),
    ));
    rows.push((
        "**Fairness: p95 during the sync ÷ idle p95 (goal ≤ 3)**".into(),
        format!(
            "**{:.2}** against idle before · {:.2} against idle after · like sizes: \
             ≤ {small} docs ÷ idle before {:.2}, ≥ {large} docs ÷ idle after {:.2}",
            p95(&all) / p95(&idle_before),
            p95(&all) / p95(&idle_after),
            p95(&early) / p95(&idle_before),
            p95(&late) / p95(&idle_after),
        ),
    ));
    rows.push((
        "Where a search's time went in the server, mean ms (`ragd_search_stage_seconds`)".into(),
        stages
            .iter()
            .map(|(when, means)| format!("{when}: {means}"))
            .collect::<Vec<_>>()
            .join("<br>"),
    ));
    rows.push((
        "RSS of `ragd serve`: before the sync · highest sampled during it · peak (VmHWM) after it"
            .into(),
        format!(
            "{} · {} · {}",
            mb(rss_before),
            mb(Some(rss_peak_sampled)),
            mb(hwm_first)
        ),
    ));

    // 2. Nothing changed.
    let started = Instant::now();
    let run = api.start_run(&source).await?;
    let (second, wall) = wait_run(api, &source, run, started, Duration::from_millis(10)).await?;
    check_done(&second, "unchanged re-sync")?;
    if second["unchanged"].as_i64() != Some(files as i64) {
        bail!("unchanged re-sync: {second}");
    }
    rows.push((
        format!("**Re-sync, {files} files unchanged (goal ≤ 5 s)**"),
        format!(
            "**{:.2} s** (`duration_ms`) · {wall:.2} s wall from POST …/run to done · {}",
            duration_s(&second),
            counters(&second)
        ),
    ));

    // 3. Some touched (same content, new mtime), some changed.
    tokio::time::sleep(Duration::from_millis(20)).await;
    for i in (0..files).step_by(10).take(touched) {
        std::fs::write(
            corpus.join(file_path(i)),
            file_text("Note", i, i.is_multiple_of(2)),
        )?;
    }
    for i in (5..files).step_by(100).take(changed) {
        let text = file_text("Note", i, i.is_multiple_of(2))
            + "Revised: the figures of this note were updated.\n";
        std::fs::write(corpus.join(file_path(i)), text)?;
    }
    let started = Instant::now();
    let run = api.start_run(&source).await?;
    let (third, wall) = wait_run(api, &source, run, started, Duration::from_millis(10)).await?;
    check_done(&third, "third sync")?;
    if third["updated"].as_i64() != Some(changed as i64)
        || third["unchanged"].as_i64() != Some((files - changed) as i64)
    {
        bail!("third sync: {third}");
    }
    rows.push((
        format!("Re-sync, {touched} files touched (same content, new mtime) + {changed} changed"),
        format!(
            "{:.2} s (`duration_ms`, re-ingest included) · {wall:.2} s wall · {}",
            duration_s(&third),
            counters(&third)
        ),
    ));
    let stats = api.get(&format!("/knowledge-bases/{KB}/stats")).await?;
    if stats["chunks"] != stats["points"]
        || stats["documents"]["ready"].as_i64() != Some((files + SEED_FILES) as i64)
    {
        bail!("after the third sync: {stats}");
    }
    let idle_end = api.searches(&queries, IDLE_SEARCHES).await?;
    rows.push((
        format!(
            "Search over HTTP, idle, at the end (after the re-syncs, {IDLE_SEARCHES} sequential)"
        ),
        latency(&idle_end),
    ));
    rows.push((
        "Peak RSS (VmHWM) of `ragd serve` at the end".into(),
        mb(proc_status_kb(pid, "VmHWM:")),
    ));
    Ok(())
}

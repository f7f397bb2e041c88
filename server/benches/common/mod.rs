//! Helpers shared by the benchmarks (`mod common;` in each): the release server as a child
//! process, `/proc` memory figures and latency percentiles.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::Context;

/// A field of `/proc/{pid}/status` in kB (`VmRSS:`, `VmHWM:`); `pid` may be `self`.
pub fn proc_status_kb(pid: &str, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// kB as whole megabytes, or `n/a`.
pub fn mb(kb: Option<u64>) -> String {
    kb.map_or("n/a".into(), |k| format!("{:.0} MB", k as f64 / 1024.0))
}

/// The `p` quantile (0..=1) of sorted values, nearest rank; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

/// `p50 · p95 · p99` of sorted latencies in milliseconds.
pub fn latency(sorted: &[f64]) -> String {
    format!(
        "p50 {:.1} ms · p95 {:.1} ms · p99 {:.1} ms",
        percentile(sorted, 0.5),
        percentile(sorted, 0.95),
        percentile(sorted, 0.99)
    )
}

/// Starts `bin serve` on a free port over `data_dir` with extra environment variables (the
/// rest of the environment is inherited); returns the child and its base URL.
pub fn start_server_env(
    bin: &Path,
    data_dir: &Path,
    env: &[(&str, &str)],
) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .envs(env.iter().copied())
        .env("RAGD_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("ragd listening on ")
        .context("no address printed")?
        .to_string();
    Ok((child, url))
}

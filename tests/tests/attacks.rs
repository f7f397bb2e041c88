//! The attack suite, against the real binary: hostile inputs an attacker (or an unlucky
//! user) sends, each with what ragd must do instead of what it once did. Findings that got
//! through once have a test here that failed then and passes now; cases that already held
//! are here so they keep holding. Other attacks are tested where their feature is: the
//! origin and host checks and secrets in `auth.rs`, sources confined on every run and the
//! SSRF list in the server's unit tests, the prompt's framing in `service::answer::prompt`.

use std::time::{Duration, Instant};

use e2e::{make_zip, Server};
use serde_json::json;

/// Resident memory of a process, in bytes (Linux).
fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb * 1024)
}

/// An XLSX of a few kilobytes whose one shared string of 1 MiB is used by 400 cells (its
/// text is 400 MiB), and a CSV of 1 MiB whose header name of 1 MiB is repeated on each row.
fn exploding_files() -> Vec<(&'static str, Vec<u8>)> {
    let big = "x".repeat(1024 * 1024);
    let rows: String = (0..400)
        .map(|i| format!(r#"<row r="{}"><c t="s"><v>0</v></c></row>"#, i + 1))
        .collect();
    let xlsx = make_zip(&[
        (
            "xl/workbook.xml",
            r#"<workbook><sheets><sheet name="S" r:id="rId1"/></sheets></workbook>"#,
        ),
        (
            "xl/sharedStrings.xml",
            &format!("<sst><si><t>{big}</t></si></sst>"),
        ),
        (
            "xl/worksheets/sheet1.xml",
            &format!("<worksheet><sheetData>{rows}</sheetData></worksheet>"),
        ),
    ]);
    let mut csv = "h".repeat(1024 * 1024);
    csv.push_str(",b\n");
    for i in 0..2000 {
        csv.push_str(&format!("{i},v\n"));
    }
    vec![("bomb.xlsx", xlsx), ("bomb.csv", csv.into_bytes())]
}

/// A 40 MB text, over a parser memory limit of 128 MiB.
fn big_text() -> Vec<u8> {
    "word ".repeat(20).repeat(400_000).into_bytes()
}

/// Uploads one file and waits: it must end `failed`, its error naming one of `limits`.
async fn fails_naming(
    server: &Server,
    name: &str,
    bytes: Vec<u8>,
    limits: &[&str],
) -> anyhow::Result<()> {
    let (status, v) = server.upload("kb", &[(name, bytes)]).await?;
    assert_eq!(status, 202, "{name}: {v}");
    let id = v["documents"][0]["id"].as_str().unwrap().to_string();
    let doc = server.wait_done("kb", &id).await?;
    assert_eq!(doc["status"], "failed", "{name}: {doc}");
    let error = doc["error"].as_str().unwrap_or_default();
    assert!(limits.iter().any(|l| error.contains(l)), "{name}: {error}");
    Ok(())
}

/// The server still ingests a document and finds it.
async fn still_ingests(server: &Server) -> anyhow::Result<()> {
    server
        .upload_ready(
            "kb",
            "small.md",
            "# Small\n\nA lighthouse keeper.",
            &json!({}),
        )
        .await?;
    assert!(!server
        .search(&["kb"], "lighthouse keeper", 3)
        .await?
        .is_empty());
    Ok(())
}

/// A memory cgroup of its own for a process tree: cgroup v2 where the memory controller is
/// enabled for it, else v1; removed when dropped.
struct MemoryCgroup {
    dir: std::path::PathBuf,
    v2: bool,
}

impl MemoryCgroup {
    /// A cgroup limited to `limit` bytes of memory (and no swap), or why there is none.
    fn create(limit: u64) -> anyhow::Result<Self> {
        let name = format!("ragd-attacks-{}", std::process::id());
        let v2_root = std::path::Path::new("/sys/fs/cgroup");
        let controllers =
            std::fs::read_to_string(v2_root.join("cgroup.subtree_control")).unwrap_or_default();
        let (dir, v2) = if controllers.split_whitespace().any(|c| c == "memory") {
            (v2_root.join(name), true)
        } else {
            (
                std::path::Path::new("/sys/fs/cgroup/memory").join(name),
                false,
            )
        };
        std::fs::create_dir(&dir)
            .map_err(|e| anyhow::anyhow!("cannot make the cgroup {}: {e}", dir.display()))?;
        let group = MemoryCgroup { dir, v2 };
        let write = |file: &str, value: u64| {
            std::fs::write(group.dir.join(file), value.to_string())
                .map_err(|e| anyhow::anyhow!("cannot set {file}: {e}"))
        };
        if v2 {
            write("memory.max", limit)?;
            let _ = write("memory.swap.max", 0);
        } else {
            write("memory.limit_in_bytes", limit)?;
            if group.dir.join("memory.memsw.limit_in_bytes").exists() {
                write("memory.memsw.limit_in_bytes", limit)?;
            }
        }
        Ok(group)
    }

    fn procs(&self) -> std::path::PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// The most memory the group held at once, in bytes.
    fn peak(&self) -> u64 {
        let file = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        std::fs::read_to_string(self.dir.join(file))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Processes of the group the kernel killed for want of memory (when it says).
    fn oom_kills(&self) -> Option<u64> {
        let (file, key) = if self.v2 {
            ("memory.events", "oom_kill")
        } else {
            ("memory.oom_control", "oom_kill")
        };
        std::fs::read_to_string(self.dir.join(file))
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // Its processes have ended by now; the directory goes once it is empty.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The memory attacks again, with the server and its parser processes in a cgroup of
/// 1 GiB: the exploding XLSX and CSV (which once took ragd past 6 GB) fail their documents
/// at once, a parser that runs out of its own limit fails its document, and the server is
/// never killed for want of memory: it answers afterwards and ingests the next document.
/// `make test` runs this where it can make a memory cgroup (root, or a delegated cgroup v2
/// subtree) and says it was skipped elsewhere.
#[tokio::test]
#[ignore = "needs a writable memory cgroup: make test runs it where there is one"]
async fn memory_limit_hostile_files_cost_their_documents_and_the_server_stays_up(
) -> anyhow::Result<()> {
    const LIMIT: u64 = 1 << 30;
    let group = MemoryCgroup::create(LIMIT)?;
    let data = tempfile::tempdir()?;
    let parse_limit = (128u64 << 20).to_string();
    let server = Server::start_in_cgroup(
        data.path(),
        &[("RAGD_PARSE_MEMORY_BYTES", parse_limit.as_str())],
        &group.procs(),
    )?;
    let pid = server.pid();
    server.create_kb("kb").await?;
    let mut files = exploding_files();
    files.push(("big.txt", big_text()));
    for (name, bytes) in files {
        fails_naming(
            &server,
            name,
            bytes,
            &["max_parsed_text_bytes", "parse_memory_bytes"],
        )
        .await?;
    }
    still_ingests(&server).await?;
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the server is gone"
    );
    assert_eq!(
        group.oom_kills().unwrap_or(0),
        0,
        "the kernel killed a process"
    );
    eprintln!(
        "peak memory of the server's cgroup: {} MiB",
        group.peak() >> 20
    );
    server.stop()?;
    Ok(())
}

#[tokio::test]
async fn parsed_text_that_explodes_fails_at_once_and_the_server_stays_small() -> anyhow::Result<()>
{
    let data = tempfile::tempdir()?;
    let server = Server::start(data.path(), &[])?;
    server.create_kb("kb").await?;
    for (name, bytes) in exploding_files() {
        let size = bytes.len();
        let (status, v) = server.upload("kb", &[(name, bytes)]).await?;
        assert_eq!(status, 202, "{name}: {v}");
        let id = v["documents"][0]["id"].as_str().unwrap().to_string();
        let started = Instant::now();
        let doc = server.wait_done("kb", &id).await?;
        assert_eq!(doc["status"], "failed", "{name} ({size} bytes): {doc}");
        let error = doc["error"].as_str().unwrap_or_default();
        assert!(error.contains("max_parsed_text_bytes"), "{name}: {error}");
        assert!(started.elapsed() < Duration::from_secs(60), "{name}");
        let rss = rss(server.pid());
        assert!(
            rss < 1536 * 1024 * 1024,
            "{name}: the server grew to {} MiB",
            rss >> 20
        );
    }
    // Failed for good: a restart does not take them up again.
    server.stop()?;
    let server = Server::start(data.path(), &[])?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, v) = server.get("/knowledge-bases/kb/documents").await?;
    let docs = v["documents"].as_array().cloned().unwrap_or_default();
    assert!(docs.iter().all(|d| d["status"] == "failed"), "{v}");
    server.stop()?;
    Ok(())
}

#[tokio::test]
async fn requests_are_bounded() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let server = Server::start(data.path(), &[])?;
    server.create_kb("kb").await?;
    server
        .upload_ready(
            "kb",
            "a.md",
            "# Tides\n\nThe harbour floods at spring tide.",
            &json!({}),
        )
        .await?;
    // One knowledge base named a million times is one knowledge base, answered at once.
    let many = vec!["kb"; 1_000_000];
    let started = Instant::now();
    let (status, v) = server
        .post(
            "/search",
            json!({"knowledge_bases": many, "query": "harbour"}),
        )
        .await?;
    assert_eq!(status, 200, "{v}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Too many different ones: 400.
    let distinct: Vec<String> = (0..100).map(|i| format!("kb{i}")).collect();
    let (status, v) = server
        .post(
            "/search",
            json!({"knowledge_bases": distinct, "query": "harbour"}),
        )
        .await?;
    assert_eq!(status, 400, "{v}");
    // A JSON body of 9 MiB: 413 from its headers, before a byte of it is read.
    let addr = server.url.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await?;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    conn.write_all(
        format!(
            "POST /api/v1/search HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            9 * 1024 * 1024
        )
        .as_bytes(),
    )
    .await?;
    let mut head = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut head)).await??;
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("payload_too_large"), "{head}");
    server.stop()?;
    Ok(())
}

/// A parser that blows up its memory costs that document, not the server: parsing runs in a
/// child process with an address-space limit (here 128 MiB, for a 40 MB text).
#[tokio::test]
async fn a_parser_out_of_memory_fails_its_document_and_the_server_goes_on() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let limit = (128u64 << 20).to_string();
    let server = Server::start(data.path(), &[("RAGD_PARSE_MEMORY_BYTES", limit.as_str())])?;
    server.create_kb("kb").await?;
    fails_naming(&server, "big.txt", big_text(), &["parse_memory_bytes"]).await?;
    // The server is still there and ingests the next document.
    still_ingests(&server).await?;
    server.stop()?;
    Ok(())
}

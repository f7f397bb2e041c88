//! Several `ragd serve` replicas on one PostgreSQL database and one S3 object store, against
//! the real binary. The engines come from `scripts/with_postgres.sh` and `scripts/with_moto.sh`
//! (`make test` runs this file inside both); without them these tests are ignored, so cargo
//! counts them as skipped. Each test takes a database and a bucket prefix of its own.
//!
//! Search across replicas needs a shared index (a Qdrant server): that check runs when
//! `QDRANT_URL` is set. Without one, the replicas here run with `index.split_for_tests`, each
//! with an embedded index of its own, which is enough to test what they share: documents,
//! files, the job queue and the scheduler.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use e2e::Server;
use serde_json::{json, Value};

/// `psql` of the Debian package.
fn psql_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin/psql"))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| PathBuf::from("psql"))
}

/// One value from a query.
fn psql(url: &str, sql: &str) -> anyhow::Result<String> {
    let out = Command::new(psql_bin())
        .args([url, "-Atc", sql])
        .output()
        .context("psql")?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A new database in the test cluster, and a bucket prefix of its own.
fn engines() -> anyhow::Result<(String, String)> {
    let admin = std::env::var("RAGD_TEST_POSTGRES").context("RAGD_TEST_POSTGRES")?;
    let s3 = std::env::var("RAGD_TEST_S3").context("RAGD_TEST_S3")?;
    let name = format!("c_{}", uuid_like());
    psql(&admin, &format!("CREATE DATABASE {name}"))?;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    Ok((format!("{base}/{name}"), format!("{s3}/{name}")))
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}

/// A replica on the shared engines, with its own data folder (caches, its embedded index).
fn replica(data: &Path, db: &str, files: &str, extra: &[(&str, &str)]) -> anyhow::Result<Server> {
    let mut env: Vec<(&str, &str)> = vec![
        ("RAGD_DATABASE_URL", db),
        ("RAGD_STORAGE_URL", files),
        ("RAGD_LEASE_SECS", "3"),
        ("RAGD_INDEX_SPLIT_FOR_TESTS", "true"),
    ];
    env.extend_from_slice(extra);
    Server::start(data, &env)
}

async fn docs_by_status(server: &Server, kb: &str) -> anyhow::Result<Value> {
    let (status, v) = server.get(&format!("/knowledge-bases/{kb}")).await?;
    if status != 200 {
        bail!("kb: {status} {v}");
    }
    Ok(v)
}

/// Waits until the knowledge base has `n` documents, all ready.
async fn wait_ready(server: &Server, kb: &str, n: usize, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let (status, v) = server
            .get(&format!("/knowledge-bases/{kb}/documents?limit=1000"))
            .await?;
        if status != 200 {
            bail!("documents: {status} {v}");
        }
        let docs = v["documents"].as_array().cloned().unwrap_or_default();
        let ready = docs.iter().filter(|d| d["status"] == "ready").count();
        if docs.len() == n && ready == n {
            return Ok(());
        }
        if let Some(bad) = docs.iter().find(|d| d["status"] == "failed") {
            bail!("a document failed: {bad}");
        }
        if Instant::now() > deadline {
            bail!(
                "{ready} of {} documents ready (want {n}) after {within:?}: {}",
                docs.len(),
                docs_by_status(server, kb).await?
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL and S3: scripts/with_postgres.sh scripts/with_moto.sh"]
async fn a_second_replica_with_an_embedded_index_is_refused() -> anyhow::Result<()> {
    let (db, files) = engines()?;
    let (a_dir, b_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let env = [
        ("RAGD_DATABASE_URL", db.as_str()),
        ("RAGD_STORAGE_URL", files.as_str()),
    ];
    let a = Server::start(a_dir.path(), &env)?;
    let r = a.http.get(format!("{}/healthz", a.url)).send().await?;
    let status = r.status().as_u16();
    let health: Value = r.json().await?;
    assert_eq!(status, 200, "{health}");
    let engines: Vec<&str> = health["engines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["engine"].as_str().unwrap())
        .collect();
    assert_eq!(
        engines,
        ["postgresql", "object store", "qdrant edge"],
        "{health}"
    );
    let out = Command::new(e2e::ragd_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(b_dir.path())
        .envs(env)
        .env("RAGD_LOG", "error")
        .output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("embedded Qdrant Edge index") && stderr.contains("RAGD_QDRANT_URL"),
        "{stderr}"
    );
    // Backups are refused with who backs these engines up.
    let (status, v) = a.post("/backups", json!({})).await?;
    assert_eq!(status, 409, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("pg_dump"),
        "{v}"
    );
    a.stop()?;
    // Stopped cleanly, A gave the index up: B may start now.
    let b = Server::start(b_dir.path(), &env)?;
    let r = b.http.get(format!("{}/healthz", b.url)).send().await?;
    assert_eq!(r.status().as_u16(), 200);
    b.stop()?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs PostgreSQL and S3: scripts/with_postgres.sh scripts/with_moto.sh"]
async fn two_replicas_share_documents_files_the_queue_and_the_scheduler() -> anyhow::Result<()> {
    let (db, files) = engines()?;
    let (a_dir, b_dir, folder) = (
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    );
    let roots = folder.path().display().to_string();
    let extra = [
        ("RAGD_SOURCE_ROOTS", roots.as_str()),
        ("RAGD_WORKERS", "2"),
        ("RAGD_SOURCE_TICK_SECS", "1"),
    ];
    let a = replica(a_dir.path(), &db, &files, &extra)?;
    let b = replica(b_dir.path(), &db, &files, &extra)?;

    // Uploaded to one, listed and downloadable from the other.
    let kb = a.create_kb("shared").await?;
    let text = "# Lighthouses\n\nThe keeper trims the wick at dusk.";
    let id = a.upload_ready(&kb, "light.md", text, &json!({})).await?;
    let (status, v) = b.get(&format!("/knowledge-bases/{kb}/documents")).await?;
    assert_eq!(status, 200);
    assert_eq!(v["documents"][0]["id"], id.as_str(), "{v}");
    let r = b
        .http
        .get(b.api(&format!("/knowledge-bases/{kb}/documents/{id}/file")))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await?.as_ref(), text.as_bytes());

    // A folder of 200 files: both replicas work the queue, no document twice.
    for i in 0..200 {
        std::fs::write(
            folder.path().join(format!("note-{i:03}.md")),
            format!("# Note {i}\n\nItem {i} of the inventory: {} crates.", i * 7),
        )?;
    }
    let (status, v) = a
        .post(
            "/knowledge-bases/shared/sources",
            json!({"kind": "folder", "path": folder.path()}),
        )
        .await?;
    assert_eq!(status, 201, "{v}");
    let source = v["id"].as_str().unwrap().to_string();
    let (status, v) = b
        .post(
            &format!("/knowledge-bases/shared/sources/{source}/run"),
            json!({}),
        )
        .await?;
    assert_eq!(status, 202, "{v}");
    wait_ready(&a, &kb, 201, Duration::from_secs(600)).await?;
    let twice = psql(
        &db,
        "SELECT COUNT(*) FROM (SELECT document_id FROM jobs WHERE kind = 'ingest' AND status = 'done'
           GROUP BY document_id HAVING COUNT(*) > 1 OR MAX(attempts) > 1) t",
    )?;
    assert_eq!(twice, "0", "a document was processed twice");
    let workers = psql(
        &db,
        "SELECT COUNT(DISTINCT worker) FROM jobs WHERE kind = 'ingest'",
    )?;
    assert_eq!(workers, "2", "both replicas took ingest jobs");

    // One replica killed in the middle of a run: the other finishes every document.
    for i in 0..200 {
        std::fs::write(
            folder.path().join(format!("extra-{i:03}.md")),
            format!("# Extra {i}\n\nLedger line {i}: {} barrels.", i * 3),
        )?;
    }
    let (status, v) = a
        .post(
            &format!("/knowledge-bases/shared/sources/{source}/run"),
            json!({}),
        )
        .await?;
    assert_eq!(status, 202, "{v}");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done: i64 = psql(
            &db,
            "SELECT COUNT(*) FROM documents WHERE name LIKE 'extra-%' AND status = 'ready'",
        )?
        .parse()?;
        if done >= 20 {
            break;
        }
        if Instant::now() > deadline {
            bail!("the second run did not start ingesting");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.kill();
    wait_ready(&a, &kb, 401, Duration::from_secs(600)).await?;
    let (status, run) = a
        .get(&format!("/knowledge-bases/shared/sources/{source}/runs"))
        .await?;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, runs) = a
            .get(&format!("/knowledge-bases/shared/sources/{source}/runs"))
            .await?;
        if runs["runs"][0]["status"] == "done" {
            assert_eq!(runs["runs"][0]["added"], 200, "{runs}");
            break;
        }
        if Instant::now() > deadline {
            bail!("the run did not end: {runs} (first look {run})");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let lost = psql(
        &db,
        "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')",
    )?;
    assert_eq!(lost, "0");

    // A scheduled source on two replicas: each fire queues one run.
    let b = replica(b_dir.path(), &db, &files, &extra)?;
    let (status, v) = a
        .patch_json(
            &format!("/knowledge-bases/shared/sources/{source}"),
            json!({"schedule": "*/3 * * * * *", "timezone": "UTC"}),
        )
        .await?;
    assert_eq!(status, 200, "{v}");
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(13)).await;
    let _ = a
        .patch_json(
            &format!("/knowledge-bases/shared/sources/{source}"),
            json!({"schedule": null}),
        )
        .await?;
    let window = started.elapsed().as_secs();
    let scheduled: u64 = psql(
        &db,
        &format!(
            "SELECT COUNT(*) FROM source_runs WHERE source_id = '{source}' AND trigger = 'schedule'"
        ),
    )?
    .parse()?;
    let fires = window / 3 + 1;
    assert!(
        scheduled >= 1 && scheduled <= fires,
        "{scheduled} scheduled runs for {fires} fires in {window} s"
    );
    let holders = psql(&db, "SELECT COUNT(*) FROM leases WHERE name = 'scheduler'")?;
    assert_eq!(holders, "1");
    a.stop()?;
    b.stop()?;
    Ok(())
}

/// Search across replicas: needs a shared Qdrant server.
#[tokio::test]
#[ignore = "needs PostgreSQL, S3 and a Qdrant server (QDRANT_URL)"]
async fn qdrant_two_replicas_search_one_index() -> anyhow::Result<()> {
    let qdrant = std::env::var("QDRANT_URL").context("QDRANT_URL")?;
    let (db, files) = engines()?;
    let (a_dir, b_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let collection = format!("ragd_{}", uuid_like());
    let env = [
        ("RAGD_DATABASE_URL", db.as_str()),
        ("RAGD_STORAGE_URL", files.as_str()),
        ("RAGD_QDRANT_URL", qdrant.as_str()),
        ("RAGD_QDRANT_COLLECTION", collection.as_str()),
    ];
    let a = Server::start(a_dir.path(), &env)?;
    let b = Server::start(b_dir.path(), &env)?;
    let kb = a.create_kb("shared").await?;
    a.upload_ready(
        &kb,
        "a.md",
        "# Tides\n\nThe harbour floods at spring tide.",
        &json!({}),
    )
    .await?;
    let hits = b
        .search(&["shared"], "when does the harbour flood", 3)
        .await?;
    assert!(!hits.is_empty(), "replica B finds what A ingested");
    a.stop()?;
    b.stop()?;
    Ok(())
}

/// A TCP relay to PostgreSQL that the test can cut and restore: an engine going down and
/// coming back, without touching the cluster other tests share.
struct Relay {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns2.lock().unwrap().push(task);
            }
        });
        Ok(Self { port, up, conns })
    }

    fn down(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for task in self.conns.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL and S3: scripts/with_postgres.sh scripts/with_moto.sh"]
async fn a_database_outage_is_503_naming_it_and_the_replica_recovers() -> anyhow::Result<()> {
    let (db, files) = engines()?;
    // postgres://user@host:port/name → the same through the relay.
    let (head, tail) = db.split_once('@').context("database url")?;
    let (hostport, name) = tail.split_once('/').context("database url")?;
    let relay = Relay::start(hostport.to_string()).await?;
    let via = format!("{head}@127.0.0.1:{}/{name}", relay.port);
    let data = tempfile::tempdir()?;
    let server = Server::start(
        data.path(),
        &[
            ("RAGD_DATABASE_URL", via.as_str()),
            ("RAGD_STORAGE_URL", files.as_str()),
            ("RAGD_LEASE_SECS", "3"),
        ],
    )?;
    let kb = server.create_kb("kb").await?;
    server
        .upload_ready(
            &kb,
            "before.md",
            "# Before\n\nWritten before the outage.",
            &json!({}),
        )
        .await?;

    relay.down();
    let started = Instant::now();
    let (status, v) = server.get("/knowledge-bases").await?;
    let took = started.elapsed();
    assert_eq!(status, 503, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("postgresql"), "{v}");
    assert!(took < Duration::from_secs(15), "answered in {took:?}");
    eprintln!("outage: {status} in {took:?}: {message}");
    let r = server
        .http
        .get(format!("{}/healthz", server.url))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 503);
    let health: Value = r.json().await?;
    let metadata = &health["engines"][0];
    assert_eq!(
        (metadata["engine"].as_str(), metadata["ok"].as_bool()),
        (Some("postgresql"), Some(false)),
        "{health}"
    );
    assert_eq!(health["engines"][1]["ok"], true, "{health}");

    relay.restore();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _) = server.get("/knowledge-bases").await?;
        if status == 200 {
            break;
        }
        if Instant::now() > deadline {
            bail!("the replica did not recover within 60 s of the database's return");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let r = server
        .http
        .get(format!("{}/healthz", server.url))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    server
        .upload_ready(
            &kb,
            "after.md",
            "# After\n\nWritten after the outage.",
            &json!({}),
        )
        .await?;
    server.stop()?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs PostgreSQL and S3: scripts/with_postgres.sh scripts/with_moto.sh"]
async fn migrate_copies_a_deployment_to_postgresql_and_s3() -> anyhow::Result<()> {
    let (db, files) = engines()?;
    let (source_dir, target_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let server = Server::start(source_dir.path(), &[])?;
    let kb = server.create_kb("docs").await?;
    let mut ids = Vec::new();
    for (name, text) in [
        (
            "tides.md",
            "# Tides\n\nThe harbour floods at spring tide, twice a month.",
        ),
        (
            "bells.md",
            "# Bells\n\nThe chapel bell rings at noon and at vespers.",
        ),
        (
            "wells.md",
            "# Wells\n\nThe village well went dry in the summer of the drought.",
        ),
    ] {
        ids.push(
            server
                .upload_ready(&kb, name, text, &json!({"team": "ops"}))
                .await?,
        );
    }
    let (status, v) = server
        .post(
            "/conversations",
            json!({"title": "kept", "knowledge_bases": ["docs"]}),
        )
        .await?;
    assert!(status == 201 || status == 200, "{status} {v}");
    server.stop()?;

    let target = target_dir.path().join("target.toml");
    std::fs::write(
        &target,
        format!(
            "data_dir = {:?}\ndatabase_url = {db:?}\nstorage_url = {files:?}\n",
            target_dir.path().join("data")
        ),
    )?;
    let target_arg = target.display().to_string();
    let data_arg = source_dir.path().display().to_string();
    let args = [
        "--data-dir",
        data_arg.as_str(),
        "migrate",
        "--to",
        target_arg.as_str(),
    ];
    let (ok, out, err) = e2e::ragd_cli(&args, &[])?;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("documents") && out.contains("done:"), "{out}");
    assert!(!out.contains("DIFFERS"), "{out}");
    // Run again: nothing left to copy, counts still match.
    let (ok, out, err) = e2e::ragd_cli(&args, &[])?;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("0 copied now"), "{out}");

    // The target serves the same documents, files and metadata, and searches them.
    let server = Server::start(
        &target_dir.path().join("data"),
        &[
            ("RAGD_DATABASE_URL", db.as_str()),
            ("RAGD_STORAGE_URL", files.as_str()),
        ],
    )?;
    for id in &ids {
        let doc = server.wait_done("docs", id).await?;
        assert_eq!(doc["status"], "ready", "{doc}");
        assert_eq!(doc["metadata"]["team"], "ops", "{doc}");
    }
    let r = server
        .http
        .get(server.api(&format!("/knowledge-bases/docs/documents/{}/file", ids[1])))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await?.contains("chapel bell"));
    let hits = server
        .search(&["docs"], "when does the chapel bell ring", 3)
        .await?;
    assert_eq!(hits[0]["document_id"], ids[1].as_str(), "{hits:?}");
    let (_, v) = server.get("/conversations").await?;
    assert!(v.to_string().contains("kept"), "{v}");
    server.stop()?;
    Ok(())
}

//! Sources end to end: folders and URL lists kept in sync, against the real binary.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use e2e::Server;
use serde_json::{json, Value};

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

async fn add_source(server: &Server, kb: &str, body: Value) -> anyhow::Result<String> {
    let (status, v) = server
        .post(&format!("/knowledge-bases/{kb}/sources"), body)
        .await?;
    if status != 201 {
        bail!("add source: {status} {v}");
    }
    Ok(v["id"].as_str().unwrap().to_string())
}

async fn start_run(server: &Server, kb: &str, source: &str) -> anyhow::Result<i64> {
    let (status, v) = server
        .post(
            &format!("/knowledge-bases/{kb}/sources/{source}/run"),
            json!({}),
        )
        .await?;
    if status != 202 {
        bail!("run: {status} {v}");
    }
    Ok(v["id"].as_i64().unwrap())
}

async fn get_run(server: &Server, kb: &str, source: &str, run: i64) -> anyhow::Result<Value> {
    let (status, v) = server
        .get(&format!(
            "/knowledge-bases/{kb}/sources/{source}/runs/{run}"
        ))
        .await?;
    if status != 200 {
        bail!("get run: {status} {v}");
    }
    Ok(v)
}

/// Polls a run until it is over.
async fn wait_run(server: &Server, kb: &str, source: &str, run: i64) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let v = get_run(server, kb, source, run).await?;
        if !matches!(v["status"].as_str(), Some("queued" | "running")) {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("run {run} still {} after 300 s", v["status"]);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sync(server: &Server, kb: &str, source: &str) -> anyhow::Result<Value> {
    let run = start_run(server, kb, source).await?;
    wait_run(server, kb, source, run).await
}

fn counts(run: &Value) -> [i64; 6] {
    [
        "added",
        "updated",
        "deleted",
        "renamed",
        "unchanged",
        "failed",
    ]
    .map(|k| run[k].as_i64().unwrap_or(-1))
}

async fn documents(server: &Server, kb: &str) -> anyhow::Result<Vec<Value>> {
    let (_, v) = server
        .get(&format!("/knowledge-bases/{kb}/documents?limit=1000"))
        .await?;
    Ok(v["documents"].as_array().cloned().unwrap_or_default())
}

fn doc_named<'a>(docs: &'a [Value], name: &str) -> Option<&'a Value> {
    docs.iter().find(|d| d["name"] == name)
}

async fn chunk_ids(server: &Server, kb: &str, doc: &str) -> anyhow::Result<Vec<String>> {
    let (_, v) = server
        .get(&format!("/knowledge-bases/{kb}/documents/{doc}/chunks"))
        .await?;
    Ok(v["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect())
}

/// Index points equal stored chunks: nothing duplicated, orphaned or missing.
async fn assert_consistent(server: &Server, kb: &str) -> anyhow::Result<Value> {
    let (_, stats) = server.get(&format!("/knowledge-bases/{kb}/stats")).await?;
    assert_eq!(
        stats["points"], stats["chunks"],
        "index and metadata disagree: {stats}"
    );
    Ok(stats)
}

#[tokio::test]
async fn folder_sync_reflects_new_changed_deleted_and_renamed_files() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let root = tempfile::tempdir()?;
    let docs = root.path().join("docs");
    write(
        &docs,
        "a.md",
        "# Orchards\n\nApple trees blossom in spring and give crisp apples in autumn.",
    );
    write(
        &docs,
        "b.txt",
        "Glaciers carve deep valleys into granite mountains over millennia.",
    );
    write(
        &docs,
        "sub/c.md",
        "# Tides\n\nThe moon's gravity pulls the oceans and causes the tides.",
    );
    write(
        &docs,
        "drafts/x.md",
        "Draft text about submarines that must not be indexed.",
    );
    let roots = root.path().to_string_lossy().into_owned();
    let server = Server::start(data.path(), &[("RAGD_SOURCE_ROOTS", &roots)])?;
    server.create_kb("kb").await?;
    let source = add_source(
        &server,
        "kb",
        json!({"kind": "folder", "path": docs, "exclude": ["drafts/**"]}),
    )
    .await?;

    let first = sync(&server, "kb", &source).await?;
    assert_eq!(first["status"], "done", "{first}");
    assert_eq!(counts(&first), [3, 0, 0, 0, 0, 0], "{first}");
    assert_eq!(first["files_total"], 3);
    assert!(first["duration_ms"].as_i64().is_some());
    let before = documents(&server, "kb").await?;
    assert_eq!(before.len(), 3);
    assert!(before
        .iter()
        .all(|d| d["status"] == "ready" && d["source_id"] == source.as_str()));
    let a_id = doc_named(&before, "a.md").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c_id = doc_named(&before, "sub/c.md").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c_chunks = chunk_ids(&server, "kb", &c_id).await?;
    let hits = server.search(&["kb"], "apple blossom", 3).await?;
    assert_eq!(hits[0]["document_name"], "a.md", "{hits:?}");
    assert!(server
        .search(&["kb"], "submarines", 5)
        .await?
        .iter()
        .all(|h| h["document_name"] != "drafts/x.md"));

    // Change a.md, delete b.txt, rename sub/c.md, add d.md and an unsupported file.
    std::thread::sleep(Duration::from_millis(20));
    write(
        &docs,
        "a.md",
        "# Orchards\n\nBanana plants fruit all year in the tropics.",
    );
    std::fs::remove_file(docs.join("b.txt"))?;
    std::fs::rename(docs.join("sub/c.md"), docs.join("sub/moon.md"))?;
    write(
        &docs,
        "d.md",
        "# Volcanoes\n\nMagma rises through the crust and erupts as lava.",
    );
    std::fs::write(docs.join("e.png"), b"\x89PNG\r\n\x1a\n\0\0\0binary")?;

    let second = sync(&server, "kb", &source).await?;
    assert_eq!(second["status"], "done", "{second}");
    assert_eq!(counts(&second), [1, 1, 1, 1, 0, 1], "{second}");
    let errors = second["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["path"], "e.png");
    let after = documents(&server, "kb").await?;
    let names: std::collections::BTreeSet<&str> =
        after.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a.md", "d.md", "sub/moon.md"].into_iter().collect());
    // Changed in place: same document id, new text only.
    let a = doc_named(&after, "a.md").unwrap();
    assert_eq!(a["id"], a_id.as_str());
    assert_eq!(a["status"], "ready");
    let hits = server.search(&["kb"], "banana tropics", 5).await?;
    assert_eq!(hits[0]["document_name"], "a.md");
    assert!(
        hits.iter()
            .all(|h| !h["text"].as_str().unwrap().contains("Apple")),
        "the old version is still found: {hits:?}"
    );
    // Renamed: same document, same chunks (not re-embedded), new name.
    let moon = doc_named(&after, "sub/moon.md").unwrap();
    assert_eq!(moon["id"], c_id.as_str());
    assert_eq!(chunk_ids(&server, "kb", &c_id).await?, c_chunks);
    assert!(server
        .search(&["kb"], "glaciers granite valleys", 5)
        .await?
        .iter()
        .all(|h| h["document_name"] != "b.txt"));

    // Nothing changed: everything unchanged, the bad file fails again.
    let third = sync(&server, "kb", &source).await?;
    assert_eq!(counts(&third), [0, 0, 0, 0, 3, 1], "{third}");
    assert_consistent(&server, "kb").await?;

    // History, newest first.
    let (_, runs) = server
        .get(&format!("/knowledge-bases/kb/sources/{source}/runs"))
        .await?;
    let ids: Vec<i64> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            third["id"].as_i64().unwrap(),
            second["id"].as_i64().unwrap(),
            first["id"].as_i64().unwrap()
        ]
    );
    assert!(runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["trigger"] == "manual"));

    // Removing the source removes its documents and their points.
    assert_eq!(
        server
            .delete(&format!("/knowledge-bases/kb/sources/{source}"))
            .await?,
        204
    );
    assert!(documents(&server, "kb").await?.is_empty());
    let stats = assert_consistent(&server, "kb").await?;
    assert_eq!(stats["points"], 0);
    server.stop()?;
    Ok(())
}

#[tokio::test]
async fn bad_source_definitions_get_clear_errors() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let root = tempfile::tempdir()?;
    let outside = tempfile::tempdir()?;
    let roots = root.path().to_string_lossy().into_owned();
    let server = Server::start(data.path(), &[("RAGD_SOURCE_ROOTS", &roots)])?;
    server.create_kb("kb").await?;
    let cases = [
        (
            json!({"kind": "folder", "path": outside.path()}),
            403,
            "outside",
        ),
        (
            json!({"kind": "folder", "path": "relative/dir"}),
            400,
            "absolute",
        ),
        (
            json!({"kind": "folder", "path": root.path().join("missing")}),
            400,
            "no such folder",
        ),
        (
            json!({"kind": "folder", "path": root.path(), "schedule": "every day"}),
            400,
            "cron",
        ),
        (
            json!({"kind": "folder", "path": root.path(), "schedule": "0 3 * * *", "timezone": "Mars/Base"}),
            400,
            "time zone",
        ),
        (
            json!({"kind": "folder", "path": root.path(), "include": ["a/["]}),
            400,
            "glob",
        ),
        (
            json!({"kind": "urls", "urls": ["http://127.0.0.1:9/x"]}),
            403,
            "private",
        ),
        (
            json!({"kind": "urls", "urls": ["http://169.254.169.254/latest/meta-data/"]}),
            403,
            "private",
        ),
        (
            json!({"kind": "urls", "urls": ["file:///etc/passwd"]}),
            400,
            "http",
        ),
        (json!({"kind": "urls", "urls": []}), 400, "at least one"),
        (json!({"kind": "ftp", "path": "/"}), 400, "kind"),
    ];
    for (body, status, needle) in cases {
        let (got, v) = server
            .post("/knowledge-bases/kb/sources", body.clone())
            .await?;
        assert_eq!(got, status, "{body} -> {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{body} -> {message}");
    }
    let (status, v) = server.get("/knowledge-bases/kb/sources/nope/runs").await?;
    assert_eq!(status, 404, "{v}");
    server.stop()?;
    // Without folder_roots, folder sources are off.
    let server = Server::start(data.path(), &[])?;
    let (status, v) = server
        .post(
            "/knowledge-bases/kb/sources",
            json!({"kind": "folder", "path": root.path()}),
        )
        .await?;
    assert_eq!(status, 403, "{v}");
    server.stop()?;
    Ok(())
}

/// A tiny web server: `/page.html` (HTML), `/image` (a PNG content type), `/moved` (a
/// redirect to the page).
async fn web_server() -> anyhow::Result<String> {
    use axum::http::header;
    use axum::response::IntoResponse;
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/page",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    "<html><body><h1>Comets</h1><p>Comets are icy bodies with glowing tails.</p></body></html>",
                )
            }),
        )
        .route(
            "/image",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], "not really a png") }),
        )
        .route("/big", get(|| async { "x".repeat(10_000) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/moved",
            get(|| async { axum::response::Redirect::temporary("/page").into_response() }),
        );
    Ok(e2e::serve_local(app).await?.0)
}

#[tokio::test]
async fn url_sources_fetch_check_types_and_follow_redirects() -> anyhow::Result<()> {
    let web = web_server().await?;
    let data = tempfile::tempdir()?;
    let envs = [
        ("RAGD_SOURCE_ALLOW_PRIVATE_URLS", "true"),
        ("RAGD_SOURCE_MAX_FILE_BYTES", "4096"),
        ("RAGD_SOURCE_FETCH_TIMEOUT_SECS", "1"),
    ];
    let server = Server::start(data.path(), &envs)?;
    server.create_kb("kb").await?;
    let page = format!("{web}/page");
    let urls = [
        page.clone(),
        format!("{web}/image"),
        format!("{web}/missing"),
        format!("{web}/big"),
        format!("{web}/slow"),
    ];
    let source = add_source(&server, "kb", json!({"kind": "urls", "urls": urls})).await?;
    let run = sync(&server, "kb", &source).await?;
    assert_eq!(counts(&run), [1, 0, 0, 0, 0, 4], "{run}");
    let error_of = |suffix: &str| -> String {
        run["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["path"].as_str().unwrap().ends_with(suffix))
            .map(|e| e["error"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert!(error_of("/image").contains("content type"), "{run}");
    assert!(error_of("/missing").contains("404"), "{run}");
    assert!(error_of("/big").contains("larger than"), "{run}");
    assert!(error_of("/slow").contains("timed out"), "{run}");
    let docs = documents(&server, "kb").await?;
    assert!(docs[0]["size_bytes"].as_i64().unwrap() > 50, "{docs:?}");
    let hits = server.search(&["kb"], "comets icy tails", 3).await?;
    assert_eq!(hits[0]["document_name"], page.as_str());

    // The list changes: the page goes, a redirect to the same content comes: a rename.
    let (status, v) = server
        .http
        .patch(server.api(&format!("/knowledge-bases/kb/sources/{source}")))
        .json(&json!({"urls": [format!("{web}/moved")]}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))?;
    assert_eq!(status, 200, "{:?}", v.text().await);
    let run = sync(&server, "kb", &source).await?;
    assert_eq!(counts(&run), [0, 0, 0, 1, 0, 0], "{run}");
    server.stop()?;

    // With the default configuration, a local page is refused when the source is defined.
    let server = Server::start(data.path(), &[])?;
    let (status, v) = server
        .post(
            "/knowledge-bases/kb/sources",
            json!({"kind": "urls", "urls": [format!("{web}/page")]}),
        )
        .await?;
    assert_eq!(status, 403, "{v}");
    server.stop()?;
    Ok(())
}

/// A web server with validators: `/etag` answers 304 to a matching `If-None-Match`, `/dated`
/// to an `If-Modified-Since` equal to its `Last-Modified`. `version` changes both pages;
/// `bodies` counts full answers.
async fn validating_server(
    version: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    bodies: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> anyhow::Result<String> {
    use axum::http::{header, HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use std::sync::atomic::Ordering;
    let page = move |by_date: bool| {
        let version = version.clone();
        let bodies = bodies.clone();
        move |headers: HeaderMap| async move {
            let v = version.load(Ordering::SeqCst);
            let etag = format!("\"v{v}\"");
            let date = format!("Mon, 0{v} Jun 2026 10:00:00 GMT");
            let asked = |name| {
                headers
                    .get(name)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_string)
            };
            let fresh = if by_date {
                asked(header::IF_MODIFIED_SINCE) == Some(date.clone())
            } else {
                asked(header::IF_NONE_MATCH) == Some(etag.clone())
            };
            if fresh {
                return StatusCode::NOT_MODIFIED.into_response();
            }
            bodies.fetch_add(1, Ordering::SeqCst);
            let kind = if by_date { "dated" } else { "tagged" };
            let body = format!(
                "<html><body><h1>Glaciers, {kind} edition {v}</h1><p>Glaciers are rivers of ice; edition {v} of the {kind} page.</p></body></html>"
            );
            let mut resp: Response = ([(header::CONTENT_TYPE, "text/html")], body).into_response();
            let h = resp.headers_mut();
            if by_date {
                h.insert(header::LAST_MODIFIED, date.parse().unwrap());
            } else {
                h.insert(header::ETAG, etag.parse().unwrap());
            }
            resp
        }
    };
    let app = axum::Router::new()
        .route("/etag", get(page(false)))
        .route("/dated", get(page(true)));
    Ok(e2e::serve_local(app).await?.0)
}

#[tokio::test]
async fn unchanged_urls_are_not_downloaded_again() -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let version = Arc::new(AtomicUsize::new(1));
    let bodies = Arc::new(AtomicUsize::new(0));
    let web = validating_server(version.clone(), bodies.clone()).await?;
    let data = tempfile::tempdir()?;
    let server = Server::start(data.path(), &[("RAGD_SOURCE_ALLOW_PRIVATE_URLS", "true")])?;
    server.create_kb("kb").await?;
    let urls = [format!("{web}/etag"), format!("{web}/dated")];
    let source = add_source(&server, "kb", json!({"kind": "urls", "urls": urls})).await?;
    let run = sync(&server, "kb", &source).await?;
    assert_eq!(counts(&run), [2, 0, 0, 0, 0, 0], "{run}");
    assert_eq!(bodies.load(Ordering::SeqCst), 2);

    // Nothing changed: both answer 304, no body is sent, the run counts them unchanged.
    let run = sync(&server, "kb", &source).await?;
    assert_eq!(counts(&run), [0, 0, 0, 0, 2, 0], "{run}");
    assert_eq!(bodies.load(Ordering::SeqCst), 2, "no body fetched again");

    // A new edition: new validators, new bodies, both re-ingested in place.
    version.store(2, Ordering::SeqCst);
    let run = sync(&server, "kb", &source).await?;
    assert_eq!(counts(&run), [0, 2, 0, 0, 0, 0], "{run}");
    assert_eq!(bodies.load(Ordering::SeqCst), 4);
    let hits = server.search(&["kb"], "glaciers edition 2", 2).await?;
    assert!(
        hits.iter()
            .all(|h| h["text"].as_str().unwrap_or("").contains("edition 2")),
        "{hits:?}"
    );
    let run = sync(&server, "kb", &source).await?;
    assert_eq!(counts(&run), [0, 0, 0, 0, 2, 0], "{run}");
    assert_eq!(bodies.load(Ordering::SeqCst), 4);
    server.stop()?;
    Ok(())
}

/// One worker and one ONNX thread: a sync of a few dozen files lasts long enough to be caught
/// in the middle.
fn slow_envs(roots: &str) -> [(&str, &str); 3] {
    [
        ("RAGD_SOURCE_ROOTS", roots),
        ("RAGD_WORKERS", "1"),
        ("RAGD_EMBEDDING_THREADS", "1"),
    ]
}

/// Creates the knowledge base `kb` with one folder source on `path`; returns the source id.
async fn kb_with_folder_source(server: &Server, path: &Path) -> anyhow::Result<String> {
    server.create_kb("kb").await?;
    add_source(server, "kb", json!({"kind": "folder", "path": path})).await
}

#[tokio::test]
async fn a_sync_killed_mid_run_resumes_without_duplicates() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let root = tempfile::tempdir()?;
    let files = 30;
    for i in 0..files {
        let body: String = (0..40)
            .map(|j| {
                format!(
                    "File {i} paragraph {j} is about subject {} and place {}.\n\n",
                    i * 7 % 13,
                    j % 5
                )
            })
            .collect();
        write(root.path(), &format!("f{i:02}.txt"), &body);
    }
    let roots = root.path().to_string_lossy().into_owned();
    let envs = slow_envs(&roots);
    let server = Server::start(data.path(), &envs)?;
    let source = kb_with_folder_source(&server, root.path()).await?;
    let run = start_run(&server, "kb", &source).await?;
    // Kill it once some files are in and many are still waiting.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = get_run(&server, "kb", &source, run).await?;
        let (_, stats) = server.get("/knowledge-bases/kb/stats").await?;
        if stats["documents"]["ready"].as_i64().unwrap_or(0) >= 2
            && v["docs_pending"].as_i64().unwrap_or(0) > 5
        {
            break;
        }
        assert!(
            matches!(v["status"].as_str(), Some("queued" | "running")),
            "finished before it could be interrupted: {v}"
        );
        assert!(Instant::now() < deadline, "never got going: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();

    let server = Server::start(data.path(), &envs)?;
    let done = wait_run(&server, "kb", &source, run).await?;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(counts(&done), [files, 0, 0, 0, 0, 0], "{done}");
    let docs = documents(&server, "kb").await?;
    assert_eq!(docs.len() as i64, files);
    let names: std::collections::BTreeSet<String> = docs
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    let expected: std::collections::BTreeSet<String> =
        (0..files).map(|i| format!("f{i:02}.txt")).collect();
    assert_eq!(names, expected);
    assert!(docs.iter().all(|d| d["status"] == "ready"), "{docs:?}");
    let stats = assert_consistent(&server, "kb").await?;
    assert!(stats["points"].as_i64().unwrap() >= files);
    // And the next run finds nothing to do.
    let again = sync(&server, "kb", &source).await?;
    assert_eq!(counts(&again), [0, 0, 0, 0, files, 0], "{again}");
    server.stop()?;
    Ok(())
}

#[tokio::test]
async fn a_run_can_be_cancelled_and_the_next_one_catches_up() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let root = tempfile::tempdir()?;
    let files = 25;
    for i in 0..files {
        let body: String = (0..30)
            .map(|j| format!("Note {i} line {j} mentions harbour {}.\n\n", j % 4))
            .collect();
        write(root.path(), &format!("n{i:02}.md"), &body);
    }
    let roots = root.path().to_string_lossy().into_owned();
    let envs = slow_envs(&roots);
    let server = Server::start(data.path(), &envs)?;
    let source = kb_with_folder_source(&server, root.path()).await?;
    let run = start_run(&server, "kb", &source).await?;
    // A second run while one is active is refused.
    let (status, v) = server
        .post(
            &format!("/knowledge-bases/kb/sources/{source}/run"),
            json!({}),
        )
        .await?;
    assert_eq!(status, 409, "{v}");
    loop {
        let v = get_run(&server, "kb", &source, run).await?;
        if v["phase"] == "ingesting" && v["docs_pending"].as_i64().unwrap_or(0) > 5 {
            break;
        }
        assert!(
            matches!(v["status"].as_str(), Some("queued" | "running")),
            "{v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, v) = server
        .post(
            &format!("/knowledge-bases/kb/sources/{source}/runs/{run}/cancel"),
            json!({}),
        )
        .await?;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["status"], "cancelled");
    // Only the document being embedded may still finish (the first embedding warms the model
    // up, which takes a while on a busy machine).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let v = loop {
        let v = get_run(&server, "kb", &source, run).await?;
        assert_eq!(v["status"], "cancelled");
        assert!(v["docs_pending"].as_i64().unwrap_or(0) <= 1, "{v}");
        if v["docs_pending"] == 0 || std::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(v["docs_pending"], 0, "{v}");
    let (status, _) = server
        .post(
            &format!("/knowledge-bases/kb/sources/{source}/runs/{run}/cancel"),
            json!({}),
        )
        .await?;
    assert_eq!(status, 409);
    let next = sync(&server, "kb", &source).await?;
    assert_eq!(next["status"], "done", "{next}");
    let docs = documents(&server, "kb").await?;
    assert_eq!(docs.len() as i64, files);
    assert!(docs.iter().all(|d| d["status"] == "ready"), "{docs:?}");
    assert_consistent(&server, "kb").await?;
    server.stop()?;
    Ok(())
}

#[tokio::test]
async fn the_scheduler_runs_due_sources_and_catches_up_once_after_downtime() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let root = tempfile::tempdir()?;
    write(root.path(), "a.md", "Scheduled content about lighthouses.");
    let roots = root.path().to_string_lossy().into_owned();
    let envs = [
        ("RAGD_SOURCE_ROOTS", roots.as_str()),
        ("RAGD_SOURCE_TICK_SECS", "1"),
    ];
    let server = Server::start(data.path(), &envs)?;
    server.create_kb("kb").await?;
    // Every 2 seconds (6 fields: seconds first).
    let source = add_source(
        &server,
        "kb",
        json!({"kind": "folder", "path": root.path(), "schedule": "*/2 * * * * *", "timezone": "Europe/Paris"}),
    )
    .await?;
    let (_, v) = server
        .get(&format!("/knowledge-bases/kb/sources/{source}"))
        .await?;
    assert!(
        v["next_run_at"].as_str().unwrap().contains("Europe/Paris"),
        "{v}"
    );
    let runs_path = format!("/knowledge-bases/kb/sources/{source}/runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = server.get(&runs_path).await?;
        let runs = v["runs"].as_array().unwrap();
        if runs.iter().any(|r| r["status"] == "done") {
            assert!(runs.iter().all(|r| r["trigger"] == "schedule"), "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "no scheduled run: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Down for a while with the source enabled: the fires missed meanwhile run once, at
    // start-up (a long tick keeps the regular schedule out of the way).
    server.stop()?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let server = Server::start(
        data.path(),
        &[
            ("RAGD_SOURCE_ROOTS", roots.as_str()),
            ("RAGD_SOURCE_TICK_SECS", "3600"),
        ],
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = server.get(&runs_path).await?;
        let runs = v["runs"].as_array().unwrap();
        let startup = runs.iter().filter(|r| r["trigger"] == "startup").count();
        if startup > 0 {
            assert_eq!(startup, 1, "missed fires must collapse into one run: {v}");
            break;
        }
        assert!(Instant::now() < deadline, "no start-up run: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, v) = server.get(&runs_path).await?;
    let startup = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["trigger"] == "startup")
        .count();
    assert_eq!(startup, 1, "{v}");
    server.stop()?;
    Ok(())
}

#[test]
fn the_cli_adds_lists_runs_and_removes_sources() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let root = tempfile::tempdir()?;
    write(
        root.path(),
        "guide.md",
        "# Guide\n\nKeep the bicycle chain oiled and the tyres pumped.",
    );
    write(root.path(), "skip.log", "not wanted");
    let d = data.path().to_string_lossy().into_owned();
    let roots = root.path().to_string_lossy().into_owned();
    let envs = [("RAGD_SOURCE_ROOTS", roots.as_str())];
    let cli = |args: &[&str]| -> anyhow::Result<String> {
        let mut all = vec!["--data-dir", d.as_str()];
        all.extend_from_slice(args);
        let (ok, out, err) = e2e::ragd_cli(&all, &envs)?;
        if !ok {
            bail!("ragd {args:?} failed: {err}");
        }
        Ok(out)
    };
    cli(&["kb", "create", "kb"])?;
    let out = cli(&[
        "source",
        "add",
        "--kb",
        "kb",
        "--folder",
        &roots,
        "--include",
        "*.md",
        "--schedule",
        "0 3 * * *",
        "--timezone",
        "Asia/Shanghai",
    ])?;
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("added source "))
        .expect("source id")
        .trim()
        .to_string();
    assert!(out.contains("next scheduled run"), "{out}");
    let out = cli(&["source", "run", "--kb", "kb", &id])?;
    assert!(
        out.contains("done: 1 added, 0 updated, 0 deleted, 0 renamed, 0 unchanged, 0 failed"),
        "{out}"
    );
    let out = cli(&["source", "list", "--kb", "kb"])?;
    assert!(
        out.contains(&id) && out.contains("0 3 * * *") && out.contains("1 added"),
        "{out}"
    );
    let out = cli(&["search", "--kb", "kb", "bicycle chain"])?;
    assert!(out.contains("guide.md"), "{out}");
    let out = cli(&["source", "runs", "--kb", "kb", &id])?;
    assert_eq!(
        out.lines().filter(|l| l.starts_with("run ")).count(),
        1,
        "{out}"
    );
    let (ok, _, err) = e2e::ragd_cli(
        &["--data-dir", &d, "source", "cancel", "--kb", "kb", &id],
        &envs,
    )?;
    assert!(!ok && err.contains("no active run"), "{err}");
    cli(&["source", "remove", "--kb", "kb", &id])?;
    let out = cli(&["source", "list", "--kb", "kb"])?;
    assert!(out.contains("no sources yet"), "{out}");
    let (ok, _, err) = e2e::ragd_cli(&["--data-dir", &d, "source", "add", "--kb", "kb"], &envs)?;
    assert!(!ok && err.contains("--folder"), "{err}");
    Ok(())
}

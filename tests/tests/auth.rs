//! End-to-end: API keys. The real `ragd serve` with `RAGD_API_KEY`: what is open, what needs
//! the key, the web UI's session cookie, the CLI with `--url`, and the refusal to serve an
//! open API on a non-loopback address.

use e2e::{ragd_cli, Server};
use reqwest::header::{AUTHORIZATION, COOKIE, SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use serde_json::{json, Value};

const KEY: &str = "test-key-0123456789abcdef";
const READER: &str = "reader-key-0123456789abcdef";

fn with_key(key: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(AUTHORIZATION, format!("Bearer {key}").parse()?);
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_guards_the_api_and_the_ui_signs_in() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut server = Server::start(
        dir.path(),
        &[("RAGD_API_KEY", KEY), ("RAGD_API_READER_KEYS", READER)],
    )?;
    let anon = reqwest::Client::new();
    let url = server.url.clone();

    // Open: health, the UI's files, the sign-in status.
    for path in ["/healthz", "/", "/ui/app.js"] {
        let r = anon.get(format!("{url}{path}")).send().await?;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    // The UI's page: no inline script, no framing.
    let r = anon.get(format!("{url}/")).send().await?;
    let csp = r.headers()["content-security-policy"].to_str()?.to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let status: Value = anon.get(server.api("/auth")).send().await?.json().await?;
    assert_eq!(
        status,
        json!({"required": true, "authenticated": false, "role": null})
    );

    // Closed without the key, or with a wrong one: 401 with a JSON error.
    for (client, what) in [
        (anon.clone(), "no key"),
        (with_key("wrong-key-0123456789")?, "wrong key"),
    ] {
        for path in ["/api/v1/knowledge-bases", "/v1/models", "/api/v1/llm"] {
            let r = client.get(format!("{url}{path}")).send().await?;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what} {path}");
            assert!(r.headers().contains_key(WWW_AUTHENTICATE));
            let body: Value = r.json().await?;
            assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        }
        let r = client
            .post(server.api("/search"))
            .json(&json!({"query": "x", "knowledge_bases": ["kb"]}))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what} search");
    }

    // The key opens everything: the harness client now carries it.
    server.http = with_key(KEY)?;
    let r = server.http.get(format!("{url}/v1/models")).send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    server.create_kb("secret").await?;
    let (code, body) = server
        .upload(
            "secret",
            &[(
                "note.txt",
                b"The vault code is kept in the blue box.".to_vec(),
            )],
        )
        .await?;
    assert_eq!(code, 202, "{body}");
    let doc_id = body["documents"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let doc = server.wait_done("secret", &doc_id).await?;
    assert_eq!(doc["status"], "ready", "{doc}");

    // The web UI's way: sign in with the key, get an HttpOnly SameSite=Strict cookie.
    let r = anon
        .post(server.api("/auth/login"))
        .json(&json!({"api_key": "not-the-key-0123456789"}))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(SET_COOKIE).is_none());
    let r = anon
        .post(server.api("/auth/login"))
        .json(&json!({"api_key": KEY}))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let set_cookie = r
        .headers()
        .get(SET_COOKIE)
        .expect("a cookie")
        .to_str()?
        .to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    assert!(!set_cookie.contains(KEY), "the cookie is not the key");
    let session = set_cookie.split(';').next().unwrap_or_default().to_string();

    let status: Value = anon
        .get(server.api("/auth"))
        .header(COOKIE, &session)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(status["authenticated"], true);
    // A plain link (the UI's download button) works with the cookie.
    let r = anon
        .get(server.api(&format!("/knowledge-bases/secret/documents/{doc_id}/file")))
        .header(COOKIE, &session)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"].to_str()?.to_string();
    assert!(
        csp.starts_with("sandbox"),
        "an uploaded file never runs as this origin: {csp}"
    );
    assert!(r.text().await?.contains("blue box"));
    // A forged or altered cookie does not.
    let mut forged = session.clone();
    let last = forged.pop().unwrap_or('0');
    forged.push(if last == '0' { '1' } else { '0' });
    let r = anon
        .get(server.api("/knowledge-bases"))
        .header(COOKIE, &forged)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Signing out clears the cookie.
    let r = anon
        .post(server.api("/auth/logout"))
        .header(COOKIE, &session)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = r.headers().get(SET_COOKIE).expect("a cookie").to_str()?;
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // And ends the session: a copy of the cookie no longer works.
    let r = anon
        .get(server.api("/knowledge-bases"))
        .header(COOKIE, &session)
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A reader key reads, searches and asks; it cannot change anything.
    let reader = with_key(READER)?;
    let r = reader.get(server.api("/knowledge-bases")).send().await?;
    assert_eq!(r.status(), StatusCode::OK);
    // Nor see where sources read from (folder paths, URLs).
    let r = reader
        .get(server.api("/knowledge-bases/secret/sources"))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = reader
        .post(server.api("/search"))
        .json(&json!({"query": "where is the vault code", "knowledge_bases": ["secret"]}))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);
    let hits: Value = r.json().await?;
    assert_eq!(hits["hits"][0]["document_name"], "note.txt", "{hits}");
    for (method, path) in [
        (reqwest::Method::POST, "/knowledge-bases".to_string()),
        (
            reqwest::Method::DELETE,
            format!("/knowledge-bases/secret/documents/{doc_id}"),
        ),
        (reqwest::Method::POST, "/backups".to_string()),
    ] {
        let r = reader
            .request(method.clone(), server.api(&path))
            .json(&json!({"name": "x"}))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
        let body: Value = r.json().await?;
        assert_eq!(body["error"]["code"], "forbidden", "{body}");
    }
    let r = anon
        .post(server.api("/auth/login"))
        .json(&json!({"api_key": READER}))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let reader_session = r.headers()[SET_COOKIE]
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let status: Value = anon
        .get(server.api("/auth"))
        .header(COOKIE, &reader_session)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(status["role"], "reader", "{status}");
    let r = anon
        .post(server.api("/knowledge-bases"))
        .header(COOKIE, &reader_session)
        .json(&json!({"name": "nope"}))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The CLI against the server: the key comes from RAGD_API_KEY.
    let (ok, _, err) = ragd_cli(&["--url", &url, "kb", "list"], &[])?;
    assert!(!ok, "no key must fail");
    assert!(err.contains("missing or invalid api key"), "{err}");
    let (ok, out, err) = ragd_cli(&["--url", &url, "kb", "list"], &[("RAGD_API_KEY", KEY)])?;
    assert!(ok, "{err}");
    assert!(out.contains("secret"), "{out}");

    // Ten failed sign-ins lock this address out of signing in, the right key included;
    // bearer keys still work.
    for _ in 0..10 {
        let r = anon
            .post(server.api("/auth/login"))
            .json(&json!({"api_key": "guess-0123456789abcdef"}))
            .send()
            .await?;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = anon
        .post(server.api("/auth/login"))
        .json(&json!({"api_key": KEY}))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = r.json().await?;
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let r = server
        .http
        .get(server.api("/knowledge-bases"))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::OK);

    server.stop()?;
    Ok(())
}

#[test]
fn an_open_api_is_not_served_beyond_loopback() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().to_string_lossy().to_string();
    let (ok, _, err) = ragd_cli(
        &["--data-dir", &data, "serve", "--listen", "0.0.0.0:0"],
        &[],
    )?;
    assert!(!ok);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without an api key"),
        "{err}"
    );
    let (ok, _, err) = ragd_cli(
        &["--data-dir", &data, "serve", "--listen", "127.0.0.1:0"],
        &[("RAGD_API_KEY", "short")],
    )?;
    assert!(!ok);
    assert!(err.contains("at least 16 characters"), "{err}");
    Ok(())
}

/// Without a key (the default, loopback only), a hostile page in the user's browser must not
/// reach ragd: DNS rebinding sends a foreign `Host`, and a cross-site form or fetch carries a
/// foreign `Origin` or `Sec-Fetch-Site`.
#[tokio::test]
async fn loopback_mode_refuses_foreign_hosts_and_cross_site_writes() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let server = Server::start(data.path(), &[("RAGD_ALLOWED_HOSTS", "rag.internal")])?;
    let http = reqwest::Client::new();
    let kbs = server.api("/knowledge-bases");
    // DNS rebinding: the attacker's name resolving to 127.0.0.1.
    let r = http
        .get(&kbs)
        .header("host", "attacker.example")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 403);
    let body: Value = r.json().await?;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allowed_hosts"),
        "{body}"
    );
    for host in ["localhost", "rag.internal:8080"] {
        let r = http.get(&kbs).header("host", host).send().await?;
        assert_eq!(r.status().as_u16(), 200, "{host}");
    }
    server.create_kb("kb").await?;
    // A cross-site multipart upload (a planted document) and a body-less cross-site backup.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"planted".to_vec()).file_name("p.txt"),
    );
    let r = http
        .post(server.api("/knowledge-bases/kb/documents"))
        .header("origin", "https://evil.example")
        .multipart(form)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 403);
    let r = http
        .post(server.api("/backups"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 403);
    let (_, docs) = server.get("/knowledge-bases/kb/documents").await?;
    assert_eq!(
        docs["documents"].as_array().map(Vec::len),
        Some(0),
        "{docs}"
    );
    // The UI's own requests (same origin) and API clients (no Origin) still work.
    let own = server.url.clone();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"# Own\n\nFrom the UI.".to_vec()).file_name("own.md"),
    );
    let r = http
        .post(server.api("/knowledge-bases/kb/documents"))
        .header("origin", own)
        .header("sec-fetch-site", "same-origin")
        .multipart(form)
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 202);
    server.stop()?;
    Ok(())
}

/// The data folder is its user's only, and no configured secret reaches the log, even at
/// the most verbose level.
#[tokio::test]
async fn the_data_folder_is_private_and_secrets_stay_out_of_the_log() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let log = dir.path().join("ragd.log");
    const LLM_KEY: &str = "sk-llm-secret-0123456789";
    const EMBED_KEY: &str = "sk-embed-secret-0123456789";
    let server = Server::start_logged(
        &data,
        &[
            ("RAGD_API_KEY", KEY),
            ("RAGD_API_READER_KEYS", READER),
            ("RAGD_LLM_API_KEY", LLM_KEY),
            ("RAGD_LLM_BASE_URL", "http://127.0.0.1:9"),
            ("RAGD_LLM_MODEL", "m"),
            ("RAGD_LOG", "trace,qdrant_edge=error,hyper=info,h2=info"),
        ],
        &log,
    )?;
    let client = with_key(KEY)?;
    let r = client
        .post(server.api("/knowledge-bases"))
        .json(&json!({"name": "kb", "embedding": {"provider": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key": EMBED_KEY}}))
        .send()
        .await?;
    let _ = r.status();
    let _ = client.get(server.api("/llm")).send().await?;
    let r = client
        .post(server.api("/ask"))
        .json(&json!({"knowledge_bases": ["kb"], "question": "anything?"}))
        .send()
        .await?;
    let _ = r.text().await;
    server.stop()?;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("ragd.sqlite")), 0o600);
    let text = std::fs::read_to_string(&log)?;
    assert!(
        text.len() > 1000,
        "the log has content: {} bytes",
        text.len()
    );
    for secret in [KEY, READER, LLM_KEY, EMBED_KEY] {
        assert!(!text.contains(secret), "{secret} is in the log");
    }
    Ok(())
}

/// A reader sees the conversations it made, not another reader's; the admin sees all.
#[tokio::test]
async fn readers_see_their_own_conversations() -> anyhow::Result<()> {
    const OTHER: &str = "other-reader-key-0123456789ab";
    let dir = tempfile::tempdir()?;
    let readers = format!("{READER}:{OTHER}");
    let server = Server::start(
        dir.path(),
        &[
            ("RAGD_API_KEY", KEY),
            ("RAGD_API_READER_KEYS", readers.as_str()),
        ],
    )?;
    let admin = with_key(KEY)?;
    let r = admin
        .post(server.api("/knowledge-bases"))
        .json(&json!({"name": "kb"}))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::CREATED);
    let (one, other) = (with_key(READER)?, with_key(OTHER)?);
    let r = one
        .post(server.api("/conversations"))
        .json(&json!({"title": "mine", "knowledge_bases": ["kb"]}))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await?["id"].as_str().unwrap().to_string();
    let list = |c: reqwest::Client| {
        let url = server.api("/conversations");
        async move {
            let v: Value = c.get(url).send().await?.json().await?;
            anyhow::Ok(v["conversations"].as_array().map_or(0, Vec::len))
        }
    };
    assert_eq!(list(one.clone()).await?, 1);
    assert_eq!(list(other.clone()).await?, 0);
    assert_eq!(list(admin.clone()).await?, 1);
    let path = server.api(&format!("/conversations/{id}"));
    assert_eq!(
        other.get(&path).send().await?.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(one.get(&path).send().await?.status(), StatusCode::OK);
    assert_eq!(admin.get(&path).send().await?.status(), StatusCode::OK);
    let r = other
        .post(format!("{path}/messages"))
        .json(&json!({"question": "what is in it?"}))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    server.stop()?;
    Ok(())
}

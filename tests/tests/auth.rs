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
        json!({"required": true, "authenticated": false, "role": null, "scoped": false})
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

/// Managed keys: made by the admin (the secret shown once, kept hashed), each with a role and
/// optionally some knowledge bases. A scoped key sees only those, on every interface; an
/// editor changes only inside its scope; revoking a key ends its web sessions at once; the
/// CLI manages keys over `--url`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_keys_are_scoped_to_knowledge_bases_and_revoked_at_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(
        dir.path(),
        &[("RAGD_API_KEY", KEY), ("RAGD_API_READER_KEYS", READER)],
    )?
    .authorized(KEY)?;
    for kb in ["alpha", "beta"] {
        server.create_kb(kb).await?;
    }
    let beta_doc = server
        .upload_ready(
            "beta",
            "secret.txt",
            "The beta vault code is 4417.",
            &json!({}),
        )
        .await?;
    server
        .upload_ready(
            "alpha",
            "public.txt",
            "The alpha garden has roses.",
            &json!({}),
        )
        .await?;
    let make = |body: Value| {
        let server = &server;
        async move {
            let (status, v) = server.post("/keys", body).await?;
            assert_eq!(status, 201, "{v}");
            anyhow::Ok((
                v["secret"].as_str().unwrap().to_string(),
                v["id"].as_str().unwrap().to_string(),
            ))
        }
    };
    let (reader, reader_id) =
        make(json!({"name": "alpha app", "role": "reader", "knowledge_bases": ["alpha"]})).await?;
    let (editor, _) =
        make(json!({"name": "alpha editor", "role": "editor", "knowledge_bases": ["alpha"]}))
            .await?;
    let (wide, _) = make(json!({"name": "all reader", "role": "reader"})).await?;
    assert!(reader.starts_with("ragd_"));

    // Listed without secrets; the data folder holds only their hashes.
    let (_, listed) = server.get("/keys").await?;
    let text = listed.to_string();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 3, "{listed}");
    assert!(!text.contains(&reader) && !text.contains(&editor), "{text}");
    assert_eq!(listed["keys"][2]["knowledge_bases"][0]["name"], "alpha");
    let db = std::fs::read(dir.path().join("ragd.sqlite"))?;
    assert!(!db.windows(reader.len()).any(|w| w == reader.as_bytes()));
    // Bad requests are 400; other roles may not manage keys.
    for bad in [
        json!({"name": "x", "role": "admin", "knowledge_bases": ["alpha"]}),
        json!({"name": "x", "role": "root"}),
        json!({"name": "", "role": "reader"}),
        json!({"name": "x", "role": "reader", "expires_at": "2001-01-01T00:00:00Z"}),
    ] {
        let (status, v) = server.post("/keys", bad.clone()).await?;
        assert!(status == 400 || status == 422, "{bad}: {status} {v}");
    }
    for key in [&reader, &editor, &wide] {
        let c = with_key(key)?;
        let r = c.get(server.api("/keys")).send().await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = c.post(server.api("/backups")).send().await?;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    // The scoped reader: only alpha, everywhere.
    let r_client = with_key(&reader)?;
    let get = |c: &reqwest::Client, path: String| {
        let req = c.get(path);
        async move {
            let r = req.send().await?;
            let status = r.status().as_u16();
            anyhow::Ok((status, r.json::<Value>().await.unwrap_or(Value::Null)))
        }
    };
    let (status, kbs) = get(&r_client, server.api("/knowledge-bases")).await?;
    assert_eq!(status, 200);
    let names: Vec<&str> = kbs["knowledge_bases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha"]);
    for path in [
        "/knowledge-bases/beta".to_string(),
        "/knowledge-bases/beta/documents".to_string(),
        format!("/knowledge-bases/beta/documents/{beta_doc}"),
        format!("/knowledge-bases/beta/documents/{beta_doc}/file"),
        format!("/knowledge-bases/alpha/documents/{beta_doc}"),
    ] {
        let (status, v) = get(&r_client, server.api(&path)).await?;
        assert_eq!(status, 404, "{path}: {v}");
    }
    let search = |c: &reqwest::Client, kbs: Value| {
        c.post(server.api("/search"))
            .json(&json!({"knowledge_bases": kbs, "query": "vault code"}))
            .send()
    };
    assert_eq!(search(&r_client, json!(["beta"])).await?.status(), 403);
    assert_eq!(
        search(&r_client, json!(["alpha", "beta"])).await?.status(),
        403
    );
    let r = search(&r_client, json!(["alpha"])).await?;
    assert_eq!(r.status(), 200);
    assert!(!r.text().await?.contains("4417"));
    let r = r_client
        .post(server.api("/ask"))
        .json(&json!({"knowledge_bases": ["beta"], "question": "code?"}))
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let r = r_client
        .post(server.api("/conversations"))
        .json(&json!({"knowledge_bases": ["beta"]}))
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    // The OpenAI and Dify adapters.
    let (_, models) = get(&r_client, format!("{}/v1/models", server.url)).await?;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["kb:alpha"]);
    let r = r_client
        .post(format!("{}/v1/chat/completions", server.url))
        .json(&json!({"model": "kb:beta", "messages": [{"role": "user", "content": "code?"}]}))
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    let dify = |kb: &str| {
        r_client.post(server.api("/dify/retrieval")).json(&json!({
            "knowledge_id": kb, "query": "vault code",
            "retrieval_setting": {"top_k": 3, "score_threshold": 0.0}
        }))
    };
    let r = dify("beta").send().await?;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await?["error_code"], 2001);
    assert_eq!(dify("alpha").send().await?.status(), 200);
    // Readers may not write, even in their scope.
    let r = r_client
        .delete(server.api("/knowledge-bases/alpha"))
        .send()
        .await?;
    assert_eq!(r.status(), 403);

    // The scoped editor changes alpha only, and makes no knowledge bases.
    let e_client = with_key(&editor)?;
    let upload = |kb: &str| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"notes".to_vec()).file_name("n.txt"),
        );
        e_client
            .post(server.api(&format!("/knowledge-bases/{kb}/documents")))
            .multipart(form)
            .send()
    };
    assert_eq!(upload("alpha").await?.status(), 202);
    assert_eq!(upload("beta").await?.status(), 404);
    let r = e_client
        .post(server.api("/knowledge-bases"))
        .json(&json!({"name": "gamma"}))
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let r = e_client
        .delete(server.api(&format!("/knowledge-bases/beta/documents/{beta_doc}")))
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    let r = e_client
        .delete(server.api("/knowledge-bases/beta"))
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    let (status, _) = server
        .get(&format!("/knowledge-bases/beta/documents/{beta_doc}"))
        .await?;
    assert_eq!(status, 200, "beta is untouched");
    // An unscoped reader key sees both; the configured reader key still works.
    let (_, kbs) = get(&with_key(&wide)?, server.api("/knowledge-bases")).await?;
    assert_eq!(kbs["knowledge_bases"].as_array().unwrap().len(), 2);
    let (status, _) = get(&with_key(READER)?, server.api("/knowledge-bases")).await?;
    assert_eq!(status, 200);

    // The web UI signs in with a managed key; revoking it ends that session at once.
    let anon = reqwest::Client::new();
    let r = anon
        .post(server.api("/auth/login"))
        .json(&json!({"api_key": reader}))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cookie = r.headers()[SET_COOKIE]
        .to_str()?
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let with_cookie = |path: &str| {
        anon.get(server.api(path))
            .header(COOKIE, cookie.clone())
            .send()
    };
    let status: Value = with_cookie("/auth").await?.json().await?;
    assert_eq!(
        status,
        json!({"required": true, "authenticated": true, "role": "reader", "scoped": true})
    );
    assert_eq!(with_cookie("/knowledge-bases/alpha").await?.status(), 200);
    assert_eq!(with_cookie("/knowledge-bases/beta").await?.status(), 404);
    assert_eq!(server.delete(&format!("/keys/{reader_id}")).await?, 200);
    assert_eq!(with_cookie("/knowledge-bases/alpha").await?.status(), 401);
    assert_eq!(get(&r_client, server.api("/knowledge-bases")).await?.0, 401);
    let r = anon
        .post(server.api("/auth/login"))
        .json(&json!({"api_key": reader}))
        .send()
        .await?;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (_, listed) = server.get("/keys").await?;
    let row = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == reader_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["status"], "revoked");
    assert!(row["last_used_at"].is_string(), "{row}");

    // The CLI over --url: make, list, revoke.
    let envs = [("RAGD_API_KEY", KEY)];
    let (ok, out, err) = ragd_cli(
        &[
            "--url",
            &server.url,
            "key",
            "create",
            "--name",
            "cli",
            "--role",
            "editor",
            "--kb",
            "beta",
        ],
        &envs,
    )?;
    assert!(ok, "{err}");
    let secret = out.trim().to_string();
    assert!(
        secret.starts_with("ragd_") && err.contains("shown this once"),
        "{out} {err}"
    );
    let (status, kbs) = get(&with_key(&secret)?, server.api("/knowledge-bases")).await?;
    assert_eq!(
        (status, kbs["knowledge_bases"][0]["name"].clone()),
        (200, json!("beta"))
    );
    let (ok, out, err) = ragd_cli(&["--url", &server.url, "key", "list"], &envs)?;
    assert!(
        ok && out.contains("cli\teditor\tactive") && out.contains("\trevoked\t"),
        "{out} {err}"
    );
    let id = out
        .lines()
        .find(|l| l.contains("\tcli\t"))
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_string();
    let (ok, out, err) = ragd_cli(&["--url", &server.url, "key", "revoke", &id], &envs)?;
    assert!(ok && out.contains("revoked"), "{out} {err}");
    assert_eq!(
        get(&with_key(&secret)?, server.api("/knowledge-bases"))
            .await?
            .0,
        401
    );
    server.stop()?;

    // A server without an admin key checks no keys, so it makes none.
    let open_dir = tempfile::tempdir()?;
    let open = Server::start(open_dir.path(), &[])?;
    let (status, v) = open
        .post("/keys", json!({"name": "x", "role": "reader"}))
        .await?;
    assert_eq!(status, 409, "{v}");
    open.stop()?;
    Ok(())
}

//! The OpenAPI document at `/api/v1/openapi.json`: valid OpenAPI 3.1 by
//! openapi-spec-validator (PyPI, `.cache/pytools`), and every operation it lists is served
//! by the running server (the router's own 404 or 405 would say otherwise). That the router
//! serves nothing the document lacks is checked on the sources (`http::tests`).

use std::io::Write;
use std::process::{Command, Stdio};

use e2e::Server;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_valid_and_matches_the_routes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[])?;
    let r = reqwest::get(server.api("/openapi.json")).await?;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await?;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi_validate.py");
    let mut child = Command::new(e2e::pytools_python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every operation is served: the router answers something other than its own 404/405.
    let http = reqwest::Client::new();
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{run}", "1")
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["get", "post", "patch", "delete", "put"] {
            let Some(op) = item.get(method) else { continue };
            operations += 1;
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            let url = format!("{}{concrete}", server.url);
            let req = match method {
                "get" => http.get(&url),
                "post" => http.post(&url).json(&json!({})),
                "patch" => http.patch(&url).json(&json!({})),
                "delete" => http.delete(&url),
                _ => http.put(&url).json(&json!({})),
            };
            let r = req.send().await?;
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            assert_ne!(status, 405, "{method} {path}: method not routed");
            assert!(
                !(status == 404 && body.contains("no such api endpoint")),
                "{method} {path}: not routed"
            );
        }
    }
    assert!(operations >= 45, "{operations} operations");
    server.stop()?;
    Ok(())
}

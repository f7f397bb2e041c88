//! Support for the black-box end-to-end tests in `tests/`: start the real `ragd` binary on
//! port 0 with a temporary data folder, talk to it over HTTP, stop it gracefully or kill it.

pub mod mock_llm;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

/// Path of the `ragd` binary: `$RAGD_BIN`, else `target/<profile>/ragd` next to this test.
pub fn ragd_bin() -> PathBuf {
    if let Ok(p) = std::env::var("RAGD_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/e2e-xxxx -> target/<profile>/ragd
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = profile_dir.join("ragd");
    assert!(
        bin.is_file(),
        "{} not found: build it first (`cargo build --bin ragd`, or `make test`)",
        bin.display()
    );
    bin
}

/// A running `ragd serve`.
pub struct Server {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    pub http: reqwest::Client,
}

impl Server {
    /// Starts `ragd serve` on 127.0.0.1:0 and waits for its address.
    pub fn start(data_dir: &Path, envs: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_to(data_dir, envs, Stdio::inherit())
    }

    /// As [`Server::start`], with the server's log (stderr) written to `log`.
    pub fn start_logged(
        data_dir: &Path,
        envs: &[(&str, &str)],
        log: &Path,
    ) -> anyhow::Result<Self> {
        Self::start_to(data_dir, envs, Stdio::from(std::fs::File::create(log)?))
    }

    /// As [`Server::start`], the process first joining the cgroup whose `cgroup.procs` file
    /// is `procs` (so all it allocates, and its children, count there).
    pub fn start_in_cgroup(
        data_dir: &Path,
        envs: &[(&str, &str)],
        procs: &Path,
    ) -> anyhow::Result<Self> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("echo $$ > \"$0\" && exec \"$@\"")
            .arg(procs)
            .arg(ragd_bin());
        Self::spawn(cmd, data_dir, envs, Stdio::inherit())
    }

    fn start_to(data_dir: &Path, envs: &[(&str, &str)], stderr: Stdio) -> anyhow::Result<Self> {
        Self::spawn(Command::new(ragd_bin()), data_dir, envs, stderr)
    }

    fn spawn(
        mut cmd: Command,
        data_dir: &Path,
        envs: &[(&str, &str)],
        stderr: Stdio,
    ) -> anyhow::Result<Self> {
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("RAGD_LOG", "warn,qdrant_edge=error")
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().context("cannot start ragd")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("ragd listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                bail!("ragd did not print its address");
            }
        };
        Ok(Self {
            child,
            url,
            data_dir: data_dir.to_path_buf(),
            http: reqwest::Client::new(),
        })
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("ragd exited with {status}");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("ragd did not stop within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    /// GET or POST JSON; returns (status, body).
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let r = self.http.get(self.api(path)).send().await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        let r = self.http.post(self.api(path)).json(&body).send().await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<u16> {
        Ok(self
            .http
            .delete(self.api(path))
            .send()
            .await?
            .status()
            .as_u16())
    }

    pub async fn create_kb(&self, name: &str) -> anyhow::Result<String> {
        let (status, body) = self.post("/knowledge-bases", json!({"name": name})).await?;
        if status != 201 {
            bail!("create kb: {status} {body}");
        }
        Ok(body["id"].as_str().unwrap_or_default().to_string())
    }

    /// Uploads files in one multipart request; returns (status, body).
    pub async fn upload(
        &self,
        kb: &str,
        files: &[(&str, Vec<u8>)],
    ) -> anyhow::Result<(u16, Value)> {
        let mut form = reqwest::multipart::Form::new();
        for (name, bytes) in files {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string()),
            );
        }
        let r = self
            .http
            .post(self.api(&format!("/knowledge-bases/{kb}/documents")))
            .multipart(form)
            .send()
            .await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
    }

    /// PATCH JSON; returns (status, body).
    pub async fn patch_json(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        let r = self.http.patch(self.api(path)).json(&body).send().await?;
        Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
    }

    /// This server's helpers, sending `Authorization: Bearer key` from now on.
    pub fn authorized(mut self, key: &str) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {key}").parse()?,
        );
        self.http = reqwest::Client::builder()
            .default_headers(headers)
            .build()?;
        Ok(self)
    }

    /// Uploads one file with its metadata and waits until it is ready; returns its id.
    pub async fn upload_ready(
        &self,
        kb: &str,
        name: &str,
        text: &str,
        metadata: &Value,
    ) -> anyhow::Result<String> {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(text.as_bytes().to_vec())
                    .file_name(name.to_string()),
            )
            .text("metadata", metadata.to_string());
        let r = self
            .http
            .post(self.api(&format!("/knowledge-bases/{kb}/documents")))
            .multipart(form)
            .send()
            .await?;
        let status = r.status().as_u16();
        let up: Value = r.json().await.unwrap_or(Value::Null);
        if status != 202 {
            bail!("upload {name}: HTTP {status} {up}");
        }
        let id = up["documents"][0]["id"]
            .as_str()
            .context("no document id")?
            .to_string();
        let doc = self.wait_done(kb, &id).await?;
        if doc["status"] != "ready" {
            bail!("{name} did not become ready: {doc}");
        }
        Ok(id)
    }

    /// Waits until the document is `ready` or `failed`; returns it.
    pub async fn wait_done(&self, kb: &str, id: &str) -> anyhow::Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let (status, doc) = self
                .get(&format!("/knowledge-bases/{kb}/documents/{id}"))
                .await?;
            if status != 200 {
                bail!("document {id}: HTTP {status} {doc}");
            }
            if matches!(doc["status"].as_str(), Some("ready" | "failed")) {
                return Ok(doc);
            }
            if Instant::now() > deadline {
                return Err(anyhow!("document {id} still {} after 300 s", doc["status"]));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Searches and returns the hits.
    pub async fn search(
        &self,
        kbs: &[&str],
        query: &str,
        top_k: usize,
    ) -> anyhow::Result<Vec<Value>> {
        let (status, body) = self
            .post(
                "/search",
                json!({"knowledge_bases": kbs, "query": query, "top_k": top_k}),
            )
            .await?;
        if status != 200 {
            bail!("search: {status} {body}");
        }
        Ok(body["hits"].as_array().cloned().unwrap_or_default())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the `ragd` CLI with the given arguments; returns (success, stdout, stderr).
pub fn ragd_cli(args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<(bool, String, String)> {
    let mut cmd = Command::new(ragd_bin());
    cmd.args(args).env("RAGD_LOG", "error");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Writes a PDF with one page per entry (Helvetica text), as a real user's PDF would have.
pub fn make_pdf(pages: &[&str]) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{dictionary, Document, Object, Stream};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids: Vec<Object> = Vec::new();
    for text in pages {
        let mut ops = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 11.into()]),
            Operation::new("Td", vec![50.into(), 800.into()]),
        ];
        for line in text.lines() {
            ops.push(Operation::new("Tj", vec![Object::string_literal(line)]));
            ops.push(Operation::new("Td", vec![0.into(), (-13).into()]));
        }
        ops.push(Operation::new("ET", vec![]));
        let content = Content { operations: ops }.encode().expect("content");
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save pdf");
    out
}

/// One Server-Sent Event: its name and JSON data.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub data: Value,
}

/// Parses a whole SSE body (`event:` / `data:` lines, blank-line separated).
pub fn parse_sse(body: &str) -> Vec<SseEvent> {
    let mut out = Vec::new();
    for block in body.split("\n\n") {
        let mut event = String::from("message");
        let mut data = String::new();
        for line in block.lines() {
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push_str(d.trim_start());
            }
        }
        if !data.is_empty() {
            let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
            out.push(SseEvent { event, data });
        }
    }
    out
}

impl Server {
    /// POSTs JSON and returns the raw body text (for SSE).
    pub async fn post_text(&self, path: &str, body: Value) -> anyhow::Result<(u16, String)> {
        let r = self.http.post(self.api(path)).json(&body).send().await?;
        Ok((r.status().as_u16(), r.text().await?))
    }
}

/// A zip archive of (name, content) entries: Office and EPUB fixtures.
pub fn make_zip(entries: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in entries {
            w.start_file(*name, opts).expect("zip entry");
            w.write_all(content.as_bytes()).expect("zip write");
        }
        w.finish().expect("zip finish");
    }
    out.into_inner()
}

/// Serves `app` on 127.0.0.1 on a free port; returns its `http://` base and the server task.
pub async fn serve_local(
    app: axum::Router,
) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    // TCP_NODELAY, as real model servers (Ollama, vLLM) set it: small streamed lines go out
    // at once instead of waiting for the client's delayed ACK on a kept-alive connection.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, task))
}

/// The Python of `.cache/pytools` (`make test-deps`: the MCP SDK, prometheus_client), or
/// `RAGD_TEST_PYTHON`; a clear failure when it is missing.
pub fn pytools_python() -> PathBuf {
    if let Ok(p) = std::env::var("RAGD_TEST_PYTHON") {
        return p.into();
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/pytools/bin/python");
    assert!(
        p.exists(),
        "{} not found: run `make test-deps` (a virtualenv with PyPI's mcp and prometheus_client)",
        p.display()
    );
    p
}

/// The CJK font the OCR fixtures are drawn with (Debian `fonts-wqy-microhei`).
pub const CJK_FONT: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";

/// Whether the OCR tools and the fixtures' drawing tools are installed (`make test-deps`
/// installs them): `pdftoppm`, `tesseract` with English and Simplified Chinese, `hb-view`
/// and [`CJK_FONT`].
pub fn ocr_tools() -> bool {
    let runs = |tool: &str, arg: &str| {
        std::process::Command::new(tool)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success() || !o.stdout.is_empty() || !o.stderr.is_empty())
    };
    let langs = std::process::Command::new("tesseract")
        .arg("--list-langs")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    runs("pdftoppm", "-v")
        && runs("hb-view", "--version")
        && langs.lines().any(|l| l.trim() == "eng")
        && langs.lines().any(|l| l.trim() == "chi_sim")
        && std::path::Path::new(CJK_FONT).exists()
}

/// `text` (lines split at `\n`) drawn in black on white as a grayscale PNG, with
/// [`CJK_FONT`] at `size` pixels, by `hb-view`.
pub fn text_png(text: &str, size: u32) -> Vec<u8> {
    let dir = tempfile_dir();
    let out = dir.join("text.png");
    let status = std::process::Command::new("hb-view")
        .args([
            &format!("--font-size={size}"),
            "--margin=48",
            "-O",
            "png",
            "-o",
        ])
        .arg(&out)
        .arg(CJK_FONT)
        .arg(text)
        .status()
        .expect("hb-view runs");
    assert!(status.success(), "hb-view failed");
    let png = std::fs::read(&out).expect("hb-view wrote the image");
    let _ = std::fs::remove_dir_all(&dir);
    png
}

/// A PDF whose pages are `pages` of text (as [`make_pdf`]), except those numbered in
/// `scanned` (from 1): each of those is the same page rendered at 150 dpi by `pdftoppm` and
/// put back as one grayscale image, with no text layer, as a scanner makes it.
pub fn scanned_pdf(pages: &[&str], scanned: &[u32]) -> Vec<u8> {
    use lopdf::{dictionary, Document, Object, Stream};
    let text = make_pdf(pages);
    let dir = tempfile_dir();
    let source = dir.join("text.pdf");
    std::fs::write(&source, &text).unwrap();
    let mut doc = Document::load_mem(&text).expect("our own pdf loads");
    for &number in scanned {
        let pgm = render_page(&source, number, "pgm");
        let (width, height, pixels) = parse_pgm(&pgm);
        let mut image = Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image", "Width" => width as i64,
                "Height" => height as i64, "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
            },
            pixels,
        );
        image.compress().expect("compress");
        let image_id = doc.add_object(image);
        let content = b"q 595 0 0 842 0 0 cm /Im1 Do Q".to_vec();
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let page_id = doc.get_pages()[&number];
        let page = doc
            .get_object_mut(page_id)
            .and_then(Object::as_dict_mut)
            .expect("page");
        page.set("Contents", content_id);
        page.set(
            "Resources",
            dictionary! { "XObject" => dictionary! { "Im1" => image_id } },
        );
    }
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save pdf");
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// Width, height and pixels of a binary PGM (P5, 8 bits).
fn parse_pgm(pgm: &[u8]) -> (usize, usize, Vec<u8>) {
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        if pgm[at] == b'#' {
            while pgm[at] != b'\n' {
                at += 1;
            }
            continue;
        }
        let start = at;
        while !pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&pgm[start..at]).into_owned());
    }
    assert_eq!(fields[0], "P5", "a binary pgm");
    let (width, height): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let pixels = pgm[at + 1..at + 1 + width * height].to_vec();
    (width, height, pixels)
}

fn tempfile_dir() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ragd-fixture-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Character error rate of `got` against `expected`: the edit distance between the two with
/// whitespace left out, over the length of `expected`.
pub fn char_error_rate(expected: &str, got: &str) -> f64 {
    let a: Vec<char> = expected.chars().filter(|c| !c.is_whitespace()).collect();
    let b: Vec<char> = got.chars().filter(|c| !c.is_whitespace()).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()] as f64 / a.len().max(1) as f64
}

/// The first page of [`make_pdf`]`(&[text])` rendered by `pdftoppm` at 150 dpi in gray, as
/// `format`: `png`, `jpeg` or `tiff` (a scanner's or a camera's image of a page).
pub fn page_image(text: &str, format: &str) -> Vec<u8> {
    let dir = tempfile_dir();
    let source = dir.join("page.pdf");
    std::fs::write(&source, make_pdf(&[text])).unwrap();
    let bytes = render_page(&source, 1, format);
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

/// Page `page` of the PDF at `source` rendered by `pdftoppm` at 150 dpi in gray, as `format`
/// (`pgm`, `png`, `jpeg` or `tiff`), from a file beside the PDF.
fn render_page(source: &std::path::Path, page: u32, format: &str) -> Vec<u8> {
    let root = source.with_file_name(format!("page{page}"));
    let mut command = std::process::Command::new("pdftoppm");
    command.args(["-r", "150", "-gray", "-singlefile"]);
    if format != "pgm" {
        command.arg(format!("-{format}"));
    }
    let status = command
        .args(["-f", &page.to_string(), "-l", &page.to_string()])
        .arg(source)
        .arg(&root)
        .status()
        .expect("pdftoppm runs");
    assert!(status.success(), "pdftoppm failed");
    let ext = match format {
        "jpeg" => "jpg",
        "tiff" => "tif",
        other => other,
    };
    std::fs::read(root.with_extension(ext)).expect("pdftoppm wrote the image")
}

//! Documents read the way RAGFlow reads them, against the real binary: scanned pages and
//! images through OCR, with boxes in hits, citations and page images; tables; and the chunk
//! templates of a knowledge base.
//!
//! The OCR test needs poppler-utils, tesseract (English and Simplified Chinese) and hb-view
//! with a CJK font to draw its fixtures: it is ignored by a plain `cargo test`, and
//! `make test` (whose `test-deps` installs them) runs it.

use std::time::Duration;

use e2e::Server;
use serde_json::{json, Value};

fn lines(v: &Value) -> Vec<(f64, f64, f64, f64)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    let f = |k: &str| r[k].as_f64().unwrap_or(-1.0);
                    (f("x0"), f("y0"), f("x1"), f("y1"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs pdftoppm, tesseract and hb-view (make test-deps installs them)"]
async fn ocr_scanned_pages_and_images_are_searchable_and_cited_where_they_are() -> anyhow::Result<()>
{
    assert!(e2e::ocr_tools(), "make test-deps installs the ocr tools");
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[])?;
    server.create_kb("scans").await?;
    let line1 = "The harbour opens at dawn for fishing boats.";
    let line2 = "Ships leave the quay at nine in the morning.";
    let pdf = e2e::scanned_pdf(
        &[
            "A first page with a text layer about the lighthouse keeper.",
            &format!("{line1}\n{line2}"),
        ],
        &[2],
    );
    let png = e2e::text_png(
        "大模型的资源占用可以用一个公式估算\n参数量乘以每个参数的字节数",
        40,
    );
    let (s, up) = server
        .upload("scans", &[("scan.pdf", pdf.clone()), ("notes.png", png)])
        .await?;
    assert_eq!(s, 202, "{up}");
    let mut ids = Vec::new();
    for d in up["documents"].as_array().unwrap() {
        let id = d["id"].as_str().unwrap().to_string();
        let doc = server.wait_done("scans", &id).await?;
        assert_eq!(doc["status"], "ready", "{doc}");
        ids.push(id);
    }

    // The scanned page is found, on its page, with a box per line where the line was drawn.
    let hits = server
        .search(&["scans"], "harbour opens at dawn", 1)
        .await?;
    let hit = &hits[0];
    assert_eq!(hit["document_name"], "scan.pdf", "{hit}");
    assert_eq!(hit["page"], 2, "{hit}");
    let boxes = lines(&hit["boxes"]);
    assert_eq!(boxes.len(), 2, "one box per line: {hit}");
    // make_pdf draws line 1 on the baseline y = 800 of a 842-point page, from x = 50, in
    // 11-point type; line 2 13 points lower.
    for (i, (x0, y0, x1, y1)) in boxes.iter().copied().enumerate() {
        let baseline = (842.0 - (800.0 - 13.0 * i as f64)) / 842.0;
        assert!((x0 - 50.0 / 595.0).abs() < 0.02, "line {i}: x0 {x0}");
        assert!(x1 > 0.4 && x1 < 0.7, "line {i}: x1 {x1}");
        assert!(
            y0 < baseline && y1 > baseline - 0.01,
            "line {i}: {y0}..{y1} vs {baseline}"
        );
    }

    // The extractive answer cites it with the same boxes.
    let (s, a) = server
        .post(
            "/ask",
            json!({"knowledge_bases": ["scans"], "question": "When do ships leave the quay?"}),
        )
        .await?;
    assert_eq!(s, 200, "{a}");
    let cited = a["citations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["page"] == 2)
        .unwrap_or_else(|| panic!("a citation of page 2: {a}"));
    assert_eq!(lines(&cited["boxes"]), boxes);

    // The page as an image, rendered once and then cached.
    let page = |n: u32| {
        server.api(&format!(
            "/knowledge-bases/scans/documents/{}/pages/{n}/image",
            ids[0]
        ))
    };
    let http = reqwest::Client::new();
    let r = http.get(page(2)).send().await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    let first = r.bytes().await?;
    assert!(first.starts_with(b"\x89PNG"));
    let again = http.get(page(2)).send().await?.bytes().await?;
    assert_eq!(first, again);
    assert_eq!(http.get(page(3)).send().await?.status(), 404);
    let bad = http.get(page(0)).send().await?;
    assert_eq!(bad.status(), 404);
    let r = http
        .get(server.api(&format!(
            "/knowledge-bases/scans/documents/{}/pages/x/image",
            ids[0]
        )))
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await?;
    assert_eq!(body["error"]["code"], "bad_request", "{body}");

    // Chinese from an image, and the image is its own page.
    let hits = server.search(&["scans"], "资源占用", 1).await?;
    assert_eq!(hits[0]["document_name"], "notes.png", "{hits:?}");
    assert!(!lines(&hits[0]["boxes"]).is_empty());
    let r = http
        .get(server.api(&format!(
            "/knowledge-bases/scans/documents/{}/pages/1/image",
            ids[1]
        )))
        .send()
        .await?;
    assert_eq!(r.headers()["content-type"], "image/png");

    // OCR off for a knowledge base: a scan fails with a message that says so.
    let (s, b) = server
        .post(
            "/knowledge-bases",
            json!({"name": "noocr", "ocr_languages": []}),
        )
        .await?;
    assert_eq!(s, 201, "{b}");
    let scan_only = e2e::scanned_pdf(&[line1], &[1]);
    let (_, up) = server.upload("noocr", &[("scan.pdf", scan_only)]).await?;
    let doc = server
        .wait_done("noocr", up["documents"][0]["id"].as_str().unwrap())
        .await?;
    assert_eq!(doc["status"], "failed", "{doc}");
    assert!(
        doc["error"].as_str().unwrap().contains("ocr is off"),
        "{doc}"
    );
    let (s, b) = server
        .post(
            "/knowledge-bases",
            json!({"name": "bad", "ocr_languages": ["eng; rm"]}),
        )
        .await?;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{b}"
    );
    server.stop()?;
    Ok(())
}

/// A PDF's text layer: hits carry the boxes of their lines, where make_pdf drew them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdf_text_layer_hits_carry_the_boxes_of_their_lines() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[])?;
    server.create_kb("layout").await?;
    let pdf = e2e::make_pdf(&[
        "An unrelated first page about the weather in spring.",
        "The lighthouse keeper climbs the tower at dusk.\nHe lights the lamp before the fog comes.",
    ]);
    let (_, up) = server.upload("layout", &[("keeper.pdf", pdf)]).await?;
    let doc = server
        .wait_done("layout", up["documents"][0]["id"].as_str().unwrap())
        .await?;
    assert_eq!(doc["status"], "ready", "{doc}");
    let hits = server
        .search(&["layout"], "lighthouse keeper lamp fog", 1)
        .await?;
    assert_eq!(hits[0]["page"], 2, "{}", hits[0]);
    assert_eq!(
        hits[0]["text"],
        "The lighthouse keeper climbs the tower at dusk.\nHe lights the lamp before the fog comes."
    );
    let boxes = lines(&hits[0]["boxes"]);
    assert_eq!(boxes.len(), 2, "{}", hits[0]);
    // Lines on the baselines y = 800 and 787 of a 595 x 842 page, from x = 50, 11 points.
    for (i, (x0, y0, x1, y1)) in boxes.into_iter().enumerate() {
        let baseline = (842.0 - (800.0 - 13.0 * i as f64)) / 842.0;
        assert!((x0 - 50.0 / 595.0).abs() < 0.01, "line {i}: x0 {x0}");
        assert!(x1 > 0.3 && x1 < 0.8, "line {i}: x1 {x1}");
        assert!(
            y0 < baseline && y0 > baseline - 0.02,
            "line {i}: y0 {y0} vs {baseline}"
        );
        assert!(
            y1 >= baseline - 0.002 && y1 < baseline + 0.01,
            "line {i}: y1 {y1} vs {baseline}"
        );
    }
    server.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_templates_shape_what_is_searched_and_what_is_returned() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[])?;
    let create = |name: &'static str, template: &'static str| {
        let server = &server;
        async move {
            let (s, b) = server
                .post(
                    "/knowledge-bases",
                    json!({"name": name, "chunk_template": template, "chunk_size": 64, "chunk_overlap": 0}),
                )
                .await?;
            anyhow::ensure!(s == 201, "{b}");
            anyhow::ensure!(b["chunk_template"] == template, "{b}");
            Ok::<_, anyhow::Error>(())
        }
    };
    let (s, b) = server
        .post(
            "/knowledge-bases",
            json!({"name": "x", "chunk_template": "paper"}),
        )
        .await?;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("parent_child"),
        "{b}"
    );

    // qa: a CSV of questions and answers, and Markdown whose headings ask.
    create("faq", "qa").await?;
    let csv = "question,answer\n\
               How do I reset the router?,Hold the red button for ten seconds.\n\
               Where is the invoice?,In the billing tab of your account.\n";
    let md = "# FAQ\n\n## Can I pay by card?\n\nYes, every major card works.\n";
    let (_, up) = server
        .upload("faq", &[("faq.csv", csv.into()), ("faq.md", md.into())])
        .await?;
    for d in up["documents"].as_array().unwrap() {
        let doc = server.wait_done("faq", d["id"].as_str().unwrap()).await?;
        assert_eq!(
            (doc["status"].as_str(), doc["chunk_count"].as_i64()),
            (
                Some("ready"),
                Some(
                    d["name"]
                        .as_str()
                        .map_or(0, |n| if n.ends_with(".csv") { 2 } else { 1 })
                )
            ),
            "{doc}"
        );
    }
    let hits = server.search(&["faq"], "reset the router", 1).await?;
    assert_eq!(
        hits[0]["text"],
        "Question: How do I reset the router?\nAnswer: Hold the red button for ten seconds."
    );
    let hits = server.search(&["faq"], "pay by card", 1).await?;
    assert_eq!(
        hits[0]["text"],
        "Question: Can I pay by card?\nAnswer: Yes, every major card works."
    );

    // table: one chunk per row, each under the header.
    create("sheet", "table").await?;
    let rows: String = (0..6)
        .map(|i| format!("sensor{i},{},room {i}\n", 20 + i))
        .collect();
    let csv = format!("sensor,celsius,place\n{rows}");
    let (_, up) = server
        .upload("sheet", &[("sensors.csv", csv.into_bytes())])
        .await?;
    let sheet = up["documents"][0]["id"].as_str().unwrap().to_string();
    let doc = server.wait_done("sheet", &sheet).await?;
    assert_eq!(doc["chunk_count"], 6, "{doc}");
    let (_, chunks) = server
        .get(&format!("/knowledge-bases/sheet/documents/{sheet}/chunks"))
        .await?;
    let texts: Vec<&str> = chunks["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts[3],
        "| sensor | celsius | place |\n| --- | --- | --- |\n| sensor3 | 23 | room 3 |"
    );

    // general: a long table in chunks of whole rows, each repeating the header.
    create("rows", "general").await?;
    let rows: String = (0..40)
        .map(|i| format!("| item{i} | {} |\n", 100 + i))
        .collect();
    let md = format!("# Stock\n\n| item | count |\n|---|---|\n{rows}");
    let (_, up) = server
        .upload("rows", &[("stock.md", md.into_bytes())])
        .await?;
    let id = up["documents"][0]["id"].as_str().unwrap().to_string();
    server.wait_done("rows", &id).await?;
    let (_, chunks) = server
        .get(&format!("/knowledge-bases/rows/documents/{id}/chunks"))
        .await?;
    let chunks = chunks["chunks"].as_array().unwrap();
    assert!(chunks.len() > 2, "{chunks:?}");
    let mut seen = Vec::new();
    for c in chunks {
        let text = c["text"].as_str().unwrap();
        assert!(
            text.starts_with("| item | count |\n| --- | --- |\n"),
            "{text}"
        );
        seen.extend(text.lines().skip(2).map(str::to_string));
    }
    let expected: Vec<String> = (0..40)
        .map(|i| format!("| item{i} | {} |", 100 + i))
        .collect();
    assert_eq!(seen, expected, "every row once, whole, in order");

    // parent_child: small chunks are found, their section comes along.
    create("pc", "parent_child").await?;
    let section: String = (0..12)
        .map(|i| format!("Fact {i} about the old mill by the river. "))
        .collect();
    let md = format!("# Mill\n\n{section}The miller keeps a grey cat named Pepper.\n");
    let (_, up) = server.upload("pc", &[("mill.md", md.into_bytes())]).await?;
    server
        .wait_done("pc", up["documents"][0]["id"].as_str().unwrap())
        .await?;
    let hits = server.search(&["pc"], "cat named Pepper", 1).await?;
    let text = hits[0]["text"].as_str().unwrap();
    let context = hits[0]["context"]
        .as_str()
        .expect("a section comes with the hit");
    assert!(
        text.contains("Pepper") && context.contains("Pepper"),
        "{}",
        hits[0]
    );
    assert!(
        context.contains("Fact 0") && context.len() > text.len() * 2,
        "{}",
        hits[0]
    );

    // The template changes with a re-index.
    let (s, r) = server
        .post(
            "/knowledge-bases/sheet/reindex",
            json!({"chunk_template": "general"}),
        )
        .await?;
    assert_eq!(s, 202, "{r}");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (_, kb) = server.get("/knowledge-bases/sheet").await?;
        if kb["chunk_template"] == "general" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "re-index did not switch: {kb}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, doc) = server
        .get(&format!("/knowledge-bases/sheet/documents/{sheet}"))
        .await?;
    let rows = doc["chunk_count"].as_i64().unwrap();
    assert!((1..6).contains(&rows), "rows in groups now: {doc}");
    server.stop()?;
    Ok(())
}

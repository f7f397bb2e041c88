//! Retrieval quality features end to end: explain, rerankers (weighted and a cross-encoder
//! fixture — plumbing only, never quality), per-request and per-knowledge-base options,
//! Chinese normalization, the user dictionary, and the evaluation endpoint (on the four
//! documents and forty generated distractors, so that its scores can come out wrong).

use std::path::PathBuf;

use e2e::Server;
use serde_json::{json, Value};

const DOCS: [(&str, &str); 4] = [
    ("gpu.txt", "大模型资源占用计算公式：显存约等于参数量乘以每个参数的字节数，再乘以一点二。检索增强生成可以减少幻觉。"),
    ("food.txt", "红烧肉的做法：五花肉切块焯水，加入冰糖炒出糖色，再放酱油小火慢炖。"),
    ("rust.md", "# Ownership\n\nEvery value in Rust has exactly one owner. The borrow checker enforces the borrowing rules for references."),
    ("plants.md", "# Photosynthesis\n\nGreen plants capture sunlight with chlorophyll and turn water and carbon dioxide into glucose."),
];

fn cache_dir() -> PathBuf {
    if let Ok(d) = std::env::var("RAGD_CACHE_DIR") {
        return PathBuf::from(d);
    }
    PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into())).join(".cache/ragd")
}

/// Neighbours of the four documents, each template (`{}`: the subject) once per subject:
/// other languages' memory and references, houseplant care, other dishes, computer parts.
const NEIGHBOURS: [([&str; 5], [&str; 2]); 4] = [
    (
        ["Go", "Python", "Java", "Haskell", "Kotlin"],
        [
            "{} frees memory with a garbage collector: a value lives while something references it.",
            "In {} a function receives references to its arguments and may share them with threads.",
        ],
    ),
    (
        ["Cacti", "Ferns", "Orchids", "Tomato seedlings", "Mosses"],
        [
            "{} kept indoors need a pot with drainage holes and water once the soil is dry.",
            "{} lean towards the window: turn the pot every week so each side gets light.",
        ],
    ),
    (
        ["宫保鸡丁", "麻婆豆腐", "鱼香肉丝", "糖醋排骨", "清蒸鲈鱼"],
        [
            "{}的做法：食材切好后大火快炒，最后加盐调味。",
            "做{}需要准备酱油、醋、糖和葱姜蒜。",
        ],
    ),
    (
        ["显卡", "内存条", "固态硬盘", "处理器", "主板"],
        [
            "{}的价格近年来波动很大，选购时要看参数和散热。",
            "安装{}之前要先断电，并确认接口和电源功率是否匹配。",
        ],
    ),
];

/// The forty distractors of [`NEIGHBOURS`], `d01.txt` to `d40.txt` (the recipes are d21 to
/// d30). With them the knowledge base holds 44 documents, so a top 10 can miss the right one.
fn distractors() -> Vec<(String, String)> {
    let mut texts = Vec::new();
    for (subjects, templates) in NEIGHBOURS {
        for subject in subjects {
            for t in templates {
                texts.push(t.replace("{}", subject));
            }
        }
    }
    texts
        .into_iter()
        .enumerate()
        .map(|(i, t)| (format!("d{:02}.txt", i + 1), t))
        .collect()
}

/// Uploads (name, text) files to `kb` and waits until each is ready.
async fn upload_ready(server: &Server, kb: &str, docs: &[(&str, &str)]) -> anyhow::Result<()> {
    let files: Vec<(&str, Vec<u8>)> = docs
        .iter()
        .map(|(n, t)| (*n, t.as_bytes().to_vec()))
        .collect();
    let (status, body) = server.upload(kb, &files).await?;
    assert_eq!(status, 202, "{body}");
    for d in body["documents"].as_array().unwrap() {
        let doc = server.wait_done(kb, d["id"].as_str().unwrap()).await?;
        assert_eq!(doc["status"], "ready", "{doc}");
    }
    Ok(())
}

async fn setup(envs: &[(&str, &str)]) -> anyhow::Result<(tempfile::TempDir, Server)> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(&dir.path().join("data"), envs)?;
    server.create_kb("kb").await?;
    upload_ready(&server, "kb", &DOCS).await?;
    Ok((dir, server))
}

async fn search(server: &Server, body: Value) -> anyhow::Result<(u16, Value)> {
    server.post("/search", body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_rerank_options_and_chinese() -> anyhow::Result<()> {
    // A cross-encoder folder: the fixture model with the setup's tokenizer files.
    let dir = tempfile::tempdir()?;
    let ce = dir.path().join("cross-encoder");
    std::fs::create_dir_all(&ce)?;
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../retrieval/tests/fixtures/cross-encoder/model.onnx");
    std::fs::copy(fixture, ce.join("model.onnx"))?;
    for f in [
        "tokenizer.json",
        "config.json",
        "special_tokens_map.json",
        "tokenizer_config.json",
    ] {
        std::fs::copy(
            cache_dir().join("models/all-minilm-l6-v2-int8").join(f),
            ce.join(f),
        )?;
    }
    let dict = dir.path().join("dict.txt");
    std::fs::write(&dict, "# domain terms\n检索增强生成\n")?;
    let (_d, server) = setup(&[
        ("RAGD_CROSS_ENCODER_DIR", ce.to_str().unwrap()),
        ("RAGD_USER_DICTIONARY", dict.to_str().unwrap()),
    ])
    .await?;

    // Explain: ranks, scores and the BM25 terms each hit matched.
    let (s, r) = search(
        &server,
        json!({"knowledge_bases": ["kb"], "query": "大模型显存计算", "explain": true, "top_k": 2}),
    )
    .await?;
    assert_eq!(s, 200, "{r}");
    let top = &r["hits"][0];
    assert_eq!(top["document_name"], "gpu.txt", "{r:#}");
    let ex = &top["explain"];
    assert_eq!(ex["sparse_rank"], 1);
    assert!(ex["dense_rank"].as_u64().is_some());
    assert!(ex["fused_score"].as_f64().unwrap() > 0.0);
    let matched: Vec<&str> = ex["matched_terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        matched.contains(&"模型") && matched.contains(&"显存"),
        "{matched:?}"
    );

    // Traditional characters and full-width forms find the simplified text.
    let (_, r) = search(
        &server,
        json!({"knowledge_bases": ["kb"], "query": "顯存計算公式", "top_k": 1}),
    )
    .await?;
    assert_eq!(r["hits"][0]["document_name"], "gpu.txt", "{r:#}");
    assert!(
        r["hits"][0]["scores"]["sparse"].as_f64().is_some(),
        "BM25 matched the traditional query"
    );

    // The user dictionary keeps the term whole.
    let (_, r) = search(&server, json!({"knowledge_bases": ["kb"], "query": "什么是检索增强生成", "explain": true, "top_k": 1})).await?;
    let matched = r["hits"][0]["explain"]["matched_terms"].clone();
    assert!(
        matched
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "检索增强生成"),
        "{matched}"
    );

    // Weighted rerank: every hit has a rerank score in [0, 1], in descending order.
    let (s, r) = search(&server, json!({"knowledge_bases": ["kb"], "query": "borrow checker rules", "rerank": "weighted", "vector_weight": 0.5, "top_k": 4})).await?;
    assert_eq!(s, 200, "{r}");
    let scores: Vec<f64> = r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["scores"]["rerank"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    assert_eq!(r["hits"][0]["document_name"], "rust.md");
    assert_eq!(r["hits"][0]["score"], r["hits"][0]["scores"]["rerank"]);

    // Cross-encoder plumbing: the fixture's scores come back, ordered; not a quality check.
    let (s, r) = search(&server, json!({"knowledge_bases": ["kb"], "query": "plants", "rerank": "cross_encoder", "top_k": 4})).await?;
    assert_eq!(s, 200, "{r}");
    let scores: Vec<f64> = r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["scores"]["rerank"].as_f64().unwrap())
        .collect();
    assert_eq!(scores.len(), 4);
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(
        scores.iter().all(|s| *s > 0.5 && *s < 1.0),
        "sigmoid of a positive mean-id logit: {scores:?}"
    );

    // Similarity threshold and bad options.
    let (_, r) = search(&server, json!({"knowledge_bases": ["kb"], "query": "borrow checker", "rerank": "weighted", "similarity_threshold": 0.99})).await?;
    assert!(r["hits"].as_array().unwrap().is_empty(), "{r}");
    let (s, r) = search(
        &server,
        json!({"knowledge_bases": ["kb"], "query": "x", "vector_weight": 3}),
    )
    .await?;
    assert_eq!((s, r["error"]["code"].as_str()), (400, Some("bad_request")));
    let (s, _) = search(
        &server,
        json!({"knowledge_bases": ["kb"], "query": "x", "fusion": "magic"}),
    )
    .await?;
    assert_eq!(s, 400);

    // Knowledge-base defaults apply when the request does not say; DBSF fusion works.
    let r = server
        .http
        .patch(server.api("/knowledge-bases/kb"))
        .json(&json!({"retrieval": {"rerank": "weighted", "fusion": "dbsf"}}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    let kb: Value = r.json().await?;
    assert_eq!(kb["retrieval"]["rerank"], "weighted");
    let (_, r) = search(
        &server,
        json!({"knowledge_bases": ["kb"], "query": "photosynthesis glucose", "top_k": 2}),
    )
    .await?;
    assert!(r["hits"][0]["scores"]["rerank"].as_f64().is_some(), "{r}");
    assert!(r["hits"][0]["scores"]["fused"].as_f64().unwrap() <= 2.0);
    let (_, r) = search(
        &server,
        json!({"knowledge_bases": ["kb"], "query": "photosynthesis glucose", "rerank": "none"}),
    )
    .await?;
    assert!(
        r["hits"][0]["scores"].get("rerank").is_none(),
        "the request overrides the kb default"
    );
    server.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluation_endpoint_scores_settings_side_by_side() -> anyhow::Result<()> {
    let (_d, server) = setup(&[]).await?;
    let distractors = distractors();
    let refs: Vec<(&str, &str)> = distractors
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    upload_ready(&server, "kb", &refs).await?;
    let body = json!({
        "knowledge_base": "kb",
        "queries": [
            {"_id": "q1", "text": "大模型需要多少显存"},
            {"_id": "q2", "text": "how does the borrow checker work"},
            {"_id": "q3", "text": "what do plants make from sunlight"},
        ],
        "qrels": {"q1": {"gpu": 1}, "q2": {"rust": 1}, "q3": {"plants": 2, "food": 0}},
    });
    let (s, r) = server.post("/eval", body).await?;
    assert_eq!(s, 200, "{r}");
    let rows = r["results"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["setting"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "dense only",
            "bm25 only",
            "hybrid",
            "hybrid + weighted rerank"
        ]
    );
    for row in rows {
        assert_eq!(row["queries"], 3);
        for m in ["ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10"] {
            let v = row[m].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{m} = {v}");
        }
    }
    let hybrid = &rows[2];
    assert_eq!(hybrid["recall_at_10"], 1.0, "{hybrid}");
    assert_eq!(hybrid["mrr_at_10"], 1.0, "{hybrid}");

    // The corpus is large enough for recall@10 to miss: with all ten recipe distractors
    // judged relevant to a Rust question, no setting finds them all in its top 10.
    let recipes: serde_json::Map<String, Value> =
        (21..=30).map(|i| (format!("d{i:02}"), json!(1))).collect();
    let (s, r) = server
        .post(
            "/eval",
            json!({
                "knowledge_base": "kb",
                "queries": [{"_id": "q", "text": "how does the borrow checker work"}],
                "qrels": {"q": recipes},
            }),
        )
        .await?;
    assert_eq!(s, 200, "{r}");
    for row in r["results"].as_array().unwrap() {
        let recall = row["recall_at_10"].as_f64().unwrap();
        assert!(recall < 1.0, "{row}");
    }
    let (s, _) = server
        .post(
            "/eval",
            json!({"knowledge_base": "nope", "queries": [{"id": "q", "text": "x"}], "qrels": {}}),
        )
        .await?;
    assert_eq!(s, 404);
    server.stop()?;
    Ok(())
}

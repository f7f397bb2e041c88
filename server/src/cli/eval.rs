//! `ragd eval`: load a BEIR corpus (optional), then nDCG@10, Recall@10/100 and MRR@10 per
//! search setting, side by side.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::backend::Backend;
use super::ingest::{ingest_items, Item};
use crate::service::documents::clean_file_name;
use crate::service::eval::{doc_key, EvalBody, EvalQuery};

/// A corpus record (`corpus.jsonl`).
#[derive(Deserialize)]
struct CorpusDoc {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
}

/// A query record (`queries.jsonl`).
#[derive(Deserialize)]
struct QueryRecord {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

fn read_jsonl<T: DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}: line {} is not a record", path.display(), i + 1))
        })
        .collect()
}

pub async fn run(
    backend: &Backend,
    kb: &str,
    queries: &Path,
    qrels: &Path,
    corpus: Option<&Path>,
    raw: bool,
) -> anyhow::Result<()> {
    if let Some(corpus) = corpus {
        let items: Vec<Item> = read_jsonl::<CorpusDoc>(corpus)?
            .into_iter()
            .map(|d| {
                let body = if d.title.is_empty() {
                    d.text
                } else {
                    format!("{}\n{}", d.title, d.text)
                };
                Item::Bytes(format!("{}.txt", d.id), body.into_bytes())
            })
            .collect();
        eprintln!(
            "loading {} documents from {}",
            items.len(),
            corpus.display()
        );
        ingest_items(backend, kb, items).await?;
    }
    let queries: Vec<EvalQuery> = read_jsonl::<QueryRecord>(queries)?
        .into_iter()
        .map(|q| EvalQuery {
            id: q.id,
            text: q.text,
        })
        .collect();
    let qrels_text = std::fs::read_to_string(qrels)
        .with_context(|| format!("cannot read {}", qrels.display()))?;
    // Judgements name corpus ids; documents are named `<id>.txt`, cleaned like any upload.
    let qrels: HashMap<String, HashMap<String, u32>> = retrieval::eval::parse_qrels(&qrels_text)
        .into_iter()
        .map(|(q, docs)| {
            let docs = docs
                .into_iter()
                .map(|(d, g)| {
                    let name = clean_file_name(&format!("{d}.txt"));
                    (doc_key(&name).to_string(), g)
                })
                .collect();
            (q, docs)
        })
        .collect();
    let report = backend
        .eval(EvalBody {
            knowledge_base: kb.to_string(),
            queries,
            qrels,
            settings: None,
        })
        .await?;
    if raw {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("| setting | nDCG@10 | Recall@10 | Recall@100 | MRR@10 | ms/query |");
    println!("|---|---|---|---|---|---|");
    for r in &report.results {
        let m = &r.metrics;
        println!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.1} |",
            r.setting, m.ndcg_at_10, m.recall_at_10, m.recall_at_100, m.mrr_at_10, r.ms_per_query,
        );
    }
    if let Some(r) = report.results.first() {
        println!("({} judged queries)", r.metrics.queries);
    }
    Ok(())
}

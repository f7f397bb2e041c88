//! Retrieval evaluation over a knowledge base (`POST /api/v1/eval`, `ragd eval`).
//!
//! Queries and graded judgements come in the BEIR layout; a document's corpus id is its
//! name without the extension (`ragd eval --corpus` names documents `<id>.txt`). Each
//! setting is run over every query; chunk hits are folded into a document ranking (first
//! occurrence wins) and scored with nDCG@10, Recall@10, Recall@100 and MRR@10.

use std::collections::HashMap;
use std::time::Instant;

use retrieval::eval::{evaluate, Metrics};
use retrieval::rerank::RerankKind;
use retrieval::{Scope, SearchMode, SearchOptions, SearchRequest};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::knowledge_bases;
use super::State;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct EvalQuery {
    #[serde(alias = "_id")]
    pub id: String,
    pub text: String,
}

/// A named search setting to compare.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvalSetting {
    pub name: String,
    #[serde(default)]
    pub options: SearchOptions,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvalBody {
    pub knowledge_base: String,
    pub queries: Vec<EvalQuery>,
    /// query id → corpus id → grade (0 = not relevant).
    pub qrels: HashMap<String, HashMap<String, u32>>,
    /// Settings to compare; default: dense only, BM25 only, hybrid, hybrid + rerank.
    #[serde(default)]
    pub settings: Option<Vec<EvalSetting>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvalRow {
    pub setting: String,
    #[serde(flatten)]
    pub metrics: EvalMetrics,
    pub ms_per_query: f64,
}

/// [`Metrics`] as sent over the wire.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvalMetrics {
    pub ndcg_at_10: f64,
    pub recall_at_10: f64,
    pub recall_at_100: f64,
    pub mrr_at_10: f64,
    pub queries: usize,
}

impl From<Metrics> for EvalMetrics {
    fn from(m: Metrics) -> Self {
        Self {
            ndcg_at_10: m.ndcg_at_10,
            recall_at_10: m.recall_at_10,
            recall_at_100: m.recall_at_100,
            mrr_at_10: m.mrr_at_10,
            queries: m.queries,
        }
    }
}

/// The standard comparison: dense only, BM25 only, hybrid (the knowledge base's settings
/// without rerank), hybrid + rerank (weighted, or the cross-encoder when one is configured).
pub fn default_settings(cross_encoder: bool) -> Vec<EvalSetting> {
    let with = |name: &str, o: SearchOptions| EvalSetting {
        name: name.into(),
        options: o,
    };
    vec![
        with(
            "dense only",
            SearchOptions {
                mode: Some(SearchMode::Dense),
                rerank: Some(RerankKind::None),
                ..Default::default()
            },
        ),
        with(
            "bm25 only",
            SearchOptions {
                mode: Some(SearchMode::Sparse),
                rerank: Some(RerankKind::None),
                ..Default::default()
            },
        ),
        with(
            "hybrid",
            SearchOptions {
                mode: Some(SearchMode::Hybrid),
                rerank: Some(RerankKind::None),
                ..Default::default()
            },
        ),
        with(
            if cross_encoder {
                "hybrid + cross-encoder"
            } else {
                "hybrid + weighted rerank"
            },
            SearchOptions {
                mode: Some(SearchMode::Hybrid),
                rerank: Some(if cross_encoder {
                    RerankKind::CrossEncoder
                } else {
                    RerankKind::Weighted
                }),
                ..Default::default()
            },
        ),
    ]
}

/// The corpus id of a document: its name without the last extension.
pub fn doc_key(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    }
}

/// An evaluation's results: one row per setting.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvalReport {
    pub knowledge_base: String,
    pub results: Vec<EvalRow>,
}

pub async fn eval(state: &State, caller: &Caller, body: EvalBody) -> Result<EvalReport> {
    let kb = knowledge_bases::find(state, caller, &body.knowledge_base).await?;
    if body.queries.is_empty() || body.queries.len() > 20_000 {
        return Err(Error::bad_request("queries must hold 1 to 20000 queries"));
    }
    let settings = body
        .settings
        .unwrap_or_else(|| default_settings(state.cross_encoder.is_some()));
    let defaults = kb.search_defaults();
    let space = knowledge_bases::space(state, &kb).await?;
    // One evaluation at a time; each setting's blocking run holds the turn while it works.
    let turn = std::sync::Arc::new(state.evals.enter().await?);
    let mut rows = Vec::new();
    for setting in settings {
        let options = setting.options.or(&defaults);
        options.validate()?;
        let searcher = state.searcher(&space);
        let queries = body.queries.clone();
        let kb_id = kb.index_key();
        let started = Instant::now();
        let turn = turn.clone();
        let runs = tokio::task::spawn_blocking(
            move || -> retrieval::Result<HashMap<String, Vec<String>>> {
                let _turn = turn;
                let mut runs = HashMap::new();
                for q in &queries {
                    if q.text.trim().is_empty() {
                        continue;
                    }
                    let mut o = options.clone();
                    o.prefetch = Some(o.prefetch.unwrap_or(0).max(200));
                    let hits = searcher.search(&SearchRequest {
                        query: q.text.clone(),
                        scope: Scope {
                            knowledge_bases: vec![kb_id.clone()],
                            documents: None,
                        },
                        top_k: Some(200),
                        options: o,
                        explain: false,
                        bm25_fallback: false,
                    })?;
                    let mut ranked: Vec<String> = Vec::new();
                    for h in hits {
                        let key = doc_key(&h.chunk.doc_name).to_string();
                        if !ranked.contains(&key) {
                            ranked.push(key);
                        }
                    }
                    runs.insert(q.id.clone(), ranked);
                }
                Ok(runs)
            },
        )
        .await??;
        let ms_per_query = started.elapsed().as_secs_f64() * 1000.0 / body.queries.len() as f64;
        rows.push(EvalRow {
            setting: setting.name,
            metrics: evaluate(&runs, &body.qrels).into(),
            ms_per_query: (ms_per_query * 100.0).round() / 100.0,
        });
    }
    Ok(EvalReport {
        knowledge_base: kb.name,
        results: rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_keys() {
        assert_eq!(
            doc_key("<dbpedia:Oceanic_Airlines>.txt"),
            "<dbpedia:Oceanic_Airlines>"
        );
        assert_eq!(doc_key("TRIAL_800.txt"), "TRIAL_800");
        assert_eq!(doc_key("noext"), "noext");
        assert_eq!(doc_key("a.b.md"), "a.b");
    }

    #[test]
    fn default_comparison_has_four_settings() {
        let s = default_settings(false);
        assert_eq!(s.len(), 4);
        assert_eq!(s[3].options.rerank, Some(RerankKind::Weighted));
        assert_eq!(
            default_settings(true)[3].options.rerank,
            Some(RerankKind::CrossEncoder)
        );
    }
}

//! Hybrid search over one or more knowledge bases: validation, the knowledge base's search
//! defaults, a turn at the gate, then the search on a blocking thread.

use serde::{Deserialize, Serialize};

use super::knowledge_bases;
use super::State;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub knowledge_bases: Vec<String>,
    pub query: String,
    #[serde(default)]
    pub top_k: Option<usize>,
    #[serde(default)]
    pub document_ids: Option<Vec<String>>,
    /// Report ranks and the query terms each hit matched.
    #[serde(default)]
    pub explain: bool,
    /// Per-request search options (mode, fusion, rrf_k, weights, prefetch, rerank,
    /// vector_weight, top_n, similarity_threshold); the first knowledge base's defaults fill
    /// what is not given.
    #[serde(flatten)]
    pub options: retrieval::SearchOptions,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SearchHit {
    pub chunk_id: String,
    pub document_id: String,
    pub document_name: String,
    pub knowledge_base: String,
    pub knowledge_base_id: String,
    pub page: Option<u32>,
    pub heading: String,
    pub ordinal: u32,
    pub text: String,
    /// The score the hits are ordered by: rerank when a reranker ran, else fused.
    pub score: f32,
    pub scores: HitScoresView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<ExplainView>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct HitScoresView {
    pub dense: Option<f32>,
    pub sparse: Option<f32>,
    pub fused: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerank: Option<f32>,
}

/// Why a hit ranked where it did.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ExplainView {
    /// 1-based rank in the dense branch.
    pub dense_rank: Option<usize>,
    /// 1-based rank in the sparse (BM25) branch.
    pub sparse_rank: Option<usize>,
    pub dense_score: Option<f32>,
    pub sparse_score: Option<f32>,
    pub fused_score: f32,
    pub rerank_score: Option<f32>,
    /// The query's BM25 terms (as BM25 tokenized them) found in this chunk.
    pub matched_terms: Vec<String>,
}

/// Runs a hybrid search; the hits, best first.
pub async fn hits(state: &State, body: SearchRequest) -> Result<Vec<SearchHit>> {
    if body.query.trim().is_empty() {
        return Err(Error::bad_request("query must not be empty"));
    }
    if body.query.chars().count() > 4000 {
        return Err(Error::bad_request("query must be at most 4000 characters"));
    }
    if body.knowledge_bases.is_empty() {
        return Err(Error::bad_request(
            "knowledge_bases must name at least one knowledge base",
        ));
    }
    if let Some(k) = body.top_k {
        if !(1..=100).contains(&k) {
            return Err(Error::bad_request("top_k must be 1 to 100"));
        }
    }
    let mut names = std::collections::HashMap::new();
    let mut defaults = None;
    for kb in &body.knowledge_bases {
        let kb = knowledge_bases::find(state, kb).await?;
        // Options: the request, then the first knowledge base's defaults.
        defaults.get_or_insert_with(|| kb.search_defaults());
        names.insert(kb.id, kb.name);
    }
    let options = body.options.or(&defaults.unwrap_or_default());
    options.validate()?;
    let request = retrieval::SearchRequest {
        query: body.query,
        scope: retrieval::Scope {
            knowledge_bases: names.keys().cloned().collect(),
            documents: body.document_ids,
        },
        top_k: body.top_k,
        options,
        explain: body.explain,
    };
    let searcher = state.searcher.clone();
    let turn = state.searches.enter().await?;
    let hits = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        searcher.search(&request)
    })
    .await??;
    Ok(hits
        .into_iter()
        .map(|h| SearchHit {
            chunk_id: h.chunk_id.to_string(),
            document_id: h.chunk.doc_id,
            document_name: h.chunk.doc_name,
            knowledge_base: names.get(&h.chunk.kb_id).cloned().unwrap_or_default(),
            knowledge_base_id: h.chunk.kb_id,
            page: h.chunk.page,
            heading: h.chunk.heading,
            ordinal: h.chunk.ordinal,
            text: h.chunk.text,
            score: h.scores.rerank.unwrap_or(h.scores.fused),
            explain: h.matched_terms.map(|matched_terms| ExplainView {
                dense_rank: h.scores.dense_rank.map(|r| r + 1),
                sparse_rank: h.scores.sparse_rank.map(|r| r + 1),
                dense_score: h.scores.dense,
                sparse_score: h.scores.sparse,
                fused_score: h.scores.fused,
                rerank_score: h.scores.rerank,
                matched_terms,
            }),
            scores: HitScoresView {
                dense: h.scores.dense,
                sparse: h.scores.sparse,
                fused: h.scores.fused,
                rerank: h.scores.rerank,
            },
        })
        .collect())
}

/// A search's hits, and whether the dense branch took part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchReply {
    pub hits: Vec<SearchHit>,
    pub dense_used: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// [`hits`], with a notice when the embedding model does not know the query's language.
pub async fn search(state: &State, body: SearchRequest) -> Result<SearchReply> {
    let language = retrieval::normalize::language(&body.query);
    let dense_used = state.searcher.embedder.covers(language);
    let hits = hits(state, body).await?;
    let notice = (!dense_used).then(|| {
        format!(
            "the embedding model does not understand {language} queries: BM25 ranks them (configure a multilingual model to add dense search)"
        )
    });
    Ok(SearchReply {
        hits,
        dense_used,
        notice,
    })
}

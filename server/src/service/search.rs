//! Hybrid search over one or more knowledge bases: validation, the knowledge base's search
//! defaults, a turn at the gate, then the search on a blocking thread.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::knowledge_bases;
use super::State;
use crate::error::{Error, Result};
use crate::spaces::Space;

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
    /// When the embedding server is down or slow: `false` (default) answers 503; `true`
    /// ranks by BM25 alone and says so in the reply's `notice`.
    #[serde(default)]
    pub bm25_fallback: bool,
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

/// What a search reports beside its hits.
#[derive(Debug, Clone, Default)]
struct Found {
    /// Whether a dense branch counted (its model knows the query's language).
    dense_used: bool,
    /// Why the dense branch was dropped (the embedding server was down), if it was.
    degraded: Option<String>,
}

/// Runs a hybrid search; the hits, best first.
pub async fn hits(state: &State, body: SearchRequest) -> Result<Vec<SearchHit>> {
    hits_reporting(state, body, &mut Found::default()).await
}

/// Merges the hit lists of searches in different embedding spaces by the score each hit was
/// ordered by in its own search (rerank, else fused). Raw dense scores of two models are not
/// comparable, but a fused score is built from ranks (RRF: the sum over the branches of
/// `w / (k + rank)`; DBSF: per-list normalized scores), so it means the same in every model's
/// search: a chunk both branches found outranks one that only one branch found. One list
/// passes through unchanged.
fn fuse_models(mut lists: Vec<Vec<retrieval::Hit>>, top_k: usize) -> Vec<retrieval::Hit> {
    if lists.len() <= 1 {
        return lists.pop().unwrap_or_default();
    }
    let score = |h: &retrieval::Hit| h.scores.rerank.unwrap_or(h.scores.fused);
    let mut all: Vec<retrieval::Hit> = lists.into_iter().flatten().collect();
    all.sort_by(|a, b| score(b).total_cmp(&score(a)));
    all.truncate(top_k);
    all
}

async fn hits_reporting(
    state: &State,
    body: SearchRequest,
    report: &mut Found,
) -> Result<Vec<SearchHit>> {
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
    // Knowledge bases grouped by embedding model: each group is one search in its space.
    let mut groups: Vec<(Arc<Space>, Vec<String>)> = Vec::new();
    for kb in &body.knowledge_bases {
        let kb = knowledge_bases::find(state, kb).await?;
        // Options: the request, then the first knowledge base's defaults.
        defaults.get_or_insert_with(|| kb.search_defaults());
        let space = knowledge_bases::space(state, &kb).await?;
        // Its points carry its index key (the generation searches use now).
        let key = kb.index_key();
        match groups.iter_mut().find(|(s, _)| s.model() == space.model()) {
            Some((_, keys)) => keys.push(key.clone()),
            None => groups.push((space, vec![key.clone()])),
        }
        names.insert(key, (kb.id, kb.name));
    }
    let options = body.options.or(&defaults.unwrap_or_default());
    options.validate()?;
    let top_k = body.top_k.unwrap_or(state.config.search.top_k);
    let requests: Vec<(retrieval::Searcher, retrieval::SearchRequest)> = groups
        .into_iter()
        .map(|(space, kbs)| {
            let request = retrieval::SearchRequest {
                query: body.query.clone(),
                scope: retrieval::Scope {
                    knowledge_bases: kbs,
                    documents: body.document_ids.clone(),
                },
                top_k: body.top_k,
                options: options.clone(),
                explain: body.explain,
                bm25_fallback: body.bm25_fallback,
            };
            (state.searcher(&space), request)
        })
        .collect();
    let turn = state.searches.enter().await?;
    let (hits, found) = tokio::task::spawn_blocking(move || -> retrieval::Result<_> {
        let _turn = turn;
        let mut lists = Vec::with_capacity(requests.len());
        let mut found = Found::default();
        for (searcher, request) in &requests {
            let one = searcher.search_report(request)?;
            found.dense_used |= one.dense_used;
            found.degraded = found.degraded.or(one.degraded);
            lists.push(one.hits);
        }
        Ok((fuse_models(lists, top_k), found))
    })
    .await??;
    *report = found;
    Ok(hits
        .into_iter()
        .map(|h| SearchHit {
            chunk_id: h.chunk_id.to_string(),
            document_id: h.chunk.doc_id,
            document_name: h.chunk.doc_name,
            knowledge_base: names
                .get(&h.chunk.kb_id)
                .map(|(_, name)| name.clone())
                .unwrap_or_default(),
            knowledge_base_id: crate::store::kb_of_key(&h.chunk.kb_id).to_string(),
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

/// [`hits`], with a notice when the embedding model does not know the query's language, or
/// the embedding server was down and BM25 ranked alone.
pub async fn search(state: &State, body: SearchRequest) -> Result<SearchReply> {
    let language = retrieval::normalize::language(&body.query);
    let mut found = Found::default();
    let hits = hits_reporting(state, body, &mut found).await?;
    let dense_used = found.dense_used && found.degraded.is_none();
    let notice = match found.degraded {
        Some(why) => Some(format!(
            "the embedding server is unavailable ({why}): BM25 ranked these results alone"
        )),
        None => (!found.dense_used).then(|| {
            format!(
                "the embedding model does not understand {language} queries: BM25 ranks them (choose a multilingual model for this knowledge base to add dense search)"
            )
        }),
    };
    Ok(SearchReply {
        hits,
        dense_used,
        notice,
    })
}

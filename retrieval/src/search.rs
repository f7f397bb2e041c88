//! Hybrid search: dense ∥ sparse, fused (reciprocal rank fusion or distribution-based score
//! fusion), optionally reranked, thresholded and cut to `top_k`.
//!
//! Each branch prefetches its own top-N inside the requested scope; every hit keeps its dense
//! and sparse score and rank (or `None` when that branch did not find it), its fused score and
//! its rerank score, so callers can explain a ranking. Options come per request, falling back
//! to the knowledge base's defaults, then to the configuration.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::embed::Embed;
use crate::error::{Error, Result};
use crate::filter::Scope;
use crate::fusion::{distribution_based_score_fusion, reciprocal_rank_fusion, Fused};
use crate::index::{ChunkPayload, Index, ScoredChunk};
use crate::rerank::{
    sigmoid, term_similarity, weighted_score, CrossEncoder, CrossEncoderConfig, RerankKind,
};
use crate::sparse::Bm25;

/// Which branches run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    #[default]
    Hybrid,
    Dense,
    Sparse,
}

/// How the branches are fused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FusionMethod {
    #[default]
    Rrf,
    Dbsf,
}

/// Search settings with their defaults (`[search]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Hits returned when the request does not say.
    pub top_k: usize,
    /// Candidates each branch prefetches before fusion (at least `top_k`).
    pub prefetch: usize,
    pub fusion: FusionMethod,
    /// The `k` of reciprocal rank fusion.
    pub rrf_k: f32,
    /// Weights of the dense and the sparse branch in the fusion.
    pub dense_weight: f32,
    pub sparse_weight: f32,
    pub rerank: RerankKind,
    /// `w` of the weighted reranker: the share of vector similarity.
    pub vector_weight: f32,
    /// Fused candidates passed to the reranker.
    pub top_n: usize,
    /// Hits whose relevance (rerank score, else dense cosine) is below this are dropped; 0 = off.
    pub similarity_threshold: f32,
    pub cross_encoder: CrossEncoderConfig,
    /// A plain text file of domain terms (one per line) that BM25 keeps whole. Changing it
    /// needs a reindex.
    pub user_dictionary: Option<std::path::PathBuf>,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            top_k: 8,
            prefetch: 50,
            fusion: FusionMethod::Rrf,
            rrf_k: 60.0,
            dense_weight: 1.0,
            sparse_weight: 1.0,
            rerank: RerankKind::None,
            vector_weight: 0.3,
            top_n: 30,
            similarity_threshold: 0.0,
            cross_encoder: CrossEncoderConfig::default(),
            user_dictionary: None,
        }
    }
}

/// Per-request (or per-knowledge-base) overrides; `None` falls back.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct SearchOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<SearchMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fusion: Option<FusionMethod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrf_k: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense_weight: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparse_weight: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefetch: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerank: Option<RerankKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_weight: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_n: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity_threshold: Option<f32>,
}

impl SearchOptions {
    /// Field by field: `self`, else `fallback`.
    pub fn or(&self, fallback: &SearchOptions) -> SearchOptions {
        SearchOptions {
            mode: self.mode.or(fallback.mode),
            fusion: self.fusion.or(fallback.fusion),
            rrf_k: self.rrf_k.or(fallback.rrf_k),
            dense_weight: self.dense_weight.or(fallback.dense_weight),
            sparse_weight: self.sparse_weight.or(fallback.sparse_weight),
            prefetch: self.prefetch.or(fallback.prefetch),
            rerank: self.rerank.or(fallback.rerank),
            vector_weight: self.vector_weight.or(fallback.vector_weight),
            top_n: self.top_n.or(fallback.top_n),
            similarity_threshold: self.similarity_threshold.or(fallback.similarity_threshold),
        }
    }

    /// Rejects values outside their ranges.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Invalid(m.to_string()));
        if self.rrf_k.is_some_and(|k| !(k > 0.0 && k <= 10_000.0)) {
            return bad("rrf_k must be between 0 and 10000");
        }
        for w in [self.dense_weight, self.sparse_weight]
            .into_iter()
            .flatten()
        {
            if !(0.0..=100.0).contains(&w) {
                return bad("fusion weights must be between 0 and 100");
            }
        }
        if self.prefetch.is_some_and(|p| !(1..=1000).contains(&p)) {
            return bad("prefetch must be 1 to 1000");
        }
        if self
            .vector_weight
            .is_some_and(|w| !(0.0..=1.0).contains(&w))
        {
            return bad("vector_weight must be between 0 and 1");
        }
        if self.top_n.is_some_and(|n| !(1..=1000).contains(&n)) {
            return bad("top_n must be 1 to 1000");
        }
        if self
            .similarity_threshold
            .is_some_and(|t| !(-1.0..=1.0).contains(&t))
        {
            return bad("similarity_threshold must be between -1 and 1");
        }
        Ok(())
    }
}

/// Options with every value decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    pub mode: SearchMode,
    pub fusion: FusionMethod,
    pub rrf_k: f32,
    pub weights: [f32; 2],
    pub prefetch: usize,
    pub rerank: RerankKind,
    pub vector_weight: f32,
    pub top_n: usize,
    pub similarity_threshold: f32,
}

impl SearchConfig {
    pub fn resolve(&self, o: &SearchOptions) -> Resolved {
        Resolved {
            mode: o.mode.unwrap_or_default(),
            fusion: o.fusion.unwrap_or(self.fusion),
            rrf_k: o.rrf_k.unwrap_or(self.rrf_k),
            weights: [
                o.dense_weight.unwrap_or(self.dense_weight),
                o.sparse_weight.unwrap_or(self.sparse_weight),
            ],
            prefetch: o.prefetch.unwrap_or(self.prefetch),
            rerank: o.rerank.unwrap_or(self.rerank),
            vector_weight: o.vector_weight.unwrap_or(self.vector_weight),
            top_n: o.top_n.unwrap_or(self.top_n),
            similarity_threshold: o.similarity_threshold.unwrap_or(self.similarity_threshold),
        }
    }
}

/// One search.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub query: String,
    pub scope: Scope,
    pub top_k: Option<usize>,
    pub options: SearchOptions,
    /// Also report the query terms each hit matched.
    pub explain: bool,
    /// When the embedding server is down or slow, rank by BM25 alone instead of failing.
    pub bm25_fallback: bool,
}

/// A search's hits, and how they were found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub hits: Vec<Hit>,
    /// Whether the dense branch could count: its model knows the query's language and the
    /// query was embedded.
    pub dense_used: bool,
    /// Why the dense branch could not run (the embedding server's error), when the request
    /// allowed falling back to BM25.
    pub degraded: Option<String>,
    /// Time spent in each stage.
    pub timings: Timings,
}

/// Time spent in each stage of one search (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Embedding the query (a call to the model server for remote models).
    pub embed: std::time::Duration,
    pub dense: std::time::Duration,
    pub sparse: std::time::Duration,
    pub fusion: std::time::Duration,
    pub rerank: std::time::Duration,
}
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HitScores {
    /// Cosine similarity of the dense branch, when it found the chunk.
    pub dense: Option<f32>,
    /// BM25 score of the sparse branch, when it found the chunk.
    pub sparse: Option<f32>,
    /// Fusion score (RRF or DBSF).
    pub fused: f32,
    /// 0-based rank in the dense branch.
    pub dense_rank: Option<usize>,
    /// 0-based rank in the sparse branch.
    pub sparse_rank: Option<usize>,
    /// Rerank score in [0, 1], when a reranker ran.
    pub rerank: Option<f32>,
}

/// One ranked chunk.
#[derive(Debug, Clone)]
pub struct Hit {
    pub chunk_id: Uuid,
    pub chunk: ChunkPayload,
    pub scores: HitScores,
    /// With `explain`: the query's BM25 terms this chunk contains.
    pub matched_terms: Option<Vec<String>>,
}

/// The text a chunk was embedded and BM25-indexed with: heading path, newline, text.
pub fn embed_text(heading: &str, text: &str) -> String {
    if heading.is_empty() {
        text.to_string()
    } else {
        format!("{heading}\n{text}")
    }
}

/// Runs hybrid searches over an index with the query-side models.
#[derive(Debug, Clone)]
pub struct Searcher {
    /// The dense model: the fastembed [`crate::Embedder`] when serving, or any [`Embed`] (a
    /// [`crate::embed::HashEmbed`] in tests).
    pub embedder: Arc<dyn Embed>,
    pub bm25: Arc<Bm25>,
    pub index: Arc<Index>,
    pub config: SearchConfig,
    pub cross_encoder: Option<Arc<CrossEncoder>>,
}

impl Searcher {
    /// Blocking: embeds the query, runs the branches, fuses and reranks. Call from
    /// `spawn_blocking`.
    pub fn search(&self, request: &SearchRequest) -> Result<Vec<Hit>> {
        self.search_report(request).map(|r| r.hits)
    }

    /// [`Searcher::search`], with what it found out on the way.
    pub fn search_report(&self, request: &SearchRequest) -> Result<Report> {
        let query = request.query.trim();
        if query.is_empty() {
            return Err(Error::Invalid("query is empty".into()));
        }
        request.options.validate()?;
        let o = self.config.resolve(&request.options);
        if o.rerank == RerankKind::CrossEncoder && self.cross_encoder.is_none() {
            return Err(Error::Invalid(
                "no cross-encoder is configured (search.cross_encoder.model_dir or .model)".into(),
            ));
        }
        let top_k = request.top_k.unwrap_or(self.config.top_k).clamp(1, 1000);
        let prefetch = o.prefetch.max(top_k);
        let mut degraded = None;
        let mut timings = Timings::default();
        let mut clock = std::time::Instant::now();
        let mut lap = || {
            let now = std::time::Instant::now();
            let d = now - clock;
            clock = now;
            d
        };
        let dense_query = if o.mode != SearchMode::Sparse || o.rerank == RerankKind::Weighted {
            match self.embedder.embed_query(query) {
                Ok(v) => Some(v),
                Err(e) if request.bm25_fallback && e.is_embedding_outage() => {
                    degraded = Some(e.to_string());
                    None
                }
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let mut o = o;
        if degraded.is_some() {
            o.mode = SearchMode::Sparse;
            o.vector_weight = 0.0;
        }
        let sparse_query = self.bm25.embed_query(query);
        timings.embed = lap();
        // Every branch reads the same version of every document.
        let view = self.index.view();
        let dense = match (&dense_query, o.mode) {
            (Some(v), SearchMode::Hybrid | SearchMode::Dense) => {
                self.index
                    .search_dense(v.clone(), &request.scope, prefetch)?
            }
            _ => Vec::new(),
        };
        timings.dense = lap();
        let sparse = match o.mode {
            SearchMode::Hybrid | SearchMode::Sparse => {
                self.index
                    .search_sparse(sparse_query.clone(), &request.scope, prefetch)?
            }
            SearchMode::Dense => Vec::new(),
        };
        // A model that does not understand the query's language gives noise, not evidence:
        // its branch still runs (explain shows it) but weighs nothing.
        let dense_understood = self.embedder.covers(crate::normalize::language(query));
        if !dense_understood {
            o.weights[0] = 0.0;
            o.vector_weight = 0.0;
        }
        timings.sparse = lap();
        let mut hits = fuse(dense, sparse, &o);
        timings.fusion = lap();

        if o.rerank != RerankKind::None {
            hits.truncate(o.top_n.max(top_k));
            match o.rerank {
                RerankKind::Weighted => {
                    // Sparse-only hits have no cosine yet: look theirs up.
                    let missing: Vec<Uuid> = hits
                        .iter()
                        .filter(|h| h.scores.dense.is_none())
                        .map(|h| h.chunk_id)
                        .collect();
                    let cosines = match (&dense_query, missing.is_empty()) {
                        (Some(v), false) => {
                            self.index
                                .dense_scores(v.clone(), &request.scope, &missing)?
                        }
                        _ => HashMap::new(),
                    };
                    for h in &mut hits {
                        let chunk_terms = self
                            .bm25
                            .embed_document(&embed_text(&h.chunk.heading, &h.chunk.text))
                            .indices;
                        let terms = term_similarity(&sparse_query.indices, &chunk_terms);
                        let cosine = h
                            .scores
                            .dense
                            .or_else(|| cosines.get(&h.chunk_id).copied())
                            .unwrap_or(0.0);
                        h.scores.rerank = Some(weighted_score(terms, cosine, o.vector_weight));
                    }
                }
                RerankKind::CrossEncoder => {
                    // The model reads only the hits' text: the index may change meanwhile.
                    drop(view);
                    let model = self.cross_encoder.as_ref().expect("checked above");
                    let texts: Vec<String> = hits
                        .iter()
                        .map(|h| embed_text(&h.chunk.heading, &h.chunk.text))
                        .collect();
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    let logits = model.score(query, &refs)?;
                    for (h, l) in hits.iter_mut().zip(logits) {
                        h.scores.rerank = Some(sigmoid(l));
                    }
                }
                RerankKind::None => {}
            }
            hits.sort_by(|a, b| {
                b.scores
                    .rerank
                    .unwrap_or(0.0)
                    .total_cmp(&a.scores.rerank.unwrap_or(0.0))
            });
        }

        if o.similarity_threshold > 0.0 {
            hits.retain(|h| {
                h.scores.rerank.or(h.scores.dense).unwrap_or(0.0) >= o.similarity_threshold
            });
        }
        hits.truncate(top_k);
        timings.rerank = lap();

        if request.explain {
            let terms = self.bm25.query_terms(query);
            for h in &mut hits {
                let chunk_terms = self
                    .bm25
                    .embed_document(&embed_text(&h.chunk.heading, &h.chunk.text))
                    .indices;
                h.matched_terms = Some(
                    terms
                        .iter()
                        .filter(|(_, i)| chunk_terms.contains(i))
                        .map(|(t, _)| t.clone())
                        .collect(),
                );
            }
        }
        Ok(Report {
            hits,
            dense_used: dense_understood && degraded.is_none(),
            degraded,
            timings,
        })
    }
}

/// Fuses the dense and sparse result lists (all candidates, best first).
pub fn fuse(dense: Vec<ScoredChunk>, sparse: Vec<ScoredChunk>, o: &Resolved) -> Vec<Hit> {
    let fused: Vec<Fused<Uuid>> = match o.fusion {
        FusionMethod::Rrf => {
            let lists = [
                dense.iter().map(|c| c.id).collect::<Vec<_>>(),
                sparse.iter().map(|c| c.id).collect::<Vec<_>>(),
            ];
            reciprocal_rank_fusion(&lists, o.rrf_k, &o.weights)
        }
        FusionMethod::Dbsf => {
            let lists = [
                dense.iter().map(|c| (c.id, c.score)).collect::<Vec<_>>(),
                sparse.iter().map(|c| (c.id, c.score)).collect::<Vec<_>>(),
            ];
            distribution_based_score_fusion(&lists, &o.weights)
        }
    };
    let mut chunks: HashMap<Uuid, (ChunkPayload, Option<f32>, Option<f32>)> = HashMap::new();
    for c in dense {
        chunks.insert(c.id, (c.payload, Some(c.score), None));
    }
    for c in sparse {
        chunks
            .entry(c.id)
            .and_modify(|e| e.2 = Some(c.score))
            .or_insert((c.payload, None, Some(c.score)));
    }
    fused
        .into_iter()
        .filter_map(|f| {
            let (chunk, dense, sparse) = chunks.remove(&f.id)?;
            Some(Hit {
                chunk_id: f.id,
                chunk,
                scores: HitScores {
                    dense,
                    sparse,
                    fused: f.score,
                    dense_rank: f.ranks[0],
                    sparse_rank: f.ranks[1],
                    rerank: None,
                },
                matched_terms: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: u128, score: f32) -> ScoredChunk {
        ScoredChunk {
            id: Uuid::from_u128(id),
            score,
            payload: ChunkPayload {
                kb_id: "kb".into(),
                doc_id: format!("d{id}"),
                doc_name: "n".into(),
                ordinal: 0,
                page: None,
                heading: String::new(),
                text: "t".into(),
                boxes: Vec::new(),
                context: None,
            },
        }
    }

    fn resolved(fusion: FusionMethod) -> Resolved {
        SearchConfig {
            fusion,
            ..SearchConfig::default()
        }
        .resolve(&SearchOptions::default())
    }

    #[test]
    fn fuse_keeps_branch_scores_and_ranks() {
        let hits = fuse(
            vec![chunk(1, 0.9), chunk(2, 0.8)],
            vec![chunk(2, 7.0), chunk(3, 5.0)],
            &resolved(FusionMethod::Rrf),
        );
        assert_eq!(hits.len(), 3);
        assert_eq!(hits[0].chunk_id, Uuid::from_u128(2));
        assert_eq!(hits[0].scores.dense, Some(0.8));
        assert_eq!(hits[0].scores.sparse, Some(7.0));
        assert_eq!(hits[0].scores.dense_rank, Some(1));
        assert_eq!(hits[0].scores.sparse_rank, Some(0));
        let only_sparse = hits
            .iter()
            .find(|h| h.chunk_id == Uuid::from_u128(3))
            .unwrap();
        assert_eq!(only_sparse.scores.dense, None);
    }

    /// Chunk 1 leads the dense branch by far and trails the sparse one narrowly; chunk 2 is
    /// second in dense and first in sparse. Ranks favour 2, scores favour 1.
    fn branches() -> (Vec<ScoredChunk>, Vec<ScoredChunk>) {
        (
            vec![
                chunk(1, 0.95),
                chunk(2, 0.40),
                chunk(3, 0.38),
                chunk(4, 0.36),
            ],
            vec![
                chunk(2, 12.0),
                chunk(3, 11.5),
                chunk(1, 11.0),
                chunk(4, 2.0),
            ],
        )
    }

    fn order(hits: &[Hit]) -> Vec<u128> {
        hits.iter().map(|h| h.chunk_id.as_u128()).collect()
    }

    #[test]
    fn rrf_fuses_by_rank_with_the_given_k() {
        let (dense, sparse) = branches();
        let o = SearchConfig {
            fusion: FusionMethod::Rrf,
            rrf_k: 10.0,
            ..SearchConfig::default()
        }
        .resolve(&SearchOptions::default());
        let hits = fuse(dense, sparse, &o);
        assert_eq!(order(&hits), [2, 1, 3, 4]);
        for h in &hits {
            let expected: f32 = [h.scores.dense_rank, h.scores.sparse_rank]
                .into_iter()
                .flatten()
                .map(|rank| 1.0 / (10.0 + rank as f32 + 1.0))
                .sum();
            assert!((h.scores.fused - expected).abs() < 1e-6, "{h:?}");
        }
        // chunk 2: ranks 1 and 0
        assert!((hits[0].scores.fused - (1.0 / 12.0 + 1.0 / 11.0)).abs() < 1e-6);
    }

    #[test]
    fn dbsf_fuses_by_score_distribution() {
        let (dense, sparse) = branches();
        // Each branch's scores mapped to [0, 1] between μ − 3σ and μ + 3σ of the branch.
        let normalizer = |list: &[ScoredChunk]| {
            let scores: Vec<f32> = list.iter().map(|c| c.score).collect();
            let n = scores.len() as f32;
            let mean = scores.iter().sum::<f32>() / n;
            let sd = (scores.iter().map(|s| (s - mean).powi(2)).sum::<f32>() / n).sqrt();
            move |s: f32| ((s - (mean - 3.0 * sd)) / (6.0 * sd)).clamp(0.0, 1.0)
        };
        let (in_dense, in_sparse) = (normalizer(&dense), normalizer(&sparse));
        let hits = fuse(dense, sparse, &resolved(FusionMethod::Dbsf));
        assert_eq!(order(&hits), [1, 2, 3, 4], "scores, not ranks, decide");
        for h in &hits {
            let expected = in_dense(h.scores.dense.unwrap()) + in_sparse(h.scores.sparse.unwrap());
            assert!((h.scores.fused - expected).abs() < 1e-5, "{h:?}");
        }
        // By hand for chunk 1 (dense μ − 3σ = −0.2192, 6σ = 1.4833; sparse −3.2614, 24.7727):
        // (0.95 + 0.2192) / 1.4833 + (11 + 3.2614) / 24.7727 ≈ 0.788 + 0.576 = 1.364.
        assert!(
            (hits[0].scores.fused - 1.3639).abs() < 1e-3,
            "{:?}",
            hits[0]
        );
    }

    #[test]
    fn options_fall_back_field_by_field() {
        let request = SearchOptions {
            rerank: Some(RerankKind::Weighted),
            ..Default::default()
        };
        let kb = SearchOptions {
            rerank: Some(RerankKind::None),
            rrf_k: Some(10.0),
            ..Default::default()
        };
        let merged = request.or(&kb);
        assert_eq!(merged.rerank, Some(RerankKind::Weighted));
        assert_eq!(merged.rrf_k, Some(10.0));
        let r = SearchConfig::default().resolve(&merged);
        assert_eq!(
            (r.rrf_k, r.prefetch, r.fusion),
            (10.0, 50, FusionMethod::Rrf)
        );
    }

    #[test]
    fn bad_options_are_rejected() {
        assert!(SearchOptions {
            vector_weight: Some(2.0),
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(SearchOptions {
            rrf_k: Some(0.0),
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(SearchOptions {
            top_n: Some(0),
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(SearchOptions::default().validate().is_ok());
    }

    #[test]
    fn a_searcher_on_the_hash_embedder_finds_the_right_chunk() {
        use crate::embed::HashEmbed;
        use crate::index::{ChunkPoint, IndexConfig};

        let dir = tempfile::tempdir().unwrap();
        let embedder = Arc::new(HashEmbed::new(64));
        let index = Index::open(
            &IndexConfig {
                path: dir.path().join("vectors"),
                server: None,
            },
            embedder.name(),
            embedder.dim(),
        )
        .unwrap();
        let bm25 = Bm25::new().unwrap();
        let texts = [
            (
                "kb",
                "sourdough bread needs a starter, flour, water and patience",
            ),
            (
                "kb",
                "the rust borrow checker rejects two mutable references",
            ),
            ("kb", "tomatoes ripen faster next to bananas"),
            (
                "other",
                "the borrow checker of rust, in another knowledge base",
            ),
        ];
        let dense = embedder.embed_batch(&texts.map(|(_, t)| t)).unwrap();
        let points = texts
            .iter()
            .zip(dense)
            .enumerate()
            .map(|(i, ((kb, text), dense))| ChunkPoint {
                id: Uuid::new_v4(),
                kb_id: kb.to_string(),
                doc_id: format!("d{i}"),
                doc_name: format!("d{i}.txt"),
                ordinal: 0,
                page: None,
                heading: String::new(),
                text: text.to_string(),
                boxes: Vec::new(),
                context: None,
                dense,
                sparse: bm25.embed_document(text),
            })
            .collect();
        index.upsert(points).unwrap();
        index.flush().unwrap();
        let searcher = Searcher {
            embedder,
            bm25: Arc::new(bm25),
            index: Arc::new(index),
            config: SearchConfig::default(),
            cross_encoder: None,
        };
        for mode in [SearchMode::Hybrid, SearchMode::Dense, SearchMode::Sparse] {
            let hits = searcher
                .search(&SearchRequest {
                    query: "Rust borrow checker".into(),
                    scope: Scope {
                        knowledge_bases: vec!["kb".into()],
                        documents: None,
                    },
                    top_k: Some(2),
                    options: SearchOptions {
                        mode: Some(mode),
                        ..Default::default()
                    },
                    explain: true,
                    bm25_fallback: false,
                })
                .unwrap();
            assert_eq!(hits[0].chunk.doc_id, "d1", "{mode:?}: {hits:?}");
            assert!(hits.iter().all(|h| h.chunk.kb_id == "kb"), "{hits:?}");
            assert_eq!(hits[0].scores.dense.is_some(), mode != SearchMode::Sparse);
            let terms = hits[0].matched_terms.as_ref().unwrap();
            assert!(terms.iter().any(|t| t.contains("borrow")), "{terms:?}");
        }

        // An embedding server that is down: an error by default, BM25 alone when allowed.
        let down = Searcher {
            embedder: Arc::new(Down(HashEmbed::new(32))),
            ..searcher
        };
        let mut request = SearchRequest {
            query: "Rust borrow checker".into(),
            scope: Scope {
                knowledge_bases: vec!["kb".into()],
                documents: None,
            },
            top_k: Some(2),
            ..Default::default()
        };
        let err = down.search(&request).unwrap_err();
        assert!(err.is_embedding_outage(), "{err}");
        request.bm25_fallback = true;
        let report = down.search_report(&request).unwrap();
        assert_eq!(report.hits[0].chunk.doc_id, "d1");
        assert!(report.hits.iter().all(|h| h.scores.dense.is_none()));
        assert!(!report.dense_used);
        assert!(report.degraded.unwrap().contains("connection refused"));
    }

    /// A model server that refuses every connection.
    #[derive(Debug)]
    struct Down(crate::embed::HashEmbed);

    impl Embed for Down {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn covers(&self, language: &str) -> bool {
            self.0.covers(language)
        }
        fn batch_size(&self) -> usize {
            1
        }
        fn tokenizer(&self) -> &tokenizers::Tokenizer {
            self.0.tokenizer()
        }
        fn embed_query(&self, _: &str) -> Result<Vec<f32>> {
            Err(Error::EmbeddingUnavailable("connection refused".into()))
        }
        fn embed_batch(&self, _: &[&str]) -> Result<Vec<Vec<f32>>> {
            Err(Error::EmbeddingUnavailable("connection refused".into()))
        }
    }

    #[test]
    fn embed_text_matches_chunking() {
        assert_eq!(embed_text("", "body"), "body");
        assert_eq!(embed_text("A > B", "body"), "A > B\nbody");
    }
}

//! Hybrid search: dense ∥ sparse, fused with reciprocal rank fusion.
//!
//! Each branch prefetches its own top-N inside the requested scope; the fused list keeps
//! every hit's dense and sparse score (or `None` when that branch did not find it) so that
//! callers can explain a ranking.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::filter::Scope;
use crate::fusion::reciprocal_rank_fusion;
use crate::index::{ChunkPayload, Index, ScoredChunk};
use crate::sparse::Bm25;

/// Search settings with their defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Hits returned when the request does not say.
    pub top_k: usize,
    /// Candidates each branch prefetches before fusion (at least `top_k`).
    pub prefetch: usize,
    /// The `k` of reciprocal rank fusion.
    pub rrf_k: f32,
    /// Weights of the dense and the sparse branch in the fusion.
    pub dense_weight: f32,
    pub sparse_weight: f32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            top_k: 8,
            prefetch: 50,
            rrf_k: 60.0,
            dense_weight: 1.0,
            sparse_weight: 1.0,
        }
    }
}

/// One search.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub query: String,
    pub scope: Scope,
    pub top_k: Option<usize>,
}

/// The scores behind one hit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HitScores {
    /// Cosine similarity of the dense branch, when it found the chunk.
    pub dense: Option<f32>,
    /// BM25 score of the sparse branch, when it found the chunk.
    pub sparse: Option<f32>,
    /// Reciprocal-rank-fusion score.
    pub fused: f32,
    /// 0-based rank in the dense branch.
    pub dense_rank: Option<usize>,
    /// 0-based rank in the sparse branch.
    pub sparse_rank: Option<usize>,
}

/// One ranked chunk.
#[derive(Debug, Clone)]
pub struct Hit {
    pub chunk_id: Uuid,
    pub chunk: ChunkPayload,
    pub scores: HitScores,
}

/// Runs hybrid searches over an index with the query-side models.
#[derive(Debug, Clone)]
pub struct Searcher {
    pub embedder: Arc<Embedder>,
    pub bm25: Arc<Bm25>,
    pub index: Arc<Index>,
    pub config: SearchConfig,
}

impl Searcher {
    /// Blocking: embeds the query and runs both branches. Call from `spawn_blocking`.
    pub fn search(&self, request: &SearchRequest) -> Result<Vec<Hit>> {
        let query = request.query.trim();
        if query.is_empty() {
            return Err(Error::Invalid("query is empty".into()));
        }
        let top_k = request.top_k.unwrap_or(self.config.top_k).clamp(1, 1000);
        let prefetch = self.config.prefetch.max(top_k);
        let dense_query = self.embedder.embed_query(query)?;
        let dense = self
            .index
            .search_dense(dense_query, &request.scope, prefetch)?;
        let sparse =
            self.index
                .search_sparse(self.bm25.embed_query(query), &request.scope, prefetch)?;
        Ok(fuse(
            dense,
            sparse,
            top_k,
            self.config.rrf_k,
            [self.config.dense_weight, self.config.sparse_weight],
        ))
    }
}

/// Fuses the dense and sparse result lists into at most `top_k` hits.
pub fn fuse(
    dense: Vec<ScoredChunk>,
    sparse: Vec<ScoredChunk>,
    top_k: usize,
    rrf_k: f32,
    weights: [f32; 2],
) -> Vec<Hit> {
    let lists = [
        dense.iter().map(|c| c.id).collect::<Vec<_>>(),
        sparse.iter().map(|c| c.id).collect::<Vec<_>>(),
    ];
    let fused = reciprocal_rank_fusion(&lists, rrf_k, &weights);
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
        .take(top_k)
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
                },
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
            },
        }
    }

    #[test]
    fn fuse_keeps_branch_scores_and_ranks() {
        let hits = fuse(
            vec![chunk(1, 0.9), chunk(2, 0.8)],
            vec![chunk(2, 7.0), chunk(3, 5.0)],
            10,
            60.0,
            [1.0, 1.0],
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

    #[test]
    fn fuse_cuts_to_top_k() {
        let hits = fuse(
            vec![chunk(1, 0.9), chunk(2, 0.8)],
            vec![],
            1,
            60.0,
            [1.0, 1.0],
        );
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].chunk_id, Uuid::from_u128(1));
    }
}

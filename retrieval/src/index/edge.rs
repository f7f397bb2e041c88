//! The index on Qdrant Edge, in process (the default): one shard under the index folder
//! for all knowledge bases.
//!
//! Each chunk is one point with a named dense vector (`dense`, cosine) and a named sparse
//! vector (`bm25`, IDF modifier), and a payload with the knowledge-base id, document id and
//! name, chunk ordinal, page, heading path and text. `kb_id` and `doc_id` carry keyword
//! indexes. A [`Selection`] becomes Qdrant's filter JSON here ([`filter`]).
//!
//! Durability and concurrency (see `shared/notes/dependencies.md`): a write is durable only
//! after `flush()`, and `flush()` panics when an update runs at the same moment; the
//! wrapper's single writer makes every update, delete, flush and optimize. Searches read
//! concurrently. Everything here is synchronous.

use std::collections::HashMap;
use std::path::Path;

use qdrant_edge::{
    CountRequest, CreateIndex, Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams,
    EdgeVectorParams, FieldIndexOperations, Filter, Modifier, NamedQuery, PayloadFieldSchema,
    PayloadSchemaType, PointId, PointInsertOperations, PointOperations, PointStruct, QueryEnum,
    ScoredPoint, SearchRequest, UpdateOperation, Vector, VectorInternal, Vectors,
    WithPayloadInterface,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::filter::{Selection, DOC_ID, KB_ID};
use crate::index::backend::{
    Backend, ChunkPayload, ChunkPoint, Query, ScoredChunk, Shape, Upsert, DENSE, SPARSE,
    UPSERT_BATCH,
};

/// A Qdrant Edge shard.
pub(crate) struct Edge {
    shard: EdgeShard,
}

impl Edge {
    /// Opens the shard in `dir`, or creates it (with its payload indexes) when `dir` holds
    /// none.
    pub(crate) fn open(dir: &Path, dim: usize) -> Result<Self> {
        let fresh = !dir.join("edge_config.json").exists();
        if !fresh {
            return Ok(Self {
                shard: EdgeShard::load(dir, None)?,
            });
        }
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let shard = EdgeShard::new(dir, config(dim))?;
        for field in [KB_ID, DOC_ID] {
            shard.update(UpdateOperation::FieldIndexOperation(
                FieldIndexOperations::CreateIndex(CreateIndex {
                    field_name: field
                        .parse()
                        .map_err(|_| Error::Index(format!("bad field {field}")))?,
                    field_schema: Some(PayloadFieldSchema::FieldType(PayloadSchemaType::Keyword)),
                }),
            ))?;
        }
        let edge = Self { shard };
        edge.flush()?;
        Ok(edge)
    }
}

impl Backend for Edge {
    fn is_remote(&self) -> bool {
        false
    }

    fn prepare(&self, points: Vec<ChunkPoint>) -> Result<Upsert<'_>> {
        let mut persisted = Vec::with_capacity(points.len());
        for p in points {
            let (id, dense, sparse, payload) = p.into_parts();
            let payload = serde_json::to_value(payload).map_err(|e| Error::Index(e.to_string()))?;
            let vectors = Vectors::new_named([
                (DENSE, Vector::new_dense(dense)),
                (SPARSE, Vector(VectorInternal::Sparse(sparse))),
            ]);
            persisted.push(PointStruct::new(PointId::Uuid(id), vectors, payload).into());
        }
        let mut operations = Vec::new();
        while !persisted.is_empty() {
            let rest = persisted.split_off(persisted.len().min(UPSERT_BATCH));
            operations.push(PointOperations::UpsertPoints(
                PointInsertOperations::PointsList(std::mem::replace(&mut persisted, rest)),
            ));
        }
        Ok(Box::new(move || {
            for op in operations {
                self.shard.update(UpdateOperation::PointOperation(op))?;
            }
            Ok(())
        }))
    }

    fn delete(&self, selection: &Selection) -> Result<()> {
        self.shard.update(UpdateOperation::PointOperation(
            PointOperations::DeletePointsByFilter(filter(selection)?),
        ))?;
        Ok(())
    }

    /// `EdgeShard::flush` panics instead of returning errors; a panic becomes an error.
    fn flush(&self) -> Result<()> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.shard.flush()))
            .map_err(|_| Error::Index("flush failed".into()))
    }

    fn optimize(&self) -> Result<bool> {
        let done = self.shard.optimize()?;
        self.flush()?;
        Ok(done)
    }

    /// The shard's files are the index once everything is flushed.
    fn settle(&self) -> Result<()> {
        self.flush()
    }

    fn shape(&self) -> Result<Shape> {
        let info = self.shard.info();
        Ok(Shape {
            segments: info.segments_count,
            points: info.points_count,
            indexed_vectors: info.indexed_vectors_count,
        })
    }

    fn count(&self, selection: &Selection) -> Result<usize> {
        Ok(self.shard.count(CountRequest {
            filter: Some(filter(selection)?),
            exact: true,
        })?)
    }

    fn document_counts(
        &self,
        limit: usize,
        selection: Option<&Selection>,
    ) -> Result<HashMap<String, usize>> {
        let key = DOC_ID
            .parse()
            .map_err(|_| Error::Invalid("bad payload key".into()))?;
        let r = self.shard.facet(qdrant_edge::FacetRequest {
            key,
            limit: limit.max(1),
            filter: selection.map(filter).transpose()?,
            exact: true,
        })?;
        Ok(r.hits
            .into_iter()
            .filter_map(|h| match h.value {
                qdrant_edge::FacetValue::Keyword(s) => Some((s, h.count)),
                _ => None,
            })
            .collect())
    }

    fn search(
        &self,
        query: Query,
        selection: &Selection,
        limit: usize,
    ) -> Result<Vec<ScoredChunk>> {
        let (query, using) = match query {
            Query::Dense(v) => (VectorInternal::Dense(v), DENSE),
            Query::Sparse(v) => (VectorInternal::Sparse(v), SPARSE),
        };
        let request = SearchRequest {
            query: QueryEnum::Nearest(NamedQuery {
                query,
                using: Some(using.into()),
            }),
            filter: Some(filter(selection)?),
            params: None,
            limit: limit.max(1),
            offset: 0,
            with_payload: Some(WithPayloadInterface::Bool(true)),
            with_vector: None,
            score_threshold: None,
        };
        self.shard
            .search(request)?
            .into_iter()
            .map(scored_chunk)
            .collect()
    }

    fn dense_scores(
        &self,
        vector: Vec<f32>,
        selection: &Selection,
        limit: usize,
    ) -> Result<HashMap<Uuid, f32>> {
        let request = SearchRequest {
            query: QueryEnum::Nearest(NamedQuery {
                query: VectorInternal::Dense(vector),
                using: Some(DENSE.into()),
            }),
            filter: Some(filter(selection)?),
            params: None,
            limit,
            offset: 0,
            with_payload: None,
            with_vector: None,
            score_threshold: None,
        };
        let mut out = HashMap::new();
        for p in self.shard.search(request)? {
            if let PointId::Uuid(u) = p.id {
                out.insert(u, p.score);
            }
        }
        Ok(out)
    }
}

/// A selection as Qdrant's filter JSON, parsed by Qdrant Edge: every condition must hold.
pub(crate) fn filter(selection: &Selection) -> Result<Filter> {
    let mut must: Vec<Value> = selection
        .fields
        .iter()
        .map(|(key, values)| match values.as_slice() {
            [one] => json!({"key": key, "match": {"value": one}}),
            many => json!({"key": key, "match": {"any": many}}),
        })
        .collect();
    if let Some(ids) = &selection.ids {
        must.push(json!({ "has_id": ids }));
    }
    serde_json::from_value(json!({ "must": must }))
        .map_err(|e| Error::Index(format!("bad filter: {e}")))
}

fn scored_chunk(p: ScoredPoint) -> Result<ScoredChunk> {
    let id = match p.id {
        PointId::Uuid(u) => u,
        PointId::NumId(n) => return Err(Error::Index(format!("unexpected numeric point id {n}"))),
    };
    let payload = p
        .payload
        .ok_or_else(|| Error::Index(format!("point {id} has no payload")))?;
    let payload: ChunkPayload = serde_json::from_value(Value::Object(payload.0))
        .map_err(|e| Error::Index(format!("point {id} has a bad payload: {e}")))?;
    Ok(ScoredChunk {
        id,
        score: p.score,
        payload,
    })
}

fn config(dim: usize) -> EdgeConfig {
    EdgeConfig::builder()
        .vector(
            DENSE,
            EdgeVectorParams::builder(dim, Distance::Cosine).build(),
        )
        .sparse_vector(
            SPARSE,
            EdgeSparseVectorParams::builder()
                .modifier(Modifier::Idf)
                .build(),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{document, knowledge_base, Scope};

    #[test]
    fn scope_builds_kb_and_doc_conditions() {
        let scope = Scope {
            knowledge_bases: vec!["a".into(), "b".into()],
            documents: Some(vec!["d1".into()]),
        };
        let f = filter(&scope.selection().unwrap()).unwrap();
        assert_eq!(f.must.as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn document_filter_parses() {
        assert!(filter(&document("x")).unwrap().must.is_some());
        assert!(filter(&knowledge_base("x")).unwrap().must.is_some());
        let ids = [Uuid::new_v4(), Uuid::new_v4()];
        let f = filter(&document("x").with_ids(&ids)).unwrap();
        assert_eq!(f.must.as_ref().map(Vec::len), Some(2));
    }
}

//! The index on a Qdrant server or cluster (qdrant-client over gRPC), for deployments that
//! outgrow one machine: `[index] qdrant_url`. The collection has the same shape as the
//! embedded shard ([`super::edge`]): a named dense vector (`dense`, cosine), a named sparse
//! vector (`bm25`, IDF modifier: the server computes the same BM25 as Qdrant Edge) and keyword
//! indexes on `kb_id` and `doc_id`, so search results mean the same on both backends. A
//! [`Selection`] becomes the server's filter here ([`filter`]).
//!
//! The calls are synchronous for [`super::Index`]: each runs on a small runtime of its own, so
//! they may be made from any blocking thread. Writes wait until the server has applied them,
//! so a flush has nothing to do. Failures say what kind they are ([`crate::ErrorKind`]): a
//! server that cannot be reached is [`Error::Unavailable`], one that does not answer in time
//! [`Error::Timeout`].
//!
//! Tested against a live server when `QDRANT_URL` is set (`retrieval/tests/index_backends.rs`
//! runs the embedded index's scenario on it); without one the test says so and skips.

use std::collections::HashMap;
use std::time::Duration;

use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FacetCountsBuilder, FieldType, Filter, Modifier, NamedVectors,
    PointStruct, QueryPointsBuilder, SparseVectorParamsBuilder, SparseVectorsConfigBuilder,
    UpsertPointsBuilder, Vector, VectorInput, VectorParamsBuilder, VectorsConfigBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::filter::{Selection, DOC_ID, KB_ID};
use crate::index::backend::{
    Backend, ChunkPayload, ChunkPoint, Query, ScoredChunk, Shape, Upsert, DENSE, SPARSE,
    UPSERT_BATCH,
};

/// `[index]` settings of the server backend.
#[derive(Debug, Clone, PartialEq)]
pub struct QdrantServerConfig {
    /// gRPC URL, e.g. `http://qdrant:6334`.
    pub url: String,
    pub api_key: Option<crate::Secret>,
    pub collection: String,
    pub timeout: Duration,
}

/// A collection on a Qdrant server.
pub(crate) struct Remote {
    client: Qdrant,
    collection: String,
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Remote {
    /// Without waiting: the index may be dropped on an async runtime, where blocking panics.
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A failure of the client or the server, by its kind: a server that cannot be reached (no
/// connection, or overloaded) is unavailable; a call past its deadline timed out; anything
/// else is an index error.
fn remote_error(e: QdrantError) -> Error {
    use tonic::Code;
    let message = format!("qdrant server: {e}");
    let status = match &e {
        QdrantError::ResponseError { status } => status,
        QdrantError::ResourceExhaustedError { .. } => return Error::Unavailable(message),
        _ => return Error::Index(message),
    };
    match status.code() {
        Code::Unavailable | Code::ResourceExhausted => Error::Unavailable(message),
        // qdrant-client reports a failed connection as an internal error of its own.
        Code::Internal if status.message().starts_with("Failed to connect") => {
            Error::Unavailable(message)
        }
        Code::DeadlineExceeded => Error::Timeout(message),
        // tonic cancels a call that outlives the channel's timeout.
        Code::Cancelled if status.message().contains("Timeout expired") => Error::Timeout(message),
        _ => Error::Index(message),
    }
}

/// An error of this side, not the server's.
fn local_error(e: impl std::fmt::Display) -> Error {
    Error::Index(format!("qdrant server: {e}"))
}

impl Remote {
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the remote")
            .block_on(f)
    }

    /// Connects, and creates the collection (with its payload indexes) if it is missing.
    /// An existing collection must have a dense vector of `dim` dimensions.
    pub(crate) fn open(config: &QdrantServerConfig, dim: usize) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ragd-qdrant")
            .enable_all()
            .build()
            .map_err(local_error)?;
        let client = Qdrant::from_url(&config.url)
            .api_key(config.api_key.as_ref().map(|k| k.expose().to_string()))
            .timeout(config.timeout)
            .skip_compatibility_check()
            .build()
            .map_err(remote_error)?;
        let remote = Self {
            client,
            collection: config.collection.clone(),
            runtime: Some(runtime),
        };
        remote.ensure_collection(dim)?;
        Ok(remote)
    }

    fn ensure_collection(&self, dim: usize) -> Result<()> {
        let c = &self.collection;
        self.block_on(async {
            if self
                .client
                .collection_exists(c)
                .await
                .map_err(remote_error)?
            {
                let info = self.client.collection_info(c).await.map_err(remote_error)?;
                let size = info
                    .result
                    .and_then(|i| i.config)
                    .and_then(|c| c.params)
                    .and_then(|p| p.vectors_config)
                    .and_then(|v| match v.config {
                        Some(qdrant_client::qdrant::vectors_config::Config::ParamsMap(m)) => {
                            m.map.get(DENSE).map(|p| p.size)
                        }
                        _ => None,
                    });
                return match size {
                    Some(s) if s == dim as u64 => Ok(()),
                    Some(s) => Err(Error::Index(format!(
                        "collection {c} has {s}-dimension vectors, the model makes {dim}"
                    ))),
                    None => Err(Error::Index(format!(
                        "collection {c} has no named vector {DENSE:?}: not a ragd collection"
                    ))),
                };
            }
            let mut vectors = VectorsConfigBuilder::default();
            vectors.add_named_vector_params(
                DENSE,
                VectorParamsBuilder::new(dim as u64, Distance::Cosine),
            );
            let mut sparse = SparseVectorsConfigBuilder::default();
            sparse.add_named_vector_params(
                SPARSE,
                SparseVectorParamsBuilder::default().modifier(Modifier::Idf as i32),
            );
            self.client
                .create_collection(
                    CreateCollectionBuilder::new(c)
                        .vectors_config(vectors)
                        .sparse_vectors_config(sparse),
                )
                .await
                .map_err(remote_error)?;
            for field in [KB_ID, DOC_ID] {
                self.client
                    .create_field_index(
                        CreateFieldIndexCollectionBuilder::new(c, field, FieldType::Keyword)
                            .wait(true),
                    )
                    .await
                    .map_err(remote_error)?;
            }
            Ok(())
        })
    }

    /// Nearest neighbours of `query` on the named vector `using` among the points of
    /// `selection`.
    fn query(
        &self,
        query: VectorInput,
        using: &str,
        selection: &Selection,
        limit: usize,
        with_payload: bool,
    ) -> Result<Vec<qdrant_client::qdrant::ScoredPoint>> {
        let request = QueryPointsBuilder::new(&self.collection)
            .query(qdrant_client::qdrant::Query::new_nearest(query))
            .using(using)
            .filter(filter(selection))
            .limit(limit.max(1) as u64)
            .with_payload(with_payload);
        let points =
            self.block_on(async { self.client.query(request).await.map_err(remote_error) })?;
        Ok(points.result)
    }
}

impl Backend for Remote {
    fn is_remote(&self) -> bool {
        true
    }

    fn prepare(&self, points: Vec<ChunkPoint>) -> Result<Upsert<'_>> {
        let mut structs = Vec::with_capacity(points.len());
        for p in points {
            let (id, dense, sparse, payload) = p.into_parts();
            let payload = Payload::try_from(
                serde_json::to_value(payload).map_err(|e| Error::Index(e.to_string()))?,
            )
            .map_err(remote_error)?;
            let vectors = NamedVectors::default()
                .add_vector(DENSE, Vector::new_dense(dense))
                .add_vector(SPARSE, Vector::new_sparse(sparse.indices, sparse.values));
            structs.push(PointStruct::new(id.to_string(), vectors, payload));
        }
        Ok(Box::new(move || {
            self.block_on(async {
                for chunk in structs.chunks(UPSERT_BATCH) {
                    self.client
                        .upsert_points(
                            UpsertPointsBuilder::new(&self.collection, chunk.to_vec()).wait(true),
                        )
                        .await
                        .map_err(remote_error)?;
                }
                Ok(())
            })
        }))
    }

    fn delete(&self, selection: &Selection) -> Result<()> {
        let filter = filter(selection);
        self.block_on(async {
            self.client
                .delete_points(
                    DeletePointsBuilder::new(&self.collection)
                        .points(filter)
                        .wait(true),
                )
                .await
                .map_err(remote_error)?;
            Ok(())
        })
    }

    /// The server has applied each write before answering.
    fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// A Qdrant server optimizes by itself: nothing to do.
    fn optimize(&self) -> Result<bool> {
        Ok(false)
    }

    fn settle(&self) -> Result<()> {
        Err(Error::Index(
            "the points are on a qdrant server: back its collection up with qdrant's snapshots"
                .into(),
        ))
    }

    fn shape(&self) -> Result<Shape> {
        let info = self
            .block_on(async { self.client.collection_info(&self.collection).await })
            .map_err(remote_error)?
            .result
            .ok_or_else(|| local_error("no collection info"))?;
        Ok(Shape {
            segments: info.segments_count as usize,
            points: info.points_count.unwrap_or(0) as usize,
            indexed_vectors: info.indexed_vectors_count.unwrap_or(0) as usize,
        })
    }

    fn count(&self, selection: &Selection) -> Result<usize> {
        let filter = filter(selection);
        self.block_on(async {
            let r = self
                .client
                .count(
                    CountPointsBuilder::new(&self.collection)
                        .filter(filter)
                        .exact(true),
                )
                .await
                .map_err(remote_error)?;
            Ok(r.result.map_or(0, |c| c.count as usize))
        })
    }

    fn document_counts(
        &self,
        limit: usize,
        selection: Option<&Selection>,
    ) -> Result<HashMap<String, usize>> {
        let mut request = FacetCountsBuilder::new(&self.collection, DOC_ID)
            .limit(limit.max(1) as u64)
            .exact(true);
        if let Some(selection) = selection {
            request = request.filter(filter(selection));
        }
        self.block_on(async {
            let r = self.client.facet(request).await.map_err(remote_error)?;
            Ok(r.hits
                .into_iter()
                .filter_map(|h| match h.value?.variant? {
                    qdrant_client::qdrant::facet_value::Variant::StringValue(s) => {
                        Some((s, h.count as usize))
                    }
                    _ => None,
                })
                .collect())
        })
    }

    fn search(
        &self,
        query: Query,
        selection: &Selection,
        limit: usize,
    ) -> Result<Vec<ScoredChunk>> {
        let (query, using) = match query {
            Query::Dense(v) => (VectorInput::new_dense(v), DENSE),
            Query::Sparse(v) => (VectorInput::new_sparse(v.indices, v.values), SPARSE),
        };
        self.query(query, using, selection, limit, true)?
            .into_iter()
            .map(|p| {
                let id = point_uuid(p.id)?;
                let payload: ChunkPayload = Payload::from(p.payload)
                    .deserialize()
                    .map_err(|e| Error::Index(format!("point {id} has a bad payload: {e}")))?;
                Ok(ScoredChunk {
                    id,
                    score: p.score,
                    payload,
                })
            })
            .collect()
    }

    fn dense_scores(
        &self,
        vector: Vec<f32>,
        selection: &Selection,
        limit: usize,
    ) -> Result<HashMap<Uuid, f32>> {
        let query = VectorInput::new_dense(vector);
        self.query(query, DENSE, selection, limit, false)?
            .into_iter()
            .map(|p| Ok((point_uuid(p.id)?, p.score)))
            .collect()
    }
}

fn point_uuid(id: Option<qdrant_client::qdrant::PointId>) -> Result<Uuid> {
    use qdrant_client::qdrant::point_id::PointIdOptions;
    match id.and_then(|i| i.point_id_options) {
        Some(PointIdOptions::Uuid(s)) => {
            Uuid::parse_str(&s).map_err(|e| Error::Index(format!("bad point id {s}: {e}")))
        }
        other => Err(Error::Index(format!("unexpected point id {other:?}"))),
    }
}

/// The server's filter for a selection: every condition must hold.
pub(crate) fn filter(selection: &Selection) -> Filter {
    use qdrant_client::qdrant::r#match::MatchValue;
    let mut must: Vec<Condition> = selection
        .fields
        .iter()
        .map(|(field, values)| match values.as_slice() {
            [one] => Condition::matches(*field, MatchValue::Keyword(one.clone())),
            many => Condition::matches(
                *field,
                MatchValue::Keywords(qdrant_client::qdrant::RepeatedStrings {
                    strings: many.to_vec(),
                }),
            ),
        })
        .collect();
    if let Some(ids) = &selection.ids {
        must.push(Condition::has_id(ids.iter().map(|u| u.to_string())));
    }
    Filter::must(must)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Scope;
    use crate::ErrorKind;

    #[test]
    fn selections_become_keyword_filters() {
        let scope = Scope {
            knowledge_bases: vec!["kb1".into(), "kb2".into()],
            documents: Some(vec!["d1".into()]),
        };
        let f = filter(&scope.selection().unwrap());
        let text = format!("{f:?}");
        assert_eq!(f.must.len(), 2, "{text}");
        assert!(
            text.contains("Keywords") && text.contains("kb1") && text.contains("kb2"),
            "{text}"
        );
        assert!(text.contains("Keyword(\"d1\")"), "{text}");
        let id = Uuid::new_v4();
        let f = filter(&crate::filter::document("d9").with_ids(&[id]));
        assert_eq!(f.must.len(), 2);
        assert!(format!("{f:?}").contains(&id.to_string()));
    }

    fn config(url: String, timeout: Duration) -> QdrantServerConfig {
        QdrantServerConfig {
            url,
            api_key: None,
            collection: "ragd-test".into(),
            timeout,
        }
    }

    #[test]
    fn a_closed_port_is_unavailable() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}");
        let err = Remote::open(&config(url, Duration::from_secs(5)), 3)
            .err()
            .expect("nothing listens there");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    }

    #[test]
    fn a_server_that_never_answers_times_out() {
        // The kernel accepts the connection; nobody ever reads or answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let started = std::time::Instant::now();
        let err = Remote::open(&config(url, Duration::from_millis(300)), 3)
            .err()
            .expect("nothing answers there");
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{err}");
        drop(listener);
    }

    #[test]
    fn server_answers_map_to_kinds() {
        use tonic::Status;
        let kind = |status: Status| remote_error(QdrantError::from(status)).kind();
        assert_eq!(kind(Status::unavailable("gone")), ErrorKind::Unavailable);
        assert_eq!(
            kind(Status::internal("Failed to connect to http://x: refused")),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind(Status::resource_exhausted("busy")),
            ErrorKind::Unavailable
        );
        assert_eq!(kind(Status::deadline_exceeded("late")), ErrorKind::Timeout);
        assert_eq!(
            kind(Status::cancelled("Timeout expired")),
            ErrorKind::Timeout
        );
        assert_eq!(kind(Status::internal("disk full")), ErrorKind::Internal);
        assert_eq!(kind(Status::invalid_argument("bad")), ErrorKind::Internal);
        assert_eq!(
            remote_error(QdrantError::ConversionError("x".into())).kind(),
            ErrorKind::Internal
        );
    }
}

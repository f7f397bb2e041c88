//! One scenario for both index backends: the embedded Qdrant Edge shard (always), and a
//! Qdrant server at `QDRANT_URL` (its gRPC address, e.g. `http://localhost:6334`;
//! `QDRANT_API_KEY` if it needs one). The server run is `#[ignore]`d (counted as ignored, never as
//! passed); `make test` runs it when `QDRANT_URL` is set. No Qdrant server can be installed on the
//! development machine.

use std::time::Duration;

use retrieval::{Bm25, ChunkPoint, Error, Index, IndexConfig, QdrantServerConfig, Scope};
use uuid::Uuid;

fn point(bm25: &Bm25, kb: &str, doc: &str, text: &str, dense: Vec<f32>) -> ChunkPoint {
    ChunkPoint {
        id: Uuid::new_v4(),
        kb_id: kb.into(),
        doc_id: doc.into(),
        doc_name: format!("{doc}.txt"),
        ordinal: 0,
        page: None,
        heading: String::new(),
        text: text.into(),
        boxes: Vec::new(),
        context: None,
        dense,
        sparse: bm25.embed_document(text),
    }
}

fn scope(kbs: &[&str]) -> Scope {
    Scope {
        knowledge_bases: kbs.iter().map(|s| s.to_string()).collect(),
        documents: None,
    }
}

/// Writes, searches with filters, replaces and deletes, then reopens.
fn scenario(cfg: &IndexConfig) {
    let bm25 = Bm25::new().unwrap();
    {
        let index = Index::open(cfg, "test-model", 3).unwrap();
        index
            .upsert(vec![
                point(
                    &bm25,
                    "kb1",
                    "d1",
                    "rust ownership and borrowing",
                    vec![1.0, 0.0, 0.0],
                ),
                point(
                    &bm25,
                    "kb1",
                    "d2",
                    "python garbage collector",
                    vec![0.0, 1.0, 0.0],
                ),
                point(
                    &bm25,
                    "kb2",
                    "d3",
                    "rust compiler internals",
                    vec![0.9, 0.1, 0.0],
                ),
            ])
            .unwrap();
        index.flush().unwrap();

        let dense = index
            .search_dense(vec![1.0, 0.0, 0.0], &scope(&["kb1"]), 10)
            .unwrap();
        assert_eq!(dense.len(), 2, "the kb filter keeps kb2 out");
        assert_eq!(dense[0].payload.doc_id, "d1");
        assert!((dense[0].score - 1.0).abs() < 1e-4);
        let sparse = index
            .search_sparse(bm25.embed_query("rust"), &scope(&["kb1", "kb2"]), 10)
            .unwrap();
        let docs: Vec<&str> = sparse.iter().map(|h| h.payload.doc_id.as_str()).collect();
        assert_eq!(docs.len(), 2, "{docs:?}");
        assert!(docs.contains(&"d1") && docs.contains(&"d3"), "{docs:?}");
        let only_d2 = Scope {
            knowledge_bases: vec!["kb1".into()],
            documents: Some(vec!["d2".into()]),
        };
        assert_eq!(index.count(&only_d2).unwrap(), 1);
        let ids: Vec<Uuid> = dense.iter().map(|h| h.id).collect();
        let scores = index
            .dense_scores(vec![0.0, 1.0, 0.0], &scope(&["kb1"]), &ids)
            .unwrap();
        assert_eq!(scores.len(), 2);
        assert!(index
            .search_dense(vec![1.0, 0.0, 0.0], &scope(&[]), 10)
            .is_err());

        // A document replaced in place, another deleted, then a knowledge base.
        index
            .replace_document(
                "kb1",
                "d1",
                vec![point(
                    &bm25,
                    "kb1",
                    "d1",
                    "rust lifetimes",
                    vec![1.0, 0.0, 0.0],
                )],
            )
            .unwrap();
        let hits = index
            .search_sparse(bm25.embed_query("lifetimes"), &scope(&["kb1"]), 5)
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert!(index
            .search_sparse(bm25.embed_query("borrowing"), &scope(&["kb1"]), 5)
            .unwrap()
            .is_empty());
        assert_eq!(index.count(&scope(&["kb1"])).unwrap(), 2);

        // A new generation of kb1 (a re-index) beside the old: replacing d1 under the new
        // key leaves the old key's points, and counts per document tell the keys apart.
        index
            .replace_document(
                "kb1@1",
                "d1",
                vec![
                    point(&bm25, "kb1@1", "d1", "rust", vec![1.0, 0.0, 0.0]),
                    point(&bm25, "kb1@1", "d1", "lifetimes", vec![0.0, 1.0, 0.0]),
                ],
            )
            .unwrap();
        assert_eq!(index.count(&scope(&["kb1"])).unwrap(), 2);
        assert_eq!(index.count(&scope(&["kb1@1"])).unwrap(), 2);
        let new = index
            .document_counts_in(&retrieval::filter::knowledge_bases(&["kb1@1".into()]))
            .unwrap();
        assert_eq!(
            new,
            std::collections::HashMap::from([("d1".to_string(), 2)])
        );
        assert_eq!(index.document_counts().unwrap()["d1"], 3);
        index.delete_knowledge_base("kb1@1").unwrap();
        assert_eq!(index.count(&scope(&["kb1"])).unwrap(), 2);
        assert_eq!(index.count(&scope(&["kb1@1"])).unwrap(), 0);

        index.delete_document("d2").unwrap();
        assert_eq!(index.count(&scope(&["kb1"])).unwrap(), 1);
        index.delete_knowledge_base("kb2").unwrap();
        assert_eq!(index.count(&scope(&["kb2"])).unwrap(), 0);
        index.optimize().unwrap();
        assert_eq!(index.info().unwrap().points, 1);
    }
    // Reopen: the data survives, the model is checked.
    let index = Index::open(cfg, "test-model", 3).unwrap();
    assert_eq!(index.count(&scope(&["kb1", "kb2"])).unwrap(), 1);
    drop(index);
    let err = Index::open(cfg, "other-model", 3).unwrap_err();
    assert!(matches!(err, Error::ModelMismatch { .. }), "{err}");
}

#[test]
fn the_embedded_index() {
    let dir = tempfile::tempdir().unwrap();
    scenario(&IndexConfig {
        path: dir.path().join("vectors"),
        server: None,
    });
}

#[test]
#[ignore = "needs QDRANT_URL"]
fn a_qdrant_server() {
    let url = std::env::var("QDRANT_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("QDRANT_URL is not set: run this test with a Qdrant server's gRPC address");
    let api_key = std::env::var("QDRANT_API_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    let collection = format!("ragd-test-{}", Uuid::new_v4().simple());
    let server = QdrantServerConfig {
        url: url.clone(),
        api_key: api_key.clone().map(Into::into),
        collection: collection.clone(),
        timeout: Duration::from_secs(30),
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = IndexConfig {
        path: dir.path().join("vectors"),
        server: Some(server.clone()),
    };
    scenario(&cfg);
    let index = Index::open(&cfg, "test-model", 3).unwrap();
    assert!(index.is_remote());
    assert!(!index.optimize().unwrap(), "the server optimizes by itself");
    drop(index);
    // The collection's own shape is checked too (a fresh folder: no local model record).
    let other = tempfile::tempdir().unwrap();
    let wrong = IndexConfig {
        path: other.path().join("vectors"),
        server: Some(server),
    };
    assert!(
        Index::open(&wrong, "other-model", 4).is_err(),
        "4 dimensions against 3"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = qdrant_client::Qdrant::from_url(&url)
            .api_key(api_key)
            .skip_compatibility_check()
            .build()
            .unwrap();
        client.delete_collection(collection).await.unwrap();
    });
}

//! The index on a live Qdrant server: the same operations as the embedded index's tests,
//! against `QDRANT_URL` (its gRPC address, e.g. `http://localhost:6334`; `QDRANT_API_KEY` if
//! it needs one). Without `QDRANT_URL` the test prints that it was skipped: no Qdrant server
//! can be installed on the development machine, so this runs where one is available.

use std::time::Duration;

use retrieval::qdrant_server::QdrantServerConfig;
use retrieval::{Bm25, ChunkPoint, Index, IndexConfig, Scope};
use uuid::Uuid;

fn server() -> Option<QdrantServerConfig> {
    let url = std::env::var("QDRANT_URL").ok().filter(|u| !u.is_empty())?;
    Some(QdrantServerConfig {
        url,
        api_key: std::env::var("QDRANT_API_KEY")
            .ok()
            .filter(|k| !k.is_empty()),
        collection: format!("ragd-test-{}", Uuid::new_v4().simple()),
        timeout: Duration::from_secs(30),
    })
}

fn point(
    bm25: &Bm25,
    kb: &str,
    doc: &str,
    ordinal: u32,
    text: &str,
    dense: Vec<f32>,
) -> ChunkPoint {
    ChunkPoint {
        id: Uuid::new_v4(),
        kb_id: kb.into(),
        doc_id: doc.into(),
        doc_name: format!("{doc}.txt"),
        ordinal,
        page: None,
        heading: String::new(),
        text: text.into(),
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

#[test]
fn the_index_works_the_same_on_a_qdrant_server() {
    let Some(config) = server() else {
        eprintln!("SKIPPED: QDRANT_URL is not set; the Qdrant server backend was not tested");
        return;
    };
    let collection = config.collection.clone();
    let dir = tempfile::tempdir().unwrap();
    let cfg = IndexConfig {
        path: dir.path().join("vectors"),
        server: Some(config.clone()),
    };
    let bm25 = Bm25::new().unwrap();
    let index = Index::open(&cfg, "test-model", 3).unwrap();
    assert!(index.is_remote());
    index
        .upsert(vec![
            point(
                &bm25,
                "kb1",
                "d1",
                0,
                "rust ownership and borrowing",
                vec![1.0, 0.0, 0.0],
            ),
            point(
                &bm25,
                "kb1",
                "d2",
                0,
                "python garbage collector",
                vec![0.0, 1.0, 0.0],
            ),
            point(
                &bm25,
                "kb2",
                "d3",
                0,
                "rust compiler internals",
                vec![0.9, 0.1, 0.0],
            ),
        ])
        .unwrap();

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
    assert_eq!(index.count(&scope(&["kb1"])).unwrap(), 2);
    let ids: Vec<Uuid> = dense.iter().map(|h| h.id).collect();
    let scores = index
        .dense_scores(vec![0.0, 1.0, 0.0], &scope(&["kb1"]), &ids)
        .unwrap();
    assert_eq!(scores.len(), 2);

    // A document replaced in place, then deleted; then a knowledge base.
    index
        .replace_document(
            "d1",
            vec![point(
                &bm25,
                "kb1",
                "d1",
                0,
                "rust lifetimes",
                vec![1.0, 0.0, 0.0],
            )],
        )
        .unwrap();
    let hits = index
        .search_sparse(bm25.embed_query("lifetimes"), &scope(&["kb1"]), 5)
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(index.count(&scope(&["kb1"])).unwrap(), 2);
    index.delete_document("d2").unwrap();
    assert_eq!(index.count(&scope(&["kb1"])).unwrap(), 1);
    index.delete_knowledge_base("kb2").unwrap();
    assert_eq!(index.count(&scope(&["kb2"])).unwrap(), 0);
    let info = index.info().unwrap();
    assert_eq!(info.points, 1, "{info:?}");
    assert!(!index.optimize().unwrap(), "the server optimizes by itself");

    // Reopening checks the collection's shape.
    drop(index);
    assert!(Index::open(&cfg, "test-model", 3).is_ok());
    let other = tempfile::tempdir().unwrap();
    let wrong = IndexConfig {
        path: other.path().join("vectors"),
        server: Some(config),
    };
    assert!(
        Index::open(&wrong, "other-model", 4).is_err(),
        "4 dimensions against 3"
    );

    // Clean up the test collection.
    let url = std::env::var("QDRANT_URL").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = qdrant_client::Qdrant::from_url(&url)
            .api_key(std::env::var("QDRANT_API_KEY").ok())
            .skip_compatibility_check()
            .build()
            .unwrap();
        client.delete_collection(collection).await.unwrap();
    });
}

//! The start-up reconciliation repairs both kinds of damage between the index and the
//! metadata, made here by hand: points whose document row is gone, and a ready document whose
//! points are gone.

use server::config::{Config, Overrides};
use server::service::auth::Caller;
use server::service::{documents, knowledge_bases, reconcile, State};
use server::store::DocStatus;

#[tokio::test]
async fn orphan_points_and_missing_points_are_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = Overrides {
        listen: None,
        data_dir: Some(dir.path().to_path_buf()),
    };
    let mut config = Config::load(None, &overrides).unwrap();
    // This test binary is not `ragd`: documents are parsed in this process.
    config.parse_isolation = false;
    let state = State::open(config).await.unwrap();
    let kb = knowledge_bases::create(
        &state,
        &Caller::ADMIN,
        knowledge_bases::NewKnowledgeBase {
            name: "kb".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let files = vec![
        (
            "orphan.md".to_string(),
            b"# Orphans\n\nPoints of this document will lose their row.".to_vec(),
        ),
        (
            "missing.md".to_string(),
            b"# Missing\n\nThis document will lose its points but keep its row.".to_vec(),
        ),
    ];
    let docs = documents::upload(&state, &Caller::ADMIN, &kb.id, files)
        .await
        .unwrap();
    server::jobs::worker::drain(&state).await.unwrap();
    let (orphan, missing) = (docs[0].doc.id.clone(), docs[1].doc.id.clone());
    let index = state.default_space().index.clone();
    let counts = index.document_counts().unwrap();
    let chunks_of_missing = documents::get(&state, &Caller::ADMIN, &kb.id, &missing)
        .await
        .unwrap()
        .doc
        .chunk_count as usize;
    assert!(chunks_of_missing > 0);
    assert_eq!(counts.get(&missing), Some(&chunks_of_missing));
    assert!(counts.get(&orphan).is_some_and(|n| *n > 0));
    assert!(reconcile::run(&state).await.unwrap().is_empty(), "healthy");

    // The damage: a row deleted without its points, and points deleted without their row.
    state
        .store
        .delete_documents(std::slice::from_ref(&orphan))
        .await
        .unwrap();
    documents::remove_points(std::slice::from_ref(&index), vec![missing.clone()])
        .await
        .unwrap();

    let repair = reconcile::run(&state).await.unwrap();
    assert_eq!(repair.delete_points, std::slice::from_ref(&orphan));
    assert_eq!(repair.requeue, std::slice::from_ref(&missing));
    server::jobs::worker::drain(&state).await.unwrap();

    let counts = index.document_counts().unwrap();
    assert_eq!(counts.get(&orphan), None, "orphan points deleted");
    assert_eq!(
        counts.get(&missing),
        Some(&chunks_of_missing),
        "points rebuilt"
    );
    let doc = documents::get(&state, &Caller::ADMIN, &kb.id, &missing)
        .await
        .unwrap()
        .doc;
    assert_eq!(doc.status, DocStatus::Ready);
    assert!(reconcile::run(&state).await.unwrap().is_empty(), "repaired");
}

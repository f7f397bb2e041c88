//! Test support: a whole [`State`] on a temporary data folder with a small deterministic
//! embedder ([`retrieval::embed::HashEmbed`]) instead of the ONNX models, so services, the
//! worker and source sync are tested without model files.

use crate::service::auth::Caller;
use std::path::Path;
use std::sync::Arc;

use retrieval::embed::HashEmbed;
use retrieval::Bm25;

use super::{knowledge_bases, AppState, Models, State};
use crate::config::{Config, Overrides};
use crate::store::KnowledgeBase;

/// A state on `dir` with the test embedder; `adjust` changes the configuration first.
pub async fn state_with(dir: &Path, adjust: impl FnOnce(&mut Config)) -> AppState {
    let overrides = Overrides {
        listen: None,
        data_dir: Some(dir.to_path_buf()),
    };
    let mut config = Config::load(None, &overrides).expect("default configuration");
    // The test binary is not `ragd`: documents are parsed in this process.
    config.parse_isolation = false;
    if let Some(url) = crate::store::db::test_database_url(dir).await {
        config.database_url = url.into();
    }
    adjust(&mut config);
    let models = Models {
        embedder: Arc::new(HashEmbed::new(64)),
        bm25: Arc::new(Bm25::with_dictionary(Default::default()).expect("bm25")),
        cross_encoder: None,
    };
    State::with_models(config, models).await.expect("state")
}

pub async fn state(dir: &Path) -> AppState {
    state_with(dir, |_| {}).await
}

/// A knowledge base named `name`.
pub async fn kb(state: &State, name: &str) -> KnowledgeBase {
    knowledge_bases::create(
        state,
        &Caller::ADMIN,
        knowledge_bases::NewKnowledgeBase {
            name: name.into(),
            ..Default::default()
        },
    )
    .await
    .expect("knowledge base")
}

/// Points in the index for one document of a knowledge base.
pub fn points_of(state: &State, kb_id: &str, doc_id: &str) -> usize {
    state
        .default_space()
        .index
        .count(&retrieval::Scope {
            knowledge_bases: vec![kb_id.to_string()],
            documents: Some(vec![doc_id.to_string()]),
        })
        .expect("count")
}

/// A knowledge base named `name` on a fake model server (OpenAI format, no retries).
pub async fn remote_kb(
    state: &State,
    name: &str,
    server: &retrieval::embed::fake::FakeServer,
) -> KnowledgeBase {
    knowledge_bases::create(
        state,
        &Caller::ADMIN,
        knowledge_bases::NewKnowledgeBase {
            name: name.into(),
            embedding: Some(knowledge_bases::EmbeddingChoice::Inline(Box::new(
                knowledge_bases::InlineEmbedding {
                    provider: retrieval::Provider::Openai,
                    model: "fake-e5".into(),
                    base_url: Some(format!("{}/v1", server.url)),
                    retries: Some(0),
                    ..Default::default()
                },
            ))),
            ..Default::default()
        },
    )
    .await
    .expect("knowledge base on the fake server")
}

/// Points in the index of the knowledge base's own embedding model.
pub async fn points_in_space(state: &State, kb: &KnowledgeBase) -> usize {
    let space = knowledge_bases::space(state, kb).await.expect("space");
    space
        .index
        .count(&retrieval::Scope {
            knowledge_bases: vec![kb.index_key()],
            documents: None,
        })
        .expect("count")
}

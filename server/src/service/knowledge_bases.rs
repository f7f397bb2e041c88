//! Knowledge bases: create, list, find (by id or name), change, delete, statistics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::documents;
use super::State;
use crate::error::{Error, Result};
use crate::store::KnowledgeBase;

/// A new knowledge base.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewKnowledgeBase {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub chunk_size: Option<usize>,
    #[serde(default)]
    pub chunk_overlap: Option<usize>,
}

/// Changes to a knowledge base's settings; what is `None` stays.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeBaseChanges {
    pub description: Option<String>,
    /// The knowledge base's own system prompt for answers; "" restores the default.
    pub system_prompt: Option<String>,
    /// Search defaults: fusion, rerank, weights, thresholds (`{}` clears them).
    pub retrieval: Option<retrieval::SearchOptions>,
}

/// Every knowledge base, and the embedding model they share.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KnowledgeBases {
    pub knowledge_bases: Vec<KnowledgeBase>,
    pub embedding_model: String,
}

/// Consistency figures: documents per status and chunks in the metadata store, points in the
/// index. `points == chunks` when nothing is duplicated, orphaned or missing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KnowledgeBaseStats {
    pub documents: BTreeMap<String, i64>,
    pub chunks: i64,
    pub points: u64,
}

/// Checks a knowledge-base name: 1 to 100 characters, no control characters or slashes.
pub fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::bad_request("name must be 1 to 100 characters"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(Error::bad_request(
            "name must not contain slashes or control characters",
        ));
    }
    Ok(name.to_string())
}

fn check_description(description: Option<&str>) -> Result<()> {
    if description.is_some_and(|d| d.chars().count() > 2000) {
        return Err(Error::bad_request(
            "description must be at most 2000 characters",
        ));
    }
    Ok(())
}

pub async fn create(state: &State, req: NewKnowledgeBase) -> Result<KnowledgeBase> {
    let name = validate_name(&req.name)?;
    let chunking = ingest::ChunkConfig {
        size: req.chunk_size.unwrap_or(state.config.chunking.size),
        overlap: req.chunk_overlap.unwrap_or(state.config.chunking.overlap),
    };
    chunking
        .validate()
        .map_err(|e| Error::bad_request(e.to_string()))?;
    let conflict = || Error::Conflict(format!("a knowledge base named {name:?} already exists"));
    if state.store.get_kb(&name).await?.is_some() {
        return Err(conflict());
    }
    let description = req.description.unwrap_or_default();
    check_description(Some(&description))?;
    let id = uuid::Uuid::now_v7().to_string();
    state
        .store
        .create_kb(
            &id,
            &name,
            description.trim(),
            chunking.size as i64,
            chunking.overlap as i64,
        )
        .await
        .map_err(|e| match Error::from(e) {
            Error::Conflict(_) => conflict(),
            other => other,
        })
}

pub async fn list(state: &State) -> Result<KnowledgeBases> {
    Ok(KnowledgeBases {
        knowledge_bases: state.store.list_kbs().await?,
        embedding_model: state.searcher.embedder.name().to_string(),
    })
}

/// Finds a knowledge base by id or name.
pub async fn find(state: &State, kb: &str) -> Result<KnowledgeBase> {
    state
        .store
        .get_kb(kb)
        .await?
        .ok_or_else(|| Error::not_found("knowledge base", kb))
}

/// Finds each named knowledge base (ids or names; at least one).
pub async fn find_all(state: &State, kbs: &[String]) -> Result<Vec<KnowledgeBase>> {
    if kbs.is_empty() {
        return Err(Error::bad_request(
            "knowledge_bases must name at least one knowledge base",
        ));
    }
    let mut found = Vec::with_capacity(kbs.len());
    for kb in kbs {
        found.push(find(state, kb).await?);
    }
    Ok(found)
}

pub async fn stats(state: &State, kb: &str) -> Result<KnowledgeBaseStats> {
    let kb = find(state, kb).await?;
    let (by_status, chunks) = state.store.kb_stats(&kb.id).await?;
    let index = state.pipeline.index.clone();
    let scope = retrieval::filter::Scope {
        knowledge_bases: vec![kb.id.clone()],
        documents: None,
    };
    let points = tokio::task::spawn_blocking(move || index.count(&scope)).await??;
    Ok(KnowledgeBaseStats {
        documents: by_status.into_iter().collect(),
        chunks,
        points: points as u64,
    })
}

pub async fn update(
    state: &State,
    kb: &str,
    changes: KnowledgeBaseChanges,
) -> Result<KnowledgeBase> {
    let kb = find(state, kb).await?;
    check_description(changes.description.as_deref())?;
    if changes
        .system_prompt
        .as_ref()
        .is_some_and(|p| p.chars().count() > 8000)
    {
        return Err(Error::bad_request(
            "system_prompt must be at most 8000 characters",
        ));
    }
    let retrieval_json = match &changes.retrieval {
        Some(o) => {
            o.validate()?;
            Some(serde_json::to_string(o).map_err(Error::internal)?)
        }
        None => None,
    };
    state
        .store
        .update_kb(
            &kb.id,
            changes.description.as_deref().map(str::trim),
            changes.system_prompt.as_deref().map(str::trim),
            retrieval_json.as_deref(),
        )
        .await?;
    find(state, &kb.id).await
}

/// Deletes a knowledge base the one way things are deleted: its points (flushed), then its
/// rows, then the files no other document uses.
pub async fn delete(state: &State, kb: &str) -> Result<()> {
    let kb = find(state, kb).await?;
    let hashes = state.store.kb_hashes(&kb.id).await?;
    let index = state.pipeline.index.clone();
    let kb_id = kb.id.clone();
    tokio::task::spawn_blocking(move || -> retrieval::Result<()> {
        index.delete_knowledge_base(&kb_id)?;
        index.flush()
    })
    .await??;
    state.store.delete_kb(&kb.id).await?;
    documents::remove_files_if_unused(&state.store, &state.files, hashes).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("docs").is_ok());
        assert!(validate_name("知识库 1").is_ok());
        assert!(validate_name("  ").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name(&"x".repeat(101)).is_err());
    }
}

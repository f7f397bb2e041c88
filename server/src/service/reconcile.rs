//! Start-up reconciliation: the index and the metadata brought back in line.
//!
//! Deletions take one order (points, then rows, then files), and a document is `ready` only
//! after its points were flushed, so a crash leaves at worst rows whose points are missing.
//! Damage from elsewhere (a restored index, a copied database, a bug) can leave either kind.
//! At start, before the workers run, this pass compares the points per document in the
//! index with the documents' rows and repairs what differs:
//!
//! - points of a document that has no row: deleted;
//! - points of a `failed` document (which keeps none): deleted;
//! - a `ready` document whose points are missing or fewer or more than its chunks: queued
//!   again, so the worker rebuilds its points.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::State;
use super::{documents, knowledge_bases};
use crate::error::Result;
use crate::store::DocStatus;

/// What the pass found to repair.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Repair {
    /// Documents whose points must go: no row, or a failed document.
    pub delete_points: Vec<String>,
    /// Ready documents whose points do not match their chunks: ingest again.
    pub requeue: Vec<String>,
}

impl Repair {
    pub fn is_empty(&self) -> bool {
        self.delete_points.is_empty() && self.requeue.is_empty()
    }
}

/// The repair for `rows` (id, status, chunk count) against `points` (points per document id
/// in the index). Pure: both sides are read by the caller.
pub fn plan(rows: &[(String, DocStatus, i64)], points: &HashMap<String, usize>) -> Repair {
    let known: HashSet<&str> = rows.iter().map(|(id, _, _)| id.as_str()).collect();
    let mut repair = Repair::default();
    for id in points.keys() {
        if !known.contains(id.as_str()) {
            repair.delete_points.push(id.clone());
        }
    }
    for (id, status, chunks) in rows {
        let have = points.get(id).copied().unwrap_or(0);
        match status {
            DocStatus::Failed if have > 0 => repair.delete_points.push(id.clone()),
            DocStatus::Ready if have != usize::try_from(*chunks).unwrap_or(0) => {
                repair.requeue.push(id.clone())
            }
            _ => {}
        }
    }
    repair.delete_points.sort();
    repair.requeue.sort();
    repair
}

/// Compares each embedding model's index with the metadata of the documents whose knowledge
/// bases use that model, and repairs the difference; logs what it did.
pub async fn run(state: &State) -> Result<Repair> {
    // Every model a knowledge base uses is opened, so its index is checked too.
    for kb in state.store.list_kbs().await? {
        if let Err(e) = knowledge_bases::space(state, &kb).await {
            tracing::warn!(kb = %kb.name, model = %kb.embedding_model, error = %e, "cannot open the knowledge base's embedding model; its index is not checked");
        }
    }
    let rows = state.store.document_states().await?;
    // The new generations of running re-indexes are theirs to finish, not damage.
    let building: Vec<(String, String)> = state
        .store
        .active_reindexes()
        .await?
        .into_iter()
        .map(|r| (r.embedding_model.clone(), r.index_key()))
        .collect();
    let mut total = Repair::default();
    for space in state.spaces.all() {
        let index = space.index.clone();
        let keys: Vec<String> = building
            .iter()
            .filter(|(model, _)| model == space.model())
            .map(|(_, key)| key.clone())
            .collect();
        let points = tokio::task::spawn_blocking(move || -> retrieval::Result<_> {
            let mut points = index.document_counts()?;
            if !keys.is_empty() {
                let new = index.document_counts_in(&retrieval::filter::knowledge_bases(&keys))?;
                for (doc, n) in new {
                    if let Some(c) = points.get_mut(&doc) {
                        *c = c.saturating_sub(n);
                    }
                }
                points.retain(|_, c| *c > 0);
            }
            Ok(points)
        })
        .await??;
        let mine: Vec<(String, DocStatus, i64)> = rows
            .iter()
            .filter(|(_, _, _, model)| model == space.model())
            .map(|(id, status, chunks, _)| (id.clone(), *status, *chunks))
            .collect();
        let repair = plan(&mine, &points);
        if repair.is_empty() {
            continue;
        }
        documents::remove_points(
            std::slice::from_ref(&space.index),
            repair.delete_points.clone(),
        )
        .await?;
        for id in &repair.requeue {
            state.store.requeue_document(id).await?;
        }
        tracing::warn!(
            model = space.model(),
            deleted_points_of = repair.delete_points.len(),
            requeued = repair.requeue.len(),
            documents = ?repair.delete_points,
            requeued_documents = ?repair.requeue,
            "index and metadata repaired"
        );
        total.delete_points.extend(repair.delete_points);
        total.requeue.extend(repair.requeue);
    }
    if total.is_empty() {
        tracing::info!(documents = rows.len(), "index and metadata agree");
    }
    if !total.requeue.is_empty() {
        state.wake.notify_waiters();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<(String, DocStatus, i64)> {
        vec![
            ("a".into(), DocStatus::Ready, 3),
            ("b".into(), DocStatus::Ready, 2),
            ("c".into(), DocStatus::Failed, 0),
            ("d".into(), DocStatus::Queued, 0),
            ("e".into(), DocStatus::Ready, 0),
        ]
    }

    #[test]
    fn agreement_needs_no_repair() {
        let points = HashMap::from([("a".into(), 3), ("b".into(), 2)]);
        assert!(plan(&rows(), &points).is_empty());
    }

    #[test]
    fn each_kind_of_damage_is_repaired() {
        let points = HashMap::from([
            ("a".into(), 3),
            // b lost a point; c failed but kept points; z has no row; d is queued (redone).
            ("b".into(), 1),
            ("c".into(), 4),
            ("z".into(), 7),
            ("d".into(), 2),
        ]);
        let r = plan(&rows(), &points);
        assert_eq!(r.delete_points, ["c", "z"]);
        assert_eq!(r.requeue, ["b"]);
        // A ready document with all its points gone.
        let r = plan(&rows(), &HashMap::from([("b".into(), 2)]));
        assert_eq!(r.requeue, ["a"]);
    }
}

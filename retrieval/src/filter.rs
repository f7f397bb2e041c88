//! Filters on the point payload: which knowledge bases and documents a search may see.
//!
//! A [`Selection`] describes the points; it becomes Qdrant's own filter JSON for Qdrant Edge,
//! and the same conditions for a Qdrant server.

use qdrant_edge::Filter;
use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};

/// Payload key of the knowledge-base id (keyword-indexed).
pub const KB_ID: &str = "kb_id";
/// Payload key of the document id (keyword-indexed).
pub const DOC_ID: &str = "doc_id";

/// Restriction of a search or a delete to some knowledge bases and documents.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// Knowledge-base ids; empty means none (a search with no knowledge base finds nothing).
    pub knowledge_bases: Vec<String>,
    /// Optional document ids; `None` means every document of those knowledge bases.
    pub documents: Option<Vec<String>>,
}

impl Scope {
    /// `kb_id ∈ knowledge_bases ∧ doc_id ∈ documents`.
    pub fn selection(&self) -> Result<Selection> {
        if self.knowledge_bases.is_empty() {
            return Err(Error::Invalid("no knowledge base to search".into()));
        }
        let mut fields = vec![(KB_ID, self.knowledge_bases.clone())];
        if let Some(docs) = &self.documents {
            fields.push((DOC_ID, docs.clone()));
        }
        Ok(Selection { fields, ids: None })
    }

    /// The Qdrant Edge filter of [`Scope::selection`].
    pub fn to_filter(&self) -> Result<Filter> {
        self.selection()?.to_edge()
    }
}

/// Which points an operation applies to: each field must hold one of its values, and the
/// point's id must be one of `ids` when given. One description for both backends: Qdrant
/// Edge's filter here ([`Selection::to_edge`]), the server's in [`crate::qdrant_server`].
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub fields: Vec<(&'static str, Vec<String>)>,
    pub ids: Option<Vec<Uuid>>,
}

impl Selection {
    /// The same selection, narrowed to the points `ids`.
    pub fn with_ids(mut self, ids: &[Uuid]) -> Self {
        self.ids = Some(ids.to_vec());
        self
    }

    /// As Qdrant's filter JSON, parsed by Qdrant Edge.
    pub fn to_edge(&self) -> Result<Filter> {
        let mut must: Vec<serde_json::Value> = self
            .fields
            .iter()
            .map(|(key, values)| match values.as_slice() {
                [one] => json!({"key": key, "match": {"value": one}}),
                many => json!({"key": key, "match": {"any": many}}),
            })
            .collect();
        if let Some(ids) = &self.ids {
            must.push(json!({ "has_id": ids }));
        }
        serde_json::from_value(json!({ "must": must }))
            .map_err(|e| Error::Index(format!("bad filter: {e}")))
    }
}

/// All points of one document.
pub fn document(doc_id: &str) -> Selection {
    Selection {
        fields: vec![(DOC_ID, vec![doc_id.to_string()])],
        ids: None,
    }
}

/// All points of one knowledge base.
pub fn knowledge_base(kb_id: &str) -> Selection {
    Selection {
        fields: vec![(KB_ID, vec![kb_id.to_string()])],
        ids: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_builds_kb_and_doc_conditions() {
        let scope = Scope {
            knowledge_bases: vec!["a".into(), "b".into()],
            documents: Some(vec!["d1".into()]),
        };
        let f = scope.to_filter().unwrap();
        assert_eq!(f.must.as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn empty_scope_is_rejected() {
        assert!(Scope::default().to_filter().is_err());
    }

    #[test]
    fn document_filter_parses() {
        assert!(document("x").to_edge().unwrap().must.is_some());
        assert!(knowledge_base("x").to_edge().unwrap().must.is_some());
        let ids = [Uuid::new_v4(), Uuid::new_v4()];
        let f = document("x").with_ids(&ids).to_edge().unwrap();
        assert_eq!(f.must.as_ref().map(Vec::len), Some(2));
    }
}

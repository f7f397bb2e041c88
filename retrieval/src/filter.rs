//! Filters on the point payload: which knowledge bases and documents a search may see.
//!
//! Built as Qdrant's own filter JSON, so the same filter works on Qdrant Edge and on a
//! Qdrant server.

use qdrant_edge::Filter;
use serde_json::json;

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
    /// The Qdrant filter: `kb_id ∈ knowledge_bases ∧ doc_id ∈ documents`.
    pub fn to_filter(&self) -> Result<Filter> {
        if self.knowledge_bases.is_empty() {
            return Err(Error::Invalid("no knowledge base to search".into()));
        }
        let mut must = vec![json!({"key": KB_ID, "match": {"any": self.knowledge_bases}})];
        if let Some(docs) = &self.documents {
            must.push(json!({"key": DOC_ID, "match": {"any": docs}}));
        }
        filter_from_json(json!({ "must": must }))
    }
}

/// All points of one document.
pub fn document(doc_id: &str) -> Result<Filter> {
    filter_from_json(json!({"must": [{"key": DOC_ID, "match": {"value": doc_id}}]}))
}

/// All points of one knowledge base.
pub fn knowledge_base(kb_id: &str) -> Result<Filter> {
    filter_from_json(json!({"must": [{"key": KB_ID, "match": {"value": kb_id}}]}))
}

fn filter_from_json(value: serde_json::Value) -> Result<Filter> {
    serde_json::from_value(value).map_err(|e| Error::Index(format!("bad filter: {e}")))
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
        assert!(document("x").unwrap().must.is_some());
        assert!(knowledge_base("x").unwrap().must.is_some());
    }
}

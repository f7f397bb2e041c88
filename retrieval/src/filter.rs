//! Filters on the point payload: which knowledge bases and documents a search may see.
//!
//! A [`Selection`] describes the points; each index backend turns it into its own filter
//! (`index/edge.rs`: Qdrant's filter JSON for Qdrant Edge; `index/server.rs`: the same
//! conditions for a Qdrant server). This module knows neither backend.

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
}

/// Which points an operation applies to: each field must hold one of its values, and the
/// point's id must be one of `ids` when given. One description for both index backends,
/// each of which converts it to its own filter.
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
}

/// All points of one document.
pub fn document(doc_id: &str) -> Selection {
    Selection {
        fields: vec![(DOC_ID, vec![doc_id.to_string()])],
        ids: None,
    }
}

/// The points of one document under one knowledge-base key.
pub fn document_of(kb_id: &str, doc_id: &str) -> Selection {
    Selection {
        fields: vec![
            (KB_ID, vec![kb_id.to_string()]),
            (DOC_ID, vec![doc_id.to_string()]),
        ],
        ids: None,
    }
}

/// All points under some knowledge-base keys.
pub fn knowledge_bases(kb_ids: &[String]) -> Selection {
    Selection {
        fields: vec![(KB_ID, kb_ids.to_vec())],
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
    fn scope_selects_kb_and_doc_fields() {
        let scope = Scope {
            knowledge_bases: vec!["a".into(), "b".into()],
            documents: Some(vec!["d1".into()]),
        };
        let s = scope.selection().unwrap();
        assert_eq!(
            s.fields,
            vec![
                (KB_ID, vec!["a".to_string(), "b".to_string()]),
                (DOC_ID, vec!["d1".to_string()])
            ]
        );
        assert_eq!(s.ids, None);
    }

    #[test]
    fn empty_scope_is_rejected() {
        assert!(Scope::default().selection().is_err());
    }

    #[test]
    fn ids_narrow_a_selection() {
        let ids = [Uuid::new_v4(), Uuid::new_v4()];
        let s = document("x").with_ids(&ids);
        assert_eq!(s.fields, vec![(DOC_ID, vec!["x".to_string()])]);
        assert_eq!(s.ids.as_deref(), Some(&ids[..]));
        assert_eq!(knowledge_base("k").fields[0].0, KB_ID);
    }
}

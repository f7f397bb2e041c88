//! Hybrid search over one or more knowledge bases: validation, the knowledge base's search
//! defaults, a turn at the gate, then the search on a blocking thread.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::auth::Caller;
use super::knowledge_bases;
use super::State;
use crate::error::{Error, Result};
use crate::spaces::Space;

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub knowledge_bases: Vec<String>,
    pub query: String,
    #[serde(default)]
    pub top_k: Option<usize>,
    #[serde(default)]
    pub document_ids: Option<Vec<String>>,
    /// Report ranks and the query terms each hit matched.
    #[serde(default)]
    pub explain: bool,
    /// When the embedding server is down or slow: `false` (default) answers 503; `true`
    /// ranks by BM25 alone and says so in the reply's `notice`.
    #[serde(default)]
    pub bm25_fallback: bool,
    /// Only documents whose metadata passes ([`super::metadata::Filter`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<super::metadata::Filter>,
    /// Per-request search options (mode, fusion, rrf_k, weights, prefetch, rerank,
    /// vector_weight, top_n, similarity_threshold); the first knowledge base's defaults fill
    /// what is not given.
    #[serde(flatten)]
    pub options: retrieval::SearchOptions,
}

#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
pub struct SearchHit {
    pub chunk_id: String,
    pub document_id: String,
    pub document_name: String,
    pub knowledge_base: String,
    pub knowledge_base_id: String,
    pub page: Option<u32>,
    pub heading: String,
    pub ordinal: u32,
    pub text: String,
    /// Where the text lies on its page (PDFs and images): a rectangle per line, in fractions
    /// of the page from its top-left corner (`x0`, `y0`, `x1`, `y1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub boxes: Vec<retrieval::Rect>,
    /// The enclosing section an answer's prompt receives instead of `text` (knowledge bases
    /// with the `parent_child` template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The score the hits are ordered by: rerank when a reranker ran, else fused.
    pub score: f32,
    pub scores: HitScoresView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<ExplainView>,
}

#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
pub struct HitScoresView {
    pub dense: Option<f32>,
    pub sparse: Option<f32>,
    pub fused: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerank: Option<f32>,
}

/// Why a hit ranked where it did.
#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
pub struct ExplainView {
    /// 1-based rank in the dense branch.
    pub dense_rank: Option<usize>,
    /// 1-based rank in the sparse (BM25) branch.
    pub sparse_rank: Option<usize>,
    pub dense_score: Option<f32>,
    pub sparse_score: Option<f32>,
    pub fused_score: f32,
    pub rerank_score: Option<f32>,
    /// The query's BM25 terms (as BM25 tokenized them) found in this chunk.
    pub matched_terms: Vec<String>,
}

/// What a search reports beside its hits.
#[derive(Debug, Clone, Default)]
struct Found {
    /// Whether a dense branch counted (its model knows the query's language).
    dense_used: bool,
    /// Why the dense branch was dropped (the embedding server was down), if it was.
    degraded: Option<String>,
}

/// Runs a hybrid search; the hits, best first.
pub async fn hits(state: &State, caller: &Caller, body: SearchRequest) -> Result<Vec<SearchHit>> {
    hits_reporting(state, caller, body, &mut Found::default()).await
}

/// Merges the hit lists of searches in different embedding spaces by the score each hit was
/// ordered by in its own search (rerank, else fused). Raw dense scores of two models are not
/// comparable, but a fused score is built from ranks (RRF: the sum over the branches of
/// `w / (k + rank)`; DBSF: per-list normalized scores), so it means the same in every model's
/// search: a chunk both branches found outranks one that only one branch found. One list
/// passes through unchanged.
fn fuse_models(mut lists: Vec<Vec<retrieval::Hit>>, top_k: usize) -> Vec<retrieval::Hit> {
    if lists.len() <= 1 {
        return lists.pop().unwrap_or_default();
    }
    let score = |h: &retrieval::Hit| h.scores.rerank.unwrap_or(h.scores.fused);
    let mut all: Vec<retrieval::Hit> = lists.into_iter().flatten().collect();
    all.sort_by(|a, b| score(b).total_cmp(&score(a)));
    all.truncate(top_k);
    all
}

async fn hits_reporting(
    state: &State,
    caller: &Caller,
    body: SearchRequest,
    report: &mut Found,
) -> Result<Vec<SearchHit>> {
    if body.query.trim().is_empty() {
        return Err(Error::bad_request("query must not be empty"));
    }
    if body.query.chars().count() > 4000 {
        return Err(Error::bad_request("query must be at most 4000 characters"));
    }
    let found_kbs = knowledge_bases::find_all(state, caller, &body.knowledge_bases).await?;
    if let Some(k) = body.top_k {
        if !(1..=100).contains(&k) {
            return Err(Error::bad_request("top_k must be 1 to 100"));
        }
    }
    let mut names = std::collections::HashMap::new();
    let mut defaults = None;
    // Knowledge bases grouped by embedding model: each group is one search in its space.
    let mut groups: Vec<(Arc<Space>, Vec<String>)> = Vec::new();
    for kb in found_kbs {
        // Options: the request, then the first knowledge base's defaults.
        defaults.get_or_insert_with(|| kb.search_defaults());
        let space = knowledge_bases::space(state, &kb).await?;
        // Its points carry its index key (the generation searches use now).
        let key = kb.index_key();
        match groups.iter_mut().find(|(s, _)| s.model() == space.model()) {
            Some((_, keys)) => keys.push(key.clone()),
            None => groups.push((space, vec![key.clone()])),
        }
        names.insert(key, (kb.id, kb.name));
    }
    let options = body.options.or(&defaults.unwrap_or_default());
    options.validate()?;
    let mut documents = body.document_ids.clone();
    if let Some(filter) = &body.filters {
        let kb_ids: Vec<String> = names.values().map(|(id, _)| id.clone()).collect();
        let passing = filtered_documents(state, &kb_ids, filter).await?;
        documents = Some(match documents {
            Some(asked) => asked.into_iter().filter(|d| passing.contains(d)).collect(),
            None => passing.into_iter().collect(),
        });
    }
    if documents.as_ref().is_some_and(Vec::is_empty) {
        // No document passes the filters: nothing to search.
        return Ok(Vec::new());
    }
    let top_k = body.top_k.unwrap_or(state.config.search.top_k);
    let requests: Vec<(retrieval::Searcher, retrieval::SearchRequest)> = groups
        .into_iter()
        .map(|(space, kbs)| {
            let request = retrieval::SearchRequest {
                query: body.query.clone(),
                scope: retrieval::Scope {
                    knowledge_bases: kbs,
                    documents: documents.clone(),
                },
                top_k: body.top_k,
                options: options.clone(),
                explain: body.explain,
                bm25_fallback: body.bm25_fallback,
            };
            (state.searcher(&space), request)
        })
        .collect();
    let started = std::time::Instant::now();
    let turn = state.searches.enter().await?;
    let (hits, found) = tokio::task::spawn_blocking(move || -> retrieval::Result<_> {
        let _turn = turn;
        let mut lists = Vec::with_capacity(requests.len());
        let mut found = Found::default();
        for (searcher, request) in &requests {
            let one = searcher.search_report(request)?;
            let t = one.timings;
            for (stage, d) in [
                ("embed", t.embed),
                ("dense", t.dense),
                ("sparse", t.sparse),
                ("fusion", t.fusion),
                ("rerank", t.rerank),
            ] {
                metrics::histogram!("ragd_search_stage_seconds", "stage" => stage)
                    .record(d.as_secs_f64());
            }
            found.dense_used |= one.dense_used;
            found.degraded = found.degraded.or(one.degraded);
            lists.push(one.hits);
        }
        Ok((fuse_models(lists, top_k), found))
    })
    .await??;
    metrics::histogram!("ragd_search_seconds").record(started.elapsed().as_secs_f64());
    metrics::counter!("ragd_searches_total").increment(1);
    *report = found;
    Ok(hits
        .into_iter()
        .map(|h| SearchHit {
            chunk_id: h.chunk_id.to_string(),
            document_id: h.chunk.doc_id,
            document_name: h.chunk.doc_name,
            knowledge_base: names
                .get(&h.chunk.kb_id)
                .map(|(_, name)| name.clone())
                .unwrap_or_default(),
            knowledge_base_id: crate::store::kb_of_key(&h.chunk.kb_id).to_string(),
            page: h.chunk.page,
            heading: h.chunk.heading,
            ordinal: h.chunk.ordinal,
            text: h.chunk.text,
            boxes: h.chunk.boxes,
            context: h.chunk.context,
            score: h.scores.rerank.unwrap_or(h.scores.fused),
            explain: h.matched_terms.map(|matched_terms| ExplainView {
                dense_rank: h.scores.dense_rank.map(|r| r + 1),
                sparse_rank: h.scores.sparse_rank.map(|r| r + 1),
                dense_score: h.scores.dense,
                sparse_score: h.scores.sparse,
                fused_score: h.scores.fused,
                rerank_score: h.scores.rerank,
                matched_terms,
            }),
            scores: HitScoresView {
                dense: h.scores.dense,
                sparse: h.scores.sparse,
                fused: h.scores.fused,
                rerank: h.scores.rerank,
            },
        })
        .collect())
}

/// The documents of `kb_ids` whose metadata passes `filter`, after checking the filter
/// against the fields those documents have.
async fn filtered_documents(
    state: &State,
    kb_ids: &[String],
    filter: &super::metadata::Filter,
) -> Result<std::collections::HashSet<String>> {
    let rows = state.store.metadata_of(kb_ids).await?;
    let docs: Vec<(String, super::metadata::Metadata)> = rows
        .into_iter()
        .map(|(id, json)| (id, serde_json::from_str(&json).unwrap_or_default()))
        .collect();
    let known: std::collections::HashSet<&str> = docs
        .iter()
        .flat_map(|(_, m)| m.keys().map(String::as_str))
        .collect();
    filter.check(&|name| known.contains(name))?;
    Ok(docs
        .iter()
        .filter(|(_, m)| filter.matches(m))
        .map(|(id, _)| id.clone())
        .collect())
}

/// A search's hits, and whether the dense branch took part.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchReply {
    pub hits: Vec<SearchHit>,
    pub dense_used: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// [`hits`], with a notice when the embedding model does not know the query's language, or
/// the embedding server was down and BM25 ranked alone.
pub async fn search(state: &State, caller: &Caller, body: SearchRequest) -> Result<SearchReply> {
    let language = retrieval::normalize::language(&body.query);
    let mut found = Found::default();
    let hits = hits_reporting(state, caller, body, &mut found).await?;
    let dense_used = found.dense_used && found.degraded.is_none();
    let notice = match found.degraded {
        Some(why) => Some(format!(
            "the embedding server is unavailable ({why}): BM25 ranked these results alone"
        )),
        None => (!found.dense_used).then(|| {
            format!(
                "the embedding model does not understand {language} queries: BM25 ranks them (choose a multilingual model for this knowledge base to add dense search)"
            )
        }),
    };
    Ok(SearchReply {
        hits,
        dense_used,
        notice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{documents, metadata, testing};
    use serde_json::json;

    async fn ready(state: &crate::service::AppState) {
        while let Some(job) = state.store.claim_job().await.unwrap() {
            crate::jobs::worker::process(state, job).await;
        }
    }

    fn filtered(query: &str, filters: serde_json::Value) -> SearchRequest {
        SearchRequest {
            knowledge_bases: vec!["kb".into()],
            query: query.into(),
            filters: Some(serde_json::from_value(filters).unwrap()),
            ..Default::default()
        }
    }

    async fn names(state: &State, req: SearchRequest) -> Vec<String> {
        let mut n: Vec<String> = search(state, &Caller::ADMIN, req)
            .await
            .unwrap()
            .hits
            .into_iter()
            .map(|h| h.document_name)
            .collect();
        n.sort();
        n.dedup();
        n
    }

    #[tokio::test]
    async fn searches_filter_on_document_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let state = testing::state(dir.path()).await;
        let kb = testing::kb(&state, "kb").await;
        let meta = |v: serde_json::Value| Some(metadata::validate(&v).unwrap());
        documents::upload_with(
            &state,
            &Caller::ADMIN,
            &kb.id,
            vec![(
                "q3.txt".into(),
                b"Revenue report for the third quarter.".to_vec(),
            )],
            meta(json!({"department": "finance", "year": 2023, "tags": ["report"]})),
        )
        .await
        .unwrap();
        documents::upload_with(
            &state,
            &Caller::ADMIN,
            &kb.id,
            vec![(
                "hiring.txt".into(),
                b"Hiring report for the engineering team.".to_vec(),
            )],
            meta(json!({"department": "hr", "year": 2024})),
        )
        .await
        .unwrap();
        // Front matter becomes metadata.
        let md = documents::upload(
            &state,
            &Caller::ADMIN,
            &kb.id,
            vec![(
                "plan.md".into(),
                b"---\ndepartment: finance\nyear: 2025\npublished: 2025-01-10\n---\n# Plan\n\nBudget report for next year.".to_vec(),
            )],
        )
        .await
        .unwrap();
        ready(&state).await;
        let plan = state
            .store
            .get_document(&md[0].doc.id)
            .await
            .unwrap()
            .unwrap();
        let plan_meta: serde_json::Value = serde_json::from_str(&plan.metadata).unwrap();
        assert_eq!(plan_meta["year"], 2025, "{plan_meta}");

        let all = names(
            &state,
            SearchRequest {
                knowledge_bases: vec!["kb".into()],
                query: "report".into(),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(all, ["hiring.txt", "plan.md", "q3.txt"]);
        let finance = json!({"conditions": [{"name": "department", "comparison_operator": "is", "value": "finance"}]});
        assert_eq!(
            names(&state, filtered("report", finance)).await,
            ["plan.md", "q3.txt"]
        );
        let recent = json!({"logical_operator": "and", "conditions": [
            {"name": "department", "comparison_operator": "is", "value": "finance"},
            {"name": "year", "comparison_operator": "≥", "value": 2024}]});
        assert_eq!(names(&state, filtered("report", recent)).await, ["plan.md"]);
        let either = json!({"logical_operator": "or", "conditions": [
            {"name": "department", "comparison_operator": "is", "value": "hr"},
            {"name": "published", "comparison_operator": "after", "value": "2025-01-01"}]});
        assert_eq!(
            names(&state, filtered("report", either)).await,
            ["hiring.txt", "plan.md"]
        );
        let none =
            json!({"conditions": [{"name": "year", "comparison_operator": ">", "value": 3000}]});
        assert!(names(&state, filtered("report", none)).await.is_empty());

        // Bad filters are 400s naming the field.
        let err = search(
            &state,
            &Caller::ADMIN,
            filtered(
                "report",
                json!({"conditions": [
            {"name": "author", "comparison_operator": "is", "value": "x"}]}),
            ),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::BadRequest(m) if m.contains("\"author\"")),
            "{err}"
        );
        let err = search(
            &state,
            &Caller::ADMIN,
            filtered(
                "report",
                json!({"conditions": [
            {"name": "year", "comparison_operator": ">", "value": "recent"}]}),
            ),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::BadRequest(m) if m.contains("\"year\"")),
            "{err}"
        );

        // A metadata change applies at once.
        let hiring = state
            .store
            .list_documents(&kb.id, None, 10, 0)
            .await
            .unwrap()
            .0
            .into_iter()
            .find(|d| d.name == "hiring.txt")
            .unwrap();
        documents::update(
            &state,
            &Caller::ADMIN,
            &kb.id,
            &hiring.id,
            documents::DocumentChanges {
                metadata: Some(json!({"department": "finance", "year": 2024})),
            },
        )
        .await
        .unwrap();
        let finance = json!({"conditions": [{"name": "department", "comparison_operator": "is", "value": "finance"}]});
        assert_eq!(
            names(&state, filtered("report", finance)).await,
            ["hiring.txt", "plan.md", "q3.txt"]
        );
        let bad = documents::update(
            &state,
            &Caller::ADMIN,
            &kb.id,
            &hiring.id,
            documents::DocumentChanges {
                metadata: Some(json!({"year": {"from": 1}})),
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&bad, Error::BadRequest(m) if m.contains("\"year\"")),
            "{bad}"
        );
    }
}

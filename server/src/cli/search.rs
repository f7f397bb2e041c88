//! `ragd search`: hybrid search, hits with their scores and an excerpt.

use super::backend::Backend;
use crate::service::search::SearchRequest;

pub async fn run(
    backend: &Backend,
    kbs: Vec<String>,
    top_k: Option<usize>,
    raw: bool,
    query: String,
) -> anyhow::Result<()> {
    let reply = backend
        .search(SearchRequest {
            knowledge_bases: kbs,
            query,
            top_k,
            ..Default::default()
        })
        .await?;
    if raw {
        println!("{}", serde_json::to_string_pretty(&reply)?);
        return Ok(());
    }
    if reply.hits.is_empty() {
        println!("no results");
    }
    for (i, h) in reply.hits.iter().enumerate() {
        let page = h.page.map(|p| format!(" p.{p}")).unwrap_or_default();
        let heading = Some(h.heading.as_str())
            .filter(|s| !s.is_empty())
            .map(|s| format!(" § {s}"))
            .unwrap_or_default();
        let score = |s: Option<f32>| s.map_or("-".to_string(), |s| format!("{s:.3}"));
        println!(
            "{}. {}{}{}  [fused {:.4} · dense {} · bm25 {}]",
            i + 1,
            h.document_name,
            page,
            heading,
            h.score,
            score(h.scores.dense),
            score(h.scores.sparse),
        );
        let text: String = h.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let excerpt: String = text.chars().take(240).collect();
        println!(
            "   {excerpt}{}",
            if text.chars().count() > 240 {
                "…"
            } else {
                ""
            }
        );
    }
    Ok(())
}

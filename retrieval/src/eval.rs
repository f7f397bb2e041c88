//! Retrieval metrics over graded relevance judgements (BEIR's qrels), per query:
//!
//! ```text
//! DCG@k    = Σ_{i<k} (2^{rel_i} − 1) / log2(i + 2)
//! nDCG@k   = DCG@k / IDCG@k            (IDCG: the judged documents in ideal order)
//! Recall@k = |relevant ∩ top k| / |relevant|      (relevant: grade > 0)
//! MRR@k    = 1 / (rank of the first relevant document), 0 if none in the top k
//! ```
//!
//! Scores are averaged over the queries that have at least one relevant document.

use std::collections::HashMap;

/// Averages of the metrics over a query set.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Metrics {
    pub ndcg_at_10: f64,
    pub recall_at_10: f64,
    pub recall_at_100: f64,
    pub mrr_at_10: f64,
    pub queries: usize,
}

/// nDCG@k of one ranking (`ranked` best first) against graded `judged` documents.
pub fn ndcg_at_k(ranked: &[String], judged: &HashMap<String, u32>, k: usize) -> f64 {
    let gain = |g: u32| (2f64.powi(g as i32)) - 1.0;
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| gain(judged.get(d).copied().unwrap_or(0)) / ((i + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<u32> = judged.values().copied().filter(|&g| g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &g)| gain(g) / ((i + 2) as f64).log2())
        .sum();
    if idcg == 0.0 {
        0.0
    } else {
        dcg / idcg
    }
}

/// Recall@k: share of the relevant documents found in the top k.
pub fn recall_at_k(ranked: &[String], judged: &HashMap<String, u32>, k: usize) -> f64 {
    let relevant = judged.values().filter(|&&g| g > 0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|d| judged.get(*d).is_some_and(|&g| g > 0))
        .count();
    found as f64 / relevant as f64
}

/// MRR@k: reciprocal rank of the first relevant document in the top k.
pub fn mrr_at_k(ranked: &[String], judged: &HashMap<String, u32>, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|d| judged.get(d).is_some_and(|&g| g > 0))
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// Averages over queries; `runs` maps a query id to its ranking.
pub fn evaluate(
    runs: &HashMap<String, Vec<String>>,
    qrels: &HashMap<String, HashMap<String, u32>>,
) -> Metrics {
    let mut m = Metrics::default();
    for (qid, judged) in qrels {
        if !judged.values().any(|&g| g > 0) {
            continue;
        }
        let empty = Vec::new();
        let ranked = runs.get(qid).unwrap_or(&empty);
        m.ndcg_at_10 += ndcg_at_k(ranked, judged, 10);
        m.recall_at_10 += recall_at_k(ranked, judged, 10);
        m.recall_at_100 += recall_at_k(ranked, judged, 100);
        m.mrr_at_10 += mrr_at_k(ranked, judged, 10);
        m.queries += 1;
    }
    if m.queries > 0 {
        let n = m.queries as f64;
        m.ndcg_at_10 /= n;
        m.recall_at_10 /= n;
        m.recall_at_100 /= n;
        m.mrr_at_10 /= n;
    }
    m
}

/// Parses a BEIR qrels TSV (`query-id<TAB>corpus-id<TAB>score`, header line optional).
pub fn parse_qrels(tsv: &str) -> HashMap<String, HashMap<String, u32>> {
    let mut out: HashMap<String, HashMap<String, u32>> = HashMap::new();
    for line in tsv.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            continue;
        }
        let Ok(score) = cols[2].trim().parse::<f64>() else {
            continue; // the header
        };
        out.entry(cols[0].to_string())
            .or_default()
            .insert(cols[1].to_string(), score.max(0.0) as u32);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(pairs: &[(&str, u32)]) -> HashMap<String, u32> {
        pairs.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }

    fn ranked(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn perfect_and_empty_rankings() {
        let j = judged(&[("a", 2), ("b", 1)]);
        assert!((ndcg_at_k(&ranked(&["a", "b"]), &j, 10) - 1.0).abs() < 1e-12);
        assert_eq!(ndcg_at_k(&ranked(&[]), &j, 10), 0.0);
        assert_eq!(recall_at_k(&ranked(&["x", "b"]), &j, 10), 0.5);
        assert_eq!(mrr_at_k(&ranked(&["x", "y", "a"]), &j, 10), 1.0 / 3.0);
        assert_eq!(mrr_at_k(&ranked(&["x", "y", "a"]), &j, 2), 0.0);
    }

    #[test]
    fn ndcg_by_hand() {
        // ranking b, a with grades a=2, b=1: DCG = 1/log2(2) + 3/log2(3); IDCG = 3 + 1/log2(3)
        let j = judged(&[("a", 2), ("b", 1)]);
        let dcg = 1.0 + 3.0 / 3f64.log2();
        let idcg = 3.0 + 1.0 / 3f64.log2();
        assert!((ndcg_at_k(&ranked(&["b", "a"]), &j, 10) - dcg / idcg).abs() < 1e-12);
    }

    #[test]
    fn zero_grades_are_not_relevant() {
        let j = judged(&[("a", 0), ("b", 1)]);
        assert_eq!(recall_at_k(&ranked(&["a"]), &j, 10), 0.0);
        assert_eq!(mrr_at_k(&ranked(&["a", "b"]), &j, 10), 0.5);
    }

    #[test]
    fn qrels_tsv_and_averages() {
        let q =
            parse_qrels("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td3\t2\nq3\td9\t0\n");
        assert_eq!(q.len(), 3);
        let runs: HashMap<String, Vec<String>> = [
            ("q1".to_string(), ranked(&["d1"])),
            ("q2".to_string(), ranked(&["x", "d3"])),
        ]
        .into_iter()
        .collect();
        let m = evaluate(&runs, &q);
        assert_eq!(m.queries, 2, "q3 has no relevant document");
        assert!((m.mrr_at_10 - 0.75).abs() < 1e-12);
        assert!((m.recall_at_10 - 1.0).abs() < 1e-12);
    }
}

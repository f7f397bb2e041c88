//! Reciprocal rank fusion of ranked lists.
//!
//! For a document `d` found in lists `L_1..L_m`, with `rank_i(d)` its 0-based position in
//! list `i` and `w_i` the weight of list `i`:
//!
//! ```text
//! RRF(d) = Σ_i  w_i / (k + rank_i(d) + 1)
//! ```
//!
//! Lists in which `d` does not appear contribute nothing. `k` damps the advantage of the
//! very first ranks; 60 is the value from Cormack et al. (2009) and the usual default.
//! Ties are broken by the id's first appearance (list order, then rank), so the result is
//! deterministic.
//!
//! Distribution-based score fusion (DBSF, as in Qdrant) uses the scores instead of the ranks:
//! each list's scores are mapped to [0, 1] between `μ − 3σ` and `μ + 3σ` of that list,
//! clamped, weighted and summed:
//!
//! ```text
//! DBSF(d) = Σ_i  w_i · clamp((s_i(d) − (μ_i − 3σ_i)) / (6σ_i), 0, 1)
//! ```
//!
//! A list whose scores are all equal (σ = 0) maps them to 0.5.

use std::collections::HashMap;
use std::hash::Hash;

/// One fused result: the id, its fused score and its 0-based rank in each input list.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused<Id> {
    pub id: Id,
    pub score: f32,
    pub ranks: Vec<Option<usize>>,
}

/// Fuses ranked lists (best first) with reciprocal rank fusion, best first.
///
/// `weights` gives one weight per list; missing weights count as 1.0.
/// Duplicate ids inside one list keep their best (first) rank.
pub fn reciprocal_rank_fusion<Id: Clone + Eq + Hash>(
    lists: &[Vec<Id>],
    k: f32,
    weights: &[f32],
) -> Vec<Fused<Id>> {
    let mut acc = Accumulator::new(lists.len());
    for (li, list) in lists.iter().enumerate() {
        let w = weights.get(li).copied().unwrap_or(1.0);
        for (rank, id) in list.iter().enumerate() {
            acc.add(li, rank, id, w / (k + rank as f32 + 1.0));
        }
    }
    acc.finish()
}

/// Sums per-list contributions, remembering each id's first rank per list.
struct Accumulator<Id> {
    lists: usize,
    order: Vec<Fused<Id>>,
    slot: HashMap<Id, usize>,
}

impl<Id: Clone + Eq + Hash> Accumulator<Id> {
    fn new(lists: usize) -> Self {
        Self {
            lists,
            order: Vec::new(),
            slot: HashMap::new(),
        }
    }

    /// Adds `value` for `id` at `rank` of list `li`, unless `id` was already seen in that list.
    fn add(&mut self, li: usize, rank: usize, id: &Id, value: f32) {
        let lists = self.lists;
        let order = &mut self.order;
        let i = *self.slot.entry(id.clone()).or_insert_with(|| {
            order.push(Fused {
                id: id.clone(),
                score: 0.0,
                ranks: vec![None; lists],
            });
            order.len() - 1
        });
        let entry = &mut self.order[i];
        if entry.ranks[li].is_none() {
            entry.ranks[li] = Some(rank);
            entry.score += value;
        }
    }

    /// Best first; a stable sort keeps first-appearance order for equal scores.
    fn finish(mut self) -> Vec<Fused<Id>> {
        self.order.sort_by(|a, b| b.score.total_cmp(&a.score));
        self.order
    }
}

/// Fuses scored lists (best first) by distribution-based score fusion, best first.
pub fn distribution_based_score_fusion<Id: Clone + Eq + Hash>(
    lists: &[Vec<(Id, f32)>],
    weights: &[f32],
) -> Vec<Fused<Id>> {
    let mut acc = Accumulator::new(lists.len());
    for (li, list) in lists.iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let w = weights.get(li).copied().unwrap_or(1.0);
        let n = list.len() as f32;
        let mean = list.iter().map(|(_, s)| s).sum::<f32>() / n;
        let sd = (list.iter().map(|(_, s)| (s - mean).powi(2)).sum::<f32>() / n).sqrt();
        let low = mean - 3.0 * sd;
        for (rank, (id, score)) in list.iter().enumerate() {
            let normalized = if sd > f32::EPSILON {
                ((score - low) / (6.0 * sd)).clamp(0.0, 1.0)
            } else {
                0.5
            };
            acc.add(li, rank, id, w * normalized);
        }
    }
    acc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbsf_normalizes_each_list_by_its_spread() {
        // Dense cosines and BM25 scores live on different scales; DBSF puts them on one.
        let dense = vec![("a", 0.9), ("b", 0.5), ("c", 0.1)];
        let sparse = vec![("c", 30.0), ("b", 20.0), ("a", 10.0)];
        let fused = distribution_based_score_fusion(&[dense, sparse], &[]);
        // symmetric lists: all three tie at 1.0; the tie keeps first appearance order
        for f in &fused {
            assert!((f.score - 1.0).abs() < 1e-5, "{f:?}");
        }
        let fused = distribution_based_score_fusion(
            &[vec![("a", 0.9), ("b", 0.5), ("c", 0.1)], vec![("b", 5.0)]],
            &[1.0, 1.0],
        );
        assert_eq!(fused[0].id, "b");
        assert!((fused[0].score - 1.0).abs() < 1e-5);
        assert_eq!(fused[0].ranks, vec![Some(1), Some(0)]);
    }

    #[test]
    fn dbsf_values_are_in_unit_range_per_list() {
        let list: Vec<(u32, f32)> = (0..10).map(|i| (i, i as f32 * i as f32)).collect();
        let fused = distribution_based_score_fusion(&[list], &[2.0]);
        assert!(fused.iter().all(|f| (0.0..=2.0).contains(&f.score)));
        assert_eq!(fused[0].id, 9);
    }

    #[test]
    fn single_list_keeps_order_and_scores() {
        let fused = reciprocal_rank_fusion(&[vec!["a", "b", "c"]], 60.0, &[]);
        let ids: Vec<_> = fused.iter().map(|f| f.id).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert!((fused[0].score - 1.0 / 61.0).abs() < 1e-7);
        assert!((fused[2].score - 1.0 / 63.0).abs() < 1e-7);
    }

    #[test]
    fn documents_in_both_lists_win() {
        // "b" is second in both lists: 2/62 beats "a" (1/61) and "d" (1/61).
        let fused = reciprocal_rank_fusion(&[vec!["a", "b", "c"], vec!["d", "b", "e"]], 60.0, &[]);
        assert_eq!(fused[0].id, "b");
        assert_eq!(fused[0].ranks, vec![Some(1), Some(1)]);
        assert!((fused[0].score - 2.0 / 62.0).abs() < 1e-7);
        // ties: "a" appeared before "d"
        assert_eq!(fused[1].id, "a");
        assert_eq!(fused[2].id, "d");
        assert_eq!(fused[2].ranks, vec![None, Some(0)]);
        assert_eq!(fused.len(), 5);
    }

    #[test]
    fn weights_scale_each_list() {
        let fused = reciprocal_rank_fusion(&[vec!["a"], vec!["b"]], 60.0, &[1.0, 3.0]);
        assert_eq!(fused[0].id, "b");
        assert!((fused[0].score - 3.0 / 61.0).abs() < 1e-7);
    }

    #[test]
    fn small_k_rewards_top_ranks_more() {
        let lists = [vec!["a", "b"], vec!["b", "c", "d", "e", "a"]];
        // with k=60, a (1/61 + 1/65) vs b (1/62 + 1/61): b wins either way, check the gap grows
        let gap = |k: f32| {
            let f = reciprocal_rank_fusion(&lists, k, &[]);
            f[0].score - f[1].score
        };
        assert!(gap(1.0) > gap(60.0));
    }

    #[test]
    fn duplicates_in_one_list_count_once() {
        let fused = reciprocal_rank_fusion(&[vec!["a", "a", "b"]], 60.0, &[]);
        assert_eq!(fused.len(), 2);
        assert!((fused[0].score - 1.0 / 61.0).abs() < 1e-7);
        assert_eq!(fused[1].ranks, vec![Some(2)]);
    }

    #[test]
    fn empty_input_gives_empty_output() {
        let fused: Vec<Fused<u32>> = reciprocal_rank_fusion(&[vec![], vec![]], 60.0, &[]);
        assert!(fused.is_empty());
    }
}

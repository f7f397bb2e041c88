//! Search latency of the index at scale, before and after an optimization pass (the HNSW
//! build ragd's maintenance runs when the queue is idle), and what HNSW costs in recall.
//!
//! No model: points get random unit vectors (384 dimensions, like MiniLM) near one of 2,000
//! cluster centres (cosine ≈ 0.7 within a cluster), and BM25 vectors of 40 words drawn from a 20,000-word vocabulary. Queries
//! are stored vectors plus noise. `RAGD_BENCH_POINTS` sets the size (default 100,000).
//!
//! Run: `make bench-index` (`cargo bench --profile release -p retrieval --bench index_scale`).

use std::time::Instant;

use retrieval::{Bm25, ChunkPoint, Index, IndexConfig, Scope};
use uuid::Uuid;

const DIM: usize = 384;
const CLUSTERS: usize = 2_000;
const VOCAB: usize = 20_000;
const QUERIES: usize = 500;
/// Per-coordinate noise around a cluster centre: two points of one cluster have a cosine of
/// about 0.7, as passages on one topic do under MiniLM.
const SPREAD: f32 = 0.06;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn near(rng: &mut Rng, centre: &[f32], spread: f32) -> Vec<f32> {
    normalized(centre.iter().map(|c| c + spread * rng.unit()).collect())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let points: usize = std::env::var("RAGD_BENCH_POINTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let index = Index::open(
        &IndexConfig {
            path: dir.path().join("vectors"),
            server: None,
        },
        "bench-random",
        DIM,
    )?;
    let bm25 = Bm25::new()?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let centres: Vec<Vec<f32>> = (0..CLUSTERS)
        .map(|_| normalized((0..DIM).map(|_| rng.unit()).collect()))
        .collect();
    let words: Vec<String> = (0..VOCAB).map(|i| format!("w{i}x")).collect();

    let started = Instant::now();
    let mut samples = Vec::new();
    let mut batch = Vec::with_capacity(1_000);
    for i in 0..points {
        let centre = rng.below(CLUSTERS);
        let dense = near(&mut rng, &centres[centre], SPREAD);
        if i % (points / QUERIES).max(1) == 0 && samples.len() < QUERIES {
            samples.push(dense.clone());
        }
        let text: Vec<&str> = (0..40).map(|_| words[rng.below(VOCAB)].as_str()).collect();
        let text = text.join(" ");
        batch.push(ChunkPoint {
            id: Uuid::new_v4(),
            kb_id: "kb".into(),
            doc_id: format!("d{}", i / 4),
            doc_name: format!("doc {}", i / 4),
            ordinal: (i % 4) as u32,
            page: None,
            heading: String::new(),
            sparse: bm25.embed_document(&text),
            text,
            boxes: Vec::new(),
            context: None,
            dense,
        });
        if batch.len() == 1_000 {
            index.upsert(std::mem::take(&mut batch))?;
        }
    }
    index.upsert(batch)?;
    index.flush()?;
    println!(
        "{points} points written and flushed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let queries: Vec<Vec<f32>> = samples
        .iter()
        .map(|v| near(&mut rng, v, SPREAD / 2.0))
        .collect();
    let sparse_queries: Vec<String> = (0..QUERIES)
        .map(|_| {
            (0..4)
                .map(|_| words[rng.below(VOCAB)].clone())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let scope = Scope {
        knowledge_bases: vec!["kb".into()],
        documents: None,
    };

    let run = |label: &str| -> anyhow::Result<Vec<Vec<Uuid>>> {
        let mut dense_ms = Vec::new();
        let mut found = Vec::new();
        for q in &queries {
            let t = Instant::now();
            let hits = index.search_dense(q.clone(), &scope, 10)?;
            dense_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            found.push(hits.into_iter().map(|h| h.id).collect());
        }
        let mut sparse_ms = Vec::new();
        for q in &sparse_queries {
            let t = Instant::now();
            index.search_sparse(bm25.embed_query(q), &scope, 10)?;
            sparse_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        dense_ms.sort_by(f64::total_cmp);
        sparse_ms.sort_by(f64::total_cmp);
        let info = index.info()?;
        println!(
            "| {label} | {} | {} | {:.2} / {:.2} ms | {:.2} / {:.2} ms |",
            info.segments,
            info.indexed_vectors,
            percentile(&dense_ms, 0.5),
            percentile(&dense_ms, 0.95),
            percentile(&sparse_ms, 0.5),
            percentile(&sparse_ms, 0.95),
        );
        Ok(found)
    };

    println!(
        "| state | segments | indexed vectors | dense top-10 p50 / p95 | BM25 top-10 p50 / p95 |"
    );
    println!("|---|---|---|---|---|");
    let exact = run("as written (full scan)")?;
    let t = Instant::now();
    index.optimize()?;
    let took = t.elapsed().as_secs_f64();
    let approximate = run("after optimize (HNSW)")?;
    let overlap: usize = exact
        .iter()
        .zip(&approximate)
        .map(|(e, a)| a.iter().filter(|id| e.contains(id)).count())
        .sum();
    println!(
        "\noptimize: {took:.1} s; HNSW recall@10 against the full scan: {:.3} ({QUERIES} queries)",
        overlap as f64 / (exact.len() * 10) as f64
    );
    Ok(())
}

//! The embedder on the offline default model (needs `make setup`): the ingest thread gives
//! the same vectors as the query instance and runs at the configured lower CPU priority.

use std::path::PathBuf;

use retrieval::{Embedder, EmbeddingConfig};

fn config() -> EmbeddingConfig {
    let cache = std::env::var("RAGD_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/ragd"));
    let d = EmbeddingConfig::default();
    EmbeddingConfig {
        model_dir: cache.join(&d.model_dir),
        ort_library: cache.join(&d.ort_library),
        threads: 2,
        ingest_nice: 7,
        ..d
    }
}

/// Nice values of this process's threads named `name` (Linux /proc).
fn nice_of_threads(name: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap();
        // Fields after the ")" that closes the command name; nice is field 19 overall.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let nice: i64 = rest.split(' ').nth(16).unwrap().parse().unwrap();
        out.push(nice);
    }
    out
}

#[test]
fn ingest_batches_run_on_a_lower_priority_thread_and_match_queries() {
    let embedder = Embedder::load(&config()).expect("run `make setup` first");
    let texts = ["rust ownership and borrowing", "the moon pulls the tides"];
    let batch = embedder.embed_batch(&texts).unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch[0].len(), embedder.dim());
    let query = embedder.embed_query(texts[1]).unwrap();
    let cosine: f32 = query.iter().zip(&batch[1]).map(|(a, b)| a * b).sum::<f32>()
        / (query.iter().map(|a| a * a).sum::<f32>().sqrt()
            * batch[1].iter().map(|b| b * b).sum::<f32>().sqrt());
    assert!(cosine > 0.999, "same text, same vector: {cosine}");
    // The ingest thread and the ONNX Runtime threads it started (they inherit its name).
    let nices = nice_of_threads("ragd-ingest");
    assert!(
        !nices.is_empty() && nices.iter().all(|n| *n == 7),
        "{nices:?}"
    );
    assert!(embedder.embed_batch(&[]).unwrap().is_empty());
}

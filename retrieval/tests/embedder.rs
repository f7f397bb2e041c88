//! The embedder on the offline default model (needs `make setup`): the ingest thread gives
//! the same vectors as the query instance and runs at the configured lower CPU priority.

use std::path::PathBuf;

use retrieval::{Embedder, EmbeddingConfig};

fn cache() -> PathBuf {
    std::env::var("RAGD_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/ragd"))
}

fn config() -> EmbeddingConfig {
    let cache = cache();
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

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()
        / (a.iter().map(|x| x * x).sum::<f32>().sqrt()
            * b.iter().map(|y| y * y).sum::<f32>().sqrt())
}

const TEXTS: [&str; 2] = ["rust ownership and borrowing", "the moon pulls the tides"];

/// The cosine between a text's vector as a query (alone) and in an ingest batch of two.
fn query_against_batch(embedder: &Embedder) -> f32 {
    let batch = embedder.embed_batch(&TEXTS).unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch[0].len(), embedder.dim());
    cosine(&embedder.embed_query(TEXTS[1]).unwrap(), &batch[1])
}

/// The float-compute model gives a text the same vector in any batch. The default computes in
/// int8 with activations quantized per batch (ONNX Runtime's `DynamicQuantizeLinear` takes one
/// scale for the whole input), so a vector moves a little with its batch companions.
#[test]
fn a_text_s_vector_hardly_depends_on_its_batch() {
    let float = Embedder::load(&EmbeddingConfig {
        model_dir: cache().join("models/all-minilm-l6-v2-int8"),
        ..config()
    })
    .expect("run `make setup` first");
    let same = query_against_batch(&float);
    assert!(
        same > 0.999,
        "float compute, same text, same vector: {same}"
    );
    let int8 = Embedder::load(&config()).unwrap();
    let close = query_against_batch(&int8);
    assert!(
        close > 0.99,
        "int8 compute, same text in another batch: {close}"
    );
    let query = int8.embed_query(TEXTS[1]).unwrap();
    let to_float = cosine(&query, &float.embed_query(TEXTS[1]).unwrap());
    assert!(to_float > 0.98, "int8 against float compute: {to_float}");
}

#[test]
fn ingest_batches_run_on_a_lower_priority_thread_and_match_queries() {
    let embedder = Embedder::load(&config()).expect("run `make setup` first");
    let close = query_against_batch(&embedder);
    assert!(close > 0.99, "same text, nearly the same vector: {close}");
    // The ingest thread and the ONNX Runtime threads it started (they inherit its name).
    let nices = nice_of_threads("ragd-ingest");
    assert!(
        !nices.is_empty() && nices.iter().all(|n| *n == 7),
        "{nices:?}"
    );
    assert!(embedder.embed_batch(&[]).unwrap().is_empty());
}

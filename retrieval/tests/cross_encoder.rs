//! The cross-encoder rerank path on a fixture model (see fixtures/make_cross_encoder.py).
//! These tests check plumbing — loading a user-supplied model folder, batching, mapping
//! scores back to documents — never ranking quality: no trained cross-encoder is available
//! offline here. They need `make setup` (ONNX Runtime and the tokenizer files).

use std::path::PathBuf;

use retrieval::rerank::CrossEncoder;

fn cache_dir() -> PathBuf {
    if let Ok(d) = std::env::var("RAGD_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into())).join(".cache")
        });
    base.join("ragd")
}

/// A model folder: the fixture ONNX plus the MiniLM tokenizer files from the setup cache.
fn fixture_folder() -> tempfile::TempDir {
    let cache = cache_dir();
    retrieval::embed::init_onnx_runtime(&cache.join("onnxruntime/libonnxruntime.so"))
        .expect("run `make setup` first");
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cross-encoder/model.onnx");
    std::fs::copy(fixture, dir.path().join("model.onnx")).unwrap();
    for f in [
        "tokenizer.json",
        "config.json",
        "special_tokens_map.json",
        "tokenizer_config.json",
    ] {
        std::fs::copy(
            cache.join("models/all-minilm-l6-v2-int8").join(f),
            dir.path().join(f),
        )
        .unwrap();
    }
    dir
}

#[test]
fn user_model_folder_scores_documents_in_their_order() {
    let dir = fixture_folder();
    let ce = CrossEncoder::from_folder(dir.path(), 128).unwrap();
    assert!(ce.name.starts_with("local:"));
    // The fixture's logit is the mean token id / 1000 of "[CLS] query [SEP] doc [SEP]".
    let tok = tokenizers::Tokenizer::from_file(dir.path().join("tokenizer.json")).unwrap();
    let expected = |q: &str, d: &str| {
        let enc = tok.encode((q, d), true).unwrap();
        let ids: Vec<f32> = enc
            .get_ids()
            .iter()
            .zip(enc.get_attention_mask())
            .filter(|(_, m)| **m == 1)
            .map(|(i, _)| *i as f32)
            .collect();
        ids.iter().sum::<f32>() / ids.len() as f32 / 1000.0
    };
    let docs = ["zebra zoo", "a", "the quick brown fox jumps", "zzz"];
    // more than one batch of 16
    let many: Vec<&str> = docs.iter().cycle().take(37).copied().collect();
    let scores = ce.score("query", &many).unwrap();
    assert_eq!(scores.len(), 37);
    for (s, d) in scores.iter().zip(&many) {
        assert!(
            (s - expected("query", d)).abs() < 1e-3,
            "{d}: {s} vs {}",
            expected("query", d)
        );
    }
    assert!(ce.score("query", &[]).unwrap().is_empty());
}

#[test]
fn broken_model_folder_is_an_error() {
    let dir = fixture_folder();
    std::fs::write(dir.path().join("model.onnx"), b"not onnx").unwrap();
    assert!(CrossEncoder::from_folder(dir.path(), 128).is_err());
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    assert!(matches!(
        CrossEncoder::from_folder(dir.path(), 128),
        Err(retrieval::Error::ModelMissing(_))
    ));
}

//! Replays the fuzzers' kept inputs (`fuzz/corpus/`: seeds of every format and a sample of
//! what `cargo +nightly fuzz run` found) through what the fuzz targets run
//! ([`ingest::fuzzing`]), on the stable toolchain: each may fail, none may panic. A crash
//! found by fuzzing later goes there, so it stays fixed.

use std::path::Path;

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|f| std::fs::read(f).ok()).collect()
}

#[test]
fn the_parse_corpus_parses_or_fails_cleanly() {
    let inputs = inputs("parse");
    assert!(!inputs.is_empty(), "fuzz/corpus/parse is empty");
    inputs.iter().for_each(|d| ingest::fuzzing::parse_input(d));
}

#[test]
fn the_chunk_corpus_chunks_or_fails_cleanly() {
    let inputs = inputs("chunk");
    assert!(!inputs.is_empty(), "fuzz/corpus/chunk is empty");
    inputs.iter().for_each(|d| ingest::fuzzing::chunk_input(d));
}

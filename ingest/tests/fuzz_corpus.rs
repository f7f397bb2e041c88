//! Replays the fuzzers' kept inputs (`fuzz/corpus/`: what `cargo +nightly fuzz run` found
//! interesting, minimized) through the parsers and the chunker, as the fuzz targets do, on the
//! stable toolchain: each may fail, none may panic. New crashes found by fuzzing are added
//! there, so they stay fixed.

use std::path::Path;

use ingest::{chunk, parse, ChunkConfig, Format, ParseLimits};

const FORMATS: [Format; 9] = [
    Format::Pdf,
    Format::Markdown,
    Format::Html,
    Format::Text,
    Format::Csv,
    Format::Docx,
    Format::Pptx,
    Format::Xlsx,
    Format::Epub,
];

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
    let limits = ParseLimits {
        pdf_timeout: std::time::Duration::from_secs(5),
        max_text_bytes: 8 << 20,
        max_sections: 10_000,
    };
    for data in &inputs {
        if let Some((&pick, bytes)) = data.split_first() {
            let format = FORMATS[usize::from(pick) % FORMATS.len()];
            let _ = parse::parse(bytes, format, limits);
        }
    }
}

#[test]
fn the_chunk_corpus_chunks_or_fails_cleanly() {
    let inputs = inputs("chunk");
    assert!(!inputs.is_empty(), "fuzz/corpus/chunk is empty");
    for data in &inputs {
        let [size, overlap, kind, rest @ ..] = data.as_slice() else {
            continue;
        };
        let format = if kind % 2 == 0 {
            Format::Markdown
        } else {
            Format::Text
        };
        let Ok(doc) = parse::parse(rest, format, ParseLimits::default()) else {
            continue;
        };
        let config = ChunkConfig {
            size: usize::from(*size) + 1,
            overlap: usize::from(*overlap),
        };
        let _ = chunk::chunk(&doc, &text_splitter::Characters, config);
    }
}

//! What the fuzz targets (`fuzz/fuzz_targets/`) run on each input, shared with the test that
//! replays their kept inputs (`tests/fuzz_corpus.rs`): either may fail, neither may panic.

use crate::{chunk, parse, ChunkConfig, Format, ParseLimits};

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

/// Every parser: the first byte picks the format, the rest is the document.
pub fn parse_input(data: &[u8]) {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(pick) % FORMATS.len()];
    let limits = ParseLimits {
        pdf_timeout: std::time::Duration::from_secs(5),
        max_text_bytes: 8 << 20,
        max_sections: 10_000,
        ocr: parse::ocr::OcrOptions {
            languages: String::new(),
            ..Default::default()
        },
    };
    let _ = parse::parse(bytes, format, &limits);
}

/// The chunker: size, overlap, and Markdown-or-text and the template from the first three
/// bytes, then the text.
pub fn chunk_input(data: &[u8]) {
    let [size, overlap, kind, rest @ ..] = data else {
        return;
    };
    let format = if kind % 2 == 0 {
        Format::Markdown
    } else {
        Format::Text
    };
    let Ok(doc) = parse::parse(rest, format, &ParseLimits::default()) else {
        return;
    };
    let config = ChunkConfig {
        size: usize::from(*size) + 1,
        overlap: usize::from(*overlap),
        template: crate::Template::ALL[usize::from(kind / 2) % crate::Template::ALL.len()],
    };
    let _ = chunk::chunk(&doc, &text_splitter::Characters, config);
}

//! The chunker on arbitrary Markdown and text (sizes and overlaps from the first bytes): it
//! may refuse a configuration, never panic.
#![no_main]

use ingest::{chunk, parse, ChunkConfig, Format, ParseLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [size, overlap, kind, rest @ ..] = data else {
        return;
    };
    let format = if kind % 2 == 0 { Format::Markdown } else { Format::Text };
    let Ok(doc) = parse::parse(rest, format, ParseLimits::default()) else {
        return;
    };
    let config = ChunkConfig {
        size: usize::from(*size) + 1,
        overlap: usize::from(*overlap),
    };
    let _ = chunk::chunk(&doc, &text_splitter::Characters, config);
});

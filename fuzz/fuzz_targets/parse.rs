//! Every parser on arbitrary bytes: the first byte picks the format. A parse may fail, never
//! panic, abort or hang (libFuzzer's timeout catches the last).
#![no_main]

use ingest::{parse, Format, ParseLimits};
use libfuzzer_sys::fuzz_target;

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

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(pick) % FORMATS.len()];
    let limits = ParseLimits {
        pdf_timeout: std::time::Duration::from_secs(5),
        max_text_bytes: 8 << 20,
        max_sections: 10_000,
    };
    let _ = parse::parse(bytes, format, limits);
});

//! Parses one PDF with the service's parser and prints one JSON line about the outcome:
//! `{"file", "outcome": "text"|"error", "pages", "chars", "alnum", "boxes", "tables", "error", "ms"}`
//! (`alnum`: letters and digits of the text). With `PDF_PROBE_TEXT=1` the text follows,
//! one page a section, after a line `--- page N`.
//!
//! `cargo run -p ingest --example pdf_probe -- FILE [TIMEOUT_SECS]` (default 20 seconds).
//! `scripts/pdf_corpus.py` runs it on every file of a corpus, each in its own process.

use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: pdf_probe FILE [TIMEOUT_SECS]");
        return ExitCode::from(2);
    };
    let timeout = match args.next().map(|s| s.parse::<u64>()) {
        None => 20,
        Some(Ok(secs)) => secs,
        Some(Err(e)) => {
            eprintln!("bad timeout: {e}");
            return ExitCode::from(2);
        }
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let result = ingest::parse::parse_pdf(bytes, Duration::from_secs(timeout))
        .and_then(ingest::parse::PdfText::into_document);
    let ms = started.elapsed().as_millis();
    let line = match result {
        Ok(doc) => {
            let chars: usize = doc.sections.iter().map(|s| s.text.chars().count()).sum();
            let alnum: usize = doc
                .sections
                .iter()
                .map(|s| s.text.chars().filter(|c| c.is_alphanumeric()).count())
                .sum();
            let boxes: usize = doc.sections.iter().map(|s| s.boxes.len()).sum();
            let tables = doc.sections.iter().filter(|s| s.table.is_some()).count();
            if std::env::var_os("PDF_PROBE_TEXT").is_some() {
                for section in &doc.sections {
                    let kind = if section.table.is_some() {
                        " table"
                    } else {
                        ""
                    };
                    eprintln!("--- page {}{kind}", section.page.unwrap_or(0));
                    eprintln!("{}", section.text);
                }
            }
            format!(
                r#"{{"file":{},"outcome":"text","pages":{},"chars":{},"alnum":{},"boxes":{},"tables":{},"error":null,"ms":{}}}"#,
                json_string(&path),
                doc.pages,
                chars,
                alnum,
                boxes,
                tables,
                ms
            )
        }
        Err(e) => format!(
            r#"{{"file":{},"outcome":"error","pages":null,"chars":null,"alnum":null,"boxes":null,"tables":null,"error":{},"ms":{}}}"#,
            json_string(&path),
            json_string(&e.to_string()),
            ms
        ),
    };
    println!("{line}");
    // A timed-out parse leaves its thread running: leave without waiting for it.
    ExitCode::SUCCESS
}

/// A JSON string literal for `s`.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

//! PDF: the text layer of each page through lopdf, with its page number.
//!
//! Hostile files must end in text or a typed error, never take the process down: the parser
//! runs on its own thread with a large stack, panics are caught, and a parse that outlives its
//! time budget is abandoned (its thread is left to finish on its own).

use std::sync::mpsc;
use std::time::Duration;

use lopdf::Document;

use super::{ParsedDocument, Section};
use crate::error::{Error, Result};
use crate::load::Format;

/// Stack of the parser thread: deep or cyclic object graphs recurse.
const PARSER_STACK: usize = 256 * 1024 * 1024;

/// Parses on a helper thread and gives up after `timeout`.
pub fn parse_with_timeout(bytes: Vec<u8>, timeout: Duration) -> Result<ParsedDocument> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("pdf-parse".into())
        .stack_size(PARSER_STACK)
        .spawn(move || {
            let result = std::panic::catch_unwind(|| parse(&bytes));
            let _ = tx.send(result);
        })
        .map_err(|e| Error::PdfMalformed(format!("cannot start parser: {e}")))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(result)) => result,
        Ok(Err(_panic)) => Err(Error::PdfMalformed(
            "the parser gave up on this file".into(),
        )),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout(timeout.as_secs())),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::PdfMalformed(
            "the parser stopped unexpectedly".into(),
        )),
    }
}

/// Parses a PDF in the calling thread.
pub fn parse(bytes: &[u8]) -> Result<ParsedDocument> {
    let doc = Document::load_mem(bytes).map_err(|e| match e {
        lopdf::Error::InvalidPassword | lopdf::Error::Decryption(_) => Error::PdfEncrypted,
        other => Error::PdfMalformed(other.to_string()),
    })?;
    if doc.is_encrypted() {
        return Err(Error::PdfEncrypted);
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(Error::PdfMalformed("no pages".into()));
    }
    let mut sections = Vec::new();
    for &number in pages.keys() {
        // A page whose content cannot be decoded is skipped, not fatal: the rest still counts.
        let Ok(text) = doc.extract_text(&[number]) else {
            continue;
        };
        let text = clean(&text);
        if !text.is_empty() {
            sections.push(Section {
                page: Some(number),
                headings: Vec::new(),
                text,
            });
        }
    }
    if sections.is_empty() {
        return Err(Error::PdfNoText);
    }
    Ok(ParsedDocument {
        format: Format::Pdf,
        sections,
        pages: u32::try_from(pages.len()).unwrap_or(u32::MAX),
    })
}

/// Trims lines, drops empty ones and control characters.
fn clean(text: &str) -> String {
    text.lines()
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect::<String>()
                .trim()
                .to_string()
        })
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use e2e::make_pdf;

    #[test]
    fn text_per_page_with_numbers() {
        let bytes = make_pdf(&["Hello first page", "Second page here\nwith two lines"]);
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.pages, 2);
        assert_eq!(parsed.sections.len(), 2);
        assert_eq!(parsed.sections[0].page, Some(1));
        assert!(parsed.sections[0].text.contains("Hello first page"));
        assert_eq!(parsed.sections[1].page, Some(2));
        assert!(parsed.sections[1].text.contains("with two lines"));
    }

    #[test]
    fn malformed_and_truncated_files_are_errors() {
        assert!(matches!(
            parse(b"%PDF-1.4\ngarbage"),
            Err(Error::PdfMalformed(_))
        ));
        let bytes = make_pdf(&["Hello"]);
        let cut = &bytes[..bytes.len() / 2];
        assert!(parse_with_timeout(cut.to_vec(), Duration::from_secs(10)).is_err());
    }

    #[test]
    fn blank_pages_have_no_text() {
        let bytes = make_pdf(&[""]);
        assert!(matches!(parse(&bytes), Err(Error::PdfNoText)));
    }
}

//! Stage 2, parse: bytes of a known [`Format`] become sections of text, each with the page it
//! came from and the path of headings above it.

pub mod child;
mod csv;
mod html;
mod markdown;
pub mod ocr;
pub mod office;
mod pdf;
mod text;

use std::time::Duration;

use crate::error::Result;
use crate::load::Format;

pub use pdf::{parse_with_timeout as parse_pdf, PdfText};
pub use text::decode as decode_text;

/// A run of text under one heading path, on one page.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Section {
    /// 1-based page number, for paged formats.
    pub page: Option<u32>,
    /// Headings from the top level down to this section's own heading.
    pub headings: Vec<String>,
    /// The section's text (Markdown source for Markdown documents; a Markdown table for a
    /// table).
    pub text: String,
    /// Where runs of `text` lie on the page (PDFs and images), in text order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boxes: Vec<TextBox>,
    /// The section is a table: its cells, which `text` shows as a Markdown table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<Table>,
}

impl Section {
    /// A section of plain text.
    pub fn text(page: Option<u32>, headings: Vec<String>, text: String) -> Self {
        Self {
            page,
            headings,
            text,
            ..Self::default()
        }
    }

    /// A section holding `table`, its text the table in Markdown.
    pub fn table(page: Option<u32>, headings: Vec<String>, table: Table) -> Self {
        Self {
            page,
            headings,
            text: table.markdown(),
            boxes: Vec::new(),
            table: Some(table),
        }
    }
}

/// Where the bytes `start..end` of a section's text lie on its page.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TextBox {
    pub start: u32,
    pub end: u32,
    pub rect: retrieval::Rect,
}

/// A table: a header row and the rows under it, each a list of cell texts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table from rows whose first row is the header; `None` without rows under it or
    /// without a cell of text.
    pub fn from_rows(mut rows: Vec<Vec<String>>) -> Option<Self> {
        rows.retain(|r| r.iter().any(|c| !c.trim().is_empty()));
        if rows.len() < 2 {
            return None;
        }
        let header = rows.remove(0);
        Some(Self { header, rows })
    }

    /// The header row and separator of the Markdown form.
    pub fn markdown_header(&self) -> String {
        let width = self.width();
        let mut out = markdown_row(&self.header, width);
        out.push('|');
        for _ in 0..width {
            out.push_str(" --- |");
        }
        out.push('\n');
        out
    }

    /// The rows of the Markdown form, each with its newline.
    pub fn markdown_rows(&self) -> impl Iterator<Item = String> + '_ {
        let width = self.width();
        self.rows.iter().map(move |row| markdown_row(row, width))
    }

    /// The whole table in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = self.markdown_header();
        out.extend(self.markdown_rows());
        out
    }

    /// Columns: those of the widest row.
    pub fn width(&self) -> usize {
        self.rows
            .iter()
            .map(Vec::len)
            .chain([self.header.len()])
            .max()
            .unwrap_or(0)
            .max(1)
    }
}

fn markdown_row(row: &[String], width: usize) -> String {
    let mut out = String::from("|");
    for i in 0..width {
        let cell = row.get(i).map(String::as_str).unwrap_or("");
        let cell = cell.split_whitespace().collect::<Vec<_>>().join(" ");
        out.push(' ');
        out.push_str(&cell.replace('|', "\\|"));
        out.push_str(" |");
    }
    out.push('\n');
    out
}

/// A parsed document.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParsedDocument {
    pub format: Format,
    pub sections: Vec<Section>,
    /// Number of pages (1 for formats without pages).
    pub pages: u32,
}

/// Parses documents somewhere else than in this process (a child process with limits of its
/// own, so a parser that aborts or runs away costs one document, not the server).
pub trait Parser: Send + Sync + std::fmt::Debug {
    fn parse(&self, bytes: &[u8], format: Format, limits: &ParseLimits) -> Result<ParsedDocument>;
}

/// Limits on parsing one document, the same for every format, and how pages without text
/// are read.
#[derive(Debug, Clone)]
pub struct ParseLimits {
    /// Wall-clock budget of a PDF parse; a parser that runs longer is abandoned.
    pub pdf_timeout: Duration,
    /// Text a parse may produce, in bytes: a small file whose text explodes (a spreadsheet
    /// cell repeated, a CSV header of a megabyte on every row) fails at this size.
    pub max_text_bytes: usize,
    /// Sections a parse may produce.
    pub max_sections: usize,
    /// OCR of images and of PDF pages without a text layer.
    pub ocr: ocr::OcrOptions,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            pdf_timeout: Duration::from_secs(60),
            max_text_bytes: 64 * 1024 * 1024,
            max_sections: 200_000,
            ocr: ocr::OcrOptions::default(),
        }
    }
}

/// The text a parser has built so far, against [`ParseLimits::max_text_bytes`]: parsers
/// that can make more text than they read count as they go, so they stop at the limit
/// instead of after building all of it.
#[derive(Debug)]
pub struct Budget {
    max: usize,
    used: usize,
}

impl Budget {
    pub fn new(limits: &ParseLimits) -> Self {
        Self {
            max: limits.max_text_bytes,
            used: 0,
        }
    }

    /// Counts `bytes` more of text; an error once the total is over the limit.
    pub fn spend(&mut self, bytes: usize) -> Result<()> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.max {
            return Err(crate::error::Error::OverBudget(format!(
                "the parsed text is larger than {} bytes (max_parsed_text_bytes)",
                self.max
            )));
        }
        Ok(())
    }
}

/// Parses `bytes` as `format`.
pub fn parse(bytes: &[u8], format: Format, limits: &ParseLimits) -> Result<ParsedDocument> {
    let sections = match format {
        Format::Pdf => return pdf_with_ocr(bytes, limits),
        Format::Image => {
            if !limits.ocr.enabled() {
                return Err(crate::error::Error::UnsupportedFormat(
                    "images, with ocr off for this knowledge base".into(),
                ));
            }
            vec![ocr::image(bytes, &limits.ocr)?]
        }
        Format::Markdown => markdown::parse(&text::decode(bytes)?),
        Format::Html => html::parse(&text::decode(bytes)?),
        Format::Text => vec![Section::text(None, Vec::new(), text::decode(bytes)?)],
        Format::Csv => csv::parse(
            &text::decode(bytes)?,
            if bytes.contains(&b'\t') && !bytes.contains(&b',') {
                b'\t'
            } else {
                b','
            },
            &mut Budget::new(limits),
        )?,
        Format::Docx | Format::Pptx | Format::Xlsx | Format::Epub => {
            let mut archive = office::Archive::open(bytes.to_vec(), office::ZipLimits::default())?;
            match format {
                Format::Docx => office::docx(&mut archive)?,
                Format::Pptx => office::pptx(&mut archive)?,
                Format::Xlsx => office::xlsx(&mut archive, &mut Budget::new(limits))?,
                _ => office::epub(&mut archive)?,
            }
        }
    };
    let mut sections: Vec<Section> = sections
        .into_iter()
        .filter(|s| !s.text.trim().is_empty())
        .collect();
    if sections.is_empty() && format == Format::Markdown {
        // Headings and nothing else: the headings are the text.
        let source = text::decode(bytes)?;
        if !source.trim().is_empty() {
            sections.push(Section::text(None, Vec::new(), source.trim().to_string()));
        }
    }
    if sections.is_empty() {
        return Err(crate::error::Error::NoText);
    }
    // Every format under the same budget, whatever its parser counted on the way.
    if sections.len() > limits.max_sections {
        return Err(crate::error::Error::OverBudget(format!(
            "more than {} sections (max_parsed_sections)",
            limits.max_sections
        )));
    }
    Budget::new(limits).spend(sections.iter().map(|s| s.text.len()).sum())?;
    let pages = if matches!(format, Format::Pptx | Format::Image) {
        sections.iter().filter_map(|s| s.page).max().unwrap_or(1)
    } else {
        1
    };
    Ok(ParsedDocument {
        format,
        sections,
        pages,
    })
}

/// A PDF's text layer, with the pages that have none read by OCR when it is on: a page's
/// OCR text replaces its text layer when it finds more letters and digits.
fn pdf_with_ocr(bytes: &[u8], limits: &ParseLimits) -> Result<ParsedDocument> {
    let mut text = pdf::parse_with_timeout(bytes.to_vec(), limits.pdf_timeout)?;
    if text.without_text.is_empty() || !limits.ocr.enabled() {
        return text.into_document();
    }
    let letters = |s: &str| s.chars().filter(|c| c.is_alphanumeric()).count();
    let found = match ocr::pdf_pages(bytes, &text.without_text, &limits.ocr) {
        Ok(found) => found,
        // The text layer still counts when OCR cannot run or fails: never less than with
        // OCR off.
        Err(e @ (crate::error::Error::OcrUnavailable(_) | crate::error::Error::Ocr(_)))
            if !text.sections.is_empty() =>
        {
            tracing::warn!(error = %e, pages = text.without_text.len(), "pages without text were not read");
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    for found in found {
        match text.sections.iter_mut().find(|s| s.page == found.page) {
            Some(old) if letters(&old.text) >= letters(&found.text) => {}
            Some(old) => *old = found,
            None => text.sections.push(found),
        }
    }
    text.sections.sort_by_key(|s| s.page);
    if text.sections.is_empty() {
        return Err(crate::error::Error::OcrNoText);
    }
    text.into_document()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_only_markdown_keeps_its_text() {
        let doc = parse(b"# Only a title", Format::Markdown, &ParseLimits::default()).unwrap();
        assert_eq!(doc.sections[0].text, "# Only a title");
    }

    /// Small files whose text explodes stop at the budget, at once, naming the limit.
    #[test]
    fn text_that_explodes_is_over_the_budget() {
        let limits = ParseLimits {
            max_text_bytes: 1024 * 1024,
            ..ParseLimits::default()
        };
        // A CSV whose header name is 64 KiB long, repeated on each of 100 rows.
        let mut csv = "h".repeat(64 * 1024);
        csv.push_str(",b\n");
        for i in 0..100 {
            csv.push_str(&format!("{i},x\n"));
        }
        // An XLSX whose one shared string of 64 KiB is used by 100 cells.
        let big = "s".repeat(64 * 1024);
        let cells: String = (0..100)
            .map(|_| r#"<row><c t="s"><v>0</v></c></row>"#)
            .collect();
        let sheet = format!("<worksheet><sheetData>{cells}</sheetData></worksheet>");
        let shared = format!("<sst><si><t>{big}</t></si></sst>");
        let xlsx = office::tests::make_zip(&[
            (
                "xl/workbook.xml",
                r#"<workbook><sheets><sheet name="S" r:id="rId1"/></sheets></workbook>"#,
            ),
            ("xl/sharedStrings.xml", &shared),
            ("xl/worksheets/sheet1.xml", &sheet),
        ]);
        for (bytes, format) in [(csv.into_bytes(), Format::Csv), (xlsx, Format::Xlsx)] {
            assert!(bytes.len() < 256 * 1024, "{format:?}: a small file");
            let started = std::time::Instant::now();
            match parse(&bytes, format, &limits) {
                Err(crate::error::Error::OverBudget(m)) => {
                    assert!(m.contains("max_parsed_text_bytes"), "{m}")
                }
                other => panic!("{format:?}: {other:?}"),
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(5));
        }
        // Within the budget the same shapes parse.
        assert!(parse(b"a,b\n1,2\n", Format::Csv, &limits).is_ok());
    }

    #[test]
    fn whitespace_only_text_has_no_text() {
        assert!(matches!(
            parse(b"  \n\t ", Format::Text, &ParseLimits::default()),
            Err(crate::error::Error::NoText)
        ));
    }
}

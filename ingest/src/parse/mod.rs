//! Stage 2, parse: bytes of a known [`Format`] become sections of text, each with the page it
//! came from and the path of headings above it.

mod csv;
mod html;
mod markdown;
pub mod office;
mod pdf;
mod text;

use std::time::Duration;

use crate::error::Result;
use crate::load::Format;

pub use pdf::parse_with_timeout as parse_pdf;
pub use text::decode as decode_text;

/// A run of text under one heading path, on one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// 1-based page number, for paged formats.
    pub page: Option<u32>,
    /// Headings from the top level down to this section's own heading.
    pub headings: Vec<String>,
    /// The section's text (Markdown source for Markdown documents).
    pub text: String,
}

/// A parsed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedDocument {
    pub format: Format,
    pub sections: Vec<Section>,
    /// Number of pages (1 for formats without pages).
    pub pages: u32,
}

/// Limits on parsing one document.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Wall-clock budget of a PDF parse; a parser that runs longer is abandoned.
    pub pdf_timeout: Duration,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            pdf_timeout: Duration::from_secs(60),
        }
    }
}

/// Parses `bytes` as `format`.
pub fn parse(bytes: &[u8], format: Format, limits: ParseLimits) -> Result<ParsedDocument> {
    let sections = match format {
        Format::Pdf => return pdf::parse_with_timeout(bytes.to_vec(), limits.pdf_timeout),
        Format::Markdown => markdown::parse(&text::decode(bytes)?),
        Format::Html => html::parse(&text::decode(bytes)?),
        Format::Text => vec![Section {
            page: None,
            headings: Vec::new(),
            text: text::decode(bytes)?,
        }],
        Format::Csv => csv::parse(
            &text::decode(bytes)?,
            if bytes.contains(&b'\t') && !bytes.contains(&b',') {
                b'\t'
            } else {
                b','
            },
        )?,
        Format::Docx | Format::Pptx | Format::Xlsx | Format::Epub => {
            let mut archive = office::Archive::open(bytes.to_vec(), office::ZipLimits::default())?;
            match format {
                Format::Docx => office::docx(&mut archive)?,
                Format::Pptx => office::pptx(&mut archive)?,
                Format::Xlsx => office::xlsx(&mut archive)?,
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
            sections.push(Section {
                page: None,
                headings: Vec::new(),
                text: source.trim().to_string(),
            });
        }
    }
    if sections.is_empty() {
        return Err(crate::error::Error::NoText);
    }
    let pages = if format == Format::Pptx {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_only_markdown_keeps_its_text() {
        let doc = parse(b"# Only a title", Format::Markdown, ParseLimits::default()).unwrap();
        assert_eq!(doc.sections[0].text, "# Only a title");
    }

    #[test]
    fn whitespace_only_text_has_no_text() {
        assert!(matches!(
            parse(b"  \n\t ", Format::Text, ParseLimits::default()),
            Err(crate::error::Error::NoText)
        ));
    }
}

//! Stage 1, load: decide what a file is, by content (magic bytes) first and then by extension.

use crate::error::{Error, Result};

/// The formats the parsers understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pdf,
    Markdown,
    Html,
    Text,
    Docx,
    Pptx,
    Xlsx,
    Epub,
    Csv,
    /// PNG, JPEG, TIFF or WebP: read by OCR.
    Image,
}

impl Format {
    /// The format named by [`Format::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        [
            Format::Pdf,
            Format::Markdown,
            Format::Html,
            Format::Text,
            Format::Docx,
            Format::Pptx,
            Format::Xlsx,
            Format::Epub,
            Format::Csv,
            Format::Image,
        ]
        .into_iter()
        .find(|f| f.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Text => "text",
            Format::Docx => "docx",
            Format::Pptx => "pptx",
            Format::Xlsx => "xlsx",
            Format::Epub => "epub",
            Format::Csv => "csv",
            Format::Image => "image",
        }
    }
}

/// Binary signatures that are never text, with a name for the error message.
const BINARY_MAGIC: &[(&[u8], &str)] = &[
    (b"GIF8", "gif image"),
    (b"\x1F\x8B", "gzip archive"),
    (b"\x7FELF", "executable"),
    (b"MZ", "executable"),
    (b"\xD0\xCF\x11\xE0", "legacy office document"),
    (b"Rar!", "rar archive"),
    (b"7z\xBC\xAF", "7z archive"),
    (b"RIFF", "media file"),
    (b"%!PS", "postscript"),
];

const MARKDOWN_EXT: &[&str] = &["md", "markdown", "mdown", "mkd"];
const HTML_EXT: &[&str] = &["html", "htm", "xhtml"];
const TEXT_EXT: &[&str] = &[
    "txt", "text", "log", "rst", "org", "adoc", "asciidoc", "tex",
];

/// Detects the format of `bytes` named `name` (the name only breaks ties between text formats).
pub fn detect(bytes: &[u8], name: &str) -> Result<Format> {
    if bytes.is_empty() {
        return Err(Error::Empty);
    }
    // PDF headers may be preceded by junk; the spec allows the signature in the first 1 KiB.
    let head = &bytes[..bytes.len().min(1024)];
    if head.windows(5).any(|w| w == b"%PDF-") {
        return Ok(Format::Pdf);
    }
    if let Some(kind) = image_kind(bytes) {
        // The header the decoder reads first must be there: a truncated image is refused
        // at upload rather than failing in OCR later.
        let whole = match kind {
            "png" => bytes.len() >= 33 && &bytes[12..16] == b"IHDR",
            "webp" => bytes.len() >= 30 && &bytes[12..15] == b"VP8",
            _ => bytes.len() >= 64,
        };
        if !whole {
            return Err(Error::UnsupportedFormat(format!(
                "a truncated {kind} image"
            )));
        }
        return Ok(Format::Image);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return detect_zip(bytes);
    }
    for (magic, what) in BINARY_MAGIC {
        if bytes.starts_with(magic) {
            return Err(Error::UnsupportedFormat((*what).to_string()));
        }
    }
    let ext = extension(name);
    if ext == "pdf" {
        return Err(Error::PdfMalformed("no %PDF- header".into()));
    }
    if !looks_like_text(bytes) {
        return Err(Error::UnsupportedFormat(if ext.is_empty() {
            "binary file".into()
        } else {
            format!("binary .{ext} file")
        }));
    }
    if MARKDOWN_EXT.contains(&ext.as_str()) {
        return Ok(Format::Markdown);
    }
    if HTML_EXT.contains(&ext.as_str()) || sniff_html(bytes) {
        return Ok(Format::Html);
    }
    if ext == "csv" || ext == "tsv" {
        return Ok(Format::Csv);
    }
    if TEXT_EXT.contains(&ext.as_str()) || ext.is_empty() {
        return Ok(Format::Text);
    }
    Err(Error::UnsupportedFormat(format!(".{ext} files")))
}

/// PNG, JPEG, TIFF (either byte order) or WebP, by signature: `png`, `jpeg`, `tiff`,
/// `webp`.
pub fn image_kind(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if bytes.starts_with(b"\xFF\xD8\xFF") {
        Some("jpeg")
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some("tiff")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

/// Which zip-based format, from the archive's own entries (never the extension).
fn detect_zip(bytes: &[u8]) -> Result<Format> {
    let archive = crate::parse::office::Archive::open(bytes.to_vec(), Default::default())?;
    let names = archive.names();
    let has = |n: &str| names.iter().any(|x| x == n);
    if has("word/document.xml") {
        Ok(Format::Docx)
    } else if has("ppt/presentation.xml") {
        Ok(Format::Pptx)
    } else if has("xl/workbook.xml") {
        Ok(Format::Xlsx)
    } else if has("META-INF/container.xml") && has("mimetype") {
        Ok(Format::Epub)
    } else {
        Err(Error::UnsupportedFormat("zip archive".into()))
    }
}

/// The lowercase extension of a file name, or "".
pub fn extension(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// Text has no NUL bytes, unless it is UTF-16 with a byte-order mark.
fn looks_like_text(bytes: &[u8]) -> bool {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return true;
    }
    !bytes[..bytes.len().min(8192)].contains(&0)
}

fn sniff_html(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    head.starts_with("<!doctype html") || head.starts_with("<html")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_beats_extension() {
        assert_eq!(detect(b"%PDF-1.7\n...", "notes.txt").unwrap(), Format::Pdf);
        assert_eq!(
            detect(b"<!DOCTYPE html><p>x</p>", "page").unwrap(),
            Format::Html
        );
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.resize(33, 0);
        assert_eq!(detect(&png, "a.md").unwrap(), Format::Image);
        assert!(matches!(
            detect(b"\x89PNG\r\n\x1a\nxxxx", "a.png"),
            Err(Error::UnsupportedFormat(m)) if m.contains("truncated png")
        ));
        assert!(matches!(
            detect(b"GIF89a", "a.md"),
            Err(Error::UnsupportedFormat(_))
        ));
    }

    #[test]
    fn images_are_known_by_their_signature() {
        for head in [
            &b"\xFF\xD8\xFF\xE0jfif"[..],
            b"II*\0tiff",
            b"MM\0*tiff",
            b"RIFF\x10\0\0\0WEBPVP8 ",
        ] {
            let mut bytes = head.to_vec();
            bytes.resize(64, 0);
            assert_eq!(detect(&bytes, "scan").unwrap(), Format::Image, "{head:?}");
        }
        assert!(detect(b"RIFF\x10\0\0\0WAVEfmt ", "a.wav").is_err());
    }

    #[test]
    fn extension_breaks_text_ties() {
        assert_eq!(detect(b"# Title", "README.md").unwrap(), Format::Markdown);
        assert_eq!(detect(b"<p>hi</p>", "x.HTM").unwrap(), Format::Html);
        assert_eq!(detect("你好".as_bytes(), "zh.txt").unwrap(), Format::Text);
        assert_eq!(detect(b"plain", "NOTES").unwrap(), Format::Text);
    }

    #[test]
    fn bad_input_is_rejected() {
        assert!(matches!(detect(b"", "a.txt"), Err(Error::Empty)));
        assert!(matches!(
            detect(b"\x00\x01\x02", "a.bin"),
            Err(Error::UnsupportedFormat(_))
        ));
        assert!(matches!(
            detect(b"hello", "a.pdf"),
            Err(Error::PdfMalformed(_))
        ));
        assert!(matches!(
            detect(b"PK\x03\x04rest", "a.docx"),
            Err(Error::Archive(_))
        ));
        assert!(matches!(
            detect(b"fn main() {}", "main.xyz"),
            Err(Error::UnsupportedFormat(_))
        ));
    }

    #[test]
    fn zip_formats_by_their_entries() {
        use crate::parse::office::tests::make_zip;
        assert_eq!(
            detect(&make_zip(&[("word/document.xml", "<w/>")]), "x.bin").unwrap(),
            Format::Docx
        );
        assert_eq!(
            detect(&make_zip(&[("ppt/presentation.xml", "<p/>")]), "x").unwrap(),
            Format::Pptx
        );
        assert_eq!(
            detect(&make_zip(&[("xl/workbook.xml", "<w/>")]), "x").unwrap(),
            Format::Xlsx
        );
        assert_eq!(
            detect(
                &make_zip(&[
                    ("mimetype", "application/epub+zip"),
                    ("META-INF/container.xml", "<c/>")
                ]),
                "b.epub"
            )
            .unwrap(),
            Format::Epub
        );
        assert!(matches!(
            detect(&make_zip(&[("a.txt", "x")]), "a.zip"),
            Err(Error::UnsupportedFormat(_))
        ));
        assert_eq!(detect(b"a,b\n1,2\n", "t.CSV").unwrap(), Format::Csv);
    }

    #[test]
    fn utf16_with_bom_is_text() {
        assert_eq!(
            detect(&[0xFF, 0xFE, b'h', 0, b'i', 0], "a.txt").unwrap(),
            Format::Text
        );
    }

    #[test]
    fn extension_of_odd_names() {
        assert_eq!(extension(".bashrc"), "");
        assert_eq!(extension("dir/a.B.MD"), "md");
        assert_eq!(extension("noext"), "");
    }
}

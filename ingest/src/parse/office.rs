//! Zip-based documents: DOCX (paragraphs, heading styles kept as heading paths), PPTX (one
//! section per slide, the slide number as the page), XLSX (one section per sheet, rows as
//! tab-separated lines, the sheet name as the heading) and EPUB (chapters in spine order,
//! parsed as HTML).
//!
//! Archives are untrusted: entries are read through a budget of uncompressed bytes (never the
//! sizes the archive claims), the number of entries is capped, and nested archives are not
//! opened. XML is read with quick-xml, which never resolves external entities or DTDs.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use quick_xml::events::Event;
use quick_xml::Reader;
use zip::ZipArchive;

use super::{Section, Table};
use crate::error::{Error, Result};

/// Limits against zip bombs.
#[derive(Debug, Clone, Copy)]
pub struct ZipLimits {
    /// Uncompressed bytes read from the archive in total.
    pub total_bytes: u64,
    /// Entries in the archive.
    pub entries: usize,
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self {
            total_bytes: 256 * 1024 * 1024,
            entries: 20_000,
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 2)
        .map(|s| u64::from(u16::from_le_bytes([s[0], s[1]])))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
}

/// The number of entries a zip archive says it has, from its end-of-central-directory
/// record (and the ZIP64 one when that says so), without reading the directory.
pub fn claimed_entries(bytes: &[u8]) -> Option<u64> {
    const EOCD: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
    const LOCATOR: [u8; 4] = [0x50, 0x4b, 0x06, 0x07];
    const EOCD64: [u8; 4] = [0x50, 0x4b, 0x06, 0x06];
    // The record is 22 bytes plus a comment of at most 65,535.
    let from = bytes.len().saturating_sub(22 + 65_535);
    let at = (from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..i + 4] == EOCD)?;
    let count = u16_at(bytes, at + 10)?;
    if count != 0xFFFF {
        return Some(count);
    }
    let locator = at.checked_sub(20)?;
    if bytes.get(locator..locator + 4)? != LOCATOR {
        return Some(count);
    }
    let record = usize::try_from(u64_at(bytes, locator + 8)?).ok()?;
    if bytes.get(record..record + 4)? != EOCD64 {
        return Some(count);
    }
    u64_at(bytes, record + 32)
}

/// A zip archive read under [`ZipLimits`].
pub struct Archive {
    zip: ZipArchive<Cursor<Vec<u8>>>,
    budget: u64,
}

impl Archive {
    pub fn open(bytes: Vec<u8>, limits: ZipLimits) -> Result<Self> {
        // The cap applies before the central directory is read: its entry count is in the
        // archive's last record, and an archive of 900,000 entries is refused from it.
        if claimed_entries(&bytes).is_some_and(|n| n > limits.entries as u64) {
            return Err(Error::Archive(format!(
                "more than {} entries",
                limits.entries
            )));
        }
        let zip = ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| Error::Archive(format!("not a readable zip archive: {e}")))?;
        if zip.len() > limits.entries {
            return Err(Error::Archive(format!(
                "more than {} entries",
                limits.entries
            )));
        }
        Ok(Self {
            zip,
            budget: limits.total_bytes,
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.zip.index_for_name(name).is_some()
    }

    /// Reads one entry as UTF-8 text, within the remaining byte budget.
    pub fn text(&mut self, name: &str) -> Result<String> {
        let entry = self
            .zip
            .by_name(name)
            .map_err(|e| Error::Archive(format!("{name}: {e}")))?;
        let mut out = Vec::new();
        let read = entry
            .take(self.budget + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::Archive(format!("{name}: {e}")))? as u64;
        if read > self.budget {
            return Err(Error::Archive(
                "uncompressed content exceeds the limit (zip bomb?)".into(),
            ));
        }
        self.budget -= read;
        if out.starts_with(b"PK\x03\x04") {
            return Err(Error::Archive(format!(
                "{name}: nested archives are not opened"
            )));
        }
        String::from_utf8(out).map_err(|_| Error::Archive(format!("{name}: not utf-8")))
    }
}

/// Local name of an XML element (`w:t` → `t`).
fn local(name: &[u8]) -> &[u8] {
    match name.iter().position(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

fn attr(e: &quick_xml::events::BytesStart<'_>, key: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| local(a.key.as_ref()) == key)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

fn xml_error(e: quick_xml::Error) -> Error {
    Error::Archive(format!("malformed xml: {e}"))
}

/// DOCX: `word/document.xml`; paragraphs styled `Heading N` / `Title` start sections, and
/// each table (`w:tbl`, its first row the header) is a section of its own; a table inside a
/// cell is read as that cell's text.
pub fn docx(archive: &mut Archive) -> Result<Vec<Section>> {
    let xml = archive.text("word/document.xml")?;
    let mut reader = Reader::from_str(&xml);
    let mut sections = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut body = String::new();
    let mut para = String::new();
    let mut heading_level: Option<usize> = None;
    let mut in_text = false;
    // Tables: how deep, the outer table's rows, and the cell being read.
    let mut depth = 0usize;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut cell: Option<String> = None;
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::Start(e) if local(e.name().as_ref()) == b"tbl" => {
                depth += 1;
                if depth == 1 {
                    push_section(&mut sections, &path, &mut body, None);
                    rows.clear();
                }
            }
            Event::Start(e) if depth == 1 && local(e.name().as_ref()) == b"tr" => {
                rows.push(Vec::new())
            }
            Event::Start(e) if depth == 1 && local(e.name().as_ref()) == b"tc" => {
                cell = Some(String::new())
            }
            Event::End(e) if depth == 1 && local(e.name().as_ref()) == b"tc" => {
                if let (Some(text), Some(row)) = (cell.take(), rows.last_mut()) {
                    row.push(text.trim().to_string());
                }
            }
            Event::End(e) if local(e.name().as_ref()) == b"tbl" => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    let headings: Vec<String> = path.iter().map(|(_, h)| h.clone()).collect();
                    let lines: Vec<String> = rows.iter().map(|r| r.join("\t")).collect();
                    match Table::from_rows(std::mem::take(&mut rows)) {
                        Some(table) => sections.push(Section::table(None, headings, table)),
                        None => {
                            for line in lines.iter().filter(|l| !l.trim().is_empty()) {
                                body.push_str(line.trim());
                                body.push('\n');
                            }
                        }
                    }
                }
            }
            Event::Start(e) | Event::Empty(e) if local(e.name().as_ref()) == b"pStyle" => {
                let style = attr(&e, b"val").unwrap_or_default().to_ascii_lowercase();
                heading_level = if style == "title" {
                    Some(1)
                } else {
                    style
                        .strip_prefix("heading")
                        .and_then(|n| n.trim().parse().ok())
                };
            }
            Event::Start(e) if local(e.name().as_ref()) == b"t" => in_text = true,
            Event::Empty(e) if matches!(local(e.name().as_ref()), b"tab") => para.push('\t'),
            Event::Empty(e) if matches!(local(e.name().as_ref()), b"br") => para.push('\n'),
            Event::Text(t) if in_text => para.push_str(&t.unescape().map_err(xml_error)?),
            Event::End(e) if local(e.name().as_ref()) == b"t" => in_text = false,
            Event::End(e) if local(e.name().as_ref()) == b"p" && cell.is_some() => {
                let text = para.trim().to_string();
                para.clear();
                heading_level = None;
                if let Some(cell) = cell.as_mut().filter(|_| !text.is_empty()) {
                    if !cell.is_empty() {
                        cell.push(' ');
                    }
                    cell.push_str(&text);
                }
            }
            Event::End(e) if local(e.name().as_ref()) == b"p" => {
                let text = para.trim().to_string();
                para.clear();
                match heading_level.take() {
                    Some(level) if !text.is_empty() => {
                        push_section(&mut sections, &path, &mut body, None);
                        while path.last().is_some_and(|(l, _)| *l >= level) {
                            path.pop();
                        }
                        path.push((level, text));
                    }
                    _ => {
                        if !text.is_empty() {
                            body.push_str(&text);
                            body.push('\n');
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    push_section(&mut sections, &path, &mut body, None);
    Ok(sections)
}

fn push_section(
    sections: &mut Vec<Section>,
    path: &[(usize, String)],
    body: &mut String,
    page: Option<u32>,
) {
    let text = body.trim().to_string();
    body.clear();
    if !text.is_empty() {
        sections.push(Section::text(
            page,
            path.iter().map(|(_, h)| h.clone()).collect(),
            text,
        ));
    }
}

/// All `<a:t>` / `<t>` text of an XML part, one line per paragraph.
fn drawing_text(xml: &str) -> Result<String> {
    let mut reader = Reader::from_str(xml);
    let mut out = String::new();
    let mut in_text = false;
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::Start(e) if local(e.name().as_ref()) == b"t" => in_text = true,
            Event::Text(t) if in_text => out.push_str(&t.unescape().map_err(xml_error)?),
            Event::End(e) if local(e.name().as_ref()) == b"t" => in_text = false,
            Event::End(e) if local(e.name().as_ref()) == b"p" => out.push('\n'),
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// The number in `ppt/slides/slide12.xml`.
fn slide_number(name: &str) -> Option<u32> {
    name.strip_prefix("ppt/slides/slide")?
        .strip_suffix(".xml")?
        .parse()
        .ok()
}

/// PPTX: one section per slide, in slide order; the slide number is the page.
pub fn pptx(archive: &mut Archive) -> Result<Vec<Section>> {
    let mut slides: Vec<(u32, String)> = archive
        .names()
        .into_iter()
        .filter_map(|n| slide_number(&n).map(|i| (i, n)))
        .collect();
    slides.sort();
    let mut sections = Vec::new();
    for (number, name) in slides {
        let text = drawing_text(&archive.text(&name)?)?;
        let title = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
        let mut body = text;
        let path = if title.is_empty() {
            vec![]
        } else {
            vec![(1, title)]
        };
        push_section(&mut sections, &path, &mut body, Some(number));
    }
    Ok(sections)
}

/// The 0-based column of a cell reference (`B7` → 1).
fn column_of(reference: &str) -> Option<usize> {
    let letters: Vec<u8> = reference
        .bytes()
        .take_while(u8::is_ascii_alphabetic)
        .collect();
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    let n = letters.iter().fold(0usize, |n, b| {
        n * 26 + usize::from(b.to_ascii_uppercase() - b'A' + 1)
    });
    Some(n - 1)
}

/// XLSX: one section per sheet, headed by the sheet name: a table whose header is the
/// sheet's first row (cells in their columns, by reference), or text for a sheet of one
/// row.
pub fn xlsx(archive: &mut Archive, budget: &mut super::Budget) -> Result<Vec<Section>> {
    let shared: Vec<String> = if archive.has("xl/sharedStrings.xml") {
        let xml = archive.text("xl/sharedStrings.xml")?;
        let mut reader = Reader::from_str(&xml);
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut in_t = false;
        loop {
            match reader.read_event().map_err(xml_error)? {
                Event::Start(e) if local(e.name().as_ref()) == b"t" => in_t = true,
                Event::Text(t) if in_t => cur.push_str(&t.unescape().map_err(xml_error)?),
                Event::End(e) if local(e.name().as_ref()) == b"t" => in_t = false,
                Event::End(e) if local(e.name().as_ref()) == b"si" => {
                    out.push(std::mem::take(&mut cur))
                }
                Event::Eof => break,
                _ => {}
            }
        }
        out
    } else {
        Vec::new()
    };
    // Sheet names in workbook order, mapped to their parts through the relationships.
    let rels = archive
        .text("xl/_rels/workbook.xml.rels")
        .unwrap_or_default();
    let mut targets: HashMap<String, String> = HashMap::new();
    let mut reader = Reader::from_str(&rels);
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::Start(e) | Event::Empty(e) if local(e.name().as_ref()) == b"Relationship" => {
                if let (Some(id), Some(target)) = (attr(&e, b"Id"), attr(&e, b"Target")) {
                    let target = target
                        .trim_start_matches('/')
                        .trim_start_matches("xl/")
                        .to_string();
                    targets.insert(id, format!("xl/{target}"));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let workbook = archive.text("xl/workbook.xml")?;
    let mut sheets = Vec::new();
    let mut reader = Reader::from_str(&workbook);
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::Start(e) | Event::Empty(e) if local(e.name().as_ref()) == b"sheet" => {
                let name =
                    attr(&e, b"name").unwrap_or_else(|| format!("Sheet{}", sheets.len() + 1));
                let part = attr(&e, b"id")
                    .and_then(|id| targets.get(&id).cloned())
                    .unwrap_or_else(|| format!("xl/worksheets/sheet{}.xml", sheets.len() + 1));
                sheets.push((name, part));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut sections = Vec::new();
    for (sheet, part) in sheets {
        if !archive.has(&part) {
            continue;
        }
        let xml = archive.text(&part)?;
        let mut reader = Reader::from_str(&xml);
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut row: Vec<String> = Vec::new();
        let mut column: Option<usize> = None;
        let mut cell_type = String::new();
        let mut in_value = false;
        let mut value = String::new();
        loop {
            match reader.read_event().map_err(xml_error)? {
                Event::Start(e) if local(e.name().as_ref()) == b"c" => {
                    cell_type = attr(&e, b"t").unwrap_or_default();
                    column = attr(&e, b"r").as_deref().and_then(column_of);
                    value.clear();
                }
                Event::Start(e) if matches!(local(e.name().as_ref()), b"v" | b"t") => {
                    in_value = true
                }
                Event::Text(t) if in_value => value.push_str(&t.unescape().map_err(xml_error)?),
                Event::End(e) if matches!(local(e.name().as_ref()), b"v" | b"t") => {
                    in_value = false
                }
                Event::End(e) if local(e.name().as_ref()) == b"c" => {
                    let v: String = if cell_type == "s" {
                        value
                            .trim()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| shared.get(i).cloned())
                            .unwrap_or_default()
                    } else {
                        value.clone()
                    };
                    // A shared string is stored once and may be used by every cell.
                    budget.spend(v.len() + 1)?;
                    // Empty cells are left out of the file: the reference says the column.
                    if let Some(column) = column.filter(|c| *c > row.len() && *c < 16_384) {
                        budget.spend(column - row.len())?;
                        row.resize(column, String::new());
                    }
                    row.push(v.trim().to_string());
                }
                Event::End(e) if local(e.name().as_ref()) == b"row" => {
                    while row.last().is_some_and(String::is_empty) {
                        row.pop();
                    }
                    if !row.is_empty() {
                        rows.push(std::mem::take(&mut row));
                    }
                    row.clear();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        let lines: Vec<String> = rows.iter().map(|r| r.join("\t")).collect();
        match Table::from_rows(rows) {
            Some(table) => sections.push(Section::table(None, vec![sheet], table)),
            None => {
                let mut body = lines.join("\n");
                push_section(&mut sections, &[(1, sheet)], &mut body, None);
            }
        }
    }
    Ok(sections)
}

/// EPUB: the OPF spine's XHTML documents in order, each parsed as HTML.
pub fn epub(archive: &mut Archive) -> Result<Vec<Section>> {
    let container = archive.text("META-INF/container.xml")?;
    let mut opf_path = None;
    let mut reader = Reader::from_str(&container);
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::Start(e) | Event::Empty(e) if local(e.name().as_ref()) == b"rootfile" => {
                opf_path = attr(&e, b"full-path");
                break;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let opf_path =
        opf_path.ok_or_else(|| Error::Archive("epub without a package document".into()))?;
    let base = opf_path
        .rsplit_once('/')
        .map(|(b, _)| format!("{b}/"))
        .unwrap_or_default();
    let opf = archive.text(&opf_path)?;
    let mut manifest: HashMap<String, String> = HashMap::new();
    let mut spine: Vec<String> = Vec::new();
    let mut reader = Reader::from_str(&opf);
    loop {
        match reader.read_event().map_err(xml_error)? {
            Event::Start(e) | Event::Empty(e) if local(e.name().as_ref()) == b"item" => {
                if let (Some(id), Some(href)) = (attr(&e, b"id"), attr(&e, b"href")) {
                    manifest.insert(id, href);
                }
            }
            Event::Start(e) | Event::Empty(e) if local(e.name().as_ref()) == b"itemref" => {
                if let Some(id) = attr(&e, b"idref") {
                    spine.push(id);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut sections = Vec::new();
    for id in spine {
        let Some(href) = manifest.get(&id) else {
            continue;
        };
        let part = format!("{base}{href}");
        if !archive.has(&part) {
            continue;
        }
        let html = archive.text(&part)?;
        sections.extend(super::html::parse(&html));
    }
    Ok(sections)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A zip with the given (name, content) entries, deflated.
    pub fn make_zip(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut out);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            for (name, content) in entries {
                w.start_file(*name, opts).unwrap();
                w.write_all(content.as_bytes()).unwrap();
            }
            w.finish().unwrap();
        }
        out.into_inner()
    }

    #[test]
    fn the_entry_cap_applies_before_the_directory_is_read() {
        let entries: Vec<(String, String)> =
            (0..50).map(|i| (format!("f{i}"), String::new())).collect();
        let refs: Vec<(&str, &str)> = entries
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let zip = make_zip(&refs);
        assert_eq!(claimed_entries(&zip), Some(50));
        let limits = ZipLimits {
            entries: 10,
            ..ZipLimits::default()
        };
        let Err(e) = Archive::open(zip.clone(), limits) else {
            panic!("over the cap");
        };
        assert!(e.to_string().contains("more than 10 entries"), "{e}");
        assert!(Archive::open(zip, ZipLimits::default()).is_ok());
        assert_eq!(claimed_entries(b"not a zip"), None);
    }

    fn open(entries: &[(&str, &str)]) -> Archive {
        Archive::open(make_zip(entries), ZipLimits::default()).unwrap()
    }

    pub const DOCX_XML: &str = r#"<?xml version="1.0"?><w:document xmlns:w="x"><w:body>
        <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Guide</w:t></w:r></w:p>
        <w:p><w:r><w:t>Intro text</w:t></w:r><w:r><w:t xml:space="preserve"> continues &amp; ends.</w:t></w:r></w:p>
        <w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>Install</w:t></w:r></w:p>
        <w:p><w:r><w:t>Run make.</w:t></w:r></w:p></w:body></w:document>"#;

    #[test]
    fn docx_paragraphs_and_headings() {
        let mut a = open(&[("word/document.xml", DOCX_XML)]);
        let s = docx(&mut a).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].headings, ["Guide"]);
        assert_eq!(s[0].text, "Intro text continues & ends.");
        assert_eq!(s[1].headings, ["Guide", "Install"]);
        assert_eq!(s[1].text, "Run make.");
    }

    #[test]
    fn docx_tables_are_sections_with_their_rows() {
        let cell = |t: &str| format!("<w:tc><w:p><w:r><w:t>{t}</w:t></w:r></w:p></w:tc>");
        let row = |a: &str, b: &str| format!("<w:tr>{}{}</w:tr>", cell(a), cell(b));
        let inner = format!("<w:tbl>{}</w:tbl>", row("in1", "in2"));
        let xml = format!(
            r#"<w:document xmlns:w="w"><w:body>
            <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Parts</w:t></w:r></w:p>
            <w:p><w:r><w:t>Before.</w:t></w:r></w:p>
            <w:tbl>{}{}<w:tr><w:tc><w:p><w:r><w:t>Nut</w:t></w:r></w:p><w:p><w:r><w:t>M4</w:t></w:r></w:p></w:tc><w:tc>{inner}</w:tc></w:tr></w:tbl>
            <w:p><w:r><w:t>After.</w:t></w:r></w:p></w:body></w:document>"#,
            row("Part", "Count"),
            row("Bolt", "12"),
        );
        let mut a = open(&[("word/document.xml", &xml)]);
        let s = docx(&mut a).unwrap();
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[0].text, "Before.");
        let t = s[1].table.as_ref().unwrap();
        assert_eq!(t.header, ["Part", "Count"]);
        assert_eq!(t.rows, [["Bolt", "12"], ["Nut M4", "in1 in2"]]);
        assert_eq!(s[1].headings, ["Parts"]);
        assert_eq!(s[2].text, "After.");
    }

    #[test]
    fn pptx_slides_in_order_with_numbers() {
        let slide = |t: &str| {
            format!(
                r#"<p:sld xmlns:a="a" xmlns:p="p"><a:p><a:r><a:t>{t}</a:t></a:r></a:p><a:p><a:r><a:t>body of {t}</a:t></a:r></a:p></p:sld>"#
            )
        };
        let (s10, s2) = (slide("Ten"), slide("Two"));
        let mut a = open(&[
            ("ppt/presentation.xml", "<p/>"),
            ("ppt/slides/slide10.xml", &s10),
            ("ppt/slides/slide2.xml", &s2),
        ]);
        let s = pptx(&mut a).unwrap();
        assert_eq!(
            s.iter().map(|s| s.page).collect::<Vec<_>>(),
            [Some(2), Some(10)]
        );
        assert_eq!(s[0].headings, ["Two"]);
        assert!(s[1].text.contains("body of Ten"));
    }

    #[test]
    fn xlsx_sheets_rows_and_shared_strings() {
        let mut a = open(&[
            (
                "xl/workbook.xml",
                r#"<workbook xmlns:r="r"><sheets><sheet name="Prices" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
            ),
            (
                "xl/_rels/workbook.xml.rels",
                r#"<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>"#,
            ),
            (
                "xl/sharedStrings.xml",
                r#"<sst><si><t>item</t></si><si><t>GPU</t></si></sst>"#,
            ),
            (
                "xl/worksheets/sheet1.xml",
                r#"<worksheet><sheetData><row><c t="s"><v>0</v></c><c><v>price</v></c></row><row><c t="s"><v>1</v></c><c><v>1999</v></c></row></sheetData></worksheet>"#,
            ),
        ]);
        let s = xlsx(&mut a, &mut super::super::Budget::new(&Default::default())).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].headings, ["Prices"]);
        let table = s[0].table.as_ref().unwrap();
        assert_eq!(table.header, ["item", "price"]);
        assert_eq!(table.rows, [["GPU", "1999"]]);
        assert_eq!(
            s[0].text,
            "| item | price |\n| --- | --- |\n| GPU | 1999 |\n"
        );
    }

    #[test]
    fn epub_spine_order() {
        let mut a = open(&[
            ("mimetype", "application/epub+zip"),
            (
                "META-INF/container.xml",
                r#"<container><rootfiles><rootfile full-path="OEBPS/book.opf"/></rootfiles></container>"#,
            ),
            (
                "OEBPS/book.opf",
                r#"<package><manifest><item id="c1" href="one.xhtml"/><item id="c2" href="two.xhtml"/></manifest><spine><itemref idref="c2"/><itemref idref="c1"/></spine></package>"#,
            ),
            (
                "OEBPS/one.xhtml",
                "<html><body><h1>One</h1><p>first</p></body></html>",
            ),
            (
                "OEBPS/two.xhtml",
                "<html><body><h1>Two</h1><p>second</p></body></html>",
            ),
        ]);
        let s = epub(&mut a).unwrap();
        assert_eq!(
            s.iter().map(|s| s.headings[0].as_str()).collect::<Vec<_>>(),
            ["Two", "One"]
        );
    }

    #[test]
    fn zip_bombs_and_bad_archives_are_refused() {
        let big = "a".repeat(2_000_000);
        let bytes = make_zip(&[("word/document.xml", &big)]);
        let mut a = Archive::open(
            bytes,
            ZipLimits {
                total_bytes: 1_000_000,
                entries: 10,
            },
        )
        .unwrap();
        assert!(
            matches!(a.text("word/document.xml"), Err(Error::Archive(m)) if m.contains("exceeds"))
        );
        let many: Vec<(String, String)> =
            (0..20).map(|i| (format!("f{i}"), String::new())).collect();
        let refs: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert!(Archive::open(
            make_zip(&refs),
            ZipLimits {
                total_bytes: 1000,
                entries: 10
            }
        )
        .is_err());
        assert!(Archive::open(b"PK\x03\x04garbage".to_vec(), ZipLimits::default()).is_err());
        let nested = make_zip(&[("inner.txt", "x")]);
        let outer = make_zip(&[(
            "word/document.xml",
            std::str::from_utf8(&nested).unwrap_or("PK\u{3}\u{4}"),
        )]);
        let mut a = Archive::open(outer, ZipLimits::default()).unwrap();
        assert!(a.text("word/document.xml").is_err());
    }

    #[test]
    fn external_entities_are_not_resolved() {
        let xml = r#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><w:document xmlns:w="x"><w:body><w:p><w:r><w:t>safe &x;</w:t></w:r></w:p></w:body></w:document>"#;
        let mut a = open(&[("word/document.xml", xml)]);
        // quick-xml does not resolve external entities: an unknown entity is an error, never
        // the file's content.
        match docx(&mut a) {
            Ok(s) => assert!(s.iter().all(|s| !s.text.contains("root:")), "{s:?}"),
            Err(e) => assert!(matches!(e, Error::Archive(_))),
        }
    }
}

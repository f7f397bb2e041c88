//! The fonts of the text layer: how a shown string splits into codes, the text of each code
//! and how far it advances.
//!
//! The text of a code comes from the font's ToUnicode CMap when it maps the code, else from
//! the font's encoding: for simple fonts a base encoding with `/Differences` glyph names, for
//! composite fonts a predefined CMap whose codes are Unicode (`Uni…-UCS2`, `-UTF16`) or a
//! legacy CJK encoding (Shift-JIS, EUC, GBK, Big5). Advances come from `/Widths` (simple
//! fonts), `/W` and `/DW` (CID fonts), or a small table of the standard 14 fonts.
//!
//! lopdf keeps its glyph list and encoding tables private and takes a font's `/Encoding`
//! over its ToUnicode map, so both are reached here through small font dictionaries made for
//! the purpose (see [`Tables`]).

use std::collections::HashMap;

use lopdf::{dictionary, DecompressError, Dictionary, Document, Encoding, Object};

use super::cmap::ToUnicode;
use super::lex::{Lexer, Token};

/// Entries of a `/W` array or `/Widths` read at most; past them widths are the default.
const MAX_WIDTHS: usize = 65_536;

/// A font as the text layer needs it.
pub(super) struct Font {
    codes: CodeSpace,
    to_unicode: Option<ToUnicode>,
    /// Simple fonts: the text of each one-byte code by the font's encoding.
    simple: Option<Vec<Option<Box<str>>>>,
    /// Composite fonts without a ToUnicode entry for a code: how the code reads as text.
    legacy: Legacy,
    widths: Widths,
    /// Glyph space to text space: 1/1000, or a Type 3 font's `/FontMatrix`.
    scale: f64,
    /// Vertical writing (`-V` CMaps): glyphs advance down.
    pub(super) vertical: bool,
}

/// How the bytes of a string split into codes.
enum CodeSpace {
    One,
    Two,
    /// Codespace ranges of an embedded CMap: (low, high, bytes).
    Ranges(Vec<(u32, u32, usize)>),
    /// A two-byte code starts with a byte in the range, other codes are one byte.
    LeadByte(u8, u8),
    Utf16,
    Utf8,
}

/// Composite-font codes that are text without a ToUnicode map.
#[derive(Clone, Copy)]
enum Legacy {
    None,
    Utf16,
    Utf8,
    Encoded(&'static encoding_rs::Encoding),
    /// ISO-2022 two-byte JIS codes (the `H` and `V` CMaps): EUC-JP with the high bits set.
    Jis,
}

enum Widths {
    Simple {
        first: u32,
        widths: Vec<f32>,
        missing: f32,
    },
    Standard(&'static [u16; 95], u16),
    Cid {
        ranges: Vec<(u32, u32, f32)>,
        default: f32,
    },
}

/// What a font's text and widths are built from: base encodings and glyph names, read once
/// per document from lopdf.
pub(super) struct Tables {
    standard: Vec<Option<Box<str>>>,
    win_ansi: Vec<Option<Box<str>>>,
    mac_roman: Vec<Option<Box<str>>>,
    mac_expert: Vec<Option<Box<str>>>,
    pdf_doc: Vec<Option<Box<str>>>,
    glyph_names: HashMap<Vec<u8>, Option<Box<str>>>,
    empty: Document,
}

impl Tables {
    pub(super) fn new() -> Self {
        let empty = Document::with_version("1.5");
        let table = |name: &str| -> Vec<Option<Box<str>>> {
            let font = dictionary! { "Type" => "Font", "Encoding" => Object::Name(name.into()) };
            let encoding = font.get_font_encoding(&empty).ok();
            (0..=255u8)
                .map(|b| {
                    let text = encoding.as_ref()?.bytes_to_string(&[b]).ok()?;
                    (!text.is_empty()).then(|| text.into_boxed_str())
                })
                .collect()
        };
        Self {
            standard: table("StandardEncoding"),
            win_ansi: table("WinAnsiEncoding"),
            mac_roman: table("MacRomanEncoding"),
            mac_expert: table("MacExpertEncoding"),
            pdf_doc: table("PDFDocEncoding"),
            glyph_names: HashMap::new(),
            empty,
        }
    }

    fn base(&self, name: &[u8]) -> Option<&Vec<Option<Box<str>>>> {
        Some(match name {
            b"StandardEncoding" => &self.standard,
            b"WinAnsiEncoding" => &self.win_ansi,
            b"MacRomanEncoding" => &self.mac_roman,
            b"MacExpertEncoding" => &self.mac_expert,
            b"PDFDocEncoding" => &self.pdf_doc,
            _ => return None,
        })
    }

    /// The text of a glyph name: the Adobe glyph list (through lopdf), `uniXXXX`, `uXXXX`,
    /// names with a suffix (`a.sc`) and ligatures (`f_i`); with `numeric`, names such as
    /// `a65` or `g33` (Type 3 fonts of TeX) as the code they number.
    fn glyph(&mut self, name: &[u8], numeric: Numeric) -> Option<Box<str>> {
        let mut key = vec![numeric as u8];
        key.extend_from_slice(name);
        if let Some(found) = self.glyph_names.get(&key) {
            return found.clone();
        }
        let found = self.glyph_uncached(name, numeric);
        if self.glyph_names.len() < 65_536 {
            self.glyph_names.insert(key, found.clone());
        }
        found
    }

    fn glyph_uncached(&self, name: &[u8], numeric: Numeric) -> Option<Box<str>> {
        if let Some(text) = self.agl(name) {
            return Some(text);
        }
        let base = name.split(|&b| b == b'.').next().unwrap_or(name);
        if base.is_empty() {
            return None;
        }
        if base.contains(&b'_') {
            let mut out = String::new();
            for part in base.split(|&b| b == b'_') {
                out.push_str(&self.single(part, numeric)?);
            }
            return Some(out.into_boxed_str());
        }
        self.single(base, numeric)
    }

    fn single(&self, name: &[u8], numeric: Numeric) -> Option<Box<str>> {
        if let Some(text) = self.agl(name) {
            return Some(text);
        }
        let hex = |digits: &[u8]| {
            std::str::from_utf8(digits)
                .ok()
                .and_then(|s| u32::from_str_radix(s, 16).ok())
        };
        if let Some(rest) = name.strip_prefix(b"uni") {
            if !rest.is_empty() && rest.len() % 4 == 0 {
                let units: Option<Vec<u16>> = rest
                    .chunks(4)
                    .map(|c| hex(c).and_then(|v| u16::try_from(v).ok()))
                    .collect();
                let text: String = char::decode_utf16(units?).filter_map(|c| c.ok()).collect();
                return (!text.is_empty()).then(|| text.into_boxed_str());
            }
        }
        if let Some(rest) = name.strip_prefix(b"u") {
            if (4..=6).contains(&rest.len()) {
                if let Some(c) = hex(rest).and_then(char::from_u32) {
                    return Some(c.to_string().into_boxed_str());
                }
            }
        }
        let value = match numeric {
            Numeric::No => None,
            Numeric::Hex if hex_name(name) => hex(&name[name.len() - 2..]),
            _ => {
                let letters = name.iter().take_while(|b| b.is_ascii_alphabetic()).count();
                let digits = &name[letters..];
                if (1..=2).contains(&letters)
                    && (2..=3).contains(&digits.len())
                    && digits.iter().all(u8::is_ascii_digit)
                {
                    std::str::from_utf8(digits).ok()?.parse().ok()
                } else {
                    None
                }
            }
        }?;
        if (33..=126).contains(&value) || (0xA1..=0xFF).contains(&value) {
            return char::from_u32(value).map(|c| c.to_string().into_boxed_str());
        }
        None
    }

    /// A name of the Adobe glyph list, as lopdf knows it.
    fn agl(&self, name: &[u8]) -> Option<Box<str>> {
        let font = dictionary! {
            "Type" => "Font",
            "Encoding" => dictionary! {
                "BaseEncoding" => "PDFDocEncoding",
                "Differences" => vec![Object::Integer(0), Object::Name(name.to_vec())],
            },
        };
        // An unknown name makes lopdf fall back to the standard encoding, which has nothing at 0.
        match font.get_font_encoding(&self.empty).ok()? {
            Encoding::Differences(differences) => {
                let text = differences.map.get(&0)?;
                let text: String = char::decode_utf16([text.utf16_code_unit()])
                    .filter_map(|c| c.ok())
                    .collect();
                (!text.is_empty()).then(|| text.into_boxed_str())
            }
            _ => None,
        }
    }
}

/// How glyph names that are not in the glyph list may still be read: names of Type 3 fonts
/// such as `a65` or `g33` (TeX) number their code in decimal, and `C41` or `G2c` in hex.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Numeric {
    No = 0,
    Decimal = 1,
    Hex = 2,
}

/// One or two letters and two hex digits.
fn hex_name(name: &[u8]) -> bool {
    let letters = name.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    (1..=2).contains(&letters)
        && name.len() == letters + 2
        && name[letters..].iter().all(u8::is_ascii_hexdigit)
}

/// Why a font has no usable decoder.
pub(super) enum FontError {
    /// Its ToUnicode CMap decompresses to more than the limit.
    OverLimit,
}

impl Font {
    /// Reads a font dictionary. `cmap_limit` bounds the decompressed size of its CMaps.
    pub(super) fn read(
        doc: &Document,
        font: &Dictionary,
        tables: &mut Tables,
        cmap_limit: usize,
    ) -> std::result::Result<Font, FontError> {
        let subtype = name_of(font.get(b"Subtype").ok(), doc).unwrap_or_default();
        let to_unicode = match font.get_deref(b"ToUnicode", doc) {
            Ok(Object::Stream(stream)) => match stream.get_plain_content_with_limit(cmap_limit) {
                Ok(data) => Some(ToUnicode::parse(&data)).filter(|c| !c.is_empty()),
                Err(lopdf::Error::Decompress(DecompressError::MemoryLimitExceeded { .. })) => {
                    return Err(FontError::OverLimit)
                }
                Err(_) => None,
            },
            _ => None,
        };
        if subtype == b"Type0" {
            return Ok(Self::composite(doc, font, to_unicode, cmap_limit));
        }
        let type3 = subtype == b"Type3";
        let descriptor = font
            .get_deref(b"FontDescriptor", doc)
            .and_then(Object::as_dict)
            .ok();
        let flags = descriptor
            .and_then(|d| number(d.get_deref(b"Flags", doc).ok()?))
            .unwrap_or(0.0) as i64;
        let symbolic = flags & 4 != 0 && flags & 32 == 0;
        let base_font = name_of(font.get(b"BaseFont").ok(), doc).unwrap_or_default();
        let base_name = strip_subset(&base_font);

        // The encoding: a base table, then /Differences.
        let truetype = subtype == b"TrueType";
        let default_base = if truetype || symbolic {
            &tables.win_ansi
        } else {
            &tables.standard
        };
        let mut simple = default_base.clone();
        // An embedded Type 1 font's own encoding is the base of one that names none.
        if matches!(subtype.as_slice(), b"Type1" | b"MMType1") {
            if let Some(builtin) = descriptor
                .and_then(|d| d.get_deref(b"FontFile", doc).ok())
                .and_then(|o| o.as_stream().ok())
                .and_then(|s| s.get_plain_content_with_limit(cmap_limit).ok())
                .and_then(|data| type1_encoding(&data, tables))
            {
                simple = builtin;
            }
        }
        match font.get_deref(b"Encoding", doc) {
            Ok(Object::Name(name)) => {
                if let Some(table) = tables.base(name) {
                    simple = table.clone();
                }
            }
            Ok(Object::Dictionary(dict)) => {
                if let Some(table) = name_of(dict.get(b"BaseEncoding").ok(), doc)
                    .and_then(|name| tables.base(&name).cloned())
                {
                    simple = table;
                } else if type3 {
                    simple = vec![None; 256];
                }
                if let Ok(differences) = dict
                    .get_deref(b"Differences", doc)
                    .and_then(Object::as_array)
                {
                    // Hex when every name outside the glyph list is a hex name and some
                    // have hex letters.
                    let names = || {
                        differences.iter().filter_map(|o| match o {
                            Object::Name(name) => Some(name),
                            _ => None,
                        })
                    };
                    let hex_letters = names().any(|n| {
                        hex_name(n) && n[n.len() - 2..].iter().any(u8::is_ascii_alphabetic)
                    });
                    let numeric = if hex_letters
                        && names()
                            .take(256)
                            .all(|n| hex_name(n) || tables.glyph(n, Numeric::No).is_some())
                    {
                        Numeric::Hex
                    } else {
                        Numeric::Decimal
                    };
                    let mut code = 0usize;
                    for item in differences.iter().take(MAX_WIDTHS) {
                        match item {
                            Object::Integer(i) => code = usize::try_from(*i).unwrap_or(256),
                            Object::Real(r) => code = *r as usize,
                            Object::Name(name) => {
                                if code < 256 {
                                    simple[code] = tables.glyph(name, numeric);
                                }
                                code = code.saturating_add(1);
                            }
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
        let scale = if type3 {
            font.get_deref(b"FontMatrix", doc)
                .and_then(Object::as_array)
                .ok()
                .and_then(|m| number(m.first()?))
                .filter(|s| s.is_finite() && *s != 0.0)
                .map_or(0.001, f64::abs)
        } else {
            0.001
        };
        let missing = descriptor
            .and_then(|d| number(d.get_deref(b"MissingWidth", doc).ok()?))
            .unwrap_or(0.0) as f32;
        let widths = match font.get_deref(b"Widths", doc).and_then(Object::as_array) {
            Ok(widths) => Widths::Simple {
                first: font
                    .get_deref(b"FirstChar", doc)
                    .ok()
                    .and_then(number)
                    .map_or(0, |f| f.clamp(0.0, 255.0) as u32),
                widths: widths
                    .iter()
                    .take(256)
                    .map(|w| number(deref(w, doc)).unwrap_or(f64::from(missing)) as f32)
                    .collect(),
                missing,
            },
            Err(_) => standard_widths(&base_name),
        };
        Ok(Font {
            codes: CodeSpace::One,
            to_unicode,
            simple: Some(simple),
            legacy: Legacy::None,
            widths,
            scale,
            vertical: false,
        })
    }

    fn composite(
        doc: &Document,
        font: &Dictionary,
        to_unicode: Option<ToUnicode>,
        cmap_limit: usize,
    ) -> Font {
        let (mut codes, mut legacy, mut vertical) = (CodeSpace::Two, Legacy::None, false);
        match font.get_deref(b"Encoding", doc) {
            Ok(Object::Name(name)) => {
                (codes, legacy) = predefined_cmap(name);
                vertical = name.ends_with(b"-V") || name == b"V";
            }
            Ok(Object::Stream(stream)) => {
                if let Ok(data) = stream.get_plain_content_with_limit(cmap_limit) {
                    let ranges = codespace_ranges(&data);
                    if !ranges.is_empty() {
                        codes = CodeSpace::Ranges(ranges);
                    }
                }
                if let Ok(name) = stream.dict.get(b"CMapName").and_then(Object::as_name) {
                    vertical = name.ends_with(b"-V");
                    let (named_codes, named_legacy) = predefined_cmap(name);
                    legacy = named_legacy;
                    if matches!(codes, CodeSpace::Two) {
                        codes = named_codes;
                    }
                }
            }
            _ => {}
        }
        let descendant = font
            .get_deref(b"DescendantFonts", doc)
            .and_then(Object::as_array)
            .ok()
            .and_then(|a| a.first())
            .and_then(|d| deref(d, doc).as_dict().ok());
        let mut default = 1000.0;
        let mut ranges = Vec::new();
        if let Some(descendant) = descendant {
            if let Some(dw) = descendant.get_deref(b"DW", doc).ok().and_then(number) {
                default = dw as f32;
            }
            if let Ok(w) = descendant.get_deref(b"W", doc).and_then(Object::as_array) {
                let mut i = 0;
                while i < w.len() && ranges.len() < MAX_WIDTHS {
                    let Some(first) = number(deref(&w[i], doc)) else {
                        i += 1;
                        continue;
                    };
                    let first = first.max(0.0) as u32;
                    match w.get(i + 1).map(|o| deref(o, doc)) {
                        Some(Object::Array(list)) => {
                            for (k, width) in list.iter().take(MAX_WIDTHS).enumerate() {
                                let cid = first.saturating_add(k as u32);
                                if let Some(width) = number(deref(width, doc)) {
                                    ranges.push((cid, cid, width as f32));
                                }
                            }
                            i += 2;
                        }
                        Some(last) => {
                            if let (Some(last), Some(width)) = (
                                number(last),
                                w.get(i + 2).and_then(|o| number(deref(o, doc))),
                            ) {
                                ranges.push((first, last.max(0.0) as u32, width as f32));
                            }
                            i += 3;
                        }
                        None => break,
                    }
                }
            }
        }
        ranges.sort_by_key(|r| r.0);
        Font {
            codes,
            to_unicode,
            simple: None,
            legacy,
            widths: Widths::Cid { ranges, default },
            scale: 0.001,
            vertical,
        }
    }

    /// The length in bytes of the code at the start of `bytes` (not empty).
    pub(super) fn code_len(&self, bytes: &[u8]) -> usize {
        let len = match &self.codes {
            CodeSpace::One => 1,
            CodeSpace::Two => 2,
            CodeSpace::LeadByte(lo, hi) => {
                if (*lo..=*hi).contains(&bytes[0]) {
                    2
                } else {
                    1
                }
            }
            CodeSpace::Utf16 => {
                if (0xD8..0xDC).contains(&bytes[0]) {
                    4
                } else {
                    2
                }
            }
            CodeSpace::Utf8 => match bytes[0] {
                0xF0..=0xFF => 4,
                0xE0..=0xEF => 3,
                0xC0..=0xDF => 2,
                _ => 1,
            },
            CodeSpace::Ranges(ranges) => (1..=4)
                .find(|&n| {
                    n <= bytes.len()
                        && ranges.iter().any(|&(lo, hi, len)| {
                            len == n
                                && (0..n).all(|i| {
                                    let shift = 8 * (n - 1 - i);
                                    let b = bytes[i];
                                    ((lo >> shift) as u8) <= b && b <= ((hi >> shift) as u8)
                                })
                        })
                })
                .unwrap_or(1),
        };
        len.min(bytes.len())
    }

    /// Appends the text of one code to `out`.
    pub(super) fn text(&self, code: &[u8], out: &mut String) {
        let value = code.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b));
        if let Some(cmap) = &self.to_unicode {
            let len = u8::try_from(code.len()).unwrap_or(4);
            if cmap.get(value, len, out) {
                return;
            }
        }
        if let Some(simple) = &self.simple {
            if let Some(Some(text)) = simple.get(value as usize) {
                out.push_str(text);
            }
            return;
        }
        match self.legacy {
            Legacy::None => {}
            Legacy::Utf16 => {
                let units = code
                    .chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]));
                out.extend(char::decode_utf16(units).filter_map(|c| c.ok()));
            }
            Legacy::Utf8 => out.push_str(&String::from_utf8_lossy(code)),
            Legacy::Encoded(encoding) => {
                let (text, _, errors) = encoding.decode(code);
                if !errors {
                    out.push_str(&text);
                }
            }
            Legacy::Jis => {
                if code.len() == 2 {
                    let euc = [code[0] | 0x80, code[1] | 0x80];
                    let (text, _, errors) = encoding_rs::EUC_JP.decode(&euc);
                    if !errors {
                        out.push_str(&text);
                    }
                } else if code[0].is_ascii_graphic() {
                    out.push(char::from(code[0]));
                }
            }
        }
    }

    /// The advance of a code, in text space units per unit of font size.
    pub(super) fn width(&self, code: &[u8]) -> f64 {
        let value = code.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b));
        let width = match &self.widths {
            Widths::Simple {
                first,
                widths,
                missing,
            } => value
                .checked_sub(*first)
                .and_then(|i| widths.get(i as usize))
                .copied()
                .unwrap_or(*missing),
            Widths::Standard(table, other) => f32::from(
                value
                    .checked_sub(32)
                    .and_then(|i| table.get(i as usize))
                    .copied()
                    .unwrap_or(*other),
            ),
            Widths::Cid { ranges, default } => {
                let cid = if matches!(self.codes, CodeSpace::Two | CodeSpace::Ranges(_)) {
                    value
                } else {
                    u32::MAX
                };
                let i = ranges.partition_point(|r| r.0 <= cid);
                match i.checked_sub(1).map(|i| ranges[i]) {
                    Some((_, hi, w)) if cid <= hi => w,
                    _ => *default,
                }
            }
        };
        let width = f64::from(width) * self.scale;
        if width.is_finite() {
            width
        } else {
            0.0
        }
    }

    /// Whether the code is the one-byte code 32, which word spacing applies to.
    pub(super) fn is_space(code: &[u8]) -> bool {
        code == b" "
    }
}

/// Code lengths and text of a predefined CMap, by its name.
fn predefined_cmap(name: &[u8]) -> (CodeSpace, Legacy) {
    let name = &name.to_ascii_uppercase()[..];
    let has = |part: &[u8]| name.windows(part.len()).any(|w| w == part);
    if has(b"UCS2") {
        (CodeSpace::Two, Legacy::Utf16)
    } else if has(b"UTF16") {
        (CodeSpace::Utf16, Legacy::Utf16)
    } else if has(b"UTF8") {
        (CodeSpace::Utf8, Legacy::Utf8)
    } else if has(b"UTF32") {
        (CodeSpace::Ranges(vec![(0, u32::MAX, 4)]), Legacy::None)
    } else if has(b"RKSJ") {
        (
            CodeSpace::Ranges(vec![
                (0x00, 0x80, 1),
                (0xA0, 0xDF, 1),
                (0x8140, 0x9FFC, 2),
                (0xE040, 0xFCFC, 2),
            ]),
            Legacy::Encoded(encoding_rs::SHIFT_JIS),
        )
    } else if name.starts_with(b"EUC-") {
        (
            CodeSpace::LeadByte(0x8E, 0xFE),
            Legacy::Encoded(encoding_rs::EUC_JP),
        )
    } else if has(b"GB") {
        (
            CodeSpace::LeadByte(0x81, 0xFE),
            Legacy::Encoded(encoding_rs::GBK),
        )
    } else if has(b"B5") || has(b"CNS") {
        (
            CodeSpace::LeadByte(0x81, 0xFE),
            Legacy::Encoded(encoding_rs::BIG5),
        )
    } else if has(b"KSC") {
        (
            CodeSpace::LeadByte(0x81, 0xFE),
            Legacy::Encoded(encoding_rs::EUC_KR),
        )
    } else if name == b"H" || name == b"V" {
        (CodeSpace::Two, Legacy::Jis)
    } else {
        (CodeSpace::Two, Legacy::None)
    }
}

/// The encoding in the clear text of a Type 1 font program (`dup 65 /A put` entries), when
/// it is not the standard encoding.
fn type1_encoding(data: &[u8], tables: &mut Tables) -> Option<Vec<Option<Box<str>>>> {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let clear = &data[..find(data, b"eexec").unwrap_or(data.len())];
    let start = find(clear, b"/Encoding")? + b"/Encoding".len();
    let rest = &clear[start..];
    if rest.trim_ascii_start().starts_with(b"StandardEncoding") {
        return None;
    }
    let mut lexer = Lexer::new(rest);
    let mut table = vec![None; 256];
    let mut recent: [Option<Token>; 3] = [None, None, None];
    let mut any = false;
    while let Some(token) = lexer.next_token() {
        if let Token::Word(r) = &token {
            let word = &rest[r.clone()];
            if word == b"readonly" || word == b"def" {
                break;
            }
            if word == b"put" {
                if let [Some(Token::Word(dup)), Some(Token::Word(code)), Some(Token::Name(name))] =
                    &recent
                {
                    let code = std::str::from_utf8(&rest[code.clone()])
                        .ok()
                        .and_then(|c| c.parse::<usize>().ok());
                    if let (b"dup", Some(code)) = (&rest[dup.clone()], code) {
                        if code < 256 {
                            table[code] = tables.glyph(&rest[name.clone()], Numeric::No);
                            any = true;
                        }
                    }
                }
            }
        }
        recent.rotate_left(1);
        recent[2] = Some(token);
    }
    any.then_some(table)
}

/// The `begincodespacerange` entries of a CMap.
fn codespace_ranges(data: &[u8]) -> Vec<(u32, u32, usize)> {
    let mut lexer = Lexer::new(data);
    let mut ranges = Vec::new();
    let mut inside = false;
    let mut pending: Option<(u32, usize)> = None;
    while let Some(token) = lexer.next_token() {
        match token {
            Token::Word(r) => {
                let word = &data[r];
                inside = word == b"begincodespacerange";
                pending = None;
            }
            Token::Hex(r) if inside => {
                let mut bytes = Vec::new();
                super::lex::decode_hex(&data[r], &mut bytes);
                if bytes.is_empty() || bytes.len() > 4 {
                    continue;
                }
                let value = bytes.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b));
                match pending.take() {
                    None => pending = Some((value, bytes.len())),
                    Some((lo, len)) => {
                        if ranges.len() < 256 {
                            ranges.push((lo, value, len));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    ranges
}

fn deref<'o>(object: &'o Object, doc: &'o Document) -> &'o Object {
    match object {
        Object::Reference(id) => doc.get_object(*id).unwrap_or(object),
        _ => object,
    }
}

fn number(object: &Object) -> Option<f64> {
    match object {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
    .filter(|n| n.is_finite())
}

fn name_of(object: Option<&Object>, doc: &Document) -> Option<Vec<u8>> {
    match deref(object?, doc) {
        Object::Name(name) => Some(name.clone()),
        _ => None,
    }
}

/// A font name without its subset tag (`ABCDEF+`).
fn strip_subset(name: &[u8]) -> Vec<u8> {
    match name.iter().position(|&b| b == b'+') {
        Some(6) => name[7..].to_vec(),
        _ => name.to_vec(),
    }
}

/// Widths of the standard 14 fonts for a font without `/Widths`: Courier's fixed width, or
/// Helvetica's or Times's widths of the printable ASCII codes.
fn standard_widths(name: &[u8]) -> Widths {
    let has = |part: &[u8]| name.windows(part.len()).any(|w| w == part);
    if has(b"Courier") || has(b"Mono") {
        Widths::Simple {
            first: 0,
            widths: Vec::new(),
            missing: 600.0,
        }
    } else if has(b"Times") || has(b"Serif") || has(b"Roman") {
        Widths::Standard(&TIMES, 500)
    } else {
        Widths::Standard(&HELVETICA, 556)
    }
}

/// Helvetica's widths of the codes 32 to 126.
#[rustfmt::skip]
static HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 222, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    222, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// Times-Roman's widths of the codes 32 to 126.
#[rustfmt::skip]
static TIMES: [u16; 95] = [
    250, 333, 408, 500, 500, 833, 778, 333, 333, 333, 500, 564, 250, 333, 250, 278,
    500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 278, 278, 564, 564, 564, 444,
    921, 722, 667, 667, 722, 611, 556, 722, 722, 333, 389, 722, 611, 889, 722, 722,
    556, 722, 667, 556, 611, 722, 722, 944, 722, 722, 611, 333, 278, 333, 469, 500,
    333, 444, 500, 444, 500, 444, 333, 500, 500, 278, 278, 500, 278, 778, 500, 500,
    500, 500, 333, 389, 278, 500, 500, 722, 500, 500, 444, 480, 200, 480, 541,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyph_names() {
        let mut tables = Tables::new();
        let no = Numeric::No;
        assert_eq!(tables.glyph(b"A", no).as_deref(), Some("A"));
        assert_eq!(tables.glyph(b"uni0041", no).as_deref(), Some("A"));
        assert_eq!(tables.glyph(b"u1F600", no).as_deref(), Some("😀"));
        assert_eq!(tables.glyph(b"a_b", no).as_deref(), Some("ab"));
        assert_eq!(tables.glyph(b"a.sc", no).as_deref(), Some("a"));
        assert_eq!(tables.glyph(b"g65", Numeric::Decimal).as_deref(), Some("A"));
        assert_eq!(tables.glyph(b"C41", Numeric::Hex).as_deref(), Some("A"));
        assert_eq!(tables.glyph(b"g65", no), None);
        assert_eq!(tables.glyph(b"nonsense", no), None);
        assert_eq!(tables.win_ansi[0x41].as_deref(), Some("A"));
        assert_eq!(tables.win_ansi[0x93].as_deref(), Some("\u{201c}"));
    }
}

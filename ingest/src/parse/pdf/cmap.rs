//! ToUnicode CMaps, read leniently: `bfchar` and `bfrange` entries whatever surrounds them
//! (lopdf refuses a whole CMap for one entry it does not like, and its text with it).
//! Entries are kept as ranges, never expanded code by code.

use super::lex::{decode_hex, decode_name, Lexer, Token};

/// Entries read at most from one CMap.
const MAX_ENTRIES: usize = 1 << 20;

enum Target {
    /// The text of the range's first code; the codes after it add to its last unit.
    Start(Vec<u16>),
    /// The text of each code of the range.
    List(Vec<Vec<u16>>),
}

struct Entry {
    len: u8,
    lo: u32,
    hi: u32,
    target: Target,
}

/// A ToUnicode CMap.
pub(super) struct ToUnicode {
    /// By code length, then first code.
    entries: Vec<Entry>,
}

impl ToUnicode {
    pub(super) fn parse(data: &[u8]) -> Self {
        let mut lexer = Lexer::new(data);
        let mut entries = Vec::new();
        // 1 in a `bfchar` section, 2 in a `bfrange` one.
        let mut section = 0u8;
        // Operands since the last entry: hex strings, names and arrays of hex strings.
        let mut pending: Vec<Value> = Vec::new();
        while let Some(token) = lexer.next_token() {
            if entries.len() >= MAX_ENTRIES {
                break;
            }
            match token {
                Token::Word(r) => {
                    let word = &data[r];
                    if word.starts_with(b"begin") || word.starts_with(b"end") {
                        section = match word {
                            b"beginbfchar" => 1,
                            b"beginbfrange" => 2,
                            _ => 0,
                        };
                    }
                    pending.clear();
                    continue;
                }
                Token::Hex(r) => {
                    let mut bytes = Vec::new();
                    decode_hex(&data[r], &mut bytes);
                    pending.push(Value::Hex(bytes));
                }
                Token::Name(r) => pending.push(Value::Name(decode_name(&data[r]))),
                Token::ArrayOpen => {
                    let mut list = Vec::new();
                    while let Some(token) = lexer.next_token() {
                        match token {
                            Token::Hex(r) => {
                                let mut bytes = Vec::new();
                                decode_hex(&data[r], &mut bytes);
                                if list.len() < 65_536 {
                                    list.push(units(&bytes));
                                }
                            }
                            Token::ArrayClose => break,
                            _ => {}
                        }
                    }
                    pending.push(Value::List(list));
                }
                _ => {
                    pending.clear();
                    continue;
                }
            }
            match section {
                1 if pending.len() == 2 => {
                    let dst = pending.pop();
                    let src = pending.pop();
                    if let (Some(Value::Hex(src)), Some(dst)) = (src, dst) {
                        if let (Some((code, len)), Some(text)) = (code(&src), dst.text()) {
                            entries.push(Entry {
                                len,
                                lo: code,
                                hi: code,
                                target: Target::Start(text),
                            });
                        }
                    }
                }
                2 if pending.len() == 3 => {
                    let dst = pending.pop();
                    let hi = pending.pop();
                    let lo = pending.pop();
                    if let (Some(Value::Hex(lo)), Some(Value::Hex(hi)), Some(dst)) = (lo, hi, dst) {
                        if let (Some((lo, len)), Some((hi, _))) = (code(&lo), code(&hi)) {
                            let target = match dst {
                                Value::List(list) => Some(Target::List(list)),
                                other => other.text().map(Target::Start),
                            };
                            if let Some(target) = target.filter(|_| lo <= hi) {
                                entries.push(Entry {
                                    len,
                                    lo,
                                    hi,
                                    target,
                                });
                            }
                        }
                    }
                }
                1 | 2 => {}
                _ => pending.clear(),
            }
        }
        // Stable: of entries for the same first code, the later one is found first.
        entries.reverse();
        entries.sort_by_key(|e| (e.len, e.lo));
        Self { entries }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends the text of `code`, a code of `len` bytes; false when it maps none.
    pub(super) fn get(&self, code: u32, len: u8, out: &mut String) -> bool {
        let i = self
            .entries
            .partition_point(|e| (e.len, e.lo) <= (len, code));
        // The nearest entries starting at or before the code, a few back for overlaps.
        for entry in self.entries[..i].iter().rev().take(4) {
            if entry.len != len || code < entry.lo {
                break;
            }
            if code > entry.hi {
                continue;
            }
            let offset = code - entry.lo;
            let before = out.len();
            match &entry.target {
                Target::Start(start) => {
                    let mut units = start.clone();
                    if let Some(last) = units.last_mut() {
                        *last = last.wrapping_add(offset as u16);
                    }
                    out.extend(char::decode_utf16(units).filter_map(|c| c.ok()));
                }
                Target::List(list) => {
                    let Some(units) = list.get(offset as usize) else {
                        return false;
                    };
                    out.extend(char::decode_utf16(units.iter().copied()).filter_map(|c| c.ok()));
                }
            }
            return out.len() > before;
        }
        false
    }
}

enum Value {
    Hex(Vec<u8>),
    Name(Vec<u8>),
    List(Vec<Vec<u16>>),
}

impl Value {
    fn text(&self) -> Option<Vec<u16>> {
        match self {
            Value::Hex(bytes) => Some(units(bytes)),
            // Some writers put a glyph name, `/uni0041` most often.
            Value::Name(name) => {
                let hex = name.strip_prefix(b"uni")?;
                let value = u16::from_str_radix(std::str::from_utf8(hex.get(..4)?).ok()?, 16);
                Some(vec![value.ok()?])
            }
            Value::List(_) => None,
        }
    }
}

/// A source code and its length, from 1 to 4 bytes.
fn code(bytes: &[u8]) -> Option<(u32, u8)> {
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    let value = bytes.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b));
    Some((value, bytes.len() as u8))
}

/// UTF-16BE code units of a destination string; one odd byte is a unit of its own.
fn units(bytes: &[u8]) -> Vec<u16> {
    if bytes.len() == 1 {
        return vec![u16::from(bytes[0])];
    }
    bytes
        .chunks(2)
        .take(256)
        .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(cmap: &ToUnicode, code: u32, len: u8) -> Option<String> {
        let mut out = String::new();
        cmap.get(code, len, &mut out).then_some(out)
    }

    #[test]
    fn chars_ranges_and_lists() {
        let cmap = ToUnicode::parse(
            b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
            1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
            3 beginbfchar <0003> <0020> <0011> <00660069> <0012> /uni00E9 endbfchar\n\
            2 beginbfrange <0024> <0026> <0041> <0030> <0031> [<0078> <D83DDE00>] endbfrange\n\
            1 beginbfchar <0025> junk <05> <0063> endbfchar\n\
            endcmap",
        );
        assert_eq!(text(&cmap, 0x03, 2).as_deref(), Some(" "));
        assert_eq!(text(&cmap, 0x11, 2).as_deref(), Some("fi"));
        assert_eq!(text(&cmap, 0x12, 2).as_deref(), Some("é"));
        assert_eq!(text(&cmap, 0x24, 2).as_deref(), Some("A"));
        assert_eq!(text(&cmap, 0x25, 2).as_deref(), Some("B"));
        assert_eq!(text(&cmap, 0x26, 2).as_deref(), Some("C"));
        assert_eq!(text(&cmap, 0x31, 2).as_deref(), Some("😀"));
        assert_eq!(text(&cmap, 0x05, 1).as_deref(), Some("c"));
        assert_eq!(text(&cmap, 0x27, 2), None);
        assert_eq!(text(&cmap, 0x03, 1), None);
    }
}

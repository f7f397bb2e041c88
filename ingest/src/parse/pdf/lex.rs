//! A small lexer for PDF syntax, for content streams (their text) and for the object part of
//! a file (to count what loading it would build before lopdf builds it). It never recurses and
//! allocates nothing per token, so hostile input costs time linear in its size and no memory.

use std::ops::Range;

/// One token; ranges index the lexed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    /// A literal string: the bytes between its parentheses, escapes not yet decoded.
    Literal(Range<usize>),
    /// A hexadecimal string: the bytes between `<` and `>`.
    Hex(Range<usize>),
    /// A name: the bytes after `/`, `#` escapes not yet decoded.
    Name(Range<usize>),
    /// A number, keyword or operator: a run of regular characters.
    Word(Range<usize>),
    ArrayOpen,
    ArrayClose,
    DictOpen,
    DictClose,
}

pub(super) fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | b'\x0c')
}

fn is_delimiter(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(c: u8) -> bool {
    !is_whitespace(c) && !is_delimiter(c)
}

pub(super) struct Lexer<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(super) fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Where the next token starts looking.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// The next token; comments, white space and stray closing delimiters are skipped.
    pub(super) fn next_token(&mut self) -> Option<Token> {
        loop {
            let c = *self.data.get(self.pos)?;
            let next = self.data.get(self.pos + 1).copied();
            match c {
                b'%' => self.skip_line(),
                b'(' => return Some(Token::Literal(self.literal())),
                b'<' if next == Some(b'<') => {
                    self.pos += 2;
                    return Some(Token::DictOpen);
                }
                b'<' => return Some(Token::Hex(self.hex())),
                b'>' if next == Some(b'>') => {
                    self.pos += 2;
                    return Some(Token::DictClose);
                }
                b'[' => {
                    self.pos += 1;
                    return Some(Token::ArrayOpen);
                }
                b']' => {
                    self.pos += 1;
                    return Some(Token::ArrayClose);
                }
                b'/' => {
                    self.pos += 1;
                    let start = self.pos;
                    self.pos = self.regular_end();
                    return Some(Token::Name(start..self.pos));
                }
                c if is_regular(c) => {
                    let start = self.pos;
                    self.pos = self.regular_end();
                    return Some(Token::Word(start..self.pos));
                }
                // White space, and `)`, `>`, `{`, `}` out of place.
                _ => self.pos += 1,
            }
        }
    }

    fn regular_end(&self) -> usize {
        self.data[self.pos..]
            .iter()
            .position(|&c| !is_regular(c))
            .map_or(self.data.len(), |n| self.pos + n)
    }

    fn skip_line(&mut self) {
        self.pos = self.data[self.pos..]
            .iter()
            .position(|&c| c == b'\n' || c == b'\r')
            .map_or(self.data.len(), |n| self.pos + n + 1);
    }

    /// From `(` to its balancing `)`, or to the end.
    fn literal(&mut self) -> Range<usize> {
        let start = self.pos + 1;
        let mut depth = 1usize;
        let mut i = start;
        while i < self.data.len() {
            match self.data[i] {
                b'\\' => i += 1,
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos = i + 1;
                        return start..i;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        self.pos = self.data.len();
        start.min(self.pos)..self.pos
    }

    /// From `<` to `>`, or to the end.
    fn hex(&mut self) -> Range<usize> {
        let start = self.pos + 1;
        match self.data[start..].iter().position(|&c| c == b'>') {
            Some(n) => {
                self.pos = start + n + 1;
                start..start + n
            }
            None => {
                self.pos = self.data.len();
                start..self.pos
            }
        }
    }

    /// After an opening `[` or `<<`: skips to just past its balancing close, or to the end.
    pub(super) fn skip_container(&mut self, open: &Token) {
        let close = if *open == Token::ArrayOpen {
            Token::ArrayClose
        } else {
            Token::DictClose
        };
        let mut depth = 1usize;
        while let Some(token) = self.next_token() {
            if token == *open {
                depth += 1;
            } else if token == close {
                depth -= 1;
                if depth == 0 {
                    return;
                }
            }
        }
    }

    /// After a `stream` keyword: skips the stream's data and its `endstream`.
    pub(super) fn skip_stream_data(&mut self) {
        self.pos = find(&self.data[self.pos..], b"endstream")
            .map_or(self.data.len(), |n| self.pos + n + b"endstream".len());
    }

    /// After an inline image's `ID`: skips its data and the `EI` that ends it.
    pub(super) fn skip_inline_image(&mut self) {
        match self.data.get(self.pos..self.pos + 2) {
            Some(b"\r\n") => self.pos += 2,
            Some([c, ..]) if is_whitespace(*c) => self.pos += 1,
            _ => {}
        }
        let from = self.pos;
        let mut at = from;
        while let Some(n) = find(&self.data[at..], b"EI") {
            let i = at + n;
            let before = i == from || is_whitespace(self.data[i - 1]);
            let after = self.data.get(i + 2).is_none_or(|&c| !is_regular(c));
            if before && after {
                self.pos = i + 2;
                return;
            }
            at = i + 1;
        }
        self.pos = self.data.len();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The bytes of a literal string, escapes decoded as lopdf decodes them.
pub(super) fn decode_literal(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        i += 1;
        match c {
            b'\\' => {
                let Some(&e) = raw.get(i) else { break };
                i += 1;
                match e {
                    b'0'..=b'7' => {
                        let mut value = u16::from(e - b'0');
                        for _ in 0..2 {
                            match raw.get(i) {
                                Some(&d @ b'0'..=b'7') => {
                                    value = value * 8 + u16::from(d - b'0');
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        // Overflow is ignored, as the specification says.
                        out.push(value.to_le_bytes()[0]);
                    }
                    b'\r' => {
                        if raw.get(i) == Some(&b'\n') {
                            i += 1;
                        }
                    }
                    b'\n' => {}
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'b' => out.push(b'\x08'),
                    b'f' => out.push(b'\x0c'),
                    other => out.push(other),
                }
            }
            b'\r' => {
                if raw.get(i) == Some(&b'\n') {
                    i += 1;
                }
                out.push(b'\n');
            }
            other => out.push(other),
        }
    }
}

/// The bytes of a hexadecimal string; anything but hex digits is ignored, and an odd last
/// digit is followed by 0.
pub(super) fn decode_hex(raw: &[u8], out: &mut Vec<u8>) {
    let mut high = None;
    for digit in raw.iter().filter_map(|&c| char::from(c).to_digit(16)) {
        let digit = digit.to_le_bytes()[0];
        match high.take() {
            None => high = Some(digit),
            Some(h) => out.push((h << 4) | digit),
        }
    }
    if let Some(h) = high {
        out.push(h << 4);
    }
}

/// A name with its `#xx` escapes decoded.
pub(super) fn decode_name(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = raw
            .get(i + 1..i + 3)
            .filter(|_| raw[i] == b'#')
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(raw[i]);
                i += 1;
            }
        }
    }
    out
}

/// An integer (optional sign, digits only); `None` for reals and anything else.
#[cfg(test)]
pub(super) fn parse_integer(raw: &[u8]) -> Option<i64> {
    let digits = raw
        .strip_prefix(b"+")
        .or(raw.strip_prefix(b"-"))
        .unwrap_or(raw);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// An upper estimate of how many objects lopdf builds when it parses `data`: every string,
/// name, number, array and dictionary outside stream data counts one (an `N G obj` header and
/// an `N G R` reference count one each), cross-reference tables none. The count stops as soon
/// as it passes `limit`. `check` runs every million tokens and may stop it with its error.
pub(super) fn count_objects<E>(
    data: &[u8],
    limit: usize,
    mut check: impl FnMut() -> Result<(), E>,
) -> Result<usize, E> {
    let mut lexer = Lexer::new(data);
    let mut count = 0usize;
    let mut tokens = 0usize;
    while let Some(token) = lexer.next_token() {
        tokens += 1;
        if tokens.is_multiple_of(1 << 20) {
            check()?;
        }
        if count > limit {
            break;
        }
        let Token::Word(range) = token else {
            if !matches!(token, Token::ArrayClose | Token::DictClose) {
                count += 1;
            }
            continue;
        };
        match &data[range] {
            // The two numbers before them were counted; the pair is one object.
            b"obj" | b"R" => count = count.saturating_sub(1),
            b"endobj" | b"endstream" | b"trailer" | b"startxref" => {}
            b"stream" => lexer.skip_stream_data(),
            b"xref" => {
                // Up to the trailer: twenty bytes an entry, no objects.
                let rest = &data[lexer.pos()..];
                let skip = find(rest, b"trailer").unwrap_or(rest.len());
                lexer.pos += skip;
            }
            _ => count += 1,
        }
    }
    Ok(count)
}

/// How many source codes the `bfchar` and `bfrange` sections of a ToUnicode CMap map. lopdf
/// builds a reverse-map entry for each of them, so one range over four-byte codes costs it
/// billions of steps and gigabytes.
pub(super) fn cmap_codes(data: &[u8]) -> u64 {
    #[derive(PartialEq)]
    enum Section {
        None,
        Char,
        Range,
    }
    let mut lexer = Lexer::new(data);
    let mut section = Section::None;
    // Place in the current line: source (and, in ranges, end of source), then destination.
    let mut field = 0;
    let mut low = 0u64;
    let mut codes = 0u64;
    while let Some(token) = lexer.next_token() {
        match token {
            Token::Word(r) => {
                section = match &data[r] {
                    b"beginbfchar" => Section::Char,
                    b"beginbfrange" => Section::Range,
                    b"endbfchar" | b"endbfrange" => Section::None,
                    _ => continue,
                };
                field = 0;
            }
            Token::Hex(_) if section == Section::Char => {
                if field == 0 {
                    codes = codes.saturating_add(1);
                }
                field = (field + 1) % 2;
            }
            Token::Hex(r) if section == Section::Range => {
                let value = data[r]
                    .iter()
                    .filter_map(|&c| char::from(c).to_digit(16))
                    .fold(0u64, |v, d| {
                        v.saturating_mul(16).saturating_add(u64::from(d))
                    });
                match field {
                    0 => low = value,
                    1 => {
                        codes = codes.saturating_add((value.saturating_sub(low)).saturating_add(1))
                    }
                    _ => {}
                }
                field = (field + 1) % 3;
            }
            Token::ArrayOpen if section == Section::Range => {
                lexer.skip_container(&Token::ArrayOpen);
                field = 0;
            }
            _ => {}
        }
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(data: &[u8]) -> Vec<Token> {
        let mut lexer = Lexer::new(data);
        std::iter::from_fn(|| lexer.next_token()).collect()
    }

    #[test]
    fn tokens_of_a_content_stream() {
        let data = b"BT /F1#20x 12 Tf [(a\\)b) -250 <41 4>] TJ % note\n<</K [1]>> ET";
        let t = tokens(data);
        assert_eq!(t[0], Token::Word(0..2));
        assert_eq!(t[1], Token::Name(4..10));
        assert_eq!(decode_name(&data[4..10]), b"F1 x");
        assert_eq!(t[4], Token::ArrayOpen);
        let Token::Literal(r) = t[5].clone() else {
            panic!("{:?}", t[5])
        };
        let mut out = Vec::new();
        decode_literal(&data[r], &mut out);
        assert_eq!(out, b"a)b");
        let Token::Hex(r) = t[7].clone() else {
            panic!("{:?}", t[7])
        };
        out.clear();
        decode_hex(&data[r], &mut out);
        assert_eq!(out, b"A@");
        assert_eq!(t[8], Token::ArrayClose);
        assert_eq!(t[10], Token::DictOpen);
        assert_eq!(t.last(), Some(&Token::Word(data.len() - 2..data.len())));
    }

    #[test]
    fn literal_escapes_and_nesting() {
        let mut out = Vec::new();
        decode_literal(b"a(b)c\\n\\101\\\r\nd\r\ne\\q\\", &mut out);
        assert_eq!(out, b"a(b)c\nAd\neq");
        let t = tokens(b"(x(y)z) (open");
        assert_eq!(t, vec![Token::Literal(1..6), Token::Literal(9..13)]);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_integer(b"-250"), Some(-250));
        assert_eq!(parse_integer(b"+7"), Some(7));
        assert_eq!(parse_integer(b"1.5"), None);
        assert_eq!(parse_integer(b"-"), None);
        assert_eq!(parse_integer(b"99999999999999999999"), None);
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let mut data = vec![b'['; 1_000_000];
        data.extend(std::iter::repeat_n(b']', 1_000_000));
        data.extend_from_slice(b" Tj");
        let mut lexer = Lexer::new(&data);
        let open = lexer.next_token().unwrap();
        lexer.skip_container(&open);
        assert_eq!(lexer.next_token(), Some(Token::Word(2_000_001..2_000_003)));
    }

    #[test]
    fn inline_image_data_is_skipped() {
        let data = b"BI /W 2 ID \x01EI(x)EIx\nEI Tj";
        let mut lexer = Lexer::new(data);
        while lexer.next_token() != Some(Token::Word(8..10)) {}
        lexer.skip_inline_image();
        assert_eq!(
            lexer.next_token(),
            Some(Token::Word(data.len() - 2..data.len()))
        );
    }

    #[test]
    fn objects_are_counted_outside_streams_and_xref() {
        let file = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
            2 0 obj << /Length 9 >> stream\n[1 2 3 4]\nendstream endobj\n\
            xref\n0 3\n0000000000 65535 f \ntrailer << /Root 1 0 R >>";
        // Object 1: itself, its dictionary, three names and a reference; object 2: itself, its
        // dictionary, a name and a number; the trailer: its dictionary, a name and a reference.
        let count = count_objects::<()>(file, usize::MAX, || Ok(())).unwrap();
        assert_eq!(count_objects::<()>(file, 5, || Ok(())).unwrap(), 6);
        assert_eq!(count, 13);
    }

    #[test]
    fn cmap_codes_are_counted() {
        let cmap = b"/CIDInit /ProcSet findresource begin\n1 begincodespacerange\n<0000> <FFFF>\n\
            endcodespacerange\n2 beginbfchar\n<0003> <0020>\n<0004> <00410042>\nendbfchar\n\
            2 beginbfrange\n<0010> <001F> <0041>\n<0100> <01FF> [<0041> <0042>]\nendbfrange\n\
            1 beginbfrange\n<00000000> <FFFFFFFF> <0041>\nendbfrange\nendcmap";
        assert_eq!(cmap_codes(cmap), 2 + 16 + 256 + (1 << 32));
    }
}

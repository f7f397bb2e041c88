//! The text of one page's content stream, read with the page's fonts.
//!
//! The same operators as lopdf's `extract_text` (`Tf`, `Tj`, `TJ`, `'`, `"`, `T*`, `ET`), read
//! one token at a time: lopdf's `Content::decode` builds an object of about 120 bytes for every
//! operand first, so a small compressed stream of numbers grows a hundredfold in memory. Here
//! operands are ranges of the content, at most [`MAX_OPERANDS`] of them at once, and a string
//! or operand that cannot be read costs only itself, not the page.

use std::collections::HashMap;
use std::ops::Range;

use lopdf::Encoding;

use super::lex::{decode_hex, decode_literal, decode_name, parse_integer, Lexer, Token};
use crate::error::Result;

/// Operands kept before an operator; past this the older half is dropped.
const MAX_OPERANDS: usize = 1024;
/// Long strings are decoded in pieces of this many bytes, so that a font mapping one code to
/// a long text cannot grow the text unchecked in one step.
const DECODE_PIECE: usize = 64 * 1024;
/// Tokens between two calls of the caller's check.
const CHECK_EVERY: usize = 4096;

/// Fonts of a page by resource name, with the encoding of each one that has a usable one.
pub(super) type Fonts<'f, 'a> = HashMap<Vec<u8>, &'f Encoding<'a>>;

enum Operand {
    Literal(Range<usize>),
    Hex(Range<usize>),
    Name(Range<usize>),
    Integer(i64),
    /// From `[` to past its `]`.
    Array(Range<usize>),
    Other,
}

/// Appends the text shown by `content` to `out`. `check` gets the length of `out` every few
/// thousand tokens and after each string, and stops the extraction with its error.
pub(super) fn extract(
    content: &[u8],
    fonts: &Fonts<'_, '_>,
    out: &mut String,
    check: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<()> {
    let mut lexer = Lexer::new(content);
    let mut operands: Vec<Operand> = Vec::new();
    let mut encoding: Option<&Encoding<'_>> = None;
    let mut buf = Vec::new();
    let mut tokens = 0usize;
    while let Some(token) = lexer.next_token() {
        tokens += 1;
        if tokens.is_multiple_of(CHECK_EVERY) {
            check(out.len())?;
        }
        let operand = match token {
            Token::Literal(r) => Operand::Literal(r),
            Token::Hex(r) => Operand::Hex(r),
            Token::Name(r) => Operand::Name(r),
            Token::ArrayOpen => {
                let start = lexer.pos() - 1;
                lexer.skip_container(&Token::ArrayOpen);
                Operand::Array(start..lexer.pos())
            }
            Token::DictOpen => {
                lexer.skip_container(&Token::DictOpen);
                Operand::Other
            }
            Token::ArrayClose | Token::DictClose => continue,
            Token::Word(r) => {
                let word = &content[r];
                if let Some(value) = parse_integer(word) {
                    Operand::Integer(value)
                } else if matches!(word[0], b'0'..=b'9' | b'+' | b'-' | b'.')
                    || matches!(word, b"true" | b"false" | b"null")
                {
                    Operand::Other
                } else {
                    let mut show = Show {
                        content,
                        out: &mut *out,
                        buf: &mut buf,
                        check: &mut *check,
                    };
                    match word {
                        b"Tf" => {
                            encoding = match operands.first() {
                                Some(Operand::Name(r)) => {
                                    fonts.get(&decode_name(&content[r.clone()])).copied()
                                }
                                _ => None,
                            };
                        }
                        b"Tj" | b"TJ" => {
                            if let Some(encoding) = encoding {
                                show.operands(encoding, &operands)?;
                            }
                        }
                        b"'" => {
                            if let Some(encoding) = encoding {
                                show.newline();
                                show.operands(encoding, &operands)?;
                            }
                        }
                        b"\"" => {
                            if let Some(encoding) = encoding {
                                show.newline();
                                if let Some(string) = operands.get(2) {
                                    show.operands(encoding, std::slice::from_ref(string))?;
                                }
                            }
                        }
                        b"T*" | b"ET" => show.newline(),
                        b"BI" => skip_inline_image(&mut lexer),
                        _ => {}
                    }
                    operands.clear();
                    continue;
                }
            }
        };
        if operands.len() == MAX_OPERANDS {
            operands.drain(..MAX_OPERANDS / 2);
        }
        operands.push(operand);
    }
    Ok(())
}

/// Skips an inline image's dictionary and data, up to and with its `EI`.
fn skip_inline_image(lexer: &mut Lexer<'_>) {
    while let Some(token) = lexer.next_token() {
        if let Token::Word(r) = token {
            if &lexer.data()[r] == b"ID" {
                lexer.skip_inline_image();
                return;
            }
        }
    }
}

/// Writes shown strings to the page's text.
struct Show<'s> {
    content: &'s [u8],
    out: &'s mut String,
    buf: &'s mut Vec<u8>,
    check: &'s mut dyn FnMut(usize) -> Result<()>,
}

impl Show<'_> {
    fn newline(&mut self) {
        if !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    /// As lopdf: strings are decoded, every array is followed by a space, and so is every
    /// integer below -100 (a kerning gap wide enough to be a word space).
    fn operands(&mut self, encoding: &Encoding<'_>, operands: &[Operand]) -> Result<()> {
        for operand in operands {
            match operand {
                Operand::Literal(r) => self.string(encoding, r.clone(), false)?,
                Operand::Hex(r) => self.string(encoding, r.clone(), true)?,
                Operand::Integer(i) if *i < -100 => self.out.push(' '),
                Operand::Array(r) => self.array(encoding, r.clone())?,
                _ => {}
            }
        }
        Ok(())
    }

    /// The strings of an array and of the arrays in it; dictionaries in it are skipped.
    fn array(&mut self, encoding: &Encoding<'_>, range: Range<usize>) -> Result<()> {
        let offset = range.start;
        let mut lexer = Lexer::new(&self.content[range]);
        let mut dicts = 0usize;
        while let Some(token) = lexer.next_token() {
            match token {
                Token::DictOpen => dicts += 1,
                Token::DictClose => dicts = dicts.saturating_sub(1),
                _ if dicts > 0 => {}
                Token::Literal(r) => {
                    self.string(encoding, r.start + offset..r.end + offset, false)?;
                }
                Token::Hex(r) => self.string(encoding, r.start + offset..r.end + offset, true)?,
                Token::Word(r) => {
                    if parse_integer(&lexer.data()[r]).is_some_and(|i| i < -100) {
                        self.out.push(' ');
                    }
                }
                Token::ArrayClose => self.out.push(' '),
                Token::ArrayOpen | Token::Name(_) => {}
            }
        }
        Ok(())
    }

    fn string(&mut self, encoding: &Encoding<'_>, range: Range<usize>, hex: bool) -> Result<()> {
        self.buf.clear();
        if hex {
            decode_hex(&self.content[range], self.buf);
        } else {
            decode_literal(&self.content[range], self.buf);
        }
        for piece in self.buf.chunks(DECODE_PIECE) {
            // A string the font cannot decode is left out, as lopdf leaves out its page.
            let _ = encoding.write_to_string(piece, self.out);
            (self.check)(self.out.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn text(content: &[u8]) -> String {
        let standard = Encoding::SimpleEncoding(b"WinAnsiEncoding");
        let fonts: Fonts<'_, '_> = [(b"F1".to_vec(), &standard)].into_iter().collect();
        let mut out = String::new();
        extract(content, &fonts, &mut out, &mut |_| Ok(())).unwrap();
        out
    }

    #[test]
    fn text_operators() {
        assert_eq!(text(b"BT /F1 12 Tf (Hello) Tj ET"), "Hello\n");
        assert_eq!(
            text(b"BT /F1 12 Tf [(Hel) -20 (lo) -300 (world)] TJ ET"),
            "Hello world \n"
        );
        assert_eq!(
            text(b"BT /F1 12 Tf (a) Tj (b) ' 1 2 (c) \" ET"),
            "a\nb\nc\n"
        );
        assert_eq!(text(b"BT /F1 12 Tf (a) Tj T* (b) Tj ET"), "a\nb\n");
        assert_eq!(text(b"BT /F1 12 Tf <48 69> Tj ET"), "Hi\n");
    }

    #[test]
    fn unknown_fonts_and_junk_show_nothing_but_do_not_stop_the_page() {
        assert_eq!(text(b"BT /F9 12 Tf (no) Tj ET"), "\n");
        assert_eq!(text(b"BT /F1 12 Tf ) } { (a) Tj /F1 Tf (b) Tj ET"), "ab\n");
        assert_eq!(
            text(b"BT /F1 12 Tf [(a) <</K [(hidden)]>> [(b)]] TJ ET"),
            "ab  \n"
        );
    }

    #[test]
    fn inline_images_are_skipped() {
        let content = b"BT /F1 12 Tf (a) Tj ET BI /W 4 /H 1 /CS /G /BPC 8 ID (x)Tj EI \
            BT /F1 12 Tf (b) Tj ET";
        assert_eq!(text(content), "a\nb\n");
    }

    #[test]
    fn many_operands_stay_bounded() {
        let mut content = b"BT /F1 12 Tf ".to_vec();
        for _ in 0..100_000 {
            content.extend_from_slice(b"(x) ");
        }
        content.extend_from_slice(b"Tj ET");
        let shown = text(&content);
        assert!(shown.len() <= MAX_OPERANDS + 1, "{}", shown.len());
        assert!(shown.starts_with("xxx"));
    }

    #[test]
    fn check_stops_the_extraction() {
        let standard = Encoding::SimpleEncoding(b"WinAnsiEncoding");
        let fonts: Fonts<'_, '_> = [(b"F1".to_vec(), &standard)].into_iter().collect();
        let content = b"BT /F1 12 Tf (abc) Tj (def) Tj ET".repeat(10);
        let mut out = String::new();
        let result = extract(&content, &fonts, &mut out, &mut |len| {
            if len > 5 {
                Err(Error::PdfLimit("too much text".into()))
            } else {
                Ok(())
            }
        });
        assert!(matches!(result, Err(Error::PdfLimit(_))));
        assert_eq!(out, "abcdef");
    }
}

//! The text of one page's content stream, placed on the page.
//!
//! The content is read one token at a time: lopdf's `Content::decode` builds an object of
//! about 120 bytes for every operand first, so a small compressed stream of numbers grows a
//! hundredfold in memory. Here operands are ranges of the content, at most [`MAX_OPERANDS`]
//! of them at once, and a string or operand that cannot be read costs only itself, not the
//! page.
//!
//! The graphics and text state that place text are followed (`cm`, `q`/`Q` on a bounded
//! stack, `BT`, `Tm`, `Td`, `TD`, `T*`, `TL`, `Tc`, `Tw`, `Tz`, `Ts`, `Tf`, the numbers of
//! `TJ`), each glyph advances by its font's width, form XObjects (`Do`) are drawn within a
//! depth and a count, and every glyph goes to [`PageText`], which lays out lines and words.

use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;

use super::font::Font;
use super::layout::{Glyph, PageText};
use super::lex::{decode_hex, decode_literal, decode_name, Lexer, Token};
use crate::error::Result;

/// Operands kept before an operator; past this the older half is dropped.
const MAX_OPERANDS: usize = 1024;
/// Tokens, or glyphs, between two calls of the caller's check.
const CHECK_EVERY: usize = 4096;
/// Saved graphics states; a `q` past this is counted, not saved.
const MAX_STACK: usize = 256;
/// Form XObjects drawn inside one another, and drawn on one page.
const MAX_FORM_DEPTH: usize = 8;
const MAX_FORMS: usize = 4096;

/// Fonts of a resource dictionary by name (`None`: one that shows no text, as its ToUnicode
/// map is over a limit).
pub(super) type Fonts = HashMap<Vec<u8>, Option<Rc<Font>>>;

/// The key of the font that shows text whose font is missing (as viewers do, with a
/// standard font), when there is one.
pub(super) const FALLBACK: &[u8] = b"";

/// A form XObject to draw: its content, matrix, fonts, and the resources its own `Do`s name.
pub(super) struct Form {
    pub content: Rc<Vec<u8>>,
    pub matrix: Matrix,
    pub fonts: Fonts,
    pub scope: usize,
}

/// What a page's content refers to.
pub(super) trait Resources {
    /// The form XObject `name` of the resources `scope` (0: the page's), or `None` when it is
    /// not one; an error stops the page (a budget is spent).
    fn form(&mut self, scope: usize, name: &[u8]) -> Result<Option<Form>>;
}

/// Resources with no XObjects.
#[cfg(test)]
pub(super) struct NoForms;

#[cfg(test)]
impl Resources for NoForms {
    fn form(&mut self, _: usize, _: &[u8]) -> Result<Option<Form>> {
        Ok(None)
    }
}

pub(super) type Matrix = [f64; 6];
pub(super) const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// `a` then `b`.
pub(super) fn mul(a: &Matrix, b: &Matrix) -> Matrix {
    [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    ]
}

pub(super) fn apply(m: &Matrix, x: f64, y: f64) -> (f64, f64) {
    (x * m[0] + y * m[2] + m[4], x * m[1] + y * m[3] + m[5])
}

fn vector(m: &Matrix, x: f64, y: f64) -> (f64, f64) {
    (x * m[0] + y * m[2], x * m[1] + y * m[3])
}

fn translate(x: f64, y: f64, m: &Matrix) -> Matrix {
    mul(&[1.0, 0.0, 0.0, 1.0, x, y], m)
}

/// The graphics state, as far as text needs it.
#[derive(Clone)]
struct State {
    ctm: Matrix,
    font: Option<Rc<Font>>,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
    /// `Tz` / 100.
    scale: f64,
    leading: f64,
    rise: f64,
}

impl State {
    fn new(ctm: Matrix) -> Self {
        Self {
            ctm,
            font: None,
            size: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            scale: 1.0,
            leading: 0.0,
            rise: 0.0,
        }
    }
}

enum Operand {
    Literal(Range<usize>),
    Hex(Range<usize>),
    Name(Range<usize>),
    Number(f64),
    /// From `[` to past its `]`.
    Array(Range<usize>),
    Other,
}

/// Draws the text of `content` onto `page`. `check` gets the length of the page's text every
/// few thousand tokens and glyphs and after each string, and stops the extraction with its
/// error.
pub(super) fn extract(
    content: &[u8],
    fonts: &Fonts,
    ctm: Matrix,
    scope: usize,
    page: &mut PageText,
    resources: &mut dyn Resources,
    check: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<()> {
    let mut run = Run {
        page,
        resources,
        check,
        forms: 0,
        glyphs: 0,
        buf: String::new(),
    };
    run.content(content, fonts, scope, State::new(ctm), 0)
}

struct Run<'r> {
    page: &'r mut PageText,
    resources: &'r mut dyn Resources,
    check: &'r mut dyn FnMut(usize) -> Result<()>,
    forms: usize,
    glyphs: usize,
    buf: String,
}

/// The last `N` operands as numbers.
fn numbers<const N: usize>(operands: &[Operand]) -> Option<[f64; N]> {
    let tail = operands.get(operands.len().checked_sub(N)?..)?;
    let mut out = [0.0; N];
    for (o, operand) in out.iter_mut().zip(tail) {
        match operand {
            Operand::Number(n) => *o = *n,
            _ => return None,
        }
    }
    Some(out)
}

fn parse_number(word: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(word).ok()?;
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let value: f64 = match text.parse() {
        Ok(v) => v,
        // As readers do with `--5` or `1.2.3`: the sign and digits they can make sense of.
        Err(_) => {
            let negative = text.starts_with('-');
            let digits: String = text
                .trim_start_matches(['+', '-'])
                .split('.')
                .take(2)
                .collect::<Vec<_>>()
                .join(".");
            let v: f64 = digits.parse().ok()?;
            if negative {
                -v
            } else {
                v
            }
        }
    };
    // Coordinates beyond this are nonsense, and would make infinities.
    value.is_finite().then(|| value.clamp(-1e9, 1e9))
}

impl Run<'_> {
    fn content(
        &mut self,
        content: &[u8],
        fonts: &Fonts,
        scope: usize,
        state: State,
        depth: usize,
    ) -> Result<()> {
        let mut lexer = Lexer::new(content);
        let mut operands: Vec<Operand> = Vec::new();
        let mut state = state;
        let mut stack: Vec<State> = Vec::new();
        let mut unsaved = 0usize;
        let mut tm = IDENTITY;
        let mut tlm = IDENTITY;
        let mut bytes = Vec::new();
        let mut tokens = 0usize;
        while let Some(token) = lexer.next_token() {
            tokens += 1;
            if tokens.is_multiple_of(CHECK_EVERY) {
                (self.check)(self.page.text.len())?;
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
                    if let Some(value) = parse_number(word) {
                        Operand::Number(value)
                    } else if matches!(word[0], b'0'..=b'9' | b'+' | b'-' | b'.')
                        || matches!(word, b"true" | b"false" | b"null")
                    {
                        Operand::Other
                    } else {
                        match word {
                            b"q" => {
                                if stack.len() < MAX_STACK {
                                    stack.push(state.clone());
                                } else {
                                    unsaved += 1;
                                }
                            }
                            b"Q" => {
                                if unsaved > 0 {
                                    unsaved -= 1;
                                } else if let Some(saved) = stack.pop() {
                                    state = saved;
                                }
                            }
                            b"cm" => {
                                if let Some(m) = numbers::<6>(&operands) {
                                    state.ctm = mul(&m, &state.ctm);
                                }
                            }
                            b"BT" => {
                                tm = IDENTITY;
                                tlm = IDENTITY;
                            }
                            b"ET" => {}
                            b"Tm" => {
                                if let Some(m) = numbers::<6>(&operands) {
                                    tm = m;
                                    tlm = m;
                                }
                            }
                            b"Td" | b"TD" => {
                                if let Some([x, y]) = numbers::<2>(&operands) {
                                    if word == b"TD" {
                                        state.leading = -y;
                                    }
                                    tlm = translate(x, y, &tlm);
                                    tm = tlm;
                                }
                            }
                            b"T*" => {
                                tlm = translate(0.0, -state.leading, &tlm);
                                tm = tlm;
                            }
                            b"TL" | b"Tc" | b"Tw" | b"Tz" | b"Ts" => {
                                if let Some([v]) = numbers::<1>(&operands) {
                                    match word {
                                        b"TL" => state.leading = v,
                                        b"Tc" => state.char_spacing = v,
                                        b"Tw" => state.word_spacing = v,
                                        b"Tz" => state.scale = v / 100.0,
                                        _ => state.rise = v,
                                    }
                                }
                            }
                            b"Tf" => {
                                let font = operands.iter().rev().find_map(|o| match o {
                                    Operand::Name(r) => Some(r.clone()),
                                    _ => None,
                                });
                                state.font = font
                                    .and_then(|r| fonts.get(&decode_name(&content[r])))
                                    .or_else(|| fonts.get(FALLBACK))
                                    .cloned()
                                    .flatten();
                                if let Some([size]) = numbers::<1>(&operands) {
                                    state.size = size;
                                }
                            }
                            b"Tj" | b"'" | b"\"" => {
                                if word != b"Tj" {
                                    if word == b"\"" {
                                        if let Some([w, c, ..]) = numbers_before_string(&operands) {
                                            state.word_spacing = w;
                                            state.char_spacing = c;
                                        }
                                    }
                                    tlm = translate(0.0, -state.leading, &tlm);
                                    tm = tlm;
                                }
                                if let Some(string) = operands
                                    .iter()
                                    .rev()
                                    .find(|o| matches!(o, Operand::Literal(_) | Operand::Hex(_)))
                                {
                                    string_bytes(content, string, &mut bytes);
                                    self.show(&bytes, &state, &mut tm)?;
                                }
                            }
                            b"TJ" => {
                                if let Some(Operand::Array(r)) = operands.last() {
                                    self.array(&content[r.clone()], &state, &mut tm, &mut bytes)?;
                                }
                            }
                            b"Do" => {
                                if let Some(Operand::Name(r)) = operands.last() {
                                    let name = decode_name(&content[r.clone()]);
                                    self.form(scope, &name, &state, depth)?;
                                }
                            }
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

    fn form(&mut self, scope: usize, name: &[u8], state: &State, depth: usize) -> Result<()> {
        if depth >= MAX_FORM_DEPTH || self.forms >= MAX_FORMS {
            return Ok(());
        }
        self.forms += 1;
        let Some(form) = self.resources.form(scope, name)? else {
            return Ok(());
        };
        let mut inner = state.clone();
        inner.ctm = mul(&form.matrix, &state.ctm);
        self.content(&form.content, &form.fonts, form.scope, inner, depth + 1)
    }

    /// The strings of a `TJ` array and the moves between them; nested arrays and dictionaries
    /// are skipped.
    fn array(
        &mut self,
        array: &[u8],
        state: &State,
        tm: &mut Matrix,
        bytes: &mut Vec<u8>,
    ) -> Result<()> {
        let mut lexer = Lexer::new(array);
        // The outer `[` first.
        let _ = lexer.next_token();
        let mut nested = 0usize;
        while let Some(token) = lexer.next_token() {
            match token {
                Token::DictOpen | Token::ArrayOpen => nested += 1,
                Token::DictClose | Token::ArrayClose => {
                    if nested == 0 {
                        break;
                    }
                    nested -= 1;
                }
                _ if nested > 0 => {}
                Token::Literal(r) => {
                    bytes.clear();
                    decode_literal(&array[r], bytes);
                    self.show(bytes, state, tm)?;
                }
                Token::Hex(r) => {
                    bytes.clear();
                    decode_hex(&array[r], bytes);
                    self.show(bytes, state, tm)?;
                }
                Token::Word(r) => {
                    if let Some(n) = parse_number(&array[r]) {
                        let shift = -n / 1000.0 * state.size;
                        let vertical = state.font.as_ref().is_some_and(|f| f.vertical);
                        *tm = if vertical {
                            translate(0.0, shift, tm)
                        } else {
                            translate(shift * state.scale, 0.0, tm)
                        };
                    }
                }
                Token::Name(_) => {}
            }
        }
        Ok(())
    }

    /// Shows one string: each code placed, decoded and advanced.
    fn show(&mut self, bytes: &[u8], state: &State, tm: &mut Matrix) -> Result<()> {
        let Some(font) = state.font.as_deref() else {
            return Ok(());
        };
        let (size, scale) = (state.size, state.scale);
        let mut i = 0;
        while i < bytes.len() {
            let len = font.code_len(&bytes[i..]).max(1);
            let code = &bytes[i..i + len];
            i += len;
            self.buf.clear();
            font.text(code, &mut self.buf);
            let width = font.width(code);
            let spacing = state.char_spacing
                + if Font::is_space(code) {
                    state.word_spacing
                } else {
                    0.0
                };
            let m = mul(tm, &state.ctm);
            let glyph = if font.vertical {
                Glyph {
                    text: &self.buf,
                    start: apply(&m, 0.0, 0.0),
                    end: apply(&m, 0.0, -size),
                    up: vector(&m, size, 0.0),
                    dir: unit(vector(&m, 0.0, -1.0)),
                    below: 0.5,
                    above: 0.5,
                }
            } else {
                Glyph {
                    text: &self.buf,
                    start: apply(&m, 0.0, state.rise),
                    end: apply(&m, width * size * scale, state.rise),
                    up: vector(&m, 0.0, size),
                    dir: unit(vector(&m, scale.signum(), 0.0)),
                    below: 0.2,
                    above: 0.8,
                }
            };
            if size != 0.0 {
                self.page.glyph(&glyph);
            }
            *tm = if font.vertical {
                translate(0.0, -(size + spacing), tm)
            } else {
                translate((width * size + spacing) * scale, 0.0, tm)
            };
            self.glyphs += 1;
            if self.glyphs.is_multiple_of(CHECK_EVERY) {
                (self.check)(self.page.text.len())?;
            }
        }
        (self.check)(self.page.text.len())
    }
}

/// The two numbers before the string of a `"` operator.
fn numbers_before_string(operands: &[Operand]) -> Option<[f64; 2]> {
    let end = operands
        .iter()
        .rposition(|o| matches!(o, Operand::Literal(_) | Operand::Hex(_)))?;
    numbers::<2>(&operands[..end])
}

fn string_bytes(content: &[u8], operand: &Operand, out: &mut Vec<u8>) {
    out.clear();
    match operand {
        Operand::Literal(r) => decode_literal(&content[r.clone()], out),
        Operand::Hex(r) => decode_hex(&content[r.clone()], out),
        _ => {}
    }
}

fn unit(v: (f64, f64)) -> (f64, f64) {
    let len = v.0.hypot(v.1);
    if len > 0.0 && len.is_finite() {
        (v.0 / len, v.1 / len)
    } else {
        (1.0, 0.0)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use lopdf::{dictionary, Document};

    fn fonts() -> Fonts {
        let doc = Document::with_version("1.5");
        let mut tables = super::super::font::Tables::new();
        let font = dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        };
        let font = Font::read(&doc, &font, &mut tables, 1 << 20).ok().unwrap();
        [(b"F1".to_vec(), Some(Rc::new(font)))]
            .into_iter()
            .collect()
    }

    fn page(content: &[u8]) -> (String, Vec<super::super::layout::Word>) {
        let mut page = PageText::new(usize::MAX);
        extract(
            content,
            &fonts(),
            IDENTITY,
            0,
            &mut page,
            &mut NoForms,
            &mut |_| Ok(()),
        )
        .unwrap();
        page.finish()
    }

    fn text(content: &[u8]) -> String {
        page(content).0
    }

    #[test]
    fn text_operators() {
        assert_eq!(text(b"BT /F1 12 Tf (Hello) Tj ET"), "Hello");
        assert_eq!(
            text(b"BT /F1 12 Tf [(Hel) -20 (lo) -300 (world)] TJ ET"),
            "Hello world"
        );
        assert_eq!(
            text(b"BT /F1 12 Tf 14 TL (a) Tj (b) ' 1 2 (c) \" ET"),
            "a\nb\nc"
        );
        assert_eq!(text(b"BT /F1 12 Tf 14 TL (a) Tj T* (b) Tj ET"), "a\nb");
        assert_eq!(text(b"BT /F1 12 Tf <48 69> Tj ET"), "Hi");
    }

    #[test]
    fn moves_make_spaces_and_lines() {
        // Words placed by Td with gaps, on two lines.
        let content = b"BT /F1 10 Tf 72 700 Td (Hello) Tj 30 0 Td (world) Tj \
            -30 -14 Td (next) Tj 22 0 Td (line) Tj ET";
        assert_eq!(text(content), "Hello world\nnext line");
        // Glyphs set one by one with Tm stay one word.
        let content = b"BT /F1 10 Tf 1 0 0 1 72 700 Tm (a) Tj 1 0 0 1 77.6 700 Tm (b) Tj ET";
        assert_eq!(text(content), "ab");
        // Word spacing and character spacing widen gaps.
        let content = b"BT /F1 10 Tf 72 700 Td 5 Tw (a b) Tj ET";
        assert_eq!(text(content), "a b");
        let content = b"BT /F1 10 Tf 72 700 Td 3 Tc (ab) Tj ET";
        assert_eq!(text(content), "a b");
    }

    #[test]
    fn matrices_place_words() {
        let content = b"q 2 0 0 2 0 0 cm BT /F1 10 Tf 36 350 Td (Hi) Tj ET Q \
            BT /F1 10 Tf 72 100 Td (low) Tj ET";
        let (text, words) = page(content);
        assert_eq!(text, "Hi\nlow");
        let hi = words[0].bounds;
        assert!(
            (hi[0] - 72.0).abs() < 0.01 && (hi[1] - 696.0).abs() < 0.01,
            "{hi:?}"
        );
        // Helvetica H and i: 722 + 222 thousandths of 20.
        assert!((hi[2] - (72.0 + 0.944 * 20.0)).abs() < 0.01, "{hi:?}");
        assert!((hi[3] - 716.0).abs() < 0.01, "{hi:?}");
        let low = words[1].bounds;
        assert!((low[0] - 72.0).abs() < 0.01 && (low[1] - 98.0).abs() < 0.01);
    }

    #[test]
    fn forms_are_drawn_in_place() {
        struct OneForm(Fonts);
        impl Resources for OneForm {
            fn form(&mut self, _: usize, name: &[u8]) -> Result<Option<Form>> {
                Ok((name == b"X1").then(|| Form {
                    content: Rc::new(b"BT /F1 10 Tf (inside) Tj ET /X1 Do".to_vec()),
                    matrix: [1.0, 0.0, 0.0, 1.0, 100.0, 0.0],
                    fonts: self.0.clone(),
                    scope: 0,
                }))
            }
        }
        let mut page = PageText::new(usize::MAX);
        let content = b"BT /F1 10 Tf (out) Tj ET /X1 Do /X2 Do";
        extract(
            content,
            &fonts(),
            IDENTITY,
            0,
            &mut page,
            &mut OneForm(fonts()),
            &mut |_| Ok(()),
        )
        .unwrap();
        let (text, words) = page.finish();
        // The form draws itself inside itself up to the depth limit, each further right.
        assert!(text.starts_with("out inside inside"), "{text}");
        assert_eq!(text.matches("inside").count(), MAX_FORM_DEPTH);
        assert!((words[1].bounds[0] - 100.0).abs() < 0.01);
    }

    #[test]
    fn unknown_fonts_and_junk_show_nothing_but_do_not_stop_the_page() {
        assert_eq!(text(b"BT /F9 12 Tf (no) Tj ET"), "");
        assert_eq!(text(b"BT /F1 12 Tf ) } { (a) Tj /F1 Tf (b) Tj ET"), "ab");
        assert_eq!(
            text(b"BT /F1 12 Tf [(a) <</K [(hidden)]>> [(b)]] TJ ET"),
            "a"
        );
        assert_eq!(
            text(b"BT /F1 12 Tf 1 0 0 --5 1.2.3 Tm (a) Tj 1 2 cm Q Q Q ET"),
            "a"
        );
    }

    #[test]
    fn inline_images_are_skipped() {
        let content = b"BT /F1 12 Tf (a) Tj ET BI /W 4 /H 1 /CS /G /BPC 8 ID (x)Tj EI \
            BT /F1 12 Tf 0 -20 Td (b) Tj ET";
        assert_eq!(text(content), "a\nb");
    }

    #[test]
    fn many_operands_stay_bounded() {
        let mut content = b"BT /F1 12 Tf ".to_vec();
        for _ in 0..100_000 {
            content.extend_from_slice(b"(x) ");
        }
        content.extend_from_slice(b"Tj ET");
        assert_eq!(text(&content), "x");
        let content = b"q ".repeat(100_000);
        assert_eq!(text(&content), "");
    }

    #[test]
    fn check_stops_the_extraction() {
        let content = b"BT /F1 12 Tf (abc) Tj (def) Tj ET".repeat(10);
        let mut page = PageText::new(usize::MAX);
        let result = extract(
            &content,
            &fonts(),
            IDENTITY,
            0,
            &mut page,
            &mut NoForms,
            &mut |len| {
                if len > 5 {
                    Err(Error::PdfLimit("too much text".into()))
                } else {
                    Ok(())
                }
            },
        );
        assert!(matches!(result, Err(Error::PdfLimit(_))));
        assert_eq!(page.finish().0, "abcdef");
    }
}

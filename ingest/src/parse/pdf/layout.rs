//! Glyphs placed on the page become lines of words, in the order they are drawn (as
//! `pdftotext -raw`): a glyph starts a new line when it leaves the baseline of the one before
//! by more than half the font size, or turns, or jumps far back; it starts a new word after a
//! gap of more than [`SPACE_GAP`] of the font size (CJK characters are not split by gaps that
//! are narrower than a character). Each word gets a box, in the page's user space.
//!
//! The text is clean as it is built: no control characters, no white space but single spaces
//! between words and newlines between lines, no empty lines.

/// A gap wider than this fraction of the font size separates words.
pub(super) const SPACE_GAP: f64 = 0.15;
/// A glyph this far (in font sizes) off the baseline of the one before starts a new line.
const LINE_SHIFT: f64 = 0.5;
/// A glyph this far (in font sizes) back along the line starts a new line.
const BACK_JUMP: f64 = 2.0;

/// A box in user space: x0, y0, x1, y1.
pub(super) type Bounds = [f64; 4];

/// A word of the text, `start..end` bytes, and where it lies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Word {
    pub start: usize,
    pub end: usize,
    pub bounds: Bounds,
}

/// One glyph as drawn: its text, the start and end of its advance along the baseline, the
/// vector of one font size up from the baseline, and the unit direction of the baseline.
pub(super) struct Glyph<'t> {
    pub text: &'t str,
    pub start: (f64, f64),
    pub end: (f64, f64),
    pub up: (f64, f64),
    pub dir: (f64, f64),
    /// Fractions of `up` the glyph box reaches below and above the baseline.
    pub below: f64,
    pub above: f64,
}

struct Line {
    dir: (f64, f64),
    end: (f64, f64),
    size: f64,
    cjk: bool,
}

/// The text of a page as it is built.
#[derive(Default)]
pub(super) struct PageText {
    pub text: String,
    pub words: Vec<Word>,
    line: Option<Line>,
    word: Option<(usize, Bounds)>,
    space: bool,
    /// Words that may still get boxes of their own; past it a word joins the box before it.
    pub max_words: usize,
}

impl PageText {
    pub(super) fn new(max_words: usize) -> Self {
        Self {
            max_words,
            ..Self::default()
        }
    }

    /// Places one glyph.
    pub(super) fn glyph(&mut self, glyph: &Glyph<'_>) {
        let size = glyph.up.0.hypot(glyph.up.1);
        let finite = [glyph.start, glyph.end, glyph.up, glyph.dir]
            .iter()
            .all(|p| p.0.is_finite() && p.1.is_finite());
        if !finite || glyph.text.is_empty() {
            return;
        }
        let cjk = glyph.text.chars().next().is_some_and(is_cjk);
        let mut dir = glyph.dir;
        if let Some(line) = &self.line {
            let d = (glyph.start.0 - line.end.0, glyph.start.1 - line.end.1);
            let along = d.0 * line.dir.0 + d.1 * line.dir.1;
            let across = line.dir.0 * d.1 - line.dir.1 * d.0;
            let turn = glyph.dir.0 * line.dir.0 + glyph.dir.1 * line.dir.1;
            let scale = size.max(line.size).max(f64::MIN_POSITIVE);
            if turn < 0.9 || across.abs() > LINE_SHIFT * scale || along < -BACK_JUMP * scale {
                self.newline();
            } else {
                dir = line.dir;
                let gap = if cjk && line.cjk { 1.0 } else { SPACE_GAP };
                if along > gap * scale {
                    self.end_word();
                    self.space = true;
                }
            }
        }
        self.line = Some(Line {
            dir,
            end: glyph.end,
            size,
            cjk,
        });
        let bounds = glyph_bounds(glyph);
        for c in glyph.text.chars() {
            if let Some(letters) = ligature(c) {
                for c in letters.chars() {
                    self.push(c, bounds);
                }
            } else if c.is_whitespace() {
                self.end_word();
                self.space = true;
            } else if !c.is_control() {
                self.push(c, bounds);
            }
        }
    }

    fn push(&mut self, c: char, bounds: Bounds) {
        let line_has_text = !self.text.is_empty() && !self.text.ends_with('\n');
        if self.space && line_has_text && self.word.is_none() {
            self.text.push(' ');
        }
        self.space = false;
        let start = self.text.len();
        self.text.push(c);
        match &mut self.word {
            Some((_, b)) => *b = union(*b, bounds),
            None => self.word = Some((start, bounds)),
        }
    }

    fn end_word(&mut self) {
        let Some((start, bounds)) = self.word.take() else {
            return;
        };
        let end = self.text.len();
        if self.words.len() >= self.max_words {
            if let Some(last) = self.words.last_mut() {
                // Past the budget, words join the box before them.
                last.end = end;
                last.bounds = union(last.bounds, bounds);
                return;
            }
        }
        self.words.push(Word { start, end, bounds });
    }

    /// Ends the line, if it has text.
    pub(super) fn newline(&mut self) {
        self.end_word();
        self.space = false;
        self.line = None;
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
    }

    /// The text and its words, the last line ended.
    pub(super) fn finish(mut self) -> (String, Vec<Word>) {
        self.end_word();
        while self.text.ends_with('\n') {
            self.text.pop();
        }
        (self.text, self.words)
    }
}

fn glyph_bounds(g: &Glyph<'_>) -> Bounds {
    let corner = |p: (f64, f64), k: f64| (p.0 + g.up.0 * k, p.1 + g.up.1 * k);
    let corners = [
        corner(g.start, -g.below),
        corner(g.start, g.above),
        corner(g.end, -g.below),
        corner(g.end, g.above),
    ];
    let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for (x, y) in corners {
        b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
    }
    b
}

pub(super) fn union(a: Bounds, b: Bounds) -> Bounds {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

/// The letters of a Latin ligature, which search and readers want spelled out.
fn ligature(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{FB00}' => "ff",
        '\u{FB01}' => "fi",
        '\u{FB02}' => "fl",
        '\u{FB03}' => "ffi",
        '\u{FB04}' => "ffl",
        '\u{FB05}' | '\u{FB06}' => "st",
        _ => return None,
    })
}

/// Han, kana, hangul and their punctuation: scripts written without spaces.
pub(super) fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x1100..=0x11FF | 0x2E80..=0x2FDF | 0x3000..=0x30FF | 0x3100..=0x31FF
        | 0x3200..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F
        | 0xFF00..=0xFFEF | 0x20000..=0x3FFFF)
}

/// A glyph run of 10-point text at (`x`, `y`), `w` wide, left to right (for tests).
#[cfg(test)]
pub(super) fn at(text: &str, x: f64, y: f64, w: f64) -> Glyph<'_> {
    Glyph {
        text,
        start: (x, y),
        end: (x + w, y),
        up: (0.0, 10.0),
        dir: (1.0, 0.0),
        below: 0.2,
        above: 0.8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_lines_and_boxes() {
        let mut page = PageText::new(100);
        page.glyph(&at("He", 10.0, 100.0, 10.0));
        page.glyph(&at("llo", 20.0, 100.0, 12.0));
        page.glyph(&at("wor\u{FB02}d", 35.0, 100.0, 20.0));
        page.glyph(&at("next", 10.0, 86.0, 16.0));
        page.glyph(&at(" ", 26.0, 86.0, 3.0));
        page.glyph(&at("\u{1}x", 29.0, 86.0, 5.0));
        let (text, words) = page.finish();
        assert_eq!(text, "Hello worfld\nnext x");
        assert_eq!(words.len(), 4);
        assert_eq!(&text[words[0].start..words[0].end], "Hello");
        assert_eq!(words[0].bounds, [10.0, 98.0, 32.0, 108.0]);
        assert_eq!(&text[words[3].start..words[3].end], "x");
    }

    #[test]
    fn cjk_is_not_split_by_small_gaps() {
        let mut page = PageText::new(100);
        page.glyph(&at("日", 0.0, 0.0, 10.0));
        page.glyph(&at("本", 13.0, 0.0, 10.0));
        page.glyph(&at("a", 26.0, 0.0, 5.0));
        let (text, _) = page.finish();
        assert_eq!(text, "日本 a");
    }

    #[test]
    fn words_past_the_budget_join_the_box_before() {
        let mut page = PageText::new(1);
        page.glyph(&at("a", 0.0, 0.0, 5.0));
        page.glyph(&at("b", 10.0, 0.0, 5.0));
        let (text, words) = page.finish();
        assert_eq!(text, "a b");
        assert_eq!(words.len(), 1);
        assert_eq!((words[0].start, words[0].end), (0, 3));
    }
}

//! Tables found from where words lie: consecutive lines that split, at gaps wider than a
//! character or so, into the same number (two or more) of cells whose x-ranges line up
//! with those of the lines above. Three such lines or more (a header and two rows) make a
//! table; its first line is the header.
//!
//! Not found: tables whose rows wrap onto several lines, cells that span columns, rows with
//! empty cells (they have fewer cells than the header), and tables drawn column by column
//! (each line then holds one cell). Long cells (prose side by side, as in two-column pages)
//! are not taken for tables.

use super::layout::{union, Word};
use crate::parse::Table;

/// A gap wider than this many line heights separates cells.
const CELL_GAP: f64 = 0.9;
/// Lines further apart than this many line heights do not continue a table.
const ROW_GAP: f64 = 2.5;
/// Cells longer than this on average are prose, not a table.
const MAX_MEAN_CELL: usize = 32;
const MIN_LINES: usize = 3;

/// A run of a page's text: plain text, or a table whose text is its Markdown; the words'
/// byte ranges index that text.
pub(super) enum Block {
    Text(String, Vec<Word>),
    Table(Table, Vec<Word>),
}

struct Cell {
    /// Words of the cell, as indices into the page's words.
    words: Vec<usize>,
    x0: f64,
    x1: f64,
}

struct Line {
    /// Byte range of the line in the page's text.
    start: usize,
    end: usize,
    words: Vec<usize>,
    cells: Vec<Cell>,
    height: f64,
    y: f64,
}

/// The page's text split into text and tables.
pub(super) fn split(text: String, words: Vec<Word>) -> Vec<Block> {
    let lines = lines(&text, &words);
    let mut tables: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let end = table_end(&lines, i);
        if end - i >= MIN_LINES {
            if short_cells(&text, &words, &lines[i..end]) {
                tables.push((i, end));
            }
            // Lines inside a run that is not a table do not start one either: each line is
            // looked at a bounded number of times.
            i = end;
        } else {
            i += 1;
        }
    }
    if tables.is_empty() {
        return vec![Block::Text(text, words)];
    }
    let mut blocks = Vec::new();
    let mut next = 0;
    for (first, end) in tables {
        if first > next {
            blocks.push(text_block(&text, &words, &lines[next..first]));
        }
        match table_block(&text, &words, &lines[first..end]) {
            Some(block) => blocks.push(block),
            None => blocks.push(text_block(&text, &words, &lines[first..end])),
        }
        next = end;
    }
    if next < lines.len() {
        blocks.push(text_block(&text, &words, &lines[next..]));
    }
    blocks
}

fn lines(text: &str, words: &[Word]) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut w = 0;
    for piece in text.split('\n') {
        let end = start + piece.len();
        let mut line_words = Vec::new();
        while w < words.len() && words[w].start < end {
            if words[w].end <= end {
                line_words.push(w);
            }
            w += 1;
        }
        let heights: Vec<f64> = line_words
            .iter()
            .map(|&i| words[i].bounds[3] - words[i].bounds[1])
            .collect();
        let height = heights.iter().copied().fold(0.0, f64::max);
        let y = line_words.first().map_or(0.0, |&i| words[i].bounds[1]);
        let mut cells: Vec<Cell> = Vec::new();
        for &i in &line_words {
            let b = words[i].bounds;
            match cells.last_mut() {
                Some(cell) if b[0] - cell.x1 <= CELL_GAP * height && b[0] >= cell.x0 => {
                    cell.words.push(i);
                    cell.x1 = cell.x1.max(b[2]);
                }
                _ => cells.push(Cell {
                    words: vec![i],
                    x0: b[0],
                    x1: b[2],
                }),
            }
        }
        lines.push(Line {
            start,
            end,
            words: line_words,
            cells,
            height,
            y,
        });
        start = end + 1;
    }
    lines
}

/// The end of the table starting at line `first`: past the last line that continues it.
fn table_end(lines: &[Line], first: usize) -> usize {
    let head = &lines[first];
    let n = head.cells.len();
    if n < 2 || head.height <= 0.0 {
        return first;
    }
    // Each line's words must cover it all (no word past the box budget spans lines).
    let mut columns: Vec<(f64, f64)> = head.cells.iter().map(|c| (c.x0, c.x1)).collect();
    let mut end = first + 1;
    while end < lines.len() {
        let line = &lines[end];
        let prev = &lines[end - 1];
        let h = head.height.max(line.height);
        if line.cells.len() != n || (line.y - prev.y).abs() > ROW_GAP * h {
            break;
        }
        let aligned = line.cells.iter().enumerate().all(|(i, cell)| {
            let (c0, c1) = columns[i];
            let overlaps = cell.x0 < c1 && cell.x1 > c0;
            let edge = (cell.x0 - c0).abs() < 0.5 * h || (cell.x1 - c1).abs() < 0.5 * h;
            let clear_left = i == 0 || cell.x0 > columns[i - 1].1;
            let clear_right = i + 1 == n || cell.x1 < columns[i + 1].0;
            (overlaps || edge) && clear_left && clear_right
        });
        if !aligned {
            break;
        }
        for (column, cell) in columns.iter_mut().zip(&line.cells) {
            *column = (column.0.min(cell.x0), column.1.max(cell.x1));
        }
        end += 1;
    }
    end
}

fn short_cells(text: &str, words: &[Word], lines: &[Line]) -> bool {
    let (mut bytes, mut cells) = (0, 0);
    for line in lines {
        for cell in &line.cells {
            cells += 1;
            let (Some(&a), Some(&b)) = (cell.words.first(), cell.words.last()) else {
                continue;
            };
            bytes += text[words[a].start..words[b].end].chars().count();
        }
    }
    cells > 0 && bytes / cells <= MAX_MEAN_CELL
}

fn text_block(text: &str, words: &[Word], lines: &[Line]) -> Block {
    let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
        return Block::Text(String::new(), Vec::new());
    };
    let (start, end) = (first.start, last.end);
    // Words are in text order.
    let from = words.partition_point(|w| w.start < start);
    let to = words.partition_point(|w| w.start < end);
    let block_words = words[from..to]
        .iter()
        .filter(|w| w.end <= end)
        .map(|w| Word {
            start: w.start - start,
            end: w.end - start,
            bounds: w.bounds,
        })
        .collect();
    Block::Text(text[start..end].to_string(), block_words)
}

/// The table of `lines`, with a box per cell word in its Markdown.
fn table_block(text: &str, words: &[Word], lines: &[Line]) -> Option<Block> {
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|line| {
            line.cells
                .iter()
                .map(|cell| {
                    cell.words
                        .iter()
                        .map(|&i| &text[words[i].start..words[i].end])
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        })
        .collect();
    if lines.iter().any(|l| {
        l.words.is_empty() || l.words.len() != l.cells.iter().map(|c| c.words.len()).sum::<usize>()
    }) {
        return None;
    }
    let table = Table::from_rows(rows)?;
    let markdown = table.markdown();
    // The same walk as the Markdown: `|`, then ` cell |` for each cell, a separator row
    // after the header.
    let mut boxes = Vec::new();
    let mut shown = Vec::new();
    let mut at = 0;
    for (n, line) in lines.iter().enumerate() {
        at += 1;
        for cell in &line.cells {
            at += 1;
            for (k, &i) in cell.words.iter().enumerate() {
                if k > 0 {
                    at += 1;
                }
                let word = text[words[i].start..words[i].end].replace('|', "\\|");
                boxes.push(Word {
                    start: at,
                    end: at + word.len(),
                    bounds: words[i].bounds,
                });
                at += word.len();
                shown.push(word);
            }
            at += 2;
        }
        at += 1;
        if n == 0 {
            at += 1 + " --- |".len() * line.cells.len() + 1;
        }
    }
    // Should the Markdown ever differ, the table keeps one box over all of it.
    if at != markdown.len()
        || boxes
            .iter()
            .zip(&shown)
            .any(|(b, word)| markdown.get(b.start..b.end) != Some(word.as_str()))
    {
        let bounds = lines
            .iter()
            .flat_map(|l| &l.words)
            .map(|&i| words[i].bounds)
            .reduce(union)?;
        return Some(Block::Table(
            table,
            vec![Word {
                start: 0,
                end: markdown.len(),
                bounds,
            }],
        ));
    }
    Some(Block::Table(table, boxes))
}

#[cfg(test)]
mod tests {
    use super::super::layout::{at, PageText};
    use super::*;

    /// A page of lines of cells: each cell's words at its x, lines 14 apart.
    fn page(lines: &[&[(f64, &str)]]) -> (String, Vec<Word>) {
        let mut page = PageText::new(usize::MAX);
        for (n, line) in lines.iter().enumerate() {
            let y = 700.0 - 14.0 * n as f64;
            for &(x, cell) in line.iter() {
                let mut x = x;
                for word in cell.split(' ') {
                    let w = 5.0 * word.chars().count() as f64;
                    page.glyph(&at(word, x, y, w));
                    x += w + 3.0;
                }
            }
        }
        page.finish()
    }

    #[test]
    fn aligned_cells_make_a_table() {
        let (text, words) = page(&[
            &[(72.0, "Some text above the table")],
            &[(72.0, "Name"), (200.0, "Unit price"), (300.0, "Qty")],
            &[(72.0, "Apple pie"), (200.0, "3.50"), (300.0, "2")],
            &[(72.0, "Pear"), (205.0, "12.00"), (300.0, "10")],
            &[(72.0, "And text under it, which is a line of prose.")],
        ]);
        let blocks = split(text, words);
        assert_eq!(blocks.len(), 3);
        let Block::Text(before, _) = &blocks[0] else {
            panic!("text first")
        };
        assert_eq!(before, "Some text above the table");
        let Block::Table(table, boxes) = &blocks[1] else {
            panic!("then a table")
        };
        assert_eq!(table.header, ["Name", "Unit price", "Qty"]);
        assert_eq!(table.rows[1], ["Pear", "12.00", "10"]);
        let markdown = table.markdown();
        let shown: Vec<&str> = boxes.iter().map(|b| &markdown[b.start..b.end]).collect();
        assert_eq!(
            shown,
            ["Name", "Unit", "price", "Qty", "Apple", "pie", "3.50", "2", "Pear", "12.00", "10"]
        );
        assert!((boxes[8].bounds[0] - 72.0).abs() < 0.01);
        let Block::Text(after, words) = &blocks[2] else {
            panic!("and text")
        };
        assert!(after.starts_with("And text"));
        assert_eq!(&after[words[0].start..words[0].end], "And");
    }

    #[test]
    fn many_lines_are_split_in_linear_time() {
        let long = "a line of prose that goes on and on for a while";
        let row: &[(f64, &str)] = &[(72.0, long), (350.0, long)];
        let lines = vec![row; 20_000];
        let (text, words) = page(&lines);
        let started = std::time::Instant::now();
        assert!(matches!(&split(text, words)[..], [Block::Text(..)]));
        let short: &[(f64, &str)] = &[(72.0, "a"), (350.0, "b")];
        let ragged: &[(f64, &str)] = &[(72.0, "a"), (200.0, "b"), (350.0, "c")];
        let lines: Vec<_> = (0..20_000)
            .map(|i| if i % 4 == 3 { ragged } else { short })
            .collect();
        let (text, words) = page(&lines);
        let blocks = split(text, words);
        assert_eq!(blocks.len(), 10_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn prose_and_ragged_lines_are_not_tables() {
        let (text, words) = page(&[
            &[(72.0, "one"), (200.0, "two")],
            &[(72.0, "three"), (150.0, "four"), (300.0, "five")],
            &[(72.0, "six"), (200.0, "seven")],
        ]);
        assert!(matches!(&split(text, words)[..], [Block::Text(..)]));
        let long = "a line of prose that goes on and on for a while";
        let (text, words) = page(&[
            &[(72.0, long), (350.0, long)],
            &[(72.0, long), (350.0, long)],
            &[(72.0, long), (350.0, long)],
        ]);
        assert!(matches!(&split(text, words)[..], [Block::Text(..)]));
    }
}

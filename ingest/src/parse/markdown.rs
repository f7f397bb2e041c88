//! Markdown: the document is cut at headings; each section keeps the Markdown source of its
//! body and the path of headings above it (`# A` → `## B` gives `["A", "B"]`). A table
//! is a section of its own, with its cells.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::{Section, Table};

pub fn parse(source: &str) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut path: Vec<(HeadingLevel, String)> = Vec::new();
    let mut body_start = 0usize;
    let mut heading: Option<(HeadingLevel, String, usize)> = None;
    // The rows of the table being read, and the cell being read.
    let mut table: Option<Vec<Vec<String>>> = None;
    let mut cell: Option<String> = None;

    let push = |sections: &mut Vec<Section>, path: &[(HeadingLevel, String)], body: &str| {
        if !body.trim().is_empty() {
            sections.push(Section::text(
                None,
                path.iter().map(|(_, h)| h.clone()).collect(),
                body.trim().to_string(),
            ));
        }
    };

    let parser = Parser::new_ext(
        source,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    );
    for (event, range) in parser.into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                push(&mut sections, &path, &source[body_start..range.start]);
                heading = Some((level, String::new(), range.end));
            }
            Event::Start(Tag::Table(_)) => {
                push(&mut sections, &path, &source[body_start..range.start]);
                table = Some(Vec::new());
            }
            Event::Start(Tag::TableHead | Tag::TableRow) => {
                if let Some(rows) = table.as_mut() {
                    rows.push(Vec::new());
                }
            }
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => {
                if let (Some(rows), Some(text)) = (table.as_mut(), cell.take()) {
                    if let Some(row) = rows.last_mut() {
                        row.push(text.trim().to_string());
                    }
                }
            }
            Event::End(TagEnd::Table) => {
                let headings = path.iter().map(|(_, h)| h.clone()).collect();
                match table.take().and_then(Table::from_rows) {
                    Some(t) => sections.push(Section::table(None, headings, t)),
                    // A header and no rows: its source, as text.
                    None => push(&mut sections, &path, &source[range.clone()]),
                }
                body_start = range.end;
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(text) = cell.as_mut() {
                    text.push_str(&t);
                } else if let Some((_, text, _)) = heading.as_mut() {
                    text.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak if cell.is_some() => {
                if let Some(text) = cell.as_mut() {
                    text.push(' ');
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, text, end)) = heading.take() {
                    while path.last().is_some_and(|(l, _)| *l >= level) {
                        path.pop();
                    }
                    path.push((level, text.trim().to_string()));
                    body_start = end;
                }
            }
            _ => {}
        }
    }
    push(
        &mut sections,
        &path,
        &source[body_start.min(source.len())..],
    );
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_paths_are_kept() {
        let md = "intro line\n\n# Guide\n\nabout\n\n## Install\n\nrun `make`\n\n### Linux\n\napt\n\n## Use\n\nask\n\n# Other\n\nx\n";
        let s = parse(md);
        let paths: Vec<_> = s.iter().map(|s| s.headings.join(" > ")).collect();
        assert_eq!(
            paths,
            [
                "",
                "Guide",
                "Guide > Install",
                "Guide > Install > Linux",
                "Guide > Use",
                "Other"
            ]
        );
        assert_eq!(s[2].text, "run `make`");
        assert_eq!(s[0].text, "intro line");
    }

    #[test]
    fn setext_and_inline_code_headings() {
        let s = parse("Title `x`\n=====\n\nbody\n");
        assert_eq!(s[0].headings, ["Title x"]);
        assert_eq!(s[0].text, "body");
    }

    #[test]
    fn tables_are_sections_with_their_cells() {
        let md = "# Prices\n\nBefore.\n\n| Item | Price |\n|---|---|\n| Tea | 3 |\n| Cake `x` | 4 |\n\nAfter.\n";
        let s = parse(md);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[0].text, "Before.");
        let table = s[1].table.as_ref().unwrap();
        assert_eq!(table.header, ["Item", "Price"]);
        assert_eq!(table.rows, [["Tea", "3"], ["Cake x", "4"]]);
        assert_eq!(s[1].headings, ["Prices"]);
        assert_eq!(
            s[1].text,
            "| Item | Price |\n| --- | --- |\n| Tea | 3 |\n| Cake x | 4 |\n"
        );
        assert_eq!(s[2].text, "After.");
    }

    #[test]
    fn empty_sections_are_skipped() {
        let s = parse("# A\n## B\ntext");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].headings, ["A", "B"]);
    }
}

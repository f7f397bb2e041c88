//! HTML: visible text only (no scripts, styles, templates or hidden metadata), cut into
//! sections at `<h1>`…`<h6>` with the heading path kept, like Markdown. A `<table>` of two
//! rows or more is a section of its own, with its cells (the first row is the header).

use ego_tree::iter::Edge;
use scraper::{ElementRef, Html, Node};

use super::{Section, Table};

const SKIP: &[&str] = &[
    "script", "style", "noscript", "template", "head", "svg", "canvas", "iframe", "object",
    "button", "select", "option", "nav",
];
const BLOCK: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "section",
    "article",
    "header",
    "footer",
    "blockquote",
    "pre",
    "dd",
    "dt",
    "dl",
    "hr",
    "main",
    "aside",
    "figure",
    "figcaption",
    "td",
    "th",
    "title",
    "address",
    "details",
    "summary",
];

fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

pub fn parse(source: &str) -> Vec<Section> {
    let doc = Html::parse_document(source);
    let mut sections = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut body = String::new();
    let mut heading: Option<(usize, String)> = None;
    let mut skipping = 0usize;

    let flush = |sections: &mut Vec<Section>, path: &[(usize, String)], body: &mut String| {
        let text = normalize(body);
        if !text.is_empty() {
            sections.push(Section::text(
                None,
                path.iter().map(|(_, h)| h.clone()).collect(),
                text,
            ));
        }
        body.clear();
    };

    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(el) => {
                    let name = el.name();
                    let table = (skipping == 0 && name == "table")
                        .then(|| ElementRef::wrap(node).and_then(table_of))
                        .flatten();
                    if skipping > 0 || SKIP.contains(&name) || el.attr("hidden").is_some() {
                        skipping += 1;
                    } else if let Some(table) = table {
                        // Read whole: its subtree is skipped like a hidden element's.
                        flush(&mut sections, &path, &mut body);
                        let headings = path.iter().map(|(_, h)| h.clone()).collect();
                        sections.push(Section::table(None, headings, table));
                        skipping += 1;
                    } else if let Some(level) = heading_level(name) {
                        flush(&mut sections, &path, &mut body);
                        heading = Some((level, String::new()));
                    } else if BLOCK.contains(&name) {
                        body.push('\n');
                    }
                }
                Node::Text(t) if skipping == 0 => match heading.as_mut() {
                    Some((_, h)) => h.push_str(t),
                    None => body.push_str(t),
                },
                _ => {}
            },
            Edge::Close(node) => {
                if let Node::Element(el) = node.value() {
                    let name = el.name();
                    if skipping > 0 {
                        skipping -= 1;
                    } else if let Some(level) = heading_level(name) {
                        if let Some((_, text)) = heading.take() {
                            let text = normalize(&text);
                            while path.last().is_some_and(|(l, _)| *l >= level) {
                                path.pop();
                            }
                            if !text.is_empty() {
                                path.push((level, text));
                            }
                        }
                    } else if BLOCK.contains(&name) {
                        body.push('\n');
                    }
                }
            }
        }
    }
    flush(&mut sections, &path, &mut body);
    sections
}

/// The rows of a table (those of tables inside it left to them), each a list of cell texts.
fn table_of(table: ElementRef<'_>) -> Option<Table> {
    let mut rows = Vec::new();
    for node in table.descendants() {
        let Some(row) = ElementRef::wrap(node).filter(|e| e.value().name() == "tr") else {
            continue;
        };
        let owner = row
            .ancestors()
            .filter_map(ElementRef::wrap)
            .find(|e| e.value().name() == "table");
        if owner.map(|o| o.id()) != Some(table.id()) {
            continue;
        }
        let cells: Vec<String> = row
            .children()
            .filter_map(ElementRef::wrap)
            .filter(|c| matches!(c.value().name(), "td" | "th"))
            .map(|c| normalize(&c.text().collect::<Vec<_>>().join(" ")).replace('\n', " "))
            .collect();
        if !cells.is_empty() {
            rows.push(cells);
        }
    }
    Table::from_rows(rows)
}

/// Collapses runs of spaces inside lines and blank lines between them.
fn normalize(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if !line.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_text_and_headings() {
        let html = r#"<!doctype html><html><head><title>T</title><style>p{color:red}</style>
            <script>alert("no")</script></head><body>
            <p>Intro   text</p>
            <h1>Guide</h1><p>About it.</p>
            <h2>Install <small>v2</small></h2><ul><li>one</li><li>two</li></ul>
            <div hidden>secret</div><noscript>enable js</noscript>
            <h2>Use</h2><p>Ask.</p></body></html>"#;
        let s = parse(html);
        let all: String = s
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join("|");
        assert!(!all.contains("alert") && !all.contains("color") && !all.contains("secret"));
        assert!(!all.contains("enable js"));
        assert_eq!(s[0].text, "Intro text");
        assert_eq!(s[1].headings, ["Guide"]);
        assert_eq!(s[2].headings, ["Guide", "Install v2"]);
        assert_eq!(s[2].text, "one\ntwo");
        assert_eq!(s[3].headings, ["Guide", "Use"]);
    }

    #[test]
    fn tables_keep_their_rows_and_header() {
        let html = "<h1>Staff</h1><p>Before</p><table><thead><tr><th>Name</th><th>Role</th></tr></thead>\
            <tbody><tr><td>Ada <b>L.</b></td><td>Engineer</td></tr><tr><td>Bo</td><td><table><tr><td>x</td></tr></table>Chef</td></tr></tbody></table><p>After</p>";
        let s = parse(html);
        assert_eq!(s.len(), 3, "{s:?}");
        let t = s[1].table.as_ref().unwrap();
        assert_eq!(t.header, ["Name", "Role"]);
        assert_eq!(t.rows, [["Ada L.", "Engineer"], ["Bo", "x Chef"]]);
        assert_eq!(s[1].headings, ["Staff"]);
        assert_eq!(s[2].text, "After");
        // A one-row layout table stays text.
        let s = parse("<table><tr><td>only</td><td>row</td></tr></table>");
        assert!(s[0].table.is_none());
    }
}

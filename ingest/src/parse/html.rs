//! HTML: visible text only (no scripts, styles, templates or hidden metadata), cut into
//! sections at `<h1>`…`<h6>` with the heading path kept, like Markdown.

use ego_tree::iter::Edge;
use scraper::{Html, Node};

use super::Section;

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
            sections.push(Section {
                page: None,
                headings: path.iter().map(|(_, h)| h.clone()).collect(),
                text,
                ..Section::default()
            });
        }
        body.clear();
    };

    for edge in doc.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(el) => {
                    let name = el.name();
                    if skipping > 0 || SKIP.contains(&name) || el.attr("hidden").is_some() {
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
}

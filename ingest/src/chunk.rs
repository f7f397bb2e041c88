//! Stage 3, chunk: sections become chunks of at most `size` tokens of the embedding model,
//! with `overlap` tokens shared between neighbours, cut at the highest semantic level that
//! fits (Markdown blocks, paragraphs, sentences — `。！？` included — words, characters).
//!
//! A chunk never crosses a section, so each chunk has exactly one page and heading path.
//! The heading path is prefixed to the text that gets embedded (`embed_text`), and the
//! chunk budget shrinks by its length, so the embedded text still fits the model.
//!
//! How sections are cut depends on the knowledge base's [`Template`], after RAGFlow's chunk
//! templates: tables go in groups of whole rows under their header row (`general`) or a row
//! each (`table`); question and answer pairs become one chunk each, embedded by their
//! question (`qa`); and small chunks carry their enclosing section for the prompt
//! (`parent_child`). A chunk of a page with known text positions keeps the rectangles of
//! its lines ([`line_boxes`]).

use std::ops::Range;

use retrieval::Rect;
use text_splitter::{ChunkConfig as SplitConfig, ChunkSizer, MarkdownSplitter, TextSplitter};

use crate::error::{Error, Result};
use crate::load::Format;
use crate::parse::{ParsedDocument, Section, Table, TextBox};

/// How a knowledge base's documents are cut into chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    /// Prose at the highest semantic level that fits; tables in groups of whole rows, each
    /// group under the table's header row.
    #[default]
    General,
    /// Question and answer pairs, from two columns of a table (CSV, XLSX, …: the columns
    /// named question and answer, or else the first two) or from Markdown headings (the
    /// heading asks, the text under it answers): one chunk per pair, embedded and
    /// BM25-indexed by its question, returned with its answer.
    Qa,
    /// Spreadsheets used as data: one chunk per table row, under the header row.
    Table,
    /// Small chunks of `size` tokens are searched; the section around them (up to
    /// [`PARENT_FACTOR`] times that size) is what an answer's prompt receives.
    ParentChild,
}

impl Template {
    pub const ALL: [Template; 4] = [
        Template::General,
        Template::Qa,
        Template::Table,
        Template::ParentChild,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Template::General => "general",
            Template::Qa => "qa",
            Template::Table => "table",
            Template::ParentChild => "parent_child",
        }
    }

    /// The template named by [`Template::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// A `parent_child` parent is at most this many times the chunk size; a longer section is
/// cut into parents of this size first.
pub const PARENT_FACTOR: usize = 4;

/// Chunk size and overlap, in tokens of the embedding model, and the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkConfig {
    pub size: usize,
    pub overlap: usize,
    pub template: Template,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self {
            size: 256,
            overlap: 32,
            template: Template::General,
        }
    }
}

impl ChunkConfig {
    pub fn validate(&self) -> Result<()> {
        if self.size < 16 || self.size > 8192 {
            return Err(Error::Chunk(
                "chunk size must be between 16 and 8192 tokens".into(),
            ));
        }
        if self.overlap >= self.size / 2 {
            return Err(Error::Chunk(
                "chunk overlap must be less than half the chunk size".into(),
            ));
        }
        Ok(())
    }
}

/// One chunk of a document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk {
    /// Position in the document, from 0.
    pub ordinal: u32,
    pub page: Option<u32>,
    pub headings: Vec<String>,
    /// The chunk's own text, as shown to users and the LLM.
    pub text: String,
    /// Heading path + text (+ the question alone, for `qa`): what is embedded and
    /// BM25-indexed.
    pub embed_text: String,
    /// Tokens in `embed_text`.
    pub tokens: usize,
    /// Where the text lies on its page, a rectangle per line; empty where unknown.
    pub boxes: Vec<Rect>,
    /// What an answer's prompt receives instead of `text`: the enclosing section, for
    /// `parent_child`.
    pub context: Option<String>,
}

impl Chunk {
    /// The heading path joined for display: `A > B > C`.
    pub fn heading_path(&self) -> String {
        self.headings.join(" > ")
    }
}

/// Cuts a parsed document into chunks measured by `sizer`.
pub fn chunk<S: ChunkSizer>(
    doc: &ParsedDocument,
    sizer: &S,
    config: ChunkConfig,
) -> Result<Vec<Chunk>> {
    config.validate()?;
    let markdown = doc.format == Format::Markdown;
    let mut out = Chunks {
        sizer,
        chunks: Vec::new(),
    };
    for section in &doc.sections {
        let heading = section.headings.join(" > ");
        let heading_tokens = if heading.is_empty() {
            0
        } else {
            sizer.size(&heading) + 1
        };
        let capacity = config
            .size
            .saturating_sub(heading_tokens)
            .max(config.size / 2);
        let overlap = config.overlap.min(capacity / 2);
        if let Some(table) = &section.table {
            let pairs = if config.template == Template::Qa {
                qa_columns(table)
            } else {
                None
            };
            if let Some((q, a)) = pairs {
                for row in &table.rows {
                    let cell = |i: usize| row.get(i).map_or("", |c| c.trim());
                    out.pair(section, &heading, cell(q), cell(a));
                }
            } else {
                let one_row = config.template == Template::Table;
                for (text, range) in row_groups(table, sizer, capacity, one_row) {
                    out.push(section, &heading, &text, range, None, None);
                }
            }
            continue;
        }
        match (config.template, section.headings.last()) {
            (Template::Qa, Some(question)) => out.pair(section, &heading, question, &section.text),
            (Template::ParentChild, _) => {
                let parents = split(
                    &section.text,
                    markdown,
                    sizer,
                    capacity.saturating_mul(PARENT_FACTOR),
                    0,
                )?;
                for (start, parent) in parents {
                    let children = split(parent, markdown, sizer, capacity, overlap)?;
                    let context = (children.len() > 1).then(|| parent.trim().to_string());
                    for (offset, child) in children {
                        let at = start + offset;
                        out.push(
                            section,
                            &heading,
                            child,
                            at..at + child.len(),
                            None,
                            context.clone(),
                        );
                    }
                }
            }
            _ => {
                for (at, piece) in split(&section.text, markdown, sizer, capacity, overlap)? {
                    out.push(section, &heading, piece, at..at + piece.len(), None, None);
                }
            }
        }
    }
    if out.chunks.is_empty() {
        return Err(Error::NoText);
    }
    Ok(out.chunks)
}

/// Pieces of `text` with their byte offsets, cut to `capacity` tokens.
fn split<'t, S: ChunkSizer>(
    text: &'t str,
    markdown: bool,
    sizer: &S,
    capacity: usize,
    overlap: usize,
) -> Result<Vec<(usize, &'t str)>> {
    let config = SplitConfig::new(capacity.max(1))
        .with_sizer(sizer)
        .with_overlap(overlap.min(capacity / 2))
        .map_err(|e| Error::Chunk(e.to_string()))?;
    Ok(if markdown {
        MarkdownSplitter::new(config).chunk_indices(text).collect()
    } else {
        TextSplitter::new(config).chunk_indices(text).collect()
    })
}

/// The chunks made so far.
struct Chunks<'s, S> {
    sizer: &'s S,
    chunks: Vec<Chunk>,
}

impl<S: ChunkSizer> Chunks<'_, S> {
    /// Adds `text` (at `range` of the section's text, for its boxes), embedded as `embed`
    /// when given, else as itself.
    fn push(
        &mut self,
        section: &Section,
        heading: &str,
        text: &str,
        range: Range<usize>,
        embed: Option<&str>,
        context: Option<String>,
    ) {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return;
        }
        let start = range.start + (text.len() - text.trim_start().len());
        let embed_text = retrieval::search::embed_text(heading, embed.unwrap_or(trimmed));
        let tokens = self.sizer.size(&embed_text);
        self.chunks.push(Chunk {
            ordinal: u32::try_from(self.chunks.len()).unwrap_or(u32::MAX),
            page: section.page,
            headings: section.headings.clone(),
            text: trimmed.to_string(),
            embed_text,
            tokens,
            boxes: line_boxes(&section.boxes, start..start + trimmed.len()),
            context,
        });
    }

    /// Adds a question and its answer as one chunk, embedded by the question.
    fn pair(&mut self, section: &Section, heading: &str, question: &str, answer: &str) {
        let (question, answer) = (question.trim(), answer.trim());
        if question.is_empty() {
            return;
        }
        let chinese = question
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        let text = if chinese {
            format!("问题：{question}\n回答：{answer}")
        } else {
            format!("Question: {question}\nAnswer: {answer}")
        };
        // The heading path of a Markdown pair ends with the question itself.
        let heading = if section.table.is_none() {
            heading
                .strip_suffix(question)
                .map(|h| h.trim_end_matches(" > "))
                .unwrap_or(heading)
        } else {
            heading
        };
        self.push(
            section,
            heading,
            &text,
            0..section.text.len(),
            Some(question),
            None,
        );
    }
}

/// The question and answer columns of a table: those whose header names them, else the
/// first two; `None` for a table of one column.
pub fn qa_columns(table: &Table) -> Option<(usize, usize)> {
    const QUESTION: &[&str] = &["question", "questions", "q", "query", "问题", "问", "提问"];
    const ANSWER: &[&str] = &["answer", "answers", "a", "response", "答案", "答", "回答"];
    let find = |names: &[&str]| {
        table
            .header
            .iter()
            .position(|h| names.contains(&h.trim().to_lowercase().as_str()))
    };
    match (find(QUESTION), find(ANSWER)) {
        (Some(q), Some(a)) if q != a => Some((q, a)),
        _ if table.width() >= 2 => Some((0, 1)),
        _ => None,
    }
}

/// The table's rows in groups that fit `capacity` tokens with the header row (one row a
/// group with `one_row`), each as a Markdown table under the header, with the byte range
/// its rows have in [`Table::markdown`]. A row is never cut: a row larger than `capacity`
/// is a group by itself.
pub fn row_groups<S: ChunkSizer>(
    table: &Table,
    sizer: &S,
    capacity: usize,
    one_row: bool,
) -> Vec<(String, Range<usize>)> {
    let header = table.markdown_header();
    let header_tokens = sizer.size(&header);
    let mut groups = Vec::new();
    let mut group = String::new();
    let mut tokens = header_tokens;
    let mut at = header.len();
    let mut start = at;
    for line in table.markdown_rows() {
        let line_tokens = sizer.size(&line);
        if !group.is_empty() && (one_row || tokens + line_tokens > capacity) {
            groups.push((format!("{header}{group}"), start..at));
            group.clear();
            tokens = header_tokens;
            start = at;
        }
        group.push_str(&line);
        tokens += line_tokens;
        at += line.len();
    }
    if !group.is_empty() {
        groups.push((format!("{header}{group}"), start..at));
    }
    groups
}

/// The rectangles of the lines that hold the bytes `range` of a section's text: the boxes
/// that overlap it, joined while they share a line (overlap vertically by half the lower
/// one's height), in text order.
pub fn line_boxes(boxes: &[TextBox], range: Range<usize>) -> Vec<Rect> {
    let mut lines: Vec<Rect> = Vec::new();
    for b in boxes {
        let (start, end) = (b.start as usize, b.end as usize);
        if end <= range.start || start >= range.end {
            continue;
        }
        let r = b.rect;
        match lines.last_mut() {
            Some(line)
                if r.y1.min(line.y1) - r.y0.max(line.y0)
                    >= 0.5 * (r.y1 - r.y0).min(line.y1 - line.y0) =>
            {
                *line = line.union(r);
            }
            _ => lines.push(r),
        }
    }
    lines.into_iter().map(Rect::rounded).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Section, Table, TextBox};
    use text_splitter::Characters;

    fn doc(format: Format, sections: Vec<Section>) -> ParsedDocument {
        ParsedDocument {
            format,
            sections,
            pages: 1,
        }
    }

    fn section(page: Option<u32>, headings: &[&str], text: &str) -> Section {
        Section::text(
            page,
            headings.iter().map(|s| s.to_string()).collect(),
            text.into(),
        )
    }

    #[test]
    fn chunks_respect_size_and_keep_page_and_headings() {
        let text = "Alpha beta gamma delta. ".repeat(40);
        let d = doc(
            Format::Text,
            vec![section(Some(3), &[], &text), section(Some(4), &[], "tail")],
        );
        let cfg = ChunkConfig {
            size: 100,
            overlap: 10,
            ..ChunkConfig::default()
        };
        let chunks = chunk(&d, &Characters, cfg).unwrap();
        assert!(chunks.len() >= 9, "{}", chunks.len());
        assert!(chunks.iter().all(|c| c.text.chars().count() <= 100));
        assert!(chunks[..chunks.len() - 1].iter().all(|c| c.page == Some(3)));
        assert_eq!(chunks.last().unwrap().page, Some(4));
        let ordinals: Vec<u32> = chunks.iter().map(|c| c.ordinal).collect();
        assert_eq!(ordinals, (0..chunks.len() as u32).collect::<Vec<_>>());
    }

    #[test]
    fn chinese_sentences_are_not_cut_in_the_middle() {
        let s1 = "大模型的资源占用可以用一个公式估算。";
        let s2 = "参数量乘以每个参数的字节数！";
        let s3 = "你知道上下文窗口有多大吗？";
        let text = format!("{s1}{s2}{s3}{s1}{s2}{s3}");
        let d = doc(Format::Text, vec![section(None, &[], &text)]);
        let cfg = ChunkConfig {
            size: 40,
            overlap: 0,
            ..ChunkConfig::default()
        };
        let chunks = chunk(&d, &Characters, cfg).unwrap();
        assert!(chunks.len() >= 3);
        for c in &chunks {
            assert!(
                c.text.ends_with('。') || c.text.ends_with('！') || c.text.ends_with('？'),
                "chunk cut inside a sentence: {:?}",
                c.text
            );
        }
    }

    #[test]
    fn headings_prefix_the_embedded_text_and_shrink_the_budget() {
        let body = "word ".repeat(60);
        let d = doc(
            Format::Markdown,
            vec![section(None, &["Guide", "Install"], &body)],
        );
        let cfg = ChunkConfig {
            size: 100,
            overlap: 0,
            ..ChunkConfig::default()
        };
        let chunks = chunk(&d, &Characters, cfg).unwrap();
        for c in &chunks {
            assert_eq!(c.heading_path(), "Guide > Install");
            assert!(c.embed_text.starts_with("Guide > Install\n"));
            assert!(c.tokens <= 100, "{} > 100", c.tokens);
        }
    }

    #[test]
    fn markdown_blocks_stay_together() {
        let md = "Para one is here.\n\n```\ncode line 1\ncode line 2\n```\n\nPara two.";
        let d = doc(Format::Markdown, vec![section(None, &[], md)]);
        let cfg = ChunkConfig {
            size: 40,
            overlap: 0,
            ..ChunkConfig::default()
        };
        let chunks = chunk(&d, &Characters, cfg).unwrap();
        assert!(
            chunks
                .iter()
                .any(|c| c.text == "```\ncode line 1\ncode line 2\n```"),
            "{chunks:?}"
        );
    }

    #[test]
    fn bad_config_is_rejected() {
        let d = doc(Format::Text, vec![section(None, &[], "x")]);
        assert!(chunk(
            &d,
            &Characters,
            ChunkConfig {
                size: 8,
                overlap: 0,
                ..ChunkConfig::default()
            }
        )
        .is_err());
        assert!(chunk(
            &d,
            &Characters,
            ChunkConfig {
                size: 100,
                overlap: 60,
                ..ChunkConfig::default()
            }
        )
        .is_err());
    }

    fn table_doc(rows: usize) -> ParsedDocument {
        let table = Table {
            header: vec!["city".into(), "population".into()],
            rows: (0..rows)
                .map(|i| vec![format!("town{i}"), format!("{}", 1000 + i)])
                .collect(),
        };
        doc(
            Format::Csv,
            vec![Section::table(None, vec!["Towns".into()], table)],
        )
    }

    #[test]
    fn table_chunks_repeat_the_header_and_keep_rows_whole() {
        let d = table_doc(30);
        let cfg = ChunkConfig {
            size: 120,
            overlap: 10,
            ..ChunkConfig::default()
        };
        let chunks = chunk(&d, &Characters, cfg).unwrap();
        assert!(chunks.len() > 3, "{}", chunks.len());
        let mut rows = Vec::new();
        for c in &chunks {
            assert!(
                c.text.starts_with("| city | population |\n| --- | --- |\n"),
                "{}",
                c.text
            );
            assert!(c.tokens <= 120 + 20, "{}", c.tokens);
            for line in c.text.lines().skip(2) {
                assert!(line.starts_with("| town") && line.ends_with(" |"), "{line}");
                rows.push(line.to_string());
            }
        }
        let expected: Vec<String> = (0..30)
            .map(|i| format!("| town{i} | {} |", 1000 + i))
            .collect();
        assert_eq!(rows, expected, "every row once, in order");
        // The table template: a row each.
        let cfg = ChunkConfig {
            template: Template::Table,
            ..cfg
        };
        let chunks = chunk(&d, &Characters, cfg).unwrap();
        assert_eq!(chunks.len(), 30);
        assert_eq!(
            chunks[7].text,
            "| city | population |\n| --- | --- |\n| town7 | 1007 |\n".trim()
        );
        assert_eq!(chunks[7].heading_path(), "Towns");
    }

    #[test]
    fn qa_pairs_are_embedded_by_their_question_and_return_their_answer() {
        let table = Table {
            header: vec!["Answer".into(), "Question".into()],
            rows: vec![
                vec![
                    "Press the red button.".into(),
                    "How do I reset the router?".into(),
                ],
                vec!["重启即可。".into(), "路由器坏了怎么办？".into()],
                vec!["No question here".into(), "".into()],
            ],
        };
        let d = doc(
            Format::Xlsx,
            vec![Section::table(None, vec!["FAQ".into()], table)],
        );
        let cfg = ChunkConfig {
            template: Template::Qa,
            ..ChunkConfig::default()
        };
        let chunks = chunk(&d, &Characters, cfg).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].embed_text, "FAQ\nHow do I reset the router?");
        assert_eq!(
            chunks[0].text,
            "Question: How do I reset the router?\nAnswer: Press the red button."
        );
        assert_eq!(chunks[1].text, "问题：路由器坏了怎么办？\n回答：重启即可。");
        // Markdown: the heading asks, the text under it answers.
        let d = doc(
            Format::Markdown,
            vec![
                section(None, &["FAQ", "What is ragd?"], "A RAG service in Rust."),
                section(None, &[], "No heading: cut as usual."),
            ],
        );
        let chunks = chunk(&d, &Characters, cfg).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].embed_text, "FAQ\nWhat is ragd?");
        assert_eq!(
            chunks[0].text,
            "Question: What is ragd?\nAnswer: A RAG service in Rust."
        );
        assert_eq!(chunks[1].text, "No heading: cut as usual.");
        assert!(chunks.iter().all(|c| c.context.is_none()));
    }

    #[test]
    fn parent_child_chunks_are_small_and_carry_their_section() {
        let text: String = (0..40)
            .map(|i| format!("Sentence number {i} about tides. "))
            .collect();
        let d = doc(Format::Text, vec![section(Some(2), &[], &text)]);
        let cfg = ChunkConfig {
            size: 100,
            overlap: 0,
            template: Template::ParentChild,
        };
        let chunks = chunk(&d, &Characters, cfg).unwrap();
        let general = chunk(
            &d,
            &Characters,
            ChunkConfig {
                template: Template::General,
                ..cfg
            },
        )
        .unwrap();
        assert!(chunks.len() >= general.len());
        let parents: std::collections::BTreeSet<&str> =
            chunks.iter().filter_map(|c| c.context.as_deref()).collect();
        assert!(parents.len() >= 3, "{}", parents.len());
        for c in &chunks {
            assert!(c.tokens <= 100);
            let parent = c.context.as_deref().unwrap();
            assert!(parent.contains(&c.text));
            assert!(parent.chars().count() <= 400);
            assert_eq!(c.page, Some(2));
        }
        // A section that fits one chunk has no context of its own.
        let d = doc(Format::Text, vec![section(None, &[], "Short.")]);
        assert_eq!(chunk(&d, &Characters, cfg).unwrap()[0].context, None);
    }

    #[test]
    fn boxes_of_a_chunk_are_joined_per_line() {
        let rect = |x0: f32, y0: f32, x1: f32, y1: f32| Rect { x0, y0, x1, y1 };
        let boxes = [
            TextBox {
                start: 0,
                end: 5,
                rect: rect(0.1, 0.10, 0.2, 0.12),
            },
            TextBox {
                start: 6,
                end: 11,
                rect: rect(0.21, 0.101, 0.3, 0.121),
            },
            TextBox {
                start: 12,
                end: 17,
                rect: rect(0.1, 0.13, 0.2, 0.15),
            },
            TextBox {
                start: 18,
                end: 23,
                rect: rect(0.1, 0.16, 0.2, 0.18),
            },
        ];
        assert_eq!(
            line_boxes(&boxes, 3..14),
            [rect(0.1, 0.1, 0.3, 0.121), rect(0.1, 0.13, 0.2, 0.15)]
        );
        assert!(line_boxes(&boxes, 24..30).is_empty());
        // Through the chunker: the chunk's range picks its boxes.
        let mut s = section(Some(1), &[], "Hello world. Next line here");
        s.boxes = boxes.to_vec();
        let chunks = chunk(
            &doc(Format::Pdf, vec![s]),
            &Characters,
            ChunkConfig::default(),
        )
        .unwrap();
        assert_eq!(chunks[0].boxes.len(), 3);
    }
}

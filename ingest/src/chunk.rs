//! Stage 3, chunk: sections become chunks of at most `size` tokens of the embedding model,
//! with `overlap` tokens shared between neighbours, cut at the highest semantic level that
//! fits (Markdown blocks, paragraphs, sentences — `。！？` included — words, characters).
//!
//! A chunk never crosses a section, so each chunk has exactly one page and heading path.
//! The heading path is prefixed to the text that gets embedded (`embed_text`), and the
//! chunk budget shrinks by its length, so the embedded text still fits the model.

use text_splitter::{ChunkConfig as SplitConfig, ChunkSizer, MarkdownSplitter, TextSplitter};

use crate::error::{Error, Result};
use crate::load::Format;
use crate::parse::ParsedDocument;

/// Chunk size and overlap, in tokens of the embedding model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkConfig {
    pub size: usize,
    pub overlap: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self {
            size: 256,
            overlap: 32,
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunk {
    /// Position in the document, from 0.
    pub ordinal: u32,
    pub page: Option<u32>,
    pub headings: Vec<String>,
    /// The chunk's own text, as shown to users and the LLM.
    pub text: String,
    /// Heading path + text: what is embedded and BM25-indexed.
    pub embed_text: String,
    /// Tokens in `embed_text`.
    pub tokens: usize,
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
    let mut chunks = Vec::new();
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
        let split = SplitConfig::new(capacity)
            .with_sizer(sizer)
            .with_overlap(config.overlap.min(capacity / 2))
            .map_err(|e| Error::Chunk(e.to_string()))?;
        let pieces: Vec<String> = if doc.format == Format::Markdown {
            MarkdownSplitter::new(split)
                .chunks(&section.text)
                .map(str::to_owned)
                .collect()
        } else {
            TextSplitter::new(split)
                .chunks(&section.text)
                .map(str::to_owned)
                .collect()
        };
        for text in pieces {
            let text = text.trim().to_string();
            if text.is_empty() {
                continue;
            }
            let embed_text = retrieval::search::embed_text(&heading, &text);
            let tokens = sizer.size(&embed_text);
            chunks.push(Chunk {
                ordinal: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
                page: section.page,
                headings: section.headings.clone(),
                text,
                embed_text,
                tokens,
            });
        }
    }
    if chunks.is_empty() {
        return Err(Error::NoText);
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Section;
    use text_splitter::Characters;

    fn doc(format: Format, sections: Vec<Section>) -> ParsedDocument {
        ParsedDocument {
            format,
            sections,
            pages: 1,
        }
    }

    fn section(page: Option<u32>, headings: &[&str], text: &str) -> Section {
        Section {
            page,
            headings: headings.iter().map(|s| s.to_string()).collect(),
            text: text.into(),
        }
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
                overlap: 0
            }
        )
        .is_err());
        assert!(chunk(
            &d,
            &Characters,
            ChunkConfig {
                size: 100,
                overlap: 60
            }
        )
        .is_err());
    }
}

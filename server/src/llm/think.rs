//! Separating a reasoning model's `<think>…</think>` block from its answer, on a stream.
//!
//! deepseek-r1 and qwen3 write their reasoning inline, between `<think>` and `</think>`, and
//! stream it in arbitrary pieces, so a tag may arrive split (`<th` + `ink>`). The splitter
//! holds back only what could still be the start of a tag, so text flows with minimal delay.

/// A piece of output, routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Reasoning(String),
    Answer(String),
}

/// Streaming splitter: feed pieces in order, then call [`ThinkSplitter::finish`].
#[derive(Debug, Default)]
pub struct ThinkSplitter {
    in_think: bool,
    pending: String,
    /// Answer text seen so far is only whitespace (a `<think>` may still open the reply).
    at_start: bool,
    started: bool,
}

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

impl ThinkSplitter {
    pub fn new() -> Self {
        Self {
            at_start: true,
            ..Self::default()
        }
    }

    /// Routes `text`; returns the pieces that are certain now.
    pub fn push(&mut self, text: &str) -> Vec<Piece> {
        self.pending.push_str(text);
        let mut out = Vec::new();
        loop {
            let tag = if self.in_think { CLOSE } else { OPEN };
            if let Some(pos) = self.pending.find(tag) {
                let before: String = self.pending[..pos].to_string();
                self.emit(&before, &mut out);
                self.pending.drain(..pos + tag.len());
                self.in_think = !self.in_think;
                if !self.in_think {
                    // Models put a newline or two after </think>; it is not answer text.
                    let trimmed = self.pending.trim_start().len();
                    let cut = self.pending.len() - trimmed;
                    self.pending.drain(..cut);
                    self.at_start = true;
                }
                continue;
            }
            // Keep back the longest suffix that is a prefix of the tag.
            let keep = longest_tag_prefix_suffix(&self.pending, tag);
            let ready_len = self.pending.len() - keep;
            let ready: String = self.pending[..ready_len].to_string();
            self.emit(&ready, &mut out);
            self.pending.drain(..ready_len);
            break;
        }
        out
    }

    /// Flushes what is held back. An unclosed `<think>` stays reasoning.
    pub fn finish(&mut self) -> Vec<Piece> {
        let rest = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        self.emit(&rest, &mut out);
        out
    }

    fn emit(&mut self, text: &str, out: &mut Vec<Piece>) {
        if text.is_empty() {
            return;
        }
        if self.in_think {
            push_piece(out, Piece::Reasoning(text.to_string()));
        } else {
            let text = if self.at_start {
                text.trim_start()
            } else {
                text
            };
            if text.is_empty() {
                return;
            }
            self.at_start = false;
            self.started = true;
            push_piece(out, Piece::Answer(text.to_string()));
        }
    }
}

fn push_piece(out: &mut Vec<Piece>, piece: Piece) {
    match (out.last_mut(), piece) {
        (Some(Piece::Answer(a)), Piece::Answer(b)) => a.push_str(&b),
        (Some(Piece::Reasoning(a)), Piece::Reasoning(b)) => a.push_str(&b),
        (_, p) => out.push(p),
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `tag`.
fn longest_tag_prefix_suffix(text: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&n| {
            text.len() >= n
                && text.is_char_boundary(text.len() - n)
                && tag.starts_with(&text[text.len() - n..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pieces: &[&str]) -> (String, String) {
        let mut s = ThinkSplitter::new();
        let mut all = Vec::new();
        for p in pieces {
            all.extend(s.push(p));
        }
        all.extend(s.finish());
        let mut reasoning = String::new();
        let mut answer = String::new();
        for p in all {
            match p {
                Piece::Reasoning(r) => reasoning.push_str(&r),
                Piece::Answer(a) => answer.push_str(&a),
            }
        }
        (reasoning, answer)
    }

    #[test]
    fn whole_block() {
        let (r, a) = run(&["<think>let me see</think>\n\nThe answer [1]."]);
        assert_eq!(r, "let me see");
        assert_eq!(a, "The answer [1].");
    }

    #[test]
    fn tags_split_across_chunks() {
        let (r, a) = run(&["<th", "ink>rea", "son</th", "ink", ">\nans", "wer"]);
        assert_eq!(r, "reason");
        assert_eq!(a, "answer");
    }

    #[test]
    fn one_character_at_a_time() {
        let text = "<think>deep thought</think>42 is it";
        let chars: Vec<String> = text.chars().map(String::from).collect();
        let refs: Vec<&str> = chars.iter().map(String::as_str).collect();
        assert_eq!(run(&refs), ("deep thought".into(), "42 is it".into()));
    }

    #[test]
    fn no_think_block_and_lookalikes() {
        assert_eq!(
            run(&["plain ", "answer"]),
            (String::new(), "plain answer".into())
        );
        assert_eq!(
            run(&["a < b and <thinking> is not a tag"]),
            (String::new(), "a < b and <thinking> is not a tag".into())
        );
        assert_eq!(
            run(&["ends with <th"]),
            (String::new(), "ends with <th".into())
        );
    }

    #[test]
    fn unclosed_think_stays_reasoning() {
        assert_eq!(
            run(&["<think>still thinking"]),
            ("still thinking".into(), String::new())
        );
    }

    #[test]
    fn multibyte_text_near_tags() {
        assert_eq!(
            run(&["<think>想一想</thi", "nk>答案是【1】"]),
            ("想一想".into(), "答案是【1】".into())
        );
    }

    #[test]
    fn text_flows_without_waiting() {
        let mut s = ThinkSplitter::new();
        assert_eq!(s.push("Hello wor"), vec![Piece::Answer("Hello wor".into())]);
        assert_eq!(s.push("ld <"), vec![Piece::Answer("ld ".into())]);
        assert_eq!(s.push("b"), vec![Piece::Answer("<b".into())]);
    }
}

//! Citation markers in an answer: `[n]`, `[n, m]`, `[n][m]` and `【n】` point at the numbered
//! context chunks of the prompt.
//!
//! The rewriter works on a stream: markers pointing at no chunk are removed, and the others
//! are renumbered 1, 2, 3… in order of first appearance, so `citations` lists exactly what
//! the answer cites, in order. Text is held back only while it could still be a marker.

/// Longest marker body considered (`[12, 13, 14]`…); longer bracketed text is plain text.
const MAX_MARKER: usize = 24;

/// Streaming citation rewriter for an answer whose prompt had `chunks` numbered chunks.
#[derive(Debug)]
pub struct CitationRewriter {
    chunks: usize,
    /// Original chunk numbers (1-based) in order of first citation.
    order: Vec<usize>,
    pending: String,
}

impl CitationRewriter {
    pub fn new(chunks: usize) -> Self {
        Self {
            chunks,
            order: Vec::new(),
            pending: String::new(),
        }
    }

    /// Rewrites what can be decided now.
    pub fn push(&mut self, text: &str) -> String {
        self.pending.push_str(text);
        let mut out = String::new();
        loop {
            let Some(open) = self.pending.find(['[', '【']) else {
                out.push_str(&self.pending);
                self.pending.clear();
                break;
            };
            out.push_str(&self.pending[..open]);
            self.pending.drain(..open);
            let close_char = if self.pending.starts_with('[') {
                ']'
            } else {
                '】'
            };
            let open_len = self.pending.chars().next().map_or(1, char::len_utf8);
            match self.pending[open_len..].find(close_char) {
                Some(rel) => {
                    let inner = self.pending[open_len..open_len + rel].to_string();
                    let whole = open_len + rel + close_char.len_utf8();
                    match self.rewrite(&inner) {
                        Some(replacement) => out.push_str(&replacement),
                        None => out.push_str(&self.pending[..whole]),
                    }
                    self.pending.drain(..whole);
                }
                None => {
                    let inner = &self.pending[open_len..];
                    if inner.len() > MAX_MARKER || !inner.chars().all(is_marker_char) {
                        // Not a marker: release the bracket and continue after it.
                        out.push_str(&self.pending[..open_len]);
                        self.pending.drain(..open_len);
                        continue;
                    }
                    break;
                }
            }
        }
        out
    }

    /// Releases held-back text at the end of the stream.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Original chunk numbers (1-based) cited, in the order of their new numbers.
    pub fn cited(&self) -> &[usize] {
        &self.order
    }

    /// `inner` of a bracket: numbers → renumbered markers (`""` if none is valid);
    /// `None` when it is not a citation at all.
    fn rewrite(&mut self, inner: &str) -> Option<String> {
        let trimmed = inner.trim();
        if trimmed.is_empty() || !trimmed.chars().all(is_marker_char) {
            return None;
        }
        let mut out = String::new();
        for part in trimmed
            .split([',', '，', '、', ' ', ';'])
            .filter(|p| !p.is_empty())
        {
            let n: usize = part.parse().ok()?;
            if n == 0 || n > self.chunks {
                continue;
            }
            let new = match self.order.iter().position(|&o| o == n) {
                Some(i) => i + 1,
                None => {
                    self.order.push(n);
                    self.order.len()
                }
            };
            let marker = format!("[{new}]");
            if !out.contains(&marker) {
                out.push_str(&marker);
            }
        }
        Some(out)
    }
}

fn is_marker_char(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, ',' | '，' | '、' | ' ' | ';')
}

/// Rewrites a whole answer at once.
pub fn rewrite_all(answer: &str, chunks: usize) -> (String, Vec<usize>) {
    let mut r = CitationRewriter::new(chunks);
    let mut text = r.push(answer);
    text.push_str(&r.finish());
    (text, r.order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbers_in_order_of_first_use() {
        let (text, cited) = rewrite_all("Plants use light [3]. Sugar is made [1][3].", 4);
        assert_eq!(text, "Plants use light [1]. Sugar is made [2][1].");
        assert_eq!(cited, vec![3, 1]);
    }

    #[test]
    fn drops_markers_that_point_at_nothing() {
        let (text, cited) = rewrite_all("A [7]. B [2, 9]. C [0].", 3);
        assert_eq!(text, "A . B [1]. C .");
        assert_eq!(cited, vec![2]);
    }

    #[test]
    fn lists_and_fullwidth_brackets() {
        let (text, cited) = rewrite_all("显存估算【2】，见 [1, 2]。", 2);
        assert_eq!(text, "显存估算[1]，见 [2][1]。");
        assert_eq!(cited, vec![2, 1]);
    }

    #[test]
    fn other_brackets_are_left_alone() {
        let (text, cited) = rewrite_all("array[i] and [see above] and [] and x[1", 3);
        assert_eq!(text, "array[i] and [see above] and [] and x[1");
        assert!(cited.is_empty());
    }

    #[test]
    fn streaming_matches_whole_text() {
        let answer = "First [2], then [1, 2] and [5]; 【1】 done [x].";
        let whole = rewrite_all(answer, 3);
        for split in 1..answer.len() {
            if !answer.is_char_boundary(split) {
                continue;
            }
            let mut r = CitationRewriter::new(3);
            let mut text = r.push(&answer[..split]);
            text.push_str(&r.push(&answer[split..]));
            text.push_str(&r.finish());
            assert_eq!((text, r.cited().to_vec()), whole, "split at {split}");
        }
    }

    #[test]
    fn holds_back_only_possible_markers() {
        let mut r = CitationRewriter::new(3);
        assert_eq!(r.push("see [1"), "see ");
        assert_eq!(r.push("] ok [a"), "[1] ok [a");
    }
}

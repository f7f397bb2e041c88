//! `ragd kb list|create|delete|reindex`.

use std::time::Duration;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};

use super::backend::Backend;
use super::ingest::{finish_local_drain, start_local_drain};
use super::KbCommand;
use crate::service::knowledge_bases::{EmbeddingChoice, NewKnowledgeBase};
use crate::service::reindex::{ReindexRequest, ReindexView};
use crate::store::ReindexStatus;

pub async fn run(backend: &Backend, command: KbCommand) -> anyhow::Result<()> {
    match command {
        KbCommand::List => {
            let all = backend.list_kbs().await?;
            if all.knowledge_bases.is_empty() {
                println!("no knowledge bases yet: ragd kb create NAME");
            }
            for k in all.knowledge_bases {
                println!(
                    "{}\t{} documents\t{} chunks ({})\t{} ({} dims)\t{}",
                    k.name,
                    k.document_count.unwrap_or_default(),
                    k.chunk_count.unwrap_or_default(),
                    k.chunk_template,
                    k.embedding_model,
                    k.embedding_dim,
                    k.description
                );
            }
            let presets: Vec<String> = all
                .embedding_presets
                .iter()
                .map(|p| format!("{} ({})", p.name, p.model))
                .collect();
            println!("embedding presets: {}", presets.join(", "));
        }
        KbCommand::Create {
            name,
            description,
            embedding,
            chunk_size,
            chunk_template,
            ocr_languages,
        } => {
            let ocr_languages = ocr_languages.map(|l| {
                l.split(',')
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && *l != "none")
                    .map(str::to_string)
                    .collect()
            });
            let kb = backend
                .create_kb(NewKnowledgeBase {
                    name,
                    description,
                    chunk_size,
                    chunk_template,
                    ocr_languages,
                    embedding: embedding.map(EmbeddingChoice::Preset),
                    ..Default::default()
                })
                .await?;
            println!(
                "created knowledge base {} ({}) on {} ({} dims)",
                kb.name, kb.id, kb.embedding_model, kb.embedding_dim
            );
        }
        KbCommand::Delete { name } => {
            backend.delete_kb(&name).await?;
            println!("deleted knowledge base {name}");
        }
        KbCommand::Reindex {
            name,
            embedding,
            chunk_size,
            chunk_overlap,
            chunk_template,
            cancel,
            status,
        } => {
            if cancel {
                let r = backend.reindex_cancel(&name).await?;
                println!("re-index {} of {name} is being cancelled", r.id);
                return follow_reindex(backend, &name).await;
            }
            if !status {
                let r = backend
                    .reindex(
                        &name,
                        ReindexRequest {
                            embedding: embedding.map(EmbeddingChoice::Preset),
                            chunk_size,
                            chunk_overlap,
                            chunk_template,
                        },
                    )
                    .await?;
                println!(
                    "re-indexing {name}: {} → {} ({} dims), chunks of {} tokens, {} overlap",
                    r.from_model, r.embedding_model, r.embedding_dim, r.chunk_size, r.chunk_overlap
                );
            }
            follow_reindex(backend, &name).await?;
        }
    }
    Ok(())
}

/// Follows the newest re-index of `kb` with a progress bar until it ends (processing the
/// queue here in embedded mode), then says how it ended.
async fn follow_reindex(backend: &Backend, kb: &str) -> anyhow::Result<()> {
    let mut drain = start_local_drain(backend);
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} documents {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let view = loop {
        let view = backend.reindex_status(kb).await?;
        if !view.status.is_active() {
            break view;
        }
        bar.set_length(view.total.max(0) as u64);
        bar.set_position(view.done.max(0) as u64);
        bar.set_message(view.note.clone().unwrap_or_default());
        if drain.as_ref().is_some_and(|d| d.is_finished()) {
            // Embedded mode: the job waits for its next turn; drain the queue again.
            finish_local_drain(backend, drain.take()).await?;
            drain = start_local_drain(backend);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    bar.finish_and_clear();
    finish_local_drain(backend, drain).await?;
    report(&view)
}

fn report(r: &ReindexView) -> anyhow::Result<()> {
    match r.status {
        ReindexStatus::Done => {
            println!(
                "re-indexed {} documents on {} ({} dims; {} chunks embedded, the rest from the cache)",
                r.done, r.embedding_model, r.embedding_dim, r.embedded
            );
            Ok(())
        }
        ReindexStatus::Cancelled => {
            println!("re-index cancelled: the knowledge base keeps its index");
            Ok(())
        }
        ReindexStatus::Failed => bail!(
            "{}; the knowledge base keeps its index",
            r.error.as_deref().unwrap_or("re-index failed")
        ),
        ReindexStatus::Running | ReindexStatus::Cancelling => Ok(()),
    }
}

//! `ragd kb list|create|delete`.

use super::backend::Backend;
use super::KbCommand;
use crate::service::knowledge_bases::{EmbeddingChoice, NewKnowledgeBase};

pub async fn run(backend: &Backend, command: KbCommand) -> anyhow::Result<()> {
    match command {
        KbCommand::List => {
            let all = backend.list_kbs().await?;
            if all.knowledge_bases.is_empty() {
                println!("no knowledge bases yet: ragd kb create NAME");
            }
            for k in all.knowledge_bases {
                println!(
                    "{}\t{} documents\t{} chunks\t{} ({} dims)\t{}",
                    k.name,
                    k.document_count,
                    k.chunk_count,
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
        } => {
            let kb = backend
                .create_kb(NewKnowledgeBase {
                    name,
                    description,
                    chunk_size,
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
    }
    Ok(())
}

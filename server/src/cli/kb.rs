//! `ragd kb list|create|delete`.

use super::backend::Backend;
use super::KbCommand;
use crate::service::knowledge_bases::NewKnowledgeBase;

pub async fn run(backend: &Backend, command: KbCommand) -> anyhow::Result<()> {
    match command {
        KbCommand::List => {
            let kbs = backend.list_kbs().await?.knowledge_bases;
            if kbs.is_empty() {
                println!("no knowledge bases yet: ragd kb create NAME");
            }
            for k in kbs {
                println!(
                    "{}\t{} documents\t{} chunks\t{}",
                    k.name, k.document_count, k.chunk_count, k.description
                );
            }
        }
        KbCommand::Create { name, description } => {
            let kb = backend
                .create_kb(NewKnowledgeBase {
                    name,
                    description,
                    ..Default::default()
                })
                .await?;
            println!("created knowledge base {} ({})", kb.name, kb.id);
        }
        KbCommand::Delete { name } => {
            backend.delete_kb(&name).await?;
            println!("deleted knowledge base {name}");
        }
    }
    Ok(())
}

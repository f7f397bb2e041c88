//! `ragd key create|list|revoke`.

use anyhow::anyhow;

use super::backend::Backend;
use super::KeyCommand;
use crate::service::auth::Role;
use crate::service::keys::{KeyView, NewKey};

fn scope(k: &KeyView) -> String {
    match &k.knowledge_bases {
        None => "all knowledge bases".into(),
        Some(kbs) => kbs
            .iter()
            .map(|e| {
                e.name
                    .clone()
                    .unwrap_or_else(|| format!("{} (deleted)", e.id))
            })
            .collect::<Vec<_>>()
            .join(","),
    }
}

pub async fn run(backend: &Backend, command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create {
            name,
            role,
            kb,
            expires_days,
        } => {
            let role = Role::parse(&role)
                .ok_or_else(|| anyhow!("--role must be admin, editor or reader"))?;
            let expires_at = expires_days.map(|d| {
                (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(i64::from(d) * 24))
                    .to_string()
            });
            let made = backend
                .create_key(NewKey {
                    name,
                    role,
                    knowledge_bases: (!kb.is_empty()).then_some(kb),
                    expires_at,
                })
                .await?;
            eprintln!(
                "key {} ({}, {}{}): the secret below is shown this once",
                made.key.id,
                made.key.role.as_str(),
                scope(&made.key),
                made.key
                    .expires_at
                    .as_deref()
                    .map(|e| format!(", until {e}"))
                    .unwrap_or_default()
            );
            println!("{}", made.secret);
        }
        KeyCommand::List => {
            for k in backend.list_keys().await? {
                println!(
                    "{}\t{}\t{}\t{}\t…{}\t{}\t{}",
                    k.id,
                    k.name,
                    k.role.as_str(),
                    k.status,
                    k.hint,
                    scope(&k),
                    k.last_used_at.as_deref().unwrap_or("never used")
                );
            }
        }
        KeyCommand::Revoke { id } => {
            let k = backend.revoke_key(&id).await?;
            println!("key {} ({}) is {}", k.id, k.name, k.status);
        }
    }
    Ok(())
}

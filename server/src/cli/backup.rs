//! `ragd backup [--list]`.

use super::backend::Backend;

pub async fn run(backend: &Backend, list: bool) -> anyhow::Result<()> {
    if list {
        for b in backend.backups().await? {
            println!(
                "{}\t{}\t{:.1} MB",
                b.name,
                b.created_at.unwrap_or_default(),
                b.bytes as f64 / 1e6
            );
        }
        return Ok(());
    }
    let b = backend.backup().await?;
    println!(
        "backup written to {} ({:.1} MB; writes paused {} ms)",
        b.path,
        b.bytes as f64 / 1e6,
        b.paused_ms.unwrap_or(0)
    );
    Ok(())
}

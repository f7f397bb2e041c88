//! `ragd llm check`: the configured model, whether its backend answers, the GPU memory it
//! needs.

use anyhow::bail;

use super::backend::Backend;

pub async fn check(backend: &Backend) -> anyhow::Result<()> {
    let r = backend.llm().await?;
    if !r.configured {
        println!("{}", r.message.as_deref().unwrap_or("no llm is configured"));
        return Ok(());
    }
    let provider = r
        .provider
        .map(|p| format!("{p:?}").to_lowercase())
        .unwrap_or_default();
    println!(
        "model:      {} ({} at {})",
        r.model.unwrap_or_default(),
        provider,
        r.base_url.unwrap_or_default()
    );
    println!("context:    {} tokens", r.context_window.unwrap_or(0));
    match r.gpu_memory_estimate {
        Some(e) => println!(
            "gpu memory: about {} GB ({}B parameters at {} bits, from the {}; {})",
            e.gigabytes,
            e.parameters_billion,
            e.bits_per_weight,
            e.source,
            r.formula.unwrap_or_default()
        ),
        None => println!(
            "gpu memory: unknown (no parameter count in the model name or from the backend)"
        ),
    }
    if r.reachable {
        println!("backend:    answers");
        Ok(())
    } else {
        bail!(
            "backend: {}",
            r.error.as_deref().unwrap_or("does not answer")
        )
    }
}

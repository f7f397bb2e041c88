//! Lower CPU priority for background work (ingest embedding, index optimization), so that
//! searches keep their latency while it runs.

/// Lowers the calling thread's priority to `nice` (clamped to 0..=19; 0 leaves it as is).
/// On Linux a nice value is per thread, and threads started afterwards from this one (ONNX
/// Runtime's, the HNSW builder's) inherit it.
pub fn lower_current_thread(nice: i32) -> std::io::Result<()> {
    let nice = nice.clamp(0, 19);
    if nice == 0 {
        return Ok(());
    }
    rustix::process::setpriority_process(None, nice).map_err(std::io::Error::from)
}

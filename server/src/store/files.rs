//! Original files on local disk, addressed by the SHA-256 of their content
//! (`files/ab/abcdef…`). Names are derived from content only, never from the client.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Content-addressed file store.
#[derive(Debug, Clone)]
pub struct Files {
    root: PathBuf,
}

/// Hex SHA-256 of `bytes`.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Files {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// The folder the files live in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, hash: &str) -> std::io::Result<PathBuf> {
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "bad content hash",
            ));
        }
        Ok(self.root.join(&hash[..2]).join(hash))
    }

    /// Stores `bytes` under `hash` (written to a temporary file, synced, then renamed).
    pub async fn put(&self, hash: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(hash)?;
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir).await?;
        let tmp = dir.join(format!(".{hash}.{}.tmp", uuid::Uuid::new_v4()));
        let file = tokio::fs::File::create(&tmp).await?;
        let write = async {
            use tokio::io::AsyncWriteExt;
            let mut file = file;
            file.write_all(bytes).await?;
            file.sync_all().await
        };
        if let Err(e) = write.await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        tokio::fs::rename(&tmp, &path).await
    }

    pub async fn get(&self, hash: &str) -> std::io::Result<Vec<u8>> {
        tokio::fs::read(self.path(hash)?).await
    }

    pub async fn remove(&self, hash: &str) -> std::io::Result<()> {
        match tokio::fs::remove_file(self.path(hash)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Files::new(dir.path().to_path_buf());
        let hash = content_hash(b"hello");
        store.put(&hash, b"hello").await.unwrap();
        store.put(&hash, b"hello").await.unwrap();
        assert_eq!(store.get(&hash).await.unwrap(), b"hello");
        assert!(dir.path().join(&hash[..2]).join(&hash).is_file());
        store.remove(&hash).await.unwrap();
        store.remove(&hash).await.unwrap();
        assert!(store.get(&hash).await.is_err());
    }

    #[tokio::test]
    async fn client_names_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let store = Files::new(dir.path().to_path_buf());
        assert!(store.put("../../etc/passwd", b"x").await.is_err());
    }
}

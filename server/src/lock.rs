//! A data folder belongs to one process at a time: `ragd.lock` holds an exclusive file lock
//! for as long as the process lives, and `ragd.addr` says where a server holding it listens.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// The held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DataLock {
    _file: File,
    addr_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the data folder {dir} is in use by a ragd server at {url}; use --url {url}")]
    HeldByServer { dir: String, url: String },
    #[error("the data folder {dir} is in use by another ragd process")]
    Held { dir: String },
    #[error("cannot lock the data folder {dir}: {source}")]
    Io { dir: String, source: std::io::Error },
}

impl DataLock {
    pub fn acquire(data_dir: &Path) -> Result<Self, LockError> {
        let dir = data_dir.display().to_string();
        let io = |source| LockError::Io {
            dir: dir.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        // A folder made before (or by another tool) is closed to other users too.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(data_dir.join("ragd.lock"))
            .map_err(io)?;
        let addr_file = data_dir.join("ragd.addr");
        match file.try_lock() {
            Ok(()) => {
                let _ = std::fs::remove_file(&addr_file);
                Ok(Self {
                    _file: file,
                    addr_file,
                })
            }
            Err(std::fs::TryLockError::WouldBlock) => match std::fs::read_to_string(&addr_file) {
                Ok(url) if !url.trim().is_empty() => Err(LockError::HeldByServer {
                    dir,
                    url: url.trim().to_string(),
                }),
                _ => Err(LockError::Held { dir }),
            },
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// Records the URL of the server that holds the folder.
    pub fn publish_url(&self, url: &str) -> std::io::Result<()> {
        std::fs::write(&self.addr_file, url)
    }
}

impl Drop for DataLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.addr_file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_told_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let lock = DataLock::acquire(dir.path()).unwrap();
        assert!(matches!(
            DataLock::acquire(dir.path()),
            Err(LockError::Held { .. })
        ));
        lock.publish_url("http://127.0.0.1:1234").unwrap();
        let err = DataLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("--url http://127.0.0.1:1234"), "{err}");
        drop(lock);
        assert!(DataLock::acquire(dir.path()).is_ok());
    }
}

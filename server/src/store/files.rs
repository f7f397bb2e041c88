//! Original files, addressed by the SHA-256 of their content (`ab/abcdef…`); names are
//! derived from content only, never from the client. Two backends behind one type:
//! - local disk (the default, `data_dir/files`, or `file://PATH`): written to a temporary
//!   file, synced, then renamed;
//! - an S3-compatible object store (`s3://BUCKET/PREFIX`, through the `object_store` crate;
//!   endpoint, region and keys from the usual `AWS_*` variables), which replicas share.
//!
//! A file is removed only when no document uses it (the caller checks).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};

/// What kind of failure a file call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilesErrorKind {
    /// No file under that hash.
    NotFound,
    /// The object store cannot be reached, or did not answer in time.
    Unavailable,
    /// Not a content hash, or a bad storage URL.
    Invalid,
    Internal,
}

/// A failed file call.
#[derive(Debug, thiserror::Error)]
#[error("{engine}: {message}")]
pub struct FilesError {
    kind: FilesErrorKind,
    engine: &'static str,
    message: String,
}

impl FilesError {
    pub fn kind(&self) -> FilesErrorKind {
        self.kind
    }

    /// `local disk` or `object store`.
    pub fn engine(&self) -> &'static str {
        self.engine
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: FilesErrorKind::Invalid,
            engine: "file storage",
            message: message.into(),
        }
    }

    fn io(e: std::io::Error) -> Self {
        Self {
            kind: match e.kind() {
                std::io::ErrorKind::NotFound => FilesErrorKind::NotFound,
                _ => FilesErrorKind::Internal,
            },
            engine: "local disk",
            message: e.to_string(),
        }
    }

    fn object(e: object_store::Error) -> Self {
        let kind = match &e {
            object_store::Error::NotFound { .. } => FilesErrorKind::NotFound,
            object_store::Error::Generic { .. } => FilesErrorKind::Unavailable,
            _ => FilesErrorKind::Internal,
        };
        Self {
            kind,
            engine: "object store",
            message: e.to_string(),
        }
    }
}

pub type Result<T, E = FilesError> = std::result::Result<T, E>;

/// Hex SHA-256 of `bytes`.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Content-addressed file store.
#[derive(Debug, Clone)]
pub struct Files {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Local(PathBuf),
    Object {
        store: Arc<dyn ObjectStore>,
        prefix: String,
        url: String,
    },
}

/// How long one object-store call may take before it counts as unavailable.
const OBJECT_TIMEOUT: Duration = Duration::from_secs(30);

fn check(hash: &str) -> Result<()> {
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FilesError::invalid("bad content hash"));
    }
    Ok(())
}

impl Files {
    /// Files on local disk under `root`.
    pub fn new(root: PathBuf) -> Self {
        Self {
            backend: Backend::Local(root),
        }
    }

    /// The store `url` names: `file://PATH`, or `s3://BUCKET[/PREFIX]` with the rest of its
    /// settings from the `AWS_*` variables (`AWS_ENDPOINT_URL` for MinIO, Ceph, R2 or moto;
    /// an `http://` endpoint is allowed as such).
    pub fn from_url(url: &str) -> Result<Self> {
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(Self::new(PathBuf::from(path)));
        }
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(FilesError::invalid(format!(
                "storage url must start with file:// or s3://, not {url}"
            )));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(FilesError::invalid("the s3 storage url names no bucket"));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for key in ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"] {
            if let Ok(endpoint) = std::env::var(key) {
                builder = builder.with_endpoint(&endpoint);
                break;
            }
        }
        let http = builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .is_some_and(|e| e.starts_with("http://"));
        let store = builder
            .with_client_options(
                object_store::ClientOptions::new()
                    .with_timeout(OBJECT_TIMEOUT)
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_allow_http(http),
            )
            .with_retry(object_store::RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(10),
                ..Default::default()
            })
            .build()
            .map_err(|e| FilesError::invalid(format!("cannot use {url}: {e}")))?;
        Ok(Self {
            backend: Backend::Object {
                store: Arc::new(store),
                prefix: prefix.trim_matches('/').to_string(),
                url: url.to_string(),
            },
        })
    }

    /// The folder the files live in, when they are on local disk.
    pub fn root(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Local(root) => Some(root),
            Backend::Object { .. } => None,
        }
    }

    /// Where the files are, as `/healthz` and errors say it.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Local(root) => format!("file://{}", root.display()),
            Backend::Object { url, .. } => url.clone(),
        }
    }

    fn key(prefix: &str, hash: &str) -> ObjectPath {
        let key = format!("{}/{hash}", &hash[..2]);
        if prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{prefix}/{key}"))
        }
    }

    /// Stores `bytes` under `hash`.
    pub async fn put(&self, hash: &str, bytes: &[u8]) -> Result<()> {
        check(hash)?;
        match &self.backend {
            Backend::Local(root) => put_local(root, hash, bytes).await.map_err(FilesError::io),
            Backend::Object { store, prefix, .. } => {
                // Same content, same key: a second put of the same hash rewrites the same bytes.
                store
                    .put(&Self::key(prefix, hash), PutPayload::from(bytes.to_vec()))
                    .await
                    .map(drop)
                    .map_err(FilesError::object)
            }
        }
    }

    pub async fn get(&self, hash: &str) -> Result<Vec<u8>> {
        check(hash)?;
        match &self.backend {
            Backend::Local(root) => tokio::fs::read(root.join(&hash[..2]).join(hash))
                .await
                .map_err(FilesError::io),
            Backend::Object { store, prefix, .. } => {
                let got = store
                    .get(&Self::key(prefix, hash))
                    .await
                    .map_err(FilesError::object)?;
                Ok(got.bytes().await.map_err(FilesError::object)?.to_vec())
            }
        }
    }

    /// Whether a file is stored under `hash`.
    pub async fn exists(&self, hash: &str) -> Result<bool> {
        check(hash)?;
        match &self.backend {
            Backend::Local(root) => Ok(tokio::fs::try_exists(root.join(&hash[..2]).join(hash))
                .await
                .unwrap_or(false)),
            Backend::Object { store, prefix, .. } => {
                match store.head(&Self::key(prefix, hash)).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(FilesError::object(e)),
                }
            }
        }
    }

    pub async fn remove(&self, hash: &str) -> Result<()> {
        check(hash)?;
        match &self.backend {
            Backend::Local(root) => {
                match tokio::fs::remove_file(root.join(&hash[..2]).join(hash)).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(FilesError::io(e)),
                    _ => Ok(()),
                }
            }
            Backend::Object { store, prefix, .. } => {
                match store.delete(&Self::key(prefix, hash)).await {
                    Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
                    Err(e) => Err(FilesError::object(e)),
                }
            }
        }
    }

    /// A round trip to the store (for `/healthz`): the local folder exists, or the bucket
    /// answers a listing.
    pub async fn ping(&self) -> Result<()> {
        match &self.backend {
            Backend::Local(root) => {
                tokio::fs::create_dir_all(root)
                    .await
                    .map_err(FilesError::io)?;
                Ok(())
            }
            Backend::Object { store, prefix, .. } => {
                let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix.as_str()));
                store
                    .list_with_delimiter(prefix.as_ref())
                    .await
                    .map(drop)
                    .map_err(FilesError::object)
            }
        }
    }
}

/// Writes to a temporary file, syncs it, then renames it into place.
async fn put_local(root: &Path, hash: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = root.join(&hash[..2]).join(hash);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Put, get and remove on `store`, whichever backend.
    async fn round_trip(store: &Files) {
        let hash = content_hash(b"hello");
        assert!(!store.exists(&hash).await.unwrap());
        store.put(&hash, b"hello").await.unwrap();
        store.put(&hash, b"hello").await.unwrap();
        assert!(store.exists(&hash).await.unwrap());
        assert_eq!(store.get(&hash).await.unwrap(), b"hello");
        store.remove(&hash).await.unwrap();
        store.remove(&hash).await.unwrap();
        let gone = store.get(&hash).await.unwrap_err();
        assert_eq!(gone.kind(), FilesErrorKind::NotFound);
        assert_eq!(
            store
                .put("../../etc/passwd", b"x")
                .await
                .unwrap_err()
                .kind(),
            FilesErrorKind::Invalid
        );
        store.ping().await.unwrap();
    }

    #[tokio::test]
    async fn put_get_remove_on_local_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Files::from_url(&format!("file://{}", dir.path().display())).unwrap();
        let hash = content_hash(b"hello");
        store.put(&hash, b"hello").await.unwrap();
        assert!(dir.path().join(&hash[..2]).join(&hash).is_file());
        store.remove(&hash).await.unwrap();
        round_trip(&store).await;
    }

    /// Against an S3 server when `RAGD_TEST_S3` names one (`scripts/with_moto.sh` starts
    /// moto and makes the bucket); `make test` runs it there.
    #[tokio::test]
    #[ignore = "needs an S3 server: scripts/with_moto.sh sets RAGD_TEST_S3"]
    async fn put_get_remove_on_s3() {
        let url = std::env::var("RAGD_TEST_S3").expect("RAGD_TEST_S3");
        let store = Files::from_url(&format!("{url}/unit-{}", uuid::Uuid::new_v4())).unwrap();
        round_trip(&store).await;
    }

    #[tokio::test]
    async fn a_store_that_is_down_is_unavailable_within_bounds() {
        // A port nothing listens on: refused at once, reported as unavailable.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = Files {
            backend: Backend::Object {
                store: Arc::new(
                    AmazonS3Builder::new()
                        .with_bucket_name("b")
                        .with_region("us-east-1")
                        .with_access_key_id("k")
                        .with_secret_access_key("s")
                        .with_endpoint(format!("http://127.0.0.1:{port}"))
                        .with_allow_http(true)
                        .with_retry(object_store::RetryConfig {
                            max_retries: 0,
                            ..Default::default()
                        })
                        .build()
                        .unwrap(),
                ),
                prefix: String::new(),
                url: "s3://b".into(),
            },
        };
        let started = std::time::Instant::now();
        let e = store.get(&content_hash(b"x")).await.unwrap_err();
        assert_eq!(e.kind(), FilesErrorKind::Unavailable, "{e}");
        assert_eq!(e.engine(), "object store");
        assert!(started.elapsed() < Duration::from_secs(15));
    }
}

//! Embedding spaces: one embedding model and the index that holds its vectors.
//!
//! Vectors of different models cannot be compared, so each model gets an index of its own,
//! shared by every knowledge base that uses it:
//! - the space whose model is recorded in `<data>/vectors` (the server default on a fresh
//!   data folder, and every index made before models were chosen per knowledge base) lives
//!   there, and on a Qdrant server in the configured collection;
//! - every other model lives in `<data>/vectors/spaces/<slug>`, and on a Qdrant server in the
//!   collection `<collection>-<slug>`.
//!
//! The default space is opened at start; the others when a knowledge base first needs them.
//! Opening a space builds its embedder ([`retrieval::connect`]): a remote model with a known
//! vector size is not called, so a model server that is down does not stop ragd.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use retrieval::{Embed, EmbeddingConfig, Index, IndexConfig, QdrantServerConfig};

/// One model and its index.
#[derive(Debug)]
pub struct Space {
    pub embedder: Arc<dyn Embed>,
    pub index: Arc<Index>,
    /// The model's shared ingest batches (a thread, started with the space).
    pub batcher: Arc<ingest::Batcher>,
}

impl Space {
    /// The model's name, which names the space.
    pub fn model(&self) -> &str {
        self.embedder.name()
    }
}

/// Every open space.
#[derive(Debug)]
pub struct Spaces {
    vectors: PathBuf,
    server: Option<QdrantServerConfig>,
    default: Arc<Space>,
    others: Mutex<HashMap<String, Arc<Space>>>,
}

/// The file in an index folder that records its model (see `retrieval::index`).
const MODEL_RECORD: &str = "ragd-index.json";

impl Spaces {
    /// Opens the default space for `embedder` under `vectors`. Blocking.
    pub fn open(
        vectors: &Path,
        server: Option<QdrantServerConfig>,
        embedder: Arc<dyn Embed>,
    ) -> retrieval::Result<Self> {
        let at_root = recorded_model(vectors).is_none_or(|m| m == embedder.name());
        let default = Arc::new(open_at(vectors, &server, embedder, at_root)?);
        Ok(Self {
            vectors: vectors.to_path_buf(),
            server,
            default,
            others: Mutex::new(HashMap::new()),
        })
    }

    /// The space of the server's default model.
    pub fn default_space(&self) -> &Arc<Space> {
        &self.default
    }

    /// The open space of `model`, if any.
    pub fn get(&self, model: &str) -> Option<Arc<Space>> {
        if self.default.model() == model {
            return Some(self.default.clone());
        }
        self.lock().get(model).cloned()
    }

    /// The space of the model `config` describes, with vectors of `dim` dimensions, opened
    /// on first use. Blocking (a local model is loaded).
    pub fn open_space(
        &self,
        config: &EmbeddingConfig,
        dim: usize,
    ) -> retrieval::Result<Arc<Space>> {
        match self.get(&config.model_name()) {
            Some(space) => Ok(space),
            None => self.adopt(retrieval::connect(config, Some(dim))?),
        }
    }

    /// The space of `embedder`'s model: the open one, or a new one with this embedder.
    /// Blocking.
    pub fn adopt(&self, embedder: Arc<dyn Embed>) -> retrieval::Result<Arc<Space>> {
        if let Some(space) = self.get(embedder.name()) {
            return Ok(space);
        }
        let mut others = self.lock();
        if let Some(space) = others.get(embedder.name()) {
            return Ok(space.clone());
        }
        let space = Arc::new(self.open_index(embedder)?);
        others.insert(space.model().to_string(), space.clone());
        Ok(space)
    }

    /// The model and vector size recorded in the root folder.
    pub fn root_model(&self) -> Option<(String, usize)> {
        let bytes = std::fs::read(self.vectors.join(MODEL_RECORD)).ok()?;
        let record: Record = serde_json::from_slice(&bytes).ok()?;
        Some((record.model, record.dim))
    }

    /// Every open space, the default first.
    pub fn all(&self) -> Vec<Arc<Space>> {
        let mut all = vec![self.default.clone()];
        let mut others: Vec<_> = self.lock().values().cloned().collect();
        others.sort_by(|a, b| a.model().cmp(b.model()));
        all.extend(others);
        all
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Space>>> {
        self.others.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens the index of `embedder`'s model in its folder (and collection).
    fn open_index(&self, embedder: Arc<dyn Embed>) -> retrieval::Result<Space> {
        let at_root = recorded_model(&self.vectors).is_some_and(|m| m == embedder.name());
        open_at(&self.vectors, &self.server, embedder, at_root)
    }
}

/// Opens a space: in `vectors` itself (`at_root`), or in its own folder and collection.
fn open_at(
    vectors: &Path,
    server: &Option<QdrantServerConfig>,
    embedder: Arc<dyn Embed>,
    at_root: bool,
) -> retrieval::Result<Space> {
    let (name, dim) = (embedder.name().to_string(), embedder.dim());
    let (path, server) = if at_root {
        (vectors.to_path_buf(), server.clone())
    } else {
        let slug = slug(&name, dim);
        (
            vectors.join("spaces").join(&slug),
            server.clone().map(|mut s| {
                s.collection = format!("{}-{slug}", s.collection);
                s
            }),
        )
    };
    let index = Index::open(&IndexConfig { path, server }, &name, dim)?;
    let batcher = ingest::Batcher::new(embedder.clone()).map_err(|e| {
        retrieval::Error::Model(format!("cannot start the embedding batch thread: {e}"))
    })?;
    Ok(Space {
        embedder,
        index: Arc::new(index),
        batcher: Arc::new(batcher),
    })
}

/// What an index folder records of its model.
#[derive(serde::Deserialize)]
struct Record {
    model: String,
    dim: usize,
}

/// The model recorded in an index folder, if the folder holds one.
fn recorded_model(folder: &Path) -> Option<String> {
    let bytes = std::fs::read(folder.join(MODEL_RECORD)).ok()?;
    serde_json::from_slice::<Record>(&bytes)
        .ok()
        .map(|r| r.model)
}

/// A folder and collection name for a model: lowercase letters, digits and dashes, the
/// vector size, and a digest of the full name (two names may share a slug otherwise).
pub fn slug(model: &str, dim: usize) -> String {
    let mut s: String = model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s: String = s.trim_matches('-').chars().take(48).collect();
    let digest = model.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{s}-{dim}-{:06x}", digest & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use retrieval::HashEmbed;

    /// A test embedder under another name.
    #[derive(Debug)]
    struct Renamed(HashEmbed, &'static str);

    impl Embed for Renamed {
        fn name(&self) -> &str {
            self.1
        }
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn covers(&self, l: &str) -> bool {
            self.0.covers(l)
        }
        fn batch_size(&self) -> usize {
            self.0.batch_size()
        }
        fn tokenizer(&self) -> &retrieval::Tokenizer {
            self.0.tokenizer()
        }
        fn embed_query(&self, t: &str) -> retrieval::Result<Vec<f32>> {
            self.0.embed_query(t)
        }
        fn embed_batch(&self, t: &[&str]) -> retrieval::Result<Vec<Vec<f32>>> {
            self.0.embed_batch(t)
        }
    }

    #[test]
    fn slugs_are_safe_and_distinct() {
        assert!(slug("openai:bge-m3", 1024).starts_with("openai-bge-m3-1024-"));
        assert_ne!(slug("a:b", 8), slug("a/b", 8));
        assert!(slug("模型", 8)
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn the_recorded_model_keeps_the_root_folder() {
        let dir = tempfile::tempdir().unwrap();
        let vectors = dir.path().join("vectors");
        let first: Arc<dyn Embed> = Arc::new(Renamed(HashEmbed::new(8), "first"));
        let spaces = Spaces::open(&vectors, None, first.clone()).unwrap();
        assert_eq!(recorded_model(&vectors).as_deref(), Some("first"));
        drop(spaces);
        // A new default: the first model keeps the root, the new one gets its own folder.
        let second: Arc<dyn Embed> = Arc::new(Renamed(HashEmbed::new(16), "second"));
        let spaces = Spaces::open(&vectors, None, second).unwrap();
        assert_eq!(recorded_model(&vectors).as_deref(), Some("first"));
        let folder = vectors.join("spaces").join(slug("second", 16));
        assert_eq!(recorded_model(&folder).as_deref(), Some("second"));
        assert_eq!(spaces.all().len(), 1);
        assert!(spaces.get("second").is_some() && spaces.get("first").is_none());
    }
}

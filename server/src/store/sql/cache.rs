//! The embedding cache on SQLite: [`ingest::VectorCache`] for the pipeline, which runs on
//! blocking threads, so each call waits on the runtime for its query.

use tokio::runtime::Handle;

use super::Store;
use crate::store::db::{exec, fetch, Db};

/// Keys per `IN (…)` list.
const LOOKUP_BATCH: usize = 400;

/// The cache over a store's pool; cheap to clone.
#[derive(Debug, Clone)]
pub struct VectorCache {
    db: Db,
    runtime: Handle,
}

impl Store {
    /// The embedding cache in this store. `runtime` runs its queries (the pipeline calls it
    /// from blocking threads).
    pub fn vector_cache(&self, runtime: Handle) -> VectorCache {
        VectorCache {
            db: self.db.clone(),
            runtime,
        }
    }

    /// Forgets the cached vectors of every model but `keep`; returns how many went.
    pub async fn prune_vector_cache(&self, keep: &[String]) -> super::Result<u64> {
        let mut removed = 0;
        let models: Vec<String> = fetch!(
            self,
            fetch_all,
            sqlx::query_scalar("SELECT DISTINCT model FROM embedding_cache")
        )?;
        for model in models.iter().filter(|m| !keep.contains(m)) {
            removed += exec!(
                self,
                sqlx::query("DELETE FROM embedding_cache WHERE model = $1").bind(model)
            )?
            .rows_affected();
        }
        Ok(removed)
    }
}

fn encode(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn decode(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    )
}

impl VectorCache {
    async fn lookup(&self, model: &str, keys: &[[u8; 32]]) -> super::Result<Vec<Option<Vec<f32>>>> {
        let mut found = std::collections::HashMap::new();
        for part in keys.chunks(LOOKUP_BATCH) {
            let marks: Vec<String> = (2..part.len() + 2).map(|i| format!("${i}")).collect();
            let marks = marks.join(", ");
            let sql = format!(
                "SELECT key, vector FROM embedding_cache WHERE model = $1 AND key IN ({marks})"
            );
            macro_rules! query {
                () => {{
                    let mut query = sqlx::query_as(&sql).bind(model);
                    for k in part {
                        query = query.bind(k.as_slice());
                    }
                    query
                }};
            }
            let rows: Vec<(Vec<u8>, Vec<u8>)> = fetch!(self, fetch_all, query!())?;
            for (key, vector) in rows {
                found.insert(key, vector);
            }
        }
        Ok(keys
            .iter()
            .map(|k| found.get(k.as_slice()).and_then(|v| decode(v)))
            .collect())
    }

    async fn store(&self, model: &str, entries: &[([u8; 32], &[f32])]) -> super::Result<()> {
        let now = crate::store::now();
        let mut tx = self.db.write().await?;
        for (key, vector) in entries {
            exec!(tx tx, sqlx::query(
                "INSERT INTO embedding_cache (model, key, vector, used_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (model, key) DO UPDATE SET vector = excluded.vector, used_at = excluded.used_at",
            )
            .bind(model)
            .bind(key.as_slice())
            .bind(encode(vector))
            .bind(&now))?;
        }
        tx.commit().await
    }
}

impl ingest::VectorCache for VectorCache {
    fn get(&self, model: &str, keys: &[[u8; 32]]) -> Vec<Option<Vec<f32>>> {
        match self.runtime.block_on(self.lookup(model, keys)) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "embedding cache lookup failed");
                vec![None; keys.len()]
            }
        }
    }

    fn put(&self, model: &str, entries: &[([u8; 32], &[f32])]) {
        if let Err(e) = self.runtime.block_on(self.store(model, entries)) {
            tracing::warn!(error = %e, "cannot store vectors in the embedding cache");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest::VectorCache as _;

    #[test]
    fn vectors_round_trip_per_model() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = runtime.block_on(Store::open_for_tests(dir.path())).unwrap();
        let cache = store.vector_cache(runtime.handle().clone());
        let (a, b) = ([1u8; 32], [2u8; 32]);
        std::thread::scope(|s| {
            s.spawn(|| {
                cache.put("m", &[(a, &[0.5, -1.0][..])]);
                assert_eq!(cache.get("m", &[a, b]), vec![Some(vec![0.5, -1.0]), None]);
                assert_eq!(cache.get("other", &[a]), vec![None]);
            });
        });
        let removed = runtime
            .block_on(store.prune_vector_cache(&["kept".into()]))
            .unwrap();
        assert_eq!(removed, 1);
    }
}

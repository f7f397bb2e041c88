//! Knowledge bases: create, list, find (by id or name), change, delete, statistics.

use std::collections::BTreeMap;
use std::sync::Arc;

use retrieval::{EmbeddingConfig, Provider};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::documents;
use super::State;
use crate::config::DEFAULT_PRESET;
use crate::error::{Error, Result};
use crate::spaces::Space;
use crate::store::{KbEmbedding, KnowledgeBase, NewKbRow};

/// A new knowledge base.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKnowledgeBase {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub chunk_size: Option<usize>,
    #[serde(default)]
    pub chunk_overlap: Option<usize>,
    /// How documents are cut: `general` (the default), `qa`, `table` or `parent_child`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_template: Option<String>,
    /// Languages OCR reads scanned pages and images in (Tesseract's names, `eng`,
    /// `chi_sim`, …); `[]` turns OCR off; unset: the server's `[ocr] languages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocr_languages: Option<Vec<String>>,
    /// The embedding model: a preset's name, inline settings, or (unset) the server default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<EmbeddingChoice>,
}

/// How a new knowledge base chooses its embedding model.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(untagged)]
pub enum EmbeddingChoice {
    /// `default` or a name from `[embedding_presets]`.
    Preset(String),
    /// A model of its own. Creating knowledge bases takes the admin key, so only an admin can
    /// point ragd at a model server.
    Inline(Box<InlineEmbedding>),
}

impl<'de> Deserialize<'de> for EmbeddingChoice {
    /// A string is a preset's name; an object, inline settings (unknown fields are errors).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(name) => Ok(Self::Preset(name)),
            v @ serde_json::Value::Object(_) => serde_json::from_value(v)
                .map(|i| Self::Inline(Box::new(i)))
                .map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "embedding must be a preset's name or an object of settings",
            )),
        }
    }
}

/// Inline embedding settings; what is not given comes from the server's `[embedding]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineEmbedding {
    pub provider: Provider,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub api_key: Option<retrieval::Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_type: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<String>>,
}

impl InlineEmbedding {
    /// The full settings: these, over the server's `[embedding]` (its local paths and thread
    /// counts; a remote model starts from the remote defaults).
    pub fn settings(&self, base: &EmbeddingConfig) -> EmbeddingConfig {
        let defaults = EmbeddingConfig::default();
        let remote = self.provider != Provider::Local;
        let pick = |v: Option<usize>, server: usize, plain: usize| {
            v.unwrap_or(if remote { plain } else { server })
        };
        EmbeddingConfig {
            provider: self.provider,
            model: self.model.trim().to_string(),
            base_url: self.base_url.clone().unwrap_or_default(),
            api_key: self.api_key.clone(),
            batch_size: pick(self.batch_size, base.batch_size, defaults.batch_size),
            concurrency: pick(self.concurrency, base.concurrency, defaults.concurrency),
            timeout_secs: self.timeout_secs.unwrap_or(defaults.timeout_secs),
            retries: self.retries.unwrap_or(defaults.retries),
            backoff_ms: self.backoff_ms.unwrap_or(defaults.backoff_ms),
            max_length: pick(self.max_length, base.max_length, 512),
            query_prefix: self.query_prefix.clone().unwrap_or_default(),
            document_prefix: self.document_prefix.clone().unwrap_or_default(),
            input_type: self.input_type.unwrap_or(false),
            languages: self.languages.clone(),
            ..base.clone()
        }
    }
}

/// A knowledge base's chosen model, before it is stored.
struct Chosen {
    preset: Option<String>,
    settings: EmbeddingConfig,
}

/// What `choice` means on this server.
fn choose(state: &State, choice: Option<&EmbeddingChoice>) -> Result<Chosen> {
    match choice {
        None => Ok(Chosen {
            preset: Some(DEFAULT_PRESET.into()),
            settings: state.config.embedding.clone(),
        }),
        Some(EmbeddingChoice::Preset(name)) => {
            let settings = state.config.embedding_preset(name).ok_or_else(|| {
                let mut known: Vec<&str> = vec![DEFAULT_PRESET];
                known.extend(state.config.embedding_presets.keys().map(String::as_str));
                Error::bad_request(format!(
                    "unknown embedding preset {name:?} (known: {})",
                    known.join(", ")
                ))
            })?;
            Ok(Chosen {
                preset: Some(name.clone()),
                settings: settings.clone(),
            })
        }
        Some(EmbeddingChoice::Inline(inline)) => {
            let settings = inline.settings(&state.config.embedding);
            settings
                .validate()
                .map_err(|e| Error::bad_request(e.to_string()))?;
            Ok(Chosen {
                preset: None,
                settings,
            })
        }
    }
}

/// A chosen model, resolved: its settings, its name and its vector size.
pub(crate) struct Resolved {
    pub preset: Option<String>,
    pub settings: EmbeddingConfig,
    pub model: String,
    pub dim: usize,
}

impl Resolved {
    /// The settings as stored with the knowledge base (secrets included).
    pub fn settings_json(&self) -> Result<String> {
        serde_json::to_string(&self.settings).map_err(Error::internal)
    }

    pub fn row<'a>(&'a self, config: &'a str) -> KbEmbedding<'a> {
        KbEmbedding {
            preset: self.preset.as_deref(),
            model: &self.model,
            dim: self.dim as i64,
            provider: self.settings.provider.as_str(),
            config,
        }
    }
}

/// What `choice` means on this server, with the vector size: the default's is known; another
/// model is asked once (a probe), and its space is opened. `chunking` must fit the model.
pub(crate) async fn resolve(
    state: &State,
    choice: Option<&EmbeddingChoice>,
    chunking: ingest::ChunkConfig,
) -> Result<Resolved> {
    let chosen = choose(state, choice)?;
    let remote = chosen.settings.provider != Provider::Local;
    if remote && chunking.size > chosen.settings.max_length {
        return Err(Error::bad_request(format!(
            "chunk_size {} is larger than the embedding model takes (max_length {})",
            chunking.size, chosen.settings.max_length
        )));
    }
    let (model, dim) = if chosen.preset.as_deref() == Some(DEFAULT_PRESET) {
        let space = state.default_space();
        (space.model().to_string(), space.embedder.dim())
    } else {
        let settings = chosen.settings.clone();
        let spaces = state.spaces.clone();
        let space =
            tokio::task::spawn_blocking(move || spaces.adopt(retrieval::connect(&settings, None)?))
                .await?
                .map_err(|e| match e.kind() {
                    // Only admins choose models: they get the cause.
                    retrieval::ErrorKind::Unavailable | retrieval::ErrorKind::Timeout => {
                        Error::Unavailable(format!("cannot ask the model for its vector size: {e}"))
                    }
                    _ => Error::from(e),
                })?;
        (space.model().to_string(), space.embedder.dim())
    };
    Ok(Resolved {
        preset: chosen.preset,
        settings: chosen.settings,
        model,
        dim,
    })
}

/// The settings a knowledge base's model runs with now: its preset's, while the preset still
/// names the same model (so a moved server or a new key reaches it), else any preset of that
/// model, else the settings it was created with.
pub fn settings_of(state: &State, kb: &KnowledgeBase) -> Result<EmbeddingConfig> {
    let same = |c: &&EmbeddingConfig| c.model_name() == kb.embedding_model;
    if let Some(c) = kb
        .embedding_preset
        .as_deref()
        .and_then(|p| state.config.embedding_preset(p))
        .filter(same)
    {
        return Ok(c.clone());
    }
    if let Some(c) = std::iter::once(&state.config.embedding)
        .chain(state.config.embedding_presets.values())
        .find(same)
    {
        return Ok(c.clone());
    }
    serde_json::from_str(&kb.embedding_config).map_err(|_| {
        Error::Unavailable(format!(
            "the embedding model {} of knowledge base {:?} has no settings here: add it to [embedding_presets]",
            kb.embedding_model, kb.name
        ))
    })
}

/// The space (embedding model and index) of a knowledge base, opened on first use.
pub async fn space(state: &State, kb: &KnowledgeBase) -> Result<Arc<Space>> {
    if let Some(space) = state.spaces.get(&kb.embedding_model) {
        return Ok(space);
    }
    let settings = settings_of(state, kb)?;
    let dim = usize::try_from(kb.embedding_dim).unwrap_or(0);
    let spaces = state.spaces.clone();
    let space = tokio::task::spawn_blocking(move || spaces.open_space(&settings, dim)).await??;
    Ok(space)
}

/// The space of the knowledge base with this id.
pub async fn space_of_id(state: &State, kb_id: &str) -> Result<Arc<Space>> {
    let kb = find(state, &Caller::ADMIN, kb_id).await?;
    space(state, &kb).await
}

/// Changes to a knowledge base's settings; what is `None` stays.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeBaseChanges {
    pub description: Option<String>,
    /// The knowledge base's own system prompt for answers; "" restores the default.
    pub system_prompt: Option<String>,
    /// Search defaults: fusion, rerank, weights, thresholds (`{}` clears them).
    pub retrieval: Option<retrieval::SearchOptions>,
    /// Languages OCR reads in from now on (`[]`: OCR off).
    pub ocr_languages: Option<Vec<String>>,
}

/// Every knowledge base, the server's default embedding model, and the presets a new one
/// may choose.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KnowledgeBases {
    pub knowledge_bases: Vec<KnowledgeBase>,
    /// The default model's name.
    pub embedding_model: String,
    #[serde(default)]
    pub embedding_presets: Vec<EmbeddingPreset>,
}

/// A preset as the API shows it (no secrets).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct EmbeddingPreset {
    pub name: String,
    pub provider: Provider,
    pub model: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base_url: String,
    pub languages: Vec<String>,
}

/// Consistency figures: documents per status and chunks in the metadata store, points in the
/// index. `points == chunks` when nothing is duplicated, orphaned or missing.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KnowledgeBaseStats {
    pub documents: BTreeMap<String, i64>,
    pub chunks: i64,
    pub points: u64,
}

/// Checks a knowledge-base name: 1 to 100 characters, no control characters or slashes.
pub fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::bad_request("name must be 1 to 100 characters"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        return Err(Error::bad_request(
            "name must not contain slashes or control characters",
        ));
    }
    Ok(name.to_string())
}

/// The chunk template named `name`, or a clear error.
pub fn template(name: &str) -> Result<ingest::Template> {
    ingest::Template::parse(name).ok_or_else(|| {
        let names: Vec<&str> = ingest::Template::ALL.iter().map(|t| t.as_str()).collect();
        Error::bad_request(format!(
            "chunk_template must be one of {}",
            names.join(", ")
        ))
    })
}

fn check_description(description: Option<&str>) -> Result<()> {
    if description.is_some_and(|d| d.chars().count() > 2000) {
        return Err(Error::bad_request(
            "description must be at most 2000 characters",
        ));
    }
    Ok(())
}

pub async fn create(
    state: &State,
    caller: &Caller,
    req: NewKnowledgeBase,
) -> Result<KnowledgeBase> {
    if caller.is_scoped() {
        return Err(Error::Forbidden(
            "this api key is limited to some knowledge bases and may not make new ones".into(),
        ));
    }
    let name = validate_name(&req.name)?;
    let chunking = ingest::ChunkConfig {
        size: req.chunk_size.unwrap_or(state.config.chunking.size),
        overlap: req.chunk_overlap.unwrap_or(state.config.chunking.overlap),
        template: match req.chunk_template.as_deref() {
            Some(name) => template(name)?,
            None => state.config.chunking.template,
        },
    };
    let ocr_languages = match &req.ocr_languages {
        Some(names) => crate::config::ocr::languages(names).map_err(Error::bad_request)?,
        None => String::new(),
    };
    chunking
        .validate()
        .map_err(|e| Error::bad_request(e.to_string()))?;
    let conflict = || Error::Conflict(format!("a knowledge base named {name:?} already exists"));
    if state.store.get_kb(&name).await?.is_some() {
        return Err(conflict());
    }
    let description = req.description.unwrap_or_default();
    check_description(Some(&description))?;
    let chosen = resolve(state, req.embedding.as_ref(), chunking).await?;
    let settings_json = chosen.settings_json()?;
    let id = uuid::Uuid::now_v7().to_string();
    state
        .store
        .create_kb(&NewKbRow {
            id: &id,
            name: &name,
            description: description.trim(),
            chunk_size: chunking.size as i64,
            chunk_overlap: chunking.overlap as i64,
            chunk_template: chunking.template.as_str(),
            ocr_languages: &ocr_languages,
            embedding: chosen.row(&settings_json),
        })
        .await
        .map_err(|e| match Error::from(e) {
            Error::Conflict(_) => conflict(),
            other => other,
        })
}

/// The knowledge bases the caller may see.
pub async fn list(state: &State, caller: &Caller) -> Result<KnowledgeBases> {
    let mut knowledge_bases = state.store.list_kbs().await?;
    knowledge_bases.retain(|kb| caller.may_touch(&kb.id));
    Ok(KnowledgeBases {
        knowledge_bases,
        embedding_model: state.default_space().model().to_string(),
        embedding_presets: presets(state),
    })
}

/// The presets a new knowledge base may choose, `default` first.
pub fn presets(state: &State) -> Vec<EmbeddingPreset> {
    let default = state.default_space();
    std::iter::once((DEFAULT_PRESET, &state.config.embedding))
        .chain(
            state
                .config
                .embedding_presets
                .iter()
                .map(|(n, c)| (n.as_str(), c)),
        )
        .map(|(name, c)| EmbeddingPreset {
            name: name.to_string(),
            provider: c.provider,
            model: if name == DEFAULT_PRESET {
                default.model().to_string()
            } else {
                c.model_name()
            },
            base_url: c.base_url.clone(),
            languages: c.covered_languages(),
        })
        .collect()
}

/// Finds a knowledge base by id or name, among those the caller may touch: one outside its
/// scope is not found, as if it did not exist. Without its counts (see [`get`]): every
/// request that names a knowledge base, and every document the worker ingests, looks one up.
pub async fn find(state: &State, caller: &Caller, kb: &str) -> Result<KnowledgeBase> {
    visible(caller, kb, state.store.get_kb(kb).await?)
}

/// [`find`] with the document and chunk counts, for what shows one knowledge base.
pub async fn get(state: &State, caller: &Caller, kb: &str) -> Result<KnowledgeBase> {
    visible(caller, kb, state.store.get_kb_counted(kb).await?)
}

fn visible(caller: &Caller, kb: &str, found: Option<KnowledgeBase>) -> Result<KnowledgeBase> {
    found
        .filter(|found| caller.may_touch(&found.id))
        .ok_or_else(|| Error::not_found("knowledge base", kb))
}

/// Knowledge bases one request may name.
pub const MAX_PER_REQUEST: usize = 64;

/// The knowledge bases a request names, each once, in order: at least one, at most
/// [`MAX_PER_REQUEST`] different ones (a list of one name a million times is one name).
pub fn named(kbs: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for kb in kbs {
        if !out.contains(kb) {
            if out.len() == MAX_PER_REQUEST {
                return Err(Error::bad_request(format!(
                    "knowledge_bases may name at most {MAX_PER_REQUEST} knowledge bases"
                )));
            }
            out.push(kb.clone());
        }
    }
    if out.is_empty() {
        return Err(Error::bad_request(
            "knowledge_bases must name at least one knowledge base",
        ));
    }
    Ok(out)
}

/// Finds each named knowledge base (ids or names; at least one, each once) for a search, an
/// answer or a conversation: one that does not exist is 404, one outside the caller's scope
/// is 403.
pub async fn find_all(
    state: &State,
    caller: &Caller,
    kbs: &[String],
) -> Result<Vec<KnowledgeBase>> {
    let kbs = named(kbs)?;
    let mut found = Vec::with_capacity(kbs.len());
    for kb in &kbs {
        let got = find(state, &Caller::ADMIN, kb).await?;
        if !caller.may_touch(&got.id) {
            return Err(Error::Forbidden(format!(
                "this api key may not use knowledge base {kb:?}"
            )));
        }
        found.push(got);
    }
    Ok(found)
}

pub async fn stats(state: &State, caller: &Caller, kb: &str) -> Result<KnowledgeBaseStats> {
    let kb = find(state, caller, kb).await?;
    let (by_status, chunks) = state.store.kb_stats(&kb.id).await?;
    let index = space(state, &kb).await?.index.clone();
    let scope = retrieval::filter::Scope {
        knowledge_bases: vec![kb.index_key()],
        documents: None,
    };
    let points = tokio::task::spawn_blocking(move || index.count(&scope)).await??;
    Ok(KnowledgeBaseStats {
        documents: by_status.into_iter().collect(),
        chunks,
        points: points as u64,
    })
}

pub async fn update(
    state: &State,
    caller: &Caller,
    kb: &str,
    changes: KnowledgeBaseChanges,
) -> Result<KnowledgeBase> {
    let kb = find(state, caller, kb).await?;
    check_description(changes.description.as_deref())?;
    if changes
        .system_prompt
        .as_ref()
        .is_some_and(|p| p.chars().count() > 8000)
    {
        return Err(Error::bad_request(
            "system_prompt must be at most 8000 characters",
        ));
    }
    let retrieval_json = match &changes.retrieval {
        Some(o) => {
            o.validate()?;
            Some(serde_json::to_string(o).map_err(Error::internal)?)
        }
        None => None,
    };
    let ocr_languages = match &changes.ocr_languages {
        Some(names) => Some(crate::config::ocr::languages(names).map_err(Error::bad_request)?),
        None => None,
    };
    state
        .store
        .update_kb(
            &kb.id,
            changes.description.as_deref().map(str::trim),
            changes.system_prompt.as_deref().map(str::trim),
            retrieval_json.as_deref(),
            ocr_languages.as_deref(),
        )
        .await?;
    get(state, caller, &kb.id).await
}

/// Deletes a knowledge base the one way things are deleted: its points (flushed), then its
/// rows, then the files no other document uses.
pub async fn delete(state: &State, caller: &Caller, kb: &str) -> Result<()> {
    let kb = find(state, caller, kb).await?;
    let hashes = state.store.kb_hashes(&kb.id).await?;
    // Its points under its key, and a running re-index's under the new key.
    let mut keyed = vec![(space(state, &kb).await?.index.clone(), kb.index_key())];
    if let Some(r) = state.store.active_reindex(&kb.id).await? {
        for index in super::reindex::indexes(state, &kb).await? {
            keyed.push((index, r.index_key()));
        }
    }
    tokio::task::spawn_blocking(move || -> retrieval::Result<()> {
        for (index, key) in &keyed {
            index.delete_knowledge_base(key)?;
        }
        Ok(())
    })
    .await??;
    state.store.delete_kb(&kb.id).await?;
    documents::remove_files_if_unused(&state.store, &state.files, hashes).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_request_names_each_knowledge_base_once_and_not_too_many() {
        let many = vec!["kb".to_string(); 1_000_000];
        assert_eq!(named(&many).unwrap(), ["kb"]);
        let order: Vec<String> = ["b", "a", "b", "c"].map(String::from).to_vec();
        assert_eq!(named(&order).unwrap(), ["b", "a", "c"]);
        assert!(named(&[]).is_err());
        let distinct: Vec<String> = (0..=MAX_PER_REQUEST).map(|i| format!("kb{i}")).collect();
        assert!(named(&distinct)
            .unwrap_err()
            .to_string()
            .contains("at most"));
        assert_eq!(
            named(&distinct[..MAX_PER_REQUEST]).unwrap().len(),
            MAX_PER_REQUEST
        );
    }

    use super::*;

    use crate::service::testing;
    use crate::service::{documents, search};
    use retrieval::embed::fake::FakeServer;

    #[tokio::test]
    async fn a_knowledge_base_on_a_model_server() {
        let server = FakeServer::start(Provider::Openai, 48);
        let dir = tempfile::tempdir().unwrap();
        let state = testing::state(dir.path()).await;
        let plain = testing::kb(&state, "plain").await;
        assert_eq!(plain.embedding_preset.as_deref(), Some("default"));
        assert_eq!(plain.embedding_model, "hash-test");
        let kb = testing::remote_kb(&state, "remote", &server).await;
        assert_eq!(
            (
                kb.embedding_model.as_str(),
                kb.embedding_dim,
                kb.embedding_preset.as_deref()
            ),
            ("openai:fake-e5", 48, None)
        );
        assert_eq!(server.bodies().len(), 1, "one probe found the size");
        let shown = serde_json::to_value(&kb).unwrap();
        assert!(shown.get("embedding_config").is_none(), "{shown}");
        assert_eq!(shown["embedding_provider"], "openai");

        for (k, text) in [
            (&plain, "# Harbour\n\nThe harbour ferry leaves at six."),
            (
                &kb,
                "# Lighthouse\n\nThe lighthouse keeper lights the lamp at dusk.",
            ),
        ] {
            documents::upload(
                &state,
                &Caller::ADMIN,
                &k.id,
                vec![("a.md".into(), text.as_bytes().to_vec())],
            )
            .await
            .unwrap();
        }
        crate::jobs::worker::drain(&state).await.unwrap();
        // Each knowledge base's chunks live in its model's index, and only there.
        assert!(testing::points_in_space(&state, &kb).await > 0);
        assert!(server.texts() > 1, "the chunks went to the server");
        let in_default = state
            .default_space()
            .index
            .count(&retrieval::Scope {
                knowledge_bases: vec![kb.id.clone()],
                documents: None,
            })
            .unwrap();
        assert_eq!(in_default, 0);

        // One search over both models: the query is embedded once per model.
        let request = |q: &str| search::SearchRequest {
            knowledge_bases: vec!["plain".into(), "remote".into()],
            query: q.into(),
            ..Default::default()
        };
        let reply = search::search(&state, &Caller::ADMIN, request("lighthouse keeper lamp"))
            .await
            .unwrap();
        assert_eq!(reply.hits[0].knowledge_base, "remote", "{:?}", reply.hits);
        let reply = search::search(&state, &Caller::ADMIN, request("harbour ferry"))
            .await
            .unwrap();
        assert_eq!(reply.hits[0].knowledge_base, "plain", "{:?}", reply.hits);
        let kbs: std::collections::HashSet<_> = reply
            .hits
            .iter()
            .map(|h| h.knowledge_base.clone())
            .collect();
        assert_eq!(kbs.len(), 2, "hits of both models: {:?}", reply.hits);

        // The server goes down: 503, unless the request takes BM25 alone.
        server.set_status(503);
        let err = search::search(&state, &Caller::ADMIN, request("lighthouse"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "unavailable", "{err}");
        assert!(err.to_string().contains("embedding server"), "{err}");
        let mut fallback = request("lighthouse");
        fallback.knowledge_bases = vec!["remote".into()];
        fallback.bm25_fallback = true;
        let reply = search::search(&state, &Caller::ADMIN, fallback)
            .await
            .unwrap();
        assert_eq!(reply.hits[0].knowledge_base, "remote");
        assert!(!reply.dense_used);
        assert!(reply
            .notice
            .unwrap()
            .contains("BM25 ranked these results alone"));
    }

    #[tokio::test]
    async fn embedding_choices_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let state = testing::state(dir.path()).await;
        let new = |embedding: EmbeddingChoice| NewKnowledgeBase {
            name: "kb".into(),
            embedding: Some(embedding),
            ..Default::default()
        };
        let err = create(
            &state,
            &Caller::ADMIN,
            new(EmbeddingChoice::Preset("nope".into())),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("unknown embedding preset"),
            "{err}"
        );
        let inline = InlineEmbedding {
            provider: Provider::Openai,
            model: "m".into(),
            base_url: Some("gpu-host:8000".into()),
            ..Default::default()
        };
        let err = create(
            &state,
            &Caller::ADMIN,
            new(EmbeddingChoice::Inline(Box::new(inline))),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "bad_request", "{err}");
        // A server that cannot be reached when the knowledge base is made: 503, nothing made.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let inline = InlineEmbedding {
            provider: Provider::Ollama,
            model: "bge-m3".into(),
            base_url: Some(format!("http://127.0.0.1:{port}")),
            retries: Some(0),
            ..Default::default()
        };
        let err = create(
            &state,
            &Caller::ADMIN,
            new(EmbeddingChoice::Inline(Box::new(inline))),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "unavailable", "{err}");
        assert!(state.store.list_kbs().await.unwrap().is_empty());
        // The JSON forms: a preset's name, or an object whose unknown fields are errors.
        let parsed: NewKnowledgeBase =
            serde_json::from_str(r#"{"name": "a", "embedding": "default"}"#).unwrap();
        assert_eq!(
            parsed.embedding,
            Some(EmbeddingChoice::Preset("default".into()))
        );
        let err = serde_json::from_str::<NewKnowledgeBase>(
            r#"{"name": "a", "embedding": {"provider": "openai", "model": "m", "colour": 1}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("docs").is_ok());
        assert!(validate_name("知识库 1").is_ok());
        assert!(validate_name("  ").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name(&"x".repeat(101)).is_err());
    }
}

//! Vector stores behind one callout-shaped trait. A store turns a search or an insert into
//! [`Call`]s and parses the replies; similarities always come back as cosine similarity in
//! [0, 1] (1 = same direction), whatever the backend reports, so one threshold fits all.
//!
//! Adding a backend: a module here implementing [`VectorStore`], one arm in [`build`], the type
//! name in `spec.yaml`. Nothing in the cache logic changes.

use higress_sdk::{ConfigError, RedisClient};
use serde::Deserialize;

use crate::backend::{BackendError, Call, Reply};

pub mod chroma;
pub mod dashvector;
pub mod milvus;
pub mod pinecone;
pub mod qdrant;
pub mod redis_search;
pub mod redis_vset;
pub mod rest;
pub mod search_engine;
pub mod tair;
pub mod weaviate;

/// The embedding space an index holds: the embedding model's identity and the dimension.
/// Stores put both into index/key names so a model change never mixes vectors.
#[derive(Clone, Copy, Debug)]
pub struct Space<'a> {
    /// Short hex fingerprint of (provider type, model, endpoint), see `EmbeddingProvider::model_id`.
    pub model_id: &'a str,
    pub dims: usize,
}

/// A KNN search restricted to one partition.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    pub space: Space<'a>,
    /// Hex hash of scope, model, non-embedded messages and answer-changing parameters.
    pub partition: &'a str,
    /// Unit-length query vector.
    pub vector: &'a [f32],
    pub top_k: u32,
}

/// One stored question, its vector and where its answer lives.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub space: Space<'a>,
    pub partition: &'a str,
    pub vector: &'a [f32],
    /// Unique id of the entry (hex of the exact fingerprint).
    pub id: &'a str,
    /// The embedded text (kept for verification and debugging).
    pub question: &'a str,
    /// Exact-layer key of the stored answer.
    pub answer_key: &'a str,
    /// The stored answer itself (stores that keep answers inline write it).
    pub answer: &'a [u8],
    /// 0 = no expiry.
    pub ttl_secs: u64,
}

/// A search result.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub id: String,
    /// Cosine similarity in [0, 1].
    pub similarity: f32,
    pub question: Option<String>,
    pub answer_key: Option<String>,
    /// The answer, when the store keeps it inline.
    pub answer: Option<Vec<u8>>,
}

/// A vector store. Implementations are pure: no host calls, no state the plugin must know about
/// (a store may cache "index exists" in a `Cell`, it lives per VM).
pub trait VectorStore {
    /// The `vector.type` value.
    fn kind(&self) -> &'static str;
    /// The search call for `q`.
    fn search(&self, q: &Query) -> Call;
    /// Candidates, best first. A missing index/collection is an empty result, not an error.
    fn parse_search(&self, q: &Query, reply: Reply) -> Result<Vec<Candidate>, BackendError>;
    /// Calls storing `e`. After the response they are sent one at a time, in this order, each
    /// after the previous call's reply passed [`VectorStore::check_insert`] (so a call may rely
    /// on an earlier one having completed, e.g. create the collection, then upsert); the first
    /// failure stops the rest. The chain runs on the root context: it outlives the request.
    fn insert(&self, e: &Entry) -> Vec<Call>;
    /// Checks the reply to one call returned by [`VectorStore::insert`]; `Err` stops the insert.
    fn check_insert(&self, call: &Call, reply: Reply) -> Result<(), BackendError>;
}

/// Higress ai-cache `vector` block (field names unchanged) plus our Redis fields.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VectorConfig {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub service_host: String,
    #[serde(default)]
    pub service_port: u16,
    #[serde(default)]
    pub api_key: String,
    /// Candidates fetched per search (Higress default 1).
    #[serde(default)]
    pub top_k: u32,
    /// Milliseconds (Higress default 10000); bounded by the lookup budget anyway.
    #[serde(default)]
    pub timeout: u32,
    /// Index / key-prefix name (Higress: collection, index or class name).
    #[serde(rename = "collectionID", default)]
    pub collection_id: String,
    /// Higress raw score threshold; see `config.rs` for how it maps to a cosine similarity.
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub threshold_relation: Option<String>,
    #[serde(default)]
    pub es_username: String,
    #[serde(default)]
    pub es_password: String,
    // Redis-based stores.
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub database: u32,
}

crate::service::impl_service!(VectorConfig);

impl VectorConfig {
    /// The Redis client of a Redis-based store.
    pub fn redis_client(&self) -> RedisClient {
        let service = self.service();
        RedisClient::new(service.cluster(6379))
            .with_auth(self.username.as_str(), self.password.as_str())
            .with_database(self.database)
            .with_timeout_ms(service.timeout_ms(1000))
    }

    /// `collectionID`, or the default name.
    pub fn collection(&self) -> &str {
        if self.collection_id.is_empty() {
            "higress-ai-cache"
        } else {
            &self.collection_id
        }
    }
}

/// Every `vector.type` this build knows, for error messages and the spec.
pub const TYPES: &[&str] = &[
    "redis",
    "redis-vectorset",
    "tair",
    "dashvector",
    "lindorm",
    "elasticsearch",
    "opensearch",
    "qdrant",
    "milvus",
    "chroma",
    "weaviate",
    "pinecone",
];

/// The store `cfg.type` names; errors are relative to the `vector` block.
pub fn build(cfg: &VectorConfig) -> Result<Box<dyn VectorStore>, ConfigError> {
    if cfg.service_name.is_empty() {
        return Err(ConfigError::at("serviceName", "required"));
    }
    match cfg.kind.as_str() {
        "redis" => Ok(Box::new(redis_search::RediSearch::new(cfg))),
        "redis-vectorset" => Ok(Box::new(redis_vset::VectorSet::new(cfg))),
        "tair" => Ok(Box::new(tair::Tair::new(cfg))),
        "dashvector" | "pinecone" if cfg.api_key.is_empty() => {
            Err(ConfigError::at("apiKey", "required"))
        }
        "dashvector" => Ok(Box::new(dashvector::DashVector::new(cfg))),
        "pinecone" => Ok(Box::new(pinecone::Pinecone::new(cfg))),
        "elasticsearch" => Ok(Box::new(search_engine::SearchEngine::new(
            cfg,
            search_engine::Flavor::Elasticsearch,
        ))),
        "opensearch" => Ok(Box::new(search_engine::SearchEngine::new(
            cfg,
            search_engine::Flavor::OpenSearch,
        ))),
        "lindorm" => Ok(Box::new(search_engine::SearchEngine::new(
            cfg,
            search_engine::Flavor::Lindorm,
        ))),
        "qdrant" => Ok(Box::new(qdrant::Qdrant::new(cfg))),
        "milvus" => Ok(Box::new(milvus::Milvus::new(cfg))),
        "chroma" => Ok(Box::new(chroma::Chroma::new(cfg))),
        "weaviate" => Ok(Box::new(weaviate::Weaviate::new(cfg))),
        other => Err(ConfigError::at(
            "type",
            format!(
                "unsupported vector store {other:?} (supported: {})",
                TYPES.join(", ")
            ),
        )),
    }
}

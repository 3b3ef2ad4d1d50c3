//! Configuration: Higress ai-cache's fields (accepted unchanged, legacy names included) plus ours.
//! `validate` builds the backends once per rule; a bad field fails `on_configure` naming it.
//!
//! Mapping of ai-cache's fields:
//! * `cache` → the exact layer (Redis strings with `cacheTTL`, `cacheKeyPrefix`, `database`).
//! * `vector` + `embedding` → the semantic layer; `enableSemanticCache: false` turns it off.
//! * `vector.threshold` + `thresholdRelation`: `gt`/`gte` is a similarity, `lt`/`lte` a cosine
//!   distance (similarity = 1 − distance); `similarityThreshold` wins over both.
//! * `cacheKeyStrategy`: `lastQuestion` embeds the last `messageCountback` user messages,
//!   `allQuestions` every user message, `disabled` turns caching off.
//! * `cacheKeyFrom`: the two last-message paths of the ai-cache docs are accepted.
//! * `cacheValueFrom`, `cacheStreamValueFrom`, `cacheToolCallsFrom`: accepted; the whole answer
//!   is stored instead of one extracted string.
//! * `responseTemplate` / `streamResponseTemplate`: replay through the template (`%s` = answer).
//! * Entries ai-cache wrote are ignored unless `readAiCacheEntries` opts in (read-only, standalone
//!   questions of the listed models, global scope only).

use std::cell::OnceCell;

use higress_sdk::{ConfigError, PluginConfig, RedisClient};
use serde::Deserialize;
use serde_json::Value;

use crate::embedding::{self, EmbeddingConfig, EmbeddingProvider};
use crate::rerank::{RerankConfig, Reranker};
use crate::service::DEFAULT_TIMEOUT_MS;
use crate::vector::{self, VectorConfig, VectorStore};

pub const DEFAULT_THRESHOLD: f64 = 0.95;
const DEFAULT_KEY_PREFIX: &str = "higress-ai-cache:";
const LAST_MESSAGE_PATHS: [&str; 3] = [
    "messages.@reverse.0.content",
    "messages.@reverse.#(role==\"user\").content",
    "messages.@reverse.#(role==user).content",
];

/// Higress ai-cache `cache` block (and the legacy top-level `redis` block).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CacheConfig {
    #[serde(rename = "type", default = "redis_type")]
    pub kind: String,
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub service_host: String,
    #[serde(default)]
    pub service_port: u16,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// Milliseconds (Higress default 10000).
    #[serde(default)]
    pub timeout: u32,
    /// Seconds; 0 = no expiry.
    #[serde(rename = "cacheTTL", default)]
    pub cache_ttl: u64,
    #[serde(default)]
    pub cache_key_prefix: Option<String>,
    #[serde(default)]
    pub database: u32,
}

fn redis_type() -> String {
    "redis".into()
}

crate::service::impl_service!(CacheConfig);

impl CacheConfig {
    fn client(&self) -> RedisClient {
        let service = self.service();
        RedisClient::new(service.cluster(6379))
            .with_auth(self.username.as_str(), self.password.as_str())
            .with_database(self.database)
            .with_timeout_ms(service.timeout_ms(DEFAULT_TIMEOUT_MS))
    }
}

/// Where the tenant scope of the partition comes from.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScopeConfig {
    /// `consumer` (Higress `x-mse-consumer`, default), `header`, `route` or `global`.
    #[serde(default = "consumer")]
    pub from: String,
    /// The header for `from: header`.
    #[serde(default)]
    pub header: String,
}

fn consumer() -> String {
    "consumer".into()
}

impl Default for ScopeConfig {
    fn default() -> Self {
        ScopeConfig {
            from: consumer(),
            header: String::new(),
        }
    }
}

/// Requests never cached (neither looked up nor stored).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SkipConfig {
    #[serde(default)]
    pub routes: Vec<String>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub consumers: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    #[serde(default)]
    pub enabled: bool,
}

/// Opt-in reading of entries Higress ai-cache wrote (`cacheKeyPrefix` + question text, the answer
/// text as value), for a warm migration. Never written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiCacheEntriesConfig {
    /// The models whose requests may be answered by such an entry: ai-cache's key records no
    /// model, so the operator states which model answered the entries.
    #[serde(default)]
    pub models: Vec<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    // Higress ai-cache fields.
    #[serde(default)]
    pub vector: Option<VectorConfig>,
    #[serde(default)]
    pub embedding: Option<EmbeddingConfig>,
    #[serde(default)]
    pub cache: Option<CacheConfig>,
    #[serde(default)]
    pub cache_key_strategy: Option<String>,
    #[serde(default)]
    pub enable_semantic_cache: Option<bool>,
    #[serde(default)]
    pub cache_key_from: Option<Value>,
    #[serde(default)]
    pub cache_value_from: Option<Value>,
    #[serde(default)]
    pub cache_stream_value_from: Option<Value>,
    #[serde(default)]
    pub cache_tool_calls_from: Option<Value>,
    #[serde(default)]
    pub response_template: Option<String>,
    #[serde(default)]
    pub stream_response_template: Option<String>,
    // Higress legacy names.
    #[serde(default)]
    pub redis: Option<CacheConfig>,
    #[serde(rename = "cacheTTL", default)]
    pub cache_ttl: Option<u64>,
    #[serde(default)]
    pub return_response_template: Option<String>,
    #[serde(default)]
    pub return_stream_response_template: Option<String>,
    // Ours.
    /// Cosine similarity in [0, 1] a candidate needs (default 0.95).
    #[serde(default)]
    pub similarity_threshold: Option<f64>,
    /// Trailing user messages embedded (default 1).
    #[serde(default)]
    pub message_countback: Option<u32>,
    #[serde(default)]
    pub scope: ScopeConfig,
    /// Temperatures up to this share cache entries; above it the value is part of the partition.
    #[serde(default)]
    pub shared_temperature_max: Option<f64>,
    #[serde(default)]
    pub verify: VerifyConfig,
    #[serde(default)]
    pub rerank: Option<RerankConfig>,
    /// Finish reasons whose answers are stored (default `["stop"]`).
    #[serde(default)]
    pub store_finish_reasons: Option<Vec<String>>,
    /// Store answers that contain tool calls (default false).
    #[serde(default)]
    pub cache_tool_calls: bool,
    /// Largest answer captured (default 1 MiB); a larger one is passed on, not stored.
    #[serde(default)]
    pub max_response_bytes: Option<usize>,
    /// Characters of content per replayed SSE event (default 256; 0 = one event).
    #[serde(default)]
    pub replay_chunk_size: Option<usize>,
    /// Bypass on client `Cache-Control: no-cache` / `no-store` (default false).
    #[serde(default)]
    pub honor_cache_control: bool,
    #[serde(default)]
    pub skip: SkipConfig,
    /// Most milliseconds a lookup may delay a request (default 500).
    #[serde(default)]
    pub lookup_timeout: Option<u32>,
    /// On backend errors and timeouts forward the request (default true) instead of a 503.
    #[serde(default)]
    pub fail_open: Option<bool>,
    /// `x-cache-status` / `x-cache-similarity` response headers (default true).
    #[serde(default)]
    pub status_headers: Option<bool>,
    /// Read Higress ai-cache's exact entries after an exact miss (default off).
    #[serde(default)]
    pub read_ai_cache_entries: Option<AiCacheEntriesConfig>,
    #[serde(skip)]
    built: OnceCell<Built>,
}

/// What `validate` derives: backends and resolved settings.
pub struct Built {
    pub exact: Option<Exact>,
    pub semantic: Option<Semantic>,
    pub reranker: Option<Box<dyn Reranker>>,
    pub threshold: f32,
    /// Reject candidates whose salient tokens differ (`verify.enabled`).
    pub verify: bool,
    pub countback: Option<usize>,
    /// Models whose standalone questions may be answered by Higress ai-cache's entries (empty:
    /// never; `readAiCacheEntries`).
    pub ai_cache_models: Vec<String>,
    pub response_template: Option<String>,
    pub stream_response_template: Option<String>,
}

/// The exact layer: Redis strings.
pub struct Exact {
    pub client: RedisClient,
    pub prefix: String,
    pub ttl_secs: u64,
}

pub struct Semantic {
    pub embedder: Box<dyn EmbeddingProvider>,
    pub store: Box<dyn VectorStore>,
    pub top_k: u32,
}

fn under(prefix: &str) -> impl Fn(ConfigError) -> ConfigError + '_ {
    move |e| {
        let path = if e.path.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", e.path)
        };
        ConfigError::at(path, e.reason)
    }
}

impl Config {
    /// The backends and settings; `None` for a config that was never validated (the empty
    /// config), which the plugin treats as "pass through".
    pub fn built(&self) -> Option<&Built> {
        self.built.get()
    }

    pub fn lookup_timeout_ms(&self) -> u32 {
        self.lookup_timeout.unwrap_or(500)
    }

    pub fn fail_open(&self) -> bool {
        self.fail_open.unwrap_or(true)
    }

    pub fn status_headers(&self) -> bool {
        self.status_headers.unwrap_or(true)
    }

    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes.unwrap_or(1 << 20)
    }

    pub fn replay_chunk_size(&self) -> usize {
        self.replay_chunk_size.unwrap_or(256)
    }

    pub fn shared_temperature_max(&self) -> f64 {
        self.shared_temperature_max.unwrap_or(1.0)
    }

    pub fn stores_finish_reason(&self, reason: &str) -> bool {
        match &self.store_finish_reasons {
            Some(list) => list.iter().any(|r| r == reason),
            None => reason == "stop",
        }
    }

    pub fn is_disabled(&self) -> bool {
        self.cache_key_strategy.as_deref() == Some("disabled")
    }

    fn threshold(&self) -> Result<f32, ConfigError> {
        if let Some(t) = self.similarity_threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(ConfigError::at(
                    "similarityThreshold",
                    "must be a cosine similarity in [0, 1]",
                ));
            }
            return Ok(t as f32);
        }
        let Some(v) = &self.vector else {
            return Ok(DEFAULT_THRESHOLD as f32);
        };
        let Some(t) = v.threshold else {
            return Ok(DEFAULT_THRESHOLD as f32);
        };
        match v.threshold_relation.as_deref().unwrap_or("lt") {
            "gt" | "gte" if (0.0..=1.0).contains(&t) => Ok(t as f32),
            "gt" | "gte" => Err(ConfigError::at(
                "vector.threshold",
                "with thresholdRelation gt/gte it is a cosine similarity and must be in [0, 1]",
            )),
            "lt" | "lte" if (0.0..=1.0).contains(&t) => Ok((1.0 - t) as f32),
            "lt" | "lte" => Err(ConfigError::at(
                "vector.threshold",
                "with thresholdRelation lt/lte it is a cosine distance and must be in [0, 1] \
                 (larger values accept unrelated answers); or set similarityThreshold",
            )),
            other => Err(ConfigError::at(
                "vector.thresholdRelation",
                format!("unknown relation {other:?} (lt, lte, gt, gte)"),
            )),
        }
    }

    fn countback(&self) -> Result<Option<usize>, ConfigError> {
        match self.cache_key_strategy.as_deref().unwrap_or("lastQuestion") {
            "allQuestions" => return Ok(None),
            "lastQuestion" | "disabled" => {}
            other => {
                return Err(ConfigError::at(
                    "cacheKeyStrategy",
                    format!("unknown strategy {other:?} (lastQuestion, allQuestions, disabled)"),
                ))
            }
        }
        if let Some(from) = &self.cache_key_from {
            let path = match from {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o.get("requestBody").and_then(Value::as_str),
                _ => None,
            };
            if !path.is_some_and(|p| LAST_MESSAGE_PATHS.contains(&p)) {
                return Err(ConfigError::at(
                    "cacheKeyFrom",
                    format!(
                        "unsupported path (supported: {}); use messageCountback to embed more turns",
                        LAST_MESSAGE_PATHS[..2].join(", ")
                    ),
                ));
            }
        }
        match self.message_countback {
            Some(0) => Err(ConfigError::at("messageCountback", "must be at least 1")),
            n => Ok(Some(n.unwrap_or(1) as usize)),
        }
    }

    fn exact(&self) -> Result<Option<Exact>, ConfigError> {
        let (block, name) = match (&self.cache, &self.redis) {
            (Some(c), _) => (c.clone(), "cache"),
            (None, Some(r)) => (r.clone(), "redis"),
            (None, None) => {
                // A Redis-based vector store (Redis or Tair) doubles as the exact layer and the
                // answer store.
                return Ok(self.vector.as_ref().and_then(|v| {
                    (v.kind.starts_with("redis") || v.kind == "tair").then(|| Exact {
                        client: v.redis_client(),
                        prefix: DEFAULT_KEY_PREFIX.into(),
                        ttl_secs: self.cache_ttl.unwrap_or(0),
                    })
                }));
            }
        };
        if block.kind != "redis" {
            return Err(ConfigError::at(
                format!("{name}.type"),
                format!(
                    "unsupported cache provider {:?} (supported: redis)",
                    block.kind
                ),
            ));
        }
        if block.service_name.is_empty() {
            return Err(ConfigError::at(format!("{name}.serviceName"), "required"));
        }
        Ok(Some(Exact {
            client: block.client(),
            prefix: block
                .cache_key_prefix
                .clone()
                .unwrap_or_else(|| DEFAULT_KEY_PREFIX.into()),
            ttl_secs: if block.cache_ttl > 0 {
                block.cache_ttl
            } else {
                self.cache_ttl.unwrap_or(0)
            },
        }))
    }

    /// `readAiCacheEntries`: ai-cache's entries carry no tenant, conversation, parameters or
    /// model, so they may only serve requests whose partition holds none of these either.
    fn ai_cache_models(&self, has_exact: bool) -> Result<Vec<String>, ConfigError> {
        let Some(r) = &self.read_ai_cache_entries else {
            return Ok(Vec::new());
        };
        if !has_exact {
            return Err(ConfigError::at(
                "readAiCacheEntries",
                "requires the exact layer (cache): ai-cache's entries are Redis strings",
            ));
        }
        if self.scope.from != "global" {
            return Err(ConfigError::at(
                "readAiCacheEntries",
                "ai-cache's entries carry no tenant: reading them needs scope.from: global \
                 (otherwise one consumer would be served answers cached for another)",
            ));
        }
        if r.models.is_empty() || r.models.iter().any(String::is_empty) {
            return Err(ConfigError::at(
                "readAiCacheEntries.models",
                "list the model(s) that answered the ai-cache entries (ai-cache's key has no model)",
            ));
        }
        Ok(r.models.clone())
    }

    fn semantic(&self) -> Result<Option<Semantic>, ConfigError> {
        if self.enable_semantic_cache == Some(false) {
            return Ok(None);
        }
        match (&self.vector, &self.embedding) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError::at(
                "embedding",
                "required with vector (the semantic layer embeds questions)",
            )),
            (None, Some(_)) => Err(ConfigError::at(
                "vector",
                "required with embedding (the semantic layer needs a vector store)",
            )),
            (Some(v), Some(e)) => {
                let store = vector::build(v).map_err(under("vector"))?;
                let embedder = embedding::build(e).map_err(under("embedding"))?;
                Ok(Some(Semantic {
                    embedder,
                    store,
                    top_k: v.top_k.clamp(1, 20),
                }))
            }
        }
    }

    fn build(&self) -> Result<Built, ConfigError> {
        if self.vector.is_none()
            && self.embedding.is_none()
            && self.cache.is_none()
            && self.redis.is_none()
        {
            return Err(ConfigError::at(
                "",
                "configure at least one of cache, vector (+ embedding)",
            ));
        }
        match self.scope.from.as_str() {
            "consumer" | "route" | "global" => {}
            "header" if !self.scope.header.is_empty() => {}
            "header" => {
                return Err(ConfigError::at(
                    "scope.header",
                    "required with from: header",
                ))
            }
            other => {
                return Err(ConfigError::at(
                    "scope.from",
                    format!("unknown scope {other:?} (consumer, header, route, global)"),
                ))
            }
        }
        if self.lookup_timeout == Some(0) {
            return Err(ConfigError::at("lookupTimeout", "must be at least 1 ms"));
        }
        if self.shared_temperature_max.is_some_and(|t| t < 0.0) {
            return Err(ConfigError::at("sharedTemperatureMax", "must be >= 0"));
        }
        let threshold = self.threshold()?;
        let countback = self.countback()?;
        let exact = self.exact()?;
        let ai_cache_models = self.ai_cache_models(exact.is_some())?;
        let semantic = self.semantic()?;
        let reranker = match &self.rerank {
            Some(r) => Some(crate::rerank::build(r).map_err(under("rerank"))?),
            None => None,
        };
        Ok(Built {
            exact,
            semantic,
            reranker,
            threshold,
            verify: self.verify.enabled,
            countback,
            ai_cache_models,
            response_template: self
                .response_template
                .clone()
                .or_else(|| self.return_response_template.clone()),
            stream_response_template: self
                .stream_response_template
                .clone()
                .or_else(|| self.return_stream_response_template.clone()),
        })
    }
}

impl PluginConfig for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        let built = self.build()?;
        // Validation runs once per config object; a second run keeps the first result.
        let _ = self.built.set(built);
        Ok(())
    }
}

#[cfg(test)]
mod tests;

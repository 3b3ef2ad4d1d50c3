//! Embedding providers behind one callout-shaped trait: a provider builds the HTTP request for a
//! text and parses the response into a vector.
//!
//! Adding a provider: a module here implementing [`EmbeddingProvider`], one arm in [`build`], the
//! type name in `spec.yaml`. Nothing in the cache logic changes.

use higress_sdk::ConfigError;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::backend::{BackendError, Call, Reply};
use crate::service::{Service, DEFAULT_TIMEOUT_MS};

pub mod azure;
pub mod cohere;
pub mod dashscope;
pub mod ollama;
pub mod openai;
pub mod tei;

/// An embedding provider. Pure: no host calls.
pub trait EmbeddingProvider {
    /// The `embedding.type` value.
    fn kind(&self) -> &'static str;
    /// Short hex fingerprint of (type, model, endpoint): vector stores keep the vectors of
    /// different models apart with it.
    fn model_id(&self) -> &str;
    /// The request embedding `text`.
    fn request(&self, text: &str) -> Call;
    /// The vector (not necessarily normalised; the plugin normalises).
    fn parse(&self, reply: Reply) -> Result<Vec<f32>, BackendError>;
}

/// Higress ai-cache `embedding` block (field names unchanged) plus `path`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EmbeddingConfig {
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
    /// Milliseconds (Higress default 10000); bounded by the lookup budget anyway.
    #[serde(default)]
    pub timeout: u32,
    #[serde(default)]
    pub model: String,
    /// Request path; each provider has a default.
    #[serde(default)]
    pub path: String,
    /// Azure OpenAI `api-version` (required for `azure`).
    #[serde(default)]
    pub api_version: String,
    /// OpenAI `encoding_format` asked of `openai` providers: `base64` (default, as the official
    /// SDKs) or `float`.
    #[serde(default)]
    pub encoding_format: String,
    // Higress's textin and xfyun fields: accepted so such configs parse, then refused with a
    // clear message by `build` (those providers are not implemented).
    #[serde(default)]
    pub textin_app_id: String,
    #[serde(default)]
    pub textin_secret_code: String,
    #[serde(default)]
    pub textin_matryoshka_dim: u32,
    #[serde(default)]
    pub app_id: String,
    #[serde(default)]
    pub api_secret: String,
}

/// What every provider derives from the config the same way.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub model: String,
    pub api_key: String,
    pub timeout_ms: u32,
    pub model_id: String,
}

crate::service::impl_service!(EmbeddingConfig);

impl EmbeddingConfig {
    /// Cluster, authority, path, model and identity, with the provider's defaults.
    pub fn endpoint(
        &self,
        kind: &str,
        default_port: u16,
        default_model: &str,
        default_path: &str,
    ) -> Endpoint {
        let model = if self.model.is_empty() {
            default_model
        } else {
            &self.model
        };
        let path = if self.path.is_empty() {
            default_path.replace("{model}", model)
        } else {
            self.path.clone()
        };
        Endpoint::new(
            kind,
            self.service(),
            default_port,
            &self.api_key,
            model,
            path,
        )
    }
}

impl Endpoint {
    /// The endpoint of an HTTP backend for `model` at `path`; its identity is (`kind`, model,
    /// authority, path).
    pub fn new(
        kind: &str,
        service: Service,
        default_port: u16,
        api_key: &str,
        model: &str,
        path: String,
    ) -> Endpoint {
        let authority = service.authority().to_string();
        let digest = Sha256::digest(format!("{kind}\n{model}\n{authority}{path}").as_bytes());
        Endpoint {
            cluster: service.cluster(default_port),
            authority,
            path,
            model: model.to_string(),
            api_key: api_key.to_string(),
            timeout_ms: service.timeout_ms(DEFAULT_TIMEOUT_MS),
            model_id: digest[..6].iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// A JSON POST to the endpoint with a bearer key when one is configured.
    pub fn post_json(&self, body: &impl serde::Serialize) -> Call {
        let body = serde_json::to_vec(body).unwrap_or_default();
        let mut request = higress_sdk::HttpRequest::post(&self.path, body)
            .authority(&self.authority)
            .header("content-type", "application/json")
            .timeout_ms(self.timeout_ms);
        if !self.api_key.is_empty() {
            request = request.header("authorization", &format!("Bearer {}", self.api_key));
        }
        Call::Http {
            cluster: self.cluster.clone(),
            request,
        }
    }
}

/// Every `embedding.type` this build knows.
pub const TYPES: &[&str] = &[
    "openai",
    "tei",
    "huggingface",
    "ollama",
    "azure",
    "dashscope",
    "cohere",
];

/// The provider `cfg.type` names; errors are relative to the `embedding` block.
pub fn build(cfg: &EmbeddingConfig) -> Result<Box<dyn EmbeddingProvider>, ConfigError> {
    if cfg.service_name.is_empty() {
        return Err(ConfigError::at("serviceName", "required"));
    }
    match (cfg.kind.as_str(), cfg.encoding_format.as_str()) {
        (_, "") | ("openai", "base64" | "float") => {}
        ("openai", other) => {
            return Err(ConfigError::at(
                "encodingFormat",
                format!("unknown encoding {other:?} (base64, float)"),
            ))
        }
        _ => return Err(ConfigError::at("encodingFormat", "only for type openai")),
    }
    match cfg.kind.as_str() {
        "openai" => Ok(Box::new(openai::OpenAi::new(cfg))),
        "tei" | "huggingface" => Ok(Box::new(tei::Tei::new(cfg))),
        "ollama" => Ok(Box::new(ollama::Ollama::new(cfg))),
        "azure" if cfg.api_version.is_empty() => Err(ConfigError::at(
            "apiVersion",
            "required for azure (e.g. 2024-10-21)",
        )),
        "azure" => Ok(Box::new(azure::Azure::new(cfg))),
        "dashscope" => Ok(Box::new(dashscope::DashScope::new(cfg))),
        "cohere" => Ok(Box::new(cohere::Cohere::new(cfg))),
        "textin" | "xfyun" => Err(ConfigError::at(
            "type",
            format!(
                "{:?} is not supported by this plugin: its embedding API is not publicly documented \
                 in enough detail to implement faithfully; use one of: {}",
                cfg.kind,
                TYPES.join(", ")
            ),
        )),
        other => Err(ConfigError::at(
            "type",
            format!(
                "unsupported embedding provider {other:?} (supported: {})",
                TYPES.join(", ")
            ),
        )),
    }
}

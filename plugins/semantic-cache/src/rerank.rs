//! Optional second judge: a rerank endpoint scores (query, candidate question) pairs and
//! candidates under `rerank.threshold` are dropped. TEI `/rerank` (`type: tei`) and the
//! Cohere/Jina `/v1/rerank` shape (`type: cohere` or `jina`).

use higress_sdk::ConfigError;
use serde::Deserialize;
use serde_json::json;

use crate::backend::{expect_json, BackendError, Call, Reply};
use crate::embedding::Endpoint;

/// A reranker: callout-shaped like the other backends.
pub trait Reranker {
    fn request(&self, query: &str, documents: &[&str]) -> Call;
    /// Relevance per document, in the documents' order (missing ones are 0).
    fn parse(&self, reply: Reply, documents: usize) -> Result<Vec<f32>, BackendError>;
    /// Lowest accepted relevance.
    fn threshold(&self) -> f32;
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RerankConfig {
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
    #[serde(default)]
    pub timeout: u32,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub path: String,
    /// Lowest accepted relevance score (default 0.5).
    #[serde(default)]
    pub threshold: Option<f32>,
}

crate::service::impl_service!(RerankConfig);

pub struct HttpReranker {
    cohere_shape: bool,
    endpoint: Endpoint,
    threshold: f32,
}

pub const TYPES: &[&str] = &["tei", "cohere", "jina"];

pub fn build(cfg: &RerankConfig) -> Result<Box<dyn Reranker>, ConfigError> {
    if cfg.service_name.is_empty() {
        return Err(ConfigError::at("serviceName", "required"));
    }
    let (cohere_shape, path) = match cfg.kind.as_str() {
        "tei" => (false, "/rerank"),
        "cohere" | "jina" => (true, "/v1/rerank"),
        other => {
            return Err(ConfigError::at(
                "type",
                format!(
                    "unsupported reranker {other:?} (supported: {})",
                    TYPES.join(", ")
                ),
            ))
        }
    };
    let threshold = cfg.threshold.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(ConfigError::at("threshold", "must be in [0, 1]"));
    }
    let path = if cfg.path.is_empty() {
        path.to_string()
    } else {
        cfg.path.clone()
    };
    Ok(Box::new(HttpReranker {
        cohere_shape,
        endpoint: Endpoint::new(
            &cfg.kind,
            cfg.service(),
            443,
            &cfg.api_key,
            &cfg.model,
            path,
        ),
        threshold,
    }))
}

impl Reranker for HttpReranker {
    fn request(&self, query: &str, documents: &[&str]) -> Call {
        let body = if self.cohere_shape {
            json!({"model": self.endpoint.model, "query": query, "documents": documents,
                   "top_n": documents.len()})
        } else {
            json!({"query": query, "texts": documents, "raw_scores": false})
        };
        self.endpoint.post_json(&body)
    }

    fn parse(&self, reply: Reply, documents: usize) -> Result<Vec<f32>, BackendError> {
        let body = expect_json(reply, "rerank")?;
        let (list, score) = if self.cohere_shape {
            (&body["results"], "relevance_score")
        } else {
            (&body, "score")
        };
        let list = list
            .as_array()
            .ok_or_else(|| BackendError::new("rerank: no result list"))?;
        let mut out = vec![0.0; documents];
        for r in list {
            let (Some(i), Some(s)) = (r["index"].as_u64(), r[score].as_f64()) else {
                return Err(BackendError::new("rerank: result without index or score"));
            };
            if let Some(slot) = out.get_mut(i as usize) {
                *slot = s as f32;
            }
        }
        Ok(out)
    }

    fn threshold(&self) -> f32 {
        self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use higress_sdk::HttpResponse;

    fn reply(body: &str) -> Reply {
        Reply::Http(HttpResponse {
            status: 200,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        })
    }

    fn cfg(kind: &str) -> RerankConfig {
        RerankConfig {
            kind: kind.into(),
            service_name: "rr.static".into(),
            ..Default::default()
        }
    }

    #[test]
    fn tei_scores_are_mapped_by_index() {
        let r = build(&cfg("tei")).unwrap();
        let Call::Http { request, .. } = r.request("q", &["a", "b"]) else {
            panic!()
        };
        assert_eq!(request.url, "/rerank");
        let s = r
            .parse(
                reply(r#"[{"index":1,"score":0.9},{"index":0,"score":0.1}]"#),
                2,
            )
            .unwrap();
        assert_eq!(s, vec![0.1, 0.9]);
    }

    #[test]
    fn cohere_shape_reads_relevance_scores() {
        let r = build(&cfg("jina")).unwrap();
        let s = r
            .parse(
                reply(r#"{"results":[{"index":0,"relevance_score":0.7}]}"#),
                2,
            )
            .unwrap();
        assert_eq!(s, vec![0.7, 0.0]);
    }

    #[test]
    fn unknown_type_names_the_field() {
        assert_eq!(build(&cfg("x")).err().unwrap().path, "type");
    }
}

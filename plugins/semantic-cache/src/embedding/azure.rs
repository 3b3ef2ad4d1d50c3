//! Azure OpenAI embeddings (`embedding.type: azure`): `POST
//! /openai/deployments/{deployment}/embeddings?api-version=...` with an `api-key` header; the
//! deployment is `model` (Higress default `text-embedding-ada-002`), `apiVersion` is required.
//! The response is OpenAI's.
//!
//! API: <https://learn.microsoft.com/en-us/azure/ai-services/openai/reference#embeddings>.

use higress_sdk::HttpRequest;
use serde_json::json;

use super::{EmbeddingConfig, EmbeddingProvider, Endpoint};
use crate::backend::{expect_json, vector_from_json, BackendError, Call, Reply};

pub struct Azure {
    endpoint: Endpoint,
}

impl Azure {
    /// `cfg.api_version` must be non-empty (checked by `build`).
    pub fn new(cfg: &EmbeddingConfig) -> Azure {
        let mut endpoint = cfg.endpoint(
            "azure",
            443,
            "text-embedding-ada-002",
            "/openai/deployments/{model}/embeddings",
        );
        if !endpoint.path.contains("api-version=") {
            let sep = if endpoint.path.contains('?') {
                '&'
            } else {
                '?'
            };
            endpoint.path = format!("{}{sep}api-version={}", endpoint.path, cfg.api_version);
        }
        Azure { endpoint }
    }
}

impl EmbeddingProvider for Azure {
    fn kind(&self) -> &'static str {
        "azure"
    }

    fn model_id(&self) -> &str {
        &self.endpoint.model_id
    }

    fn request(&self, text: &str) -> Call {
        let e = &self.endpoint;
        let request = HttpRequest::post(&e.path, json!({ "input": text }).to_string())
            .authority(&e.authority)
            .header("content-type", "application/json")
            .header("api-key", &e.api_key)
            .timeout_ms(e.timeout_ms);
        Call::Http {
            cluster: e.cluster.clone(),
            request,
        }
    }

    fn parse(&self, reply: Reply) -> Result<Vec<f32>, BackendError> {
        let body = expect_json(reply, "azure embeddings")?;
        vector_from_json(&body["data"][0]["embedding"], "azure embeddings")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use higress_sdk::HttpResponse;

    #[test]
    fn request_targets_the_deployment_with_api_key() {
        let p = Azure::new(&EmbeddingConfig {
            kind: "azure".into(),
            service_name: "azure.dns".into(),
            service_host: "res1.openai.azure.com".into(),
            api_key: "az-key".into(),
            model: "emb-deploy".into(),
            api_version: "2024-10-21".into(),
            ..Default::default()
        });
        let Call::Http { cluster, request } = p.request("hi") else {
            panic!()
        };
        assert_eq!(cluster, "outbound|443||azure.dns");
        assert_eq!(
            request.url,
            "/openai/deployments/emb-deploy/embeddings?api-version=2024-10-21"
        );
        assert_eq!(request.authority.as_deref(), Some("res1.openai.azure.com"));
        assert!(request
            .headers
            .contains(&("api-key".into(), "az-key".into())));
        assert!(!request.headers.iter().any(|(k, _)| k == "authorization"));
        assert_eq!(request.body, br#"{"input":"hi"}"#);
        let body = br#"{"object":"list","data":[{"object":"embedding","embedding":[0.25,0.5],"index":0}],"model":"ada","usage":{"prompt_tokens":1,"total_tokens":1}}"#;
        let reply = Reply::Http(HttpResponse {
            status: 200,
            headers: vec![],
            body: body.to_vec(),
        });
        assert_eq!(p.parse(reply).unwrap(), vec![0.25, 0.5]);
    }
}

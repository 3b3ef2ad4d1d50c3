//! Alibaba Cloud DashScope embeddings (`embedding.type: dashscope`), bearer `apiKey`:
//! * native text-embedding API (default): `POST /api/v1/services/embeddings/text-embedding/text-embedding`
//!   with `{"model", "input": {"texts": [...]}}`, answering `output.embeddings[0].embedding`
//!   (<https://help.aliyun.com/zh/model-studio/text-embedding-synchronous-api>);
//! * OpenAI-compatible mode when `path` is `/compatible-mode/v1/embeddings` (any path containing
//!   `compatible-mode`): OpenAI's body and response
//!   (<https://help.aliyun.com/zh/model-studio/embedding-interfaces-compatible-with-openai>).
//!
//! Default model `text-embedding-v2` (Higress's).

use serde_json::json;

use super::{EmbeddingConfig, EmbeddingProvider, Endpoint};
use crate::backend::{expect_json, vector_from_json, BackendError, Call, Reply};

pub struct DashScope {
    endpoint: Endpoint,
    compatible: bool,
}

impl DashScope {
    pub fn new(cfg: &EmbeddingConfig) -> DashScope {
        let endpoint = cfg.endpoint(
            "dashscope",
            443,
            "text-embedding-v2",
            "/api/v1/services/embeddings/text-embedding/text-embedding",
        );
        DashScope {
            compatible: endpoint.path.contains("compatible-mode"),
            endpoint,
        }
    }
}

impl EmbeddingProvider for DashScope {
    fn kind(&self) -> &'static str {
        "dashscope"
    }

    fn model_id(&self) -> &str {
        &self.endpoint.model_id
    }

    fn request(&self, text: &str) -> Call {
        let model = &self.endpoint.model;
        let body = if self.compatible {
            json!({"model": model, "input": text, "encoding_format": "float"})
        } else {
            json!({"model": model, "input": {"texts": [text]}})
        };
        self.endpoint.post_json(&body)
    }

    fn parse(&self, reply: Reply) -> Result<Vec<f32>, BackendError> {
        let body = expect_json(reply, "dashscope embeddings")?;
        let vector = if self.compatible {
            &body["data"][0]["embedding"]
        } else {
            &body["output"]["embeddings"][0]["embedding"]
        };
        vector_from_json(vector, "dashscope embeddings")
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

    fn cfg(path: &str) -> EmbeddingConfig {
        EmbeddingConfig {
            kind: "dashscope".into(),
            service_name: "dashscope.dns".into(),
            service_host: "dashscope.aliyuncs.com".into(),
            api_key: "sk-ds".into(),
            path: path.into(),
            ..Default::default()
        }
    }

    #[test]
    fn native_api_body_and_response() {
        let p = DashScope::new(&cfg(""));
        let Call::Http { request, .. } = p.request("hi") else {
            panic!()
        };
        assert_eq!(
            request.url,
            "/api/v1/services/embeddings/text-embedding/text-embedding"
        );
        assert!(request
            .headers
            .contains(&("authorization".into(), "Bearer sk-ds".into())));
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"model": "text-embedding-v2", "input": {"texts": ["hi"]}})
        );
        let answer = r#"{"output":{"embeddings":[{"text_index":0,"embedding":[0.1,-0.2]}]},"usage":{"total_tokens":1},"request_id":"r"}"#;
        assert_eq!(p.parse(reply(answer)).unwrap(), vec![0.1, -0.2]);
        let error =
            r#"{"code":"InvalidApiKey","message":"Invalid API-key provided.","request_id":"r"}"#;
        assert!(p.parse(reply(error)).is_err());
    }

    #[test]
    fn compatible_mode_speaks_openai() {
        let p = DashScope::new(&cfg("/compatible-mode/v1/embeddings"));
        let Call::Http { request, .. } = p.request("hi") else {
            panic!()
        };
        assert_eq!(request.url, "/compatible-mode/v1/embeddings");
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["input"], "hi");
        let answer = r#"{"data":[{"embedding":[0.5,0.5],"index":0,"object":"embedding"}],"model":"text-embedding-v3","object":"list"}"#;
        assert_eq!(p.parse(reply(answer)).unwrap(), vec![0.5, 0.5]);
    }
}

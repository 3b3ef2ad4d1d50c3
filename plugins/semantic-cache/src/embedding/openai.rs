//! OpenAI-compatible `/v1/embeddings` (OpenAI, DeepSeek, vLLM, Xinference, ...).

use serde_json::json;

use super::{EmbeddingConfig, EmbeddingProvider, Endpoint};
use crate::backend::{expect_json, vector_from_json, BackendError, Call, Reply};

pub struct OpenAi {
    endpoint: Endpoint,
}

impl OpenAi {
    pub fn new(cfg: &EmbeddingConfig) -> OpenAi {
        OpenAi {
            endpoint: cfg.endpoint("openai", "text-embedding-3-small", "/v1/embeddings"),
        }
    }
}

impl EmbeddingProvider for OpenAi {
    fn kind(&self) -> &'static str {
        "openai"
    }

    fn model_id(&self) -> &str {
        &self.endpoint.model_id
    }

    fn request(&self, text: &str) -> Call {
        self.endpoint
            .post_json(&json!({"model": self.endpoint.model, "input": text}))
    }

    fn parse(&self, reply: Reply) -> Result<Vec<f32>, BackendError> {
        let body = expect_json(reply, "openai embeddings")?;
        vector_from_json(&body["data"][0]["embedding"], "openai embeddings")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use higress_sdk::HttpResponse;

    fn provider() -> OpenAi {
        OpenAi::new(&EmbeddingConfig {
            kind: "openai".into(),
            service_name: "api.openai.com".into(),
            api_key: "sk-1".into(),
            ..Default::default()
        })
    }

    #[test]
    fn request_is_an_openai_embeddings_post() {
        let Call::Http { cluster, request } = provider().request("hello") else {
            panic!("http call expected")
        };
        assert_eq!(cluster, "outbound|443||api.openai.com");
        assert_eq!(request.url, "/v1/embeddings");
        assert_eq!(request.authority.as_deref(), Some("api.openai.com"));
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"model": "text-embedding-3-small", "input": "hello"})
        );
        assert!(request
            .headers
            .contains(&("authorization".into(), "Bearer sk-1".into())));
    }

    #[test]
    fn parses_the_first_embedding() {
        let body = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-0.25]}]}"#;
        let reply = Reply::Http(HttpResponse {
            status: 200,
            headers: vec![],
            body: body.to_vec(),
        });
        assert_eq!(provider().parse(reply).unwrap(), vec![0.5, -0.25]);
    }

    #[test]
    fn error_bodies_are_errors() {
        let reply = Reply::Http(HttpResponse {
            status: 200,
            headers: vec![],
            body: br#"{"error":{"message":"bad"}}"#.to_vec(),
        });
        assert!(provider().parse(reply).is_err());
    }
}

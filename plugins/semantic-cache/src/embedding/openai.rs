//! OpenAI-compatible `/v1/embeddings` (OpenAI, DeepSeek, vLLM, Xinference, ...).
//!
//! The vector is asked for as base64 (`encoding_format`, what the official SDKs send, so every
//! server that works with them supports it): 4 bytes per dimension to decode instead of a JSON
//! decimal each, which is most of a semantic lookup's CPU in the VM otherwise. A server that
//! answers with a float array anyway is read too; `encodingFormat: float` asks for one.

use serde::Serialize;

use super::{EmbeddingConfig, EmbeddingProvider, Endpoint};
use crate::backend::{
    expect_json, vector_from_base64, vector_from_json, BackendError, Call, Reply,
};

pub struct OpenAi {
    endpoint: Endpoint,
    /// `encoding_format: base64` (else the server's default, float).
    base64: bool,
}

#[derive(Serialize)]
struct EmbeddingsRequest<'a> {
    model: &'a str,
    input: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding_format: Option<&'static str>,
}

impl OpenAi {
    pub fn new(cfg: &EmbeddingConfig) -> OpenAi {
        OpenAi {
            endpoint: cfg.endpoint("openai", 443, "text-embedding-3-small", "/v1/embeddings"),
            base64: cfg.encoding_format != "float",
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
        self.endpoint.post_json(&EmbeddingsRequest {
            model: &self.endpoint.model,
            input: text,
            encoding_format: self.base64.then_some("base64"),
        })
    }

    fn parse(&self, reply: Reply) -> Result<Vec<f32>, BackendError> {
        const WHAT: &str = "openai embeddings";
        let body = expect_json(reply, WHAT)?;
        let embedding = &body["data"][0]["embedding"];
        match embedding.as_str() {
            Some(b64) => vector_from_base64(b64, WHAT),
            None => vector_from_json(embedding, WHAT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use higress_sdk::HttpResponse;
    use serde_json::json;

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
            json!({"model": "text-embedding-3-small", "input": "hello", "encoding_format": "base64"})
        );
        assert!(request
            .headers
            .contains(&("authorization".into(), "Bearer sk-1".into())));
    }

    #[test]
    fn float_encoding_can_be_asked_for() {
        let p = OpenAi::new(&EmbeddingConfig {
            kind: "openai".into(),
            service_name: "vllm.dns".into(),
            encoding_format: "float".into(),
            ..Default::default()
        });
        let Call::Http { request, .. } = p.request("hi") else {
            panic!("http call expected")
        };
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert!(body.get("encoding_format").is_none(), "{body}");
    }

    #[test]
    fn parses_a_base64_embedding() {
        let body = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AACAPwAAAL8="}]}"#;
        let reply = Reply::Http(HttpResponse {
            status: 200,
            headers: vec![],
            body: body.to_vec(),
        });
        assert_eq!(provider().parse(reply).unwrap(), vec![1.0, -0.5]);
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

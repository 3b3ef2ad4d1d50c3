//! Cohere embed v2 (`embedding.type: cohere`): `POST /v2/embed` with a bearer `apiKey`,
//! `{"model", "texts": [...], "input_type": "search_query", "embedding_types": ["float"]}`,
//! answering `embeddings.float[0]`. Questions are embedded both to search and to store, so one
//! input type serves both sides. Default model `embed-english-v2.0` (Higress's).
//!
//! API: <https://docs.cohere.com/reference/embed>.

use serde_json::json;

use super::{EmbeddingConfig, EmbeddingProvider, Endpoint};
use crate::backend::{expect_json, vector_from_json, BackendError, Call, Reply};

pub struct Cohere {
    endpoint: Endpoint,
}

impl Cohere {
    pub fn new(cfg: &EmbeddingConfig) -> Cohere {
        Cohere {
            endpoint: cfg.endpoint("cohere", 443, "embed-english-v2.0", "/v2/embed"),
        }
    }
}

impl EmbeddingProvider for Cohere {
    fn kind(&self) -> &'static str {
        "cohere"
    }

    fn model_id(&self) -> &str {
        &self.endpoint.model_id
    }

    fn request(&self, text: &str) -> Call {
        self.endpoint.post_json(&json!({
            "model": self.endpoint.model,
            "texts": [text],
            "input_type": "search_query",
            "embedding_types": ["float"],
        }))
    }

    fn parse(&self, reply: Reply) -> Result<Vec<f32>, BackendError> {
        let body = expect_json(reply, "cohere embed")?;
        vector_from_json(&body["embeddings"]["float"][0], "cohere embed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use higress_sdk::HttpResponse;

    #[test]
    fn request_and_float_embeddings() {
        let p = Cohere::new(&EmbeddingConfig {
            kind: "cohere".into(),
            service_name: "cohere.dns".into(),
            service_host: "api.cohere.com".into(),
            api_key: "co-key".into(),
            ..Default::default()
        });
        let Call::Http { request, .. } = p.request("hi") else {
            panic!()
        };
        assert_eq!(request.url, "/v2/embed");
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"model": "embed-english-v2.0", "texts": ["hi"], "input_type": "search_query", "embedding_types": ["float"]})
        );
        let answer = br#"{"id":"e1","embeddings":{"float":[[0.3,0.4]]},"texts":["hi"],"meta":{"api_version":{"version":"2"},"billed_units":{"input_tokens":1}}}"#;
        let reply = Reply::Http(HttpResponse {
            status: 200,
            headers: vec![],
            body: answer.to_vec(),
        });
        assert_eq!(p.parse(reply).unwrap(), vec![0.3, 0.4]);
    }
}

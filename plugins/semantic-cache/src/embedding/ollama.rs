//! Ollama `/api/embed`: `{"model", "input"}` in, `{"embeddings": [[...]]}` out.

use serde_json::json;

use super::{EmbeddingConfig, EmbeddingProvider, Endpoint};
use crate::backend::{expect_json, vector_from_json, BackendError, Call, Reply};

pub struct Ollama {
    endpoint: Endpoint,
}

impl Ollama {
    pub fn new(cfg: &EmbeddingConfig) -> Ollama {
        Ollama {
            endpoint: cfg.endpoint("ollama", 11434, "llama3.2", "/api/embed"),
        }
    }
}

impl EmbeddingProvider for Ollama {
    fn kind(&self) -> &'static str {
        "ollama"
    }

    fn model_id(&self) -> &str {
        &self.endpoint.model_id
    }

    fn request(&self, text: &str) -> Call {
        self.endpoint
            .post_json(&json!({"model": self.endpoint.model, "input": text}))
    }

    fn parse(&self, reply: Reply) -> Result<Vec<f32>, BackendError> {
        let body = expect_json(reply, "ollama embed")?;
        vector_from_json(&body["embeddings"][0], "ollama embed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use higress_sdk::HttpResponse;

    #[test]
    fn posts_model_and_input_and_reads_embeddings() {
        let p = Ollama::new(&EmbeddingConfig {
            kind: "ollama".into(),
            service_name: "ollama.dns".into(),
            model: "all-minilm".into(),
            ..Default::default()
        });
        let Call::Http { cluster, request } = p.request("hi") else {
            panic!()
        };
        assert_eq!(cluster, "outbound|11434||ollama.dns");
        assert_eq!(request.url, "/api/embed");
        assert_eq!(request.body, br#"{"model":"all-minilm","input":"hi"}"#);
        let reply = Reply::Http(HttpResponse {
            status: 200,
            headers: vec![],
            body: br#"{"model":"all-minilm","embeddings":[[0.1,0.2]]}"#.to_vec(),
        });
        assert_eq!(p.parse(reply).unwrap(), vec![0.1, 0.2]);
    }
}

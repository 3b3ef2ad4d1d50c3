//! HuggingFace Text Embeddings Inference `/embed` (`type: tei`) and Higress's `huggingface`
//! type (the Inference API's `feature-extraction` pipeline). Both take `{"inputs": text}` and
//! answer a vector or a list of vectors.

use serde_json::{json, Value};

use super::{EmbeddingConfig, EmbeddingProvider, Endpoint};
use crate::backend::{expect_json, vector_from_json, BackendError, Call, Reply};

pub struct Tei {
    kind: &'static str,
    endpoint: Endpoint,
}

impl Tei {
    pub fn new(cfg: &EmbeddingConfig) -> Tei {
        let (kind, path) = if cfg.kind == "huggingface" {
            ("huggingface", "/pipeline/feature-extraction/{model}")
        } else {
            ("tei", "/embed")
        };
        Tei {
            kind,
            endpoint: cfg.endpoint(kind, 443, "sentence-transformers/all-MiniLM-L6-v2", path),
        }
    }
}

impl EmbeddingProvider for Tei {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn model_id(&self) -> &str {
        &self.endpoint.model_id
    }

    fn request(&self, text: &str) -> Call {
        self.endpoint.post_json(&json!({"inputs": text}))
    }

    fn parse(&self, reply: Reply) -> Result<Vec<f32>, BackendError> {
        let body = expect_json(reply, "tei embed")?;
        // `[[...]]` for TEI and batched pipelines, `[...]` for a single pipeline input.
        match body.get(0) {
            Some(Value::Array(_)) => vector_from_json(&body[0], "tei embed"),
            _ => vector_from_json(&body, "tei embed"),
        }
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

    #[test]
    fn tei_posts_inputs_to_embed() {
        let p = Tei::new(&EmbeddingConfig {
            kind: "tei".into(),
            service_name: "tei.static".into(),
            ..Default::default()
        });
        let Call::Http { cluster, request } = p.request("hi") else {
            panic!()
        };
        assert_eq!(cluster, "outbound|80||tei.static");
        assert_eq!(request.url, "/embed");
        assert_eq!(request.body, br#"{"inputs":"hi"}"#);
        assert_eq!(p.parse(reply("[[1.0,2.0]]")).unwrap(), vec![1.0, 2.0]);
        assert_eq!(p.parse(reply("[1.0,2.0]")).unwrap(), vec![1.0, 2.0]);
    }

    #[test]
    fn huggingface_uses_the_pipeline_path_of_the_model() {
        let p = Tei::new(&EmbeddingConfig {
            kind: "huggingface".into(),
            service_name: "hf.dns".into(),
            model: "BAAI/bge-small".into(),
            ..Default::default()
        });
        let Call::Http { request, .. } = p.request("hi") else {
            panic!()
        };
        assert_eq!(request.url, "/pipeline/feature-extraction/BAAI/bge-small");
    }

    #[test]
    fn models_have_distinct_ids() {
        let a = Tei::new(&EmbeddingConfig {
            kind: "tei".into(),
            service_name: "tei.static".into(),
            model: "a".into(),
            ..Default::default()
        });
        let b = Tei::new(&EmbeddingConfig {
            kind: "tei".into(),
            service_name: "tei.static".into(),
            model: "b".into(),
            ..Default::default()
        });
        assert_ne!(a.model_id(), b.model_id());
    }
}

//! The three embedding APIs the server speaks. Each dialect turns a request body into an
//! [`EmbedRequest`] and renders vectors and errors the way its clients expect; routing and inference
//! are shared.

mod ollama;
mod openai;
mod tei;

use serde_json::{Map, Value};

use crate::model::{normalize, Pooled};

/// Most inputs one request may carry (OpenAI's limit).
pub const MAX_INPUTS: usize = 2048;

/// What every dialect asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedRequest {
    pub texts: Vec<String>,
    /// The model the client named, echoed back.
    pub model: Option<String>,
    /// Unit-length vectors (all dialects default to yes; only TEI can turn it off).
    pub normalize: bool,
    /// OpenAI `encoding_format: base64`.
    pub base64: bool,
}

/// A client error: the status and the message put into the dialect's error body.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub status: u16,
    pub message: String,
}

impl Rejection {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Rejection {
            status: 400,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `POST /v1/embeddings`
    OpenAi,
    /// HuggingFace text-embeddings-inference `POST /embed`
    Tei,
    /// `POST /api/embed`
    Ollama,
}

impl Dialect {
    pub fn for_path(path: &str) -> Option<Dialect> {
        match path {
            "/v1/embeddings" | "/embeddings" => Some(Dialect::OpenAi),
            "/embed" => Some(Dialect::Tei),
            "/api/embed" => Some(Dialect::Ollama),
            _ => None,
        }
    }

    pub fn parse(self, body: &[u8]) -> Result<EmbedRequest, Rejection> {
        let request = match self {
            Dialect::OpenAi => openai::parse(body)?,
            Dialect::Tei => tei::parse(body)?,
            Dialect::Ollama => ollama::parse(body)?,
        };
        if request.texts.len() > MAX_INPUTS {
            return Err(Rejection::bad_request(format!(
                "too many inputs: {} (at most {MAX_INPUTS} per request)",
                request.texts.len()
            )));
        }
        if let Some(i) = request.texts.iter().position(String::is_empty) {
            return Err(Rejection::bad_request(format!(
                "input {i} is an empty string"
            )));
        }
        Ok(request)
    }

    /// The success body for `pooled` (one per input, in order, not yet normalised).
    pub fn render(self, request: &EmbedRequest, pooled: Vec<Pooled>) -> Vec<u8> {
        let tokens: usize = pooled.iter().map(|p| p.tokens).sum();
        let vectors: Vec<Vec<f32>> = pooled
            .into_iter()
            .map(|mut p| {
                if request.normalize {
                    normalize(&mut p.vector);
                }
                p.vector
            })
            .collect();
        // Serialised from f32 (not through serde_json::Value, which widens to f64): shortest
        // round-trip digits, about half the bytes.
        let body = match self {
            Dialect::OpenAi => serde_json::to_vec(&openai::body(request, vectors, tokens)),
            Dialect::Tei => serde_json::to_vec(&vectors),
            Dialect::Ollama => serde_json::to_vec(&ollama::body(request, vectors, tokens)),
        };
        body.unwrap_or_else(|e| format!("{{\"error\":\"cannot serialise: {e}\"}}").into_bytes())
    }

    pub fn error_body(self, rejection: &Rejection) -> Vec<u8> {
        match self {
            Dialect::OpenAi => openai::error_body(rejection),
            Dialect::Tei => tei::error_body(rejection),
            Dialect::Ollama => ollama::error_body(rejection),
        }
    }
}

/// The body as a JSON object.
fn object(body: &[u8]) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Rejection::bad_request(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(Rejection::bad_request(format!("invalid JSON body: {e}"))),
    }
}

/// `field` as a string or an array of strings; `None` when absent.
fn texts(map: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, Rejection> {
    let wrong =
        || Rejection::bad_request(format!("`{field}` must be a string or an array of strings"));
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(wrong()),
    }
}

/// `field` as an optional string.
fn string(map: &Map<String, Value>, field: &str) -> Result<Option<String>, Rejection> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Rejection::bad_request(format!(
            "`{field}` must be a string"
        ))),
    }
}

/// `field` as an optional boolean.
fn boolean(map: &Map<String, Value>, field: &str) -> Result<Option<bool>, Rejection> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Rejection::bad_request(format!(
            "`{field}` must be a boolean"
        ))),
    }
}

/// Rejects a `dimensions` other than the model's (no dialect can shorten this model's vectors).
fn check_dimensions(map: &Map<String, Value>) -> Result<(), Rejection> {
    match map.get("dimensions") {
        None | Some(Value::Null) => Ok(()),
        Some(v) if v.as_u64() == Some(crate::model::DIMENSIONS as u64) => Ok(()),
        Some(v) => Err(Rejection::bad_request(format!(
            "`dimensions` {v} is not supported: this model has {} dimensions",
            crate::model::DIMENSIONS
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooled(v: &[f32], tokens: usize) -> Pooled {
        Pooled {
            vector: v.to_vec(),
            tokens,
        }
    }

    #[test]
    fn routes_each_dialect_by_path() {
        assert_eq!(Dialect::for_path("/v1/embeddings"), Some(Dialect::OpenAi));
        assert_eq!(Dialect::for_path("/embed"), Some(Dialect::Tei));
        assert_eq!(Dialect::for_path("/api/embed"), Some(Dialect::Ollama));
        assert_eq!(Dialect::for_path("/v1/chat/completions"), None);
    }

    #[test]
    fn every_dialect_accepts_a_string_or_strings() {
        for (dialect, field) in [
            (Dialect::OpenAi, "input"),
            (Dialect::Tei, "inputs"),
            (Dialect::Ollama, "input"),
        ] {
            let one = dialect
                .parse(format!(r#"{{"{field}":"hi","model":"m"}}"#).as_bytes())
                .unwrap();
            assert_eq!(one.texts, vec!["hi"], "{dialect:?}");
            let many = dialect
                .parse(format!(r#"{{"{field}":["a","b"]}}"#).as_bytes())
                .unwrap();
            assert_eq!(many.texts, vec!["a", "b"], "{dialect:?}");
            assert!(many.normalize, "{dialect:?} normalises by default");
        }
    }

    #[test]
    fn bad_bodies_are_400_with_a_reason() {
        for dialect in [Dialect::OpenAi, Dialect::Tei, Dialect::Ollama] {
            for (body, reason) in [
                (&b"{not json"[..], "invalid JSON"),
                (&b"[1]"[..], "JSON object"),
                (&br#"{"input":[1,2],"inputs":[1,2]}"#[..], ""),
                (
                    &br#"{"input":["a",""],"inputs":["a",""]}"#[..],
                    "empty string",
                ),
                (
                    &br#"{"input":"a","inputs":"a","dimensions":12}"#[..],
                    "dimensions",
                ),
            ] {
                let e = dialect.parse(body).unwrap_err();
                assert_eq!(e.status, 400, "{dialect:?} {body:?}");
                assert!(e.message.contains(reason), "{dialect:?}: {}", e.message);
                let rendered: Value = serde_json::from_slice(&dialect.error_body(&e)).unwrap();
                assert!(
                    rendered
                        .to_string()
                        .contains(&e.message.replace('"', "\\\"")),
                    "{rendered}"
                );
            }
        }
    }

    #[test]
    fn too_many_inputs_are_rejected() {
        let body = serde_json::json!({ "input": vec!["x"; MAX_INPUTS + 1] }).to_string();
        let e = Dialect::OpenAi.parse(body.as_bytes()).unwrap_err();
        assert!(e.message.contains("too many inputs"), "{}", e.message);
    }

    #[test]
    fn tei_can_skip_normalisation() {
        let request = Dialect::Tei
            .parse(br#"{"inputs":"x","normalize":false}"#)
            .unwrap();
        let body = Dialect::Tei.render(&request, vec![pooled(&[3.0, 4.0], 3)]);
        assert_eq!(body, b"[[3.0,4.0]]");
        let request = Dialect::Tei.parse(br#"{"inputs":"x"}"#).unwrap();
        let body = Dialect::Tei.render(&request, vec![pooled(&[3.0, 4.0], 3)]);
        assert_eq!(body, b"[[0.6,0.8]]");
    }
}

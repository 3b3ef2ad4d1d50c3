//! OpenAI `POST /v1/embeddings`: `{"input": str|[str], "model", "encoding_format": "float"|"base64",
//! "dimensions"}` → `{"object":"list","data":[{"object":"embedding","index","embedding"}],"model",
//! "usage":{"prompt_tokens","total_tokens"}}`. The official Python SDK asks for base64 by default.

use ai_proto::embeddings::{EmbeddingInput, EmbeddingsRequest};
use ai_proto::error::OpenAiError;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;

use super::{check_dimensions, object, EmbedRequest, Rejection};
use crate::model::MODEL_NAME;

pub(super) fn parse(body: &[u8]) -> Result<EmbedRequest, Rejection> {
    let map = object(body)?;
    check_dimensions(&map)?;
    let request: EmbeddingsRequest = serde_json::from_value(Value::Object(map))
        .map_err(|e| Rejection::bad_request(format!("invalid request: {e}")))?;
    let texts = match request.input {
        EmbeddingInput::Text(t) => vec![t],
        EmbeddingInput::Texts(t) if t.is_empty() => {
            return Err(Rejection::bad_request("`input` is an empty array"))
        }
        EmbeddingInput::Texts(t) => t,
        EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => {
            return Err(Rejection::bad_request(
                "token-array `input` is not supported by this server: send text",
            ))
        }
    };
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(Rejection::bad_request(format!(
                "`encoding_format` must be \"float\" or \"base64\", not {other:?}"
            )))
        }
    };
    Ok(EmbedRequest {
        texts,
        model: request.model,
        normalize: true,
        base64,
    })
}

#[derive(Serialize)]
pub(super) struct Body<'a> {
    object: &'static str,
    data: Vec<Item>,
    model: &'a str,
    usage: Usage,
}

#[derive(Serialize)]
struct Item {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Float(Vec<f32>),
    /// Little-endian f32s.
    Base64(String),
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: usize,
    total_tokens: usize,
}

pub(super) fn body(request: &EmbedRequest, vectors: Vec<Vec<f32>>, tokens: usize) -> Body<'_> {
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(index, v)| Item {
            object: "embedding",
            index,
            embedding: if request.base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Vector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Vector::Float(v)
            },
        })
        .collect();
    Body {
        object: "list",
        data,
        model: request.model.as_deref().unwrap_or(MODEL_NAME),
        usage: Usage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    }
}

pub(super) fn error_body(rejection: &Rejection) -> Vec<u8> {
    OpenAiError::new(&rejection.message, "invalid_request_error").to_body()
}

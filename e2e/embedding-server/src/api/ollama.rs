//! Ollama `POST /api/embed`: `{"model", "input": str|[str]}` →
//! `{"model", "embeddings": [[...]], "prompt_eval_count"}`. As in Ollama, an empty `input` array is
//! answered with no embeddings rather than an error. Errors are `{"error": "..."}`.

use serde::Serialize;
use serde_json::json;

use super::{check_dimensions, object, string, texts, EmbedRequest, Rejection};
use crate::model::MODEL_NAME;

pub(super) fn parse(body: &[u8]) -> Result<EmbedRequest, Rejection> {
    let map = object(body)?;
    check_dimensions(&map)?;
    let texts = texts(&map, "input")?.unwrap_or_default();
    Ok(EmbedRequest {
        texts,
        model: string(&map, "model")?,
        normalize: true,
        base64: false,
    })
}

#[derive(Serialize)]
pub(super) struct Body<'a> {
    model: &'a str,
    embeddings: Vec<Vec<f32>>,
    prompt_eval_count: usize,
}

pub(super) fn body(request: &EmbedRequest, embeddings: Vec<Vec<f32>>, tokens: usize) -> Body<'_> {
    Body {
        model: request.model.as_deref().unwrap_or(MODEL_NAME),
        embeddings,
        prompt_eval_count: tokens,
    }
}

pub(super) fn error_body(rejection: &Rejection) -> Vec<u8> {
    json!({"error": rejection.message}).to_string().into_bytes()
}

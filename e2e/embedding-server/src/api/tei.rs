//! HuggingFace text-embeddings-inference `POST /embed`: `{"inputs": str|[str], "normalize": bool}` →
//! `[[f32, ...], ...]`. Errors are `{"error", "error_type"}`. Inputs longer than the model's window are
//! always truncated (TEI's `truncate: true`), whatever `truncate` says.

use serde_json::json;

use super::{boolean, check_dimensions, object, texts, EmbedRequest, Rejection};

pub(super) fn parse(body: &[u8]) -> Result<EmbedRequest, Rejection> {
    let map = object(body)?;
    check_dimensions(&map)?;
    let texts =
        texts(&map, "inputs")?.ok_or_else(|| Rejection::bad_request("missing field `inputs`"))?;
    if texts.is_empty() {
        return Err(Rejection::bad_request("`inputs` cannot be empty"));
    }
    Ok(EmbedRequest {
        texts,
        model: None,
        normalize: boolean(&map, "normalize")?.unwrap_or(true),
        base64: false,
    })
}

pub(super) fn error_body(rejection: &Rejection) -> Vec<u8> {
    json!({"error": rejection.message, "error_type": "Validation"})
        .to_string()
        .into_bytes()
}

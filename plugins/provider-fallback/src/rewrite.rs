//! The fallback callout for one provider: the client's chat request with the provider's model,
//! host, path and key, sent non-streaming (the callout is buffered anyway; the answer is
//! re-chunked for streaming clients by `rechunk`).

use higress_sdk::HttpRequest;
use serde_json::{Map, Value};

use crate::config::Provider;

/// `request` is the client's JSON object; `seq` picks the API key; `timeout_ms` already bounded
/// by the chain deadline.
pub fn callout(
    provider: &Provider,
    request: &Map<String, Value>,
    seq: u64,
    timeout_ms: u32,
    request_id: Option<&str>,
) -> HttpRequest {
    let mut body = request.clone();
    if let Some(model) = body.get("model").and_then(Value::as_str) {
        if let Some(mapped) = provider.map_model(model) {
            body.insert("model".into(), Value::String(mapped.to_string()));
        }
    }
    body.insert("stream".into(), Value::Bool(false));
    // OpenAI rejects stream_options unless stream is true.
    body.remove("stream_options");
    let bytes = serde_json::to_vec(&Value::Object(body)).unwrap_or_default();
    let mut req = HttpRequest::post(&provider.path, bytes)
        .authority(&provider.authority())
        .timeout_ms(timeout_ms)
        .header("content-type", "application/json")
        .header("accept", "application/json");
    if !provider.api_tokens.is_empty() {
        let key = &provider.api_tokens[(seq % provider.api_tokens.len() as u64) as usize];
        let value = if provider.auth_header.eq_ignore_ascii_case("authorization") {
            format!("Bearer {key}")
        } else {
            key.clone()
        };
        req = req.header(&provider.auth_header.to_ascii_lowercase(), &value);
    }
    for (k, v) in &provider.headers {
        req = req.header(&k.to_ascii_lowercase(), v);
    }
    if let Some(id) = request_id {
        req = req.header("x-request-id", id);
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header<'a>(r: &'a HttpRequest, k: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn model_auth_path_and_stream_are_rewritten() {
        let p: Provider = serde_json::from_value(json!({"name": "azure", "cluster": "outbound|443||az.dns",
            "host": "res.openai.azure.com", "path": "/openai/deployments/d/chat/completions?api-version=2024-06-01",
            "apiTokens": ["k1", "k2"], "authHeader": "api-key", "headers": {"X-Tenant": "t"},
            "modelMapping": {"gpt-4o": "gpt-4o-2024"}}))
        .unwrap();
        let req = json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2});
        let r = callout(&p, req.as_object().unwrap(), 3, 900, Some("rid"));
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(sent["model"], "gpt-4o-2024");
        assert_eq!(sent["stream"], false);
        assert!(sent.get("stream_options").is_none());
        assert_eq!(sent["temperature"], 0.2);
        assert_eq!(sent["messages"], req["messages"]);
        assert_eq!(header(&r, "api-key"), Some("k2"));
        assert_eq!(header(&r, "x-tenant"), Some("t"));
        assert_eq!(header(&r, "x-request-id"), Some("rid"));
        assert_eq!(r.timeout_ms, 900);
        let wire = r.wire_headers().unwrap();
        assert!(wire.contains(&(":authority".into(), "res.openai.azure.com".into())));
        assert!(wire.contains(&(
            ":path".into(),
            "/openai/deployments/d/chat/completions?api-version=2024-06-01".into()
        )));
    }

    #[test]
    fn bearer_auth_and_unmapped_model_kept() {
        let p: Provider =
            serde_json::from_value(json!({"name": "ds", "serviceName": "api.deepseek.com.dns",
            "apiTokens": ["sk"]}))
            .unwrap();
        let req = json!({"model": "deepseek-chat", "messages": []});
        let r = callout(&p, req.as_object().unwrap(), 0, 10, None);
        assert_eq!(header(&r, "authorization"), Some("Bearer sk"));
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(sent["model"], "deepseek-chat");
        assert!(r
            .wire_headers()
            .unwrap()
            .contains(&(":authority".into(), "api.deepseek.com".into())));
    }
}

//! Embeddings request/response and the OpenAI error object.

use ai_proto::embeddings::{
    EmbeddingInput, EmbeddingVector, EmbeddingsRequest, EmbeddingsResponse,
};
use ai_proto::error::OpenAiError;
use ai_proto::sse::SseDecoder;
use serde_json::{json, Value};

#[test]
fn embeddings_request_input_shapes() {
    let cases = [
        (
            r#"{"input":"hello","model":"text-embedding-3-small"}"#,
            EmbeddingInput::Text("hello".into()),
        ),
        (
            r#"{"input":["a","b"],"model":"m"}"#,
            EmbeddingInput::Texts(vec!["a".into(), "b".into()]),
        ),
        (
            r#"{"input":[1,2,3],"model":"m"}"#,
            EmbeddingInput::Tokens(vec![1, 2, 3]),
        ),
        (
            r#"{"input":[[1],[2,3]],"model":"m"}"#,
            EmbeddingInput::TokenBatches(vec![vec![1], vec![2, 3]]),
        ),
    ];
    for (body, expected) in cases {
        let req: EmbeddingsRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.input, expected);
        assert_eq!(serde_json::to_string(&req).unwrap(), body);
    }
    assert!(serde_json::from_str::<EmbeddingsRequest>(r#"{"input":["a",1]}"#).is_err());
    assert!(serde_json::from_str::<EmbeddingsRequest>(r#"{"input":[-1]}"#).is_err());
    assert!(serde_json::from_str::<EmbeddingsRequest>(r#"{"model":"m"}"#).is_err());
}

#[test]
fn embeddings_request_options_and_vendor_fields() {
    let body = r#"{"input":["x","y"],"model":"text-embedding-3-large","encoding_format":"base64","dimensions":256,"user":"u1","input_type":"query"}"#;
    let req: EmbeddingsRequest = serde_json::from_str(body).unwrap();
    assert_eq!(req.dimensions, Some(256));
    assert_eq!(req.encoding_format.as_deref(), Some("base64"));
    assert_eq!(req.input.texts(), Some(vec!["x", "y"]));
    assert_eq!(req.input.len(), 2);
    assert!(req.extra.contains_key("input_type"));
    assert_eq!(serde_json::to_string(&req).unwrap(), body);
}

#[test]
fn embeddings_response_round_trips() {
    let body = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023064255,-0.009327292,0.015797347]},{"object":"embedding","index":1,"embedding":"AACAPwAAIMA="}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#;
    let resp: EmbeddingsResponse = serde_json::from_str(body).unwrap();
    assert_eq!(resp.data.len(), 2);
    assert!(matches!(&resp.data[0].embedding, EmbeddingVector::Float(v) if v.len() == 3));
    assert_eq!(resp.data[1].embedding.to_f32(), Some(vec![1.0, -2.5]));
    assert_eq!(resp.usage.as_ref().unwrap().prompt_tokens, Some(8));
    assert_eq!(serde_json::to_string(&resp).unwrap(), body);
}

#[test]
fn error_body_has_openai_shape() {
    let err = OpenAiError::rate_limited("Rate limit reached for tokens per minute");
    let body: Value = serde_json::from_slice(&err.to_body()).unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "Rate limit reached for tokens per minute", "type": "rate_limit_exceeded", "param": null, "code": "rate_limit_exceeded"}})
    );
    let custom = OpenAiError::new("bad model", "invalid_request_error")
        .with_param("model")
        .with_code(404);
    let back = OpenAiError::from_body(&custom.to_body()).unwrap();
    assert_eq!(back, custom);
    assert_eq!(back.to_string(), "invalid_request_error: bad model");
}

#[test]
fn error_as_sse_event() {
    let err = OpenAiError::new("upstream timeout", "server_error");
    let events = SseDecoder::decode_all(&err.to_sse_event()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        OpenAiError::from_body(events[0].data.as_bytes()).unwrap(),
        err
    );
}

#[test]
fn parses_upstream_error_bodies() {
    let openai = br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
    let e = OpenAiError::from_body(openai).unwrap();
    assert_eq!(e.code_str(), Some("invalid_api_key"));
    assert_eq!(e.param, Some(Value::Null));
    // Round trip keeps the explicit nulls.
    assert_eq!(e.to_body(), openai.to_vec());

    let anthropic = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#;
    let e = OpenAiError::from_body(anthropic).unwrap();
    assert_eq!(
        (e.kind.as_deref(), e.message.as_str()),
        (Some("overloaded_error"), "Overloaded")
    );
    assert_eq!(e.param, None);

    let bare = OpenAiError::from_body(br#"{"error":"quota exceeded"}"#).unwrap();
    assert_eq!(bare.message, "quota exceeded");

    let vendor = OpenAiError::from_body(br#"{"error":{"message":"m","code":1301,"innererror":{"code":"ResponsibleAIPolicyViolation"}}}"#).unwrap();
    assert_eq!(vendor.code, Some(json!(1301)));
    assert!(vendor.extra.contains_key("innererror"));

    for bad in [&b"{}"[..], b"not json", br#"{"error":7}"#, b""] {
        assert!(OpenAiError::from_body(bad).is_err());
    }
}

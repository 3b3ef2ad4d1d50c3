//! Usage extraction from every dialect, detected by shape, and merging of partial reports.

use ai_proto::chat::ChatResponse;
use ai_proto::usage::{extract_usage, extract_usage_from_slice, Usage};
use serde_json::Value;

fn usage(json: &str) -> Option<Usage> {
    let from_slice = extract_usage_from_slice(json.as_bytes()).unwrap();
    // Both entry points must agree.
    let v: Value = serde_json::from_str(json).unwrap();
    assert_eq!(extract_usage(&v), from_slice, "{json}");
    from_slice
}

#[test]
fn openai_chat_usage() {
    let u = usage(r#"{"id":"x","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":256}}}"#).unwrap();
    assert_eq!(
        u,
        Usage {
            input_tokens: Some(1200),
            output_tokens: Some(300),
            total_tokens: Some(1500),
            cached_input_tokens: Some(1024),
            reasoning_tokens: Some(256),
            cache_creation_input_tokens: None,
        }
    );
}

#[test]
fn openai_final_stream_chunk_usage_and_null_usage_chunks() {
    let u = usage(r#"{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#).unwrap();
    assert_eq!((u.input(), u.output(), u.total()), (9, 2, 11));
    assert_eq!(
        usage(r#"{"choices":[{"delta":{"content":"a"}}],"usage":null}"#),
        None
    );
}

#[test]
fn responses_api_completed_event_and_plain_object() {
    let event = r#"{"type":"response.completed","sequence_number":42,"response":{"id":"resp_1","object":"response","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],"usage":{"input_tokens":328,"input_tokens_details":{"cached_tokens":128},"output_tokens":52,"output_tokens_details":{"reasoning_tokens":20},"total_tokens":380}}}"#;
    let expected = Usage {
        input_tokens: Some(328),
        output_tokens: Some(52),
        total_tokens: Some(380),
        cached_input_tokens: Some(128),
        reasoning_tokens: Some(20),
        cache_creation_input_tokens: None,
    };
    assert_eq!(usage(event), Some(expected));
    let plain = r#"{"id":"resp_1","object":"response","created_at":1741476542,"status":"completed","usage":{"input_tokens":328,"input_tokens_details":{"cached_tokens":128},"output_tokens":52,"output_tokens_details":{"reasoning_tokens":20},"total_tokens":380}}"#;
    assert_eq!(usage(plain), Some(expected));
    // Earlier Responses events carry a response object without usage yet.
    assert_eq!(
        usage(r#"{"type":"response.created","response":{"id":"r","usage":null}}"#),
        None
    );
}

#[test]
fn anthropic_message_counts_cache_tokens_as_input() {
    let msg = r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":21,"cache_creation_input_tokens":188086,"cache_read_input_tokens":0,"output_tokens":393,"service_tier":"standard"}}"#;
    let u = usage(msg).unwrap();
    assert_eq!(u.input_tokens, Some(21 + 188_086));
    assert_eq!(u.output_tokens, Some(393));
    assert_eq!(u.cache_creation_input_tokens, Some(188_086));
    assert_eq!(u.cached_input_tokens, Some(0));
    assert_eq!(u.total(), 21 + 188_086 + 393);
}

#[test]
fn anthropic_stream_start_and_delta_merge() {
    let start = r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-3-5-sonnet","stop_reason":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":2048,"output_tokens":1}}}"#;
    let delta = r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":89}}"#;
    let mut u = usage(start).unwrap();
    assert_eq!(u.input_tokens, Some(2520));
    assert_eq!(u.output_tokens, Some(1));
    let d = usage(delta).unwrap();
    assert_eq!(d.input_tokens, None);
    u.merge(&d);
    assert_eq!(u.input_tokens, Some(2520));
    assert_eq!(u.output_tokens, Some(89));
    assert_eq!(u.cached_input_tokens, Some(2048));
    assert_eq!(u.total(), 2520 + 89);
    // Events without usage.
    assert_eq!(
        usage(
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#
        ),
        None
    );
    assert_eq!(usage(r#"{"type":"ping"}"#), None);
}

#[test]
fn merge_drops_a_stale_total() {
    let mut u = Usage {
        input_tokens: Some(10),
        output_tokens: Some(1),
        total_tokens: Some(11),
        ..Usage::default()
    };
    u.merge(&Usage {
        output_tokens: Some(5),
        ..Usage::default()
    });
    assert_eq!(u.total(), 15);
    u.merge(&Usage {
        reasoning_tokens: Some(3),
        ..Usage::default()
    });
    assert_eq!((u.total(), u.reasoning_tokens), (15, Some(3)));
}

#[test]
fn gemini_usage_metadata() {
    let body = r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":30,"totalTokenCount":200,"cachedContentTokenCount":64,"thoughtsTokenCount":50,"promptTokensDetails":[{"modality":"TEXT","tokenCount":120}]},"modelVersion":"gemini-2.5-flash"}"#;
    let u = usage(body).unwrap();
    assert_eq!(u.input_tokens, Some(120));
    assert_eq!(u.output_tokens, Some(80));
    assert_eq!(u.total_tokens, Some(200));
    assert_eq!(u.cached_input_tokens, Some(64));
    assert_eq!(u.reasoning_tokens, Some(50));
}

#[test]
fn gemini_json_array_stream_takes_latest_counts() {
    let body = r#"[{"candidates":[],"usageMetadata":{"promptTokenCount":10,"totalTokenCount":10}},{"candidates":[],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":7,"totalTokenCount":17}},3]"#;
    let u = usage(body).unwrap();
    assert_eq!((u.input(), u.output(), u.total()), (10, 7, 17));
}

#[test]
fn odd_shapes_yield_none_and_bad_json_is_an_error() {
    assert_eq!(usage(r#"{"usage":"n/a","x":[1,{"usage":{}}]}"#), None);
    assert_eq!(
        usage(r#"{"usage":{"prompt_tokens":"12","completion_tokens":-1}}"#)
            .unwrap()
            .input_tokens,
        Some(12)
    );
    assert_eq!(usage("42"), None);
    assert_eq!(usage("null"), None);
    assert!(extract_usage_from_slice(b"{\"usage\":").is_err());
}

#[test]
fn chat_usage_converts() {
    let resp: ChatResponse = serde_json::from_str(r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"completion_tokens_details":{"reasoning_tokens":2}}}"#).unwrap();
    let u = Usage::from(resp.usage.as_ref().unwrap());
    assert_eq!(
        (u.input(), u.output(), u.total(), u.reasoning_tokens),
        (3, 4, 7, Some(2))
    );
}

//! StreamAccumulator on real-looking OpenAI, DeepSeek and Azure streams.

use ai_proto::chat::{ChatChunk, Content};
use ai_proto::stream::{StreamAccumulator, StreamError};
use serde_json::Value;

fn sse(datas: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for d in datas {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(d.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    out
}

const OPENAI_STREAM: &[&str] = &[
    r#"{"id":"chatcmpl-AB1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_f85bea6784","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"aZ"}"#,
    r#"{"id":"chatcmpl-AB1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_f85bea6784","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"b"}"#,
    r#"{"id":"chatcmpl-AB1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_f85bea6784","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"chatcmpl-AB1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_f85bea6784","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
    r#"{"id":"chatcmpl-AB1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_f85bea6784","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}"#,
    "[DONE]",
];

#[test]
fn openai_stream_with_role_only_first_chunk_and_usage_chunk() {
    let bytes = sse(OPENAI_STREAM);
    // Uneven network chunks: several events per chunk and events split across chunks.
    for size in [1, 7, 100, bytes.len()] {
        let mut acc = StreamAccumulator::new();
        for c in bytes.chunks(size) {
            acc.feed_sse(c).unwrap();
        }
        acc.finish_sse().unwrap();
        assert!(acc.is_done());
        assert_eq!(acc.chunk_count(), 5);
        assert_eq!(acc.usage().unwrap().total(), 10);
        let resp = acc.finish().unwrap();
        let v = serde_json::to_value(&resp).unwrap();
        assert_eq!(v["id"], "chatcmpl-AB1");
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["created"], 1_727_000_000);
        assert_eq!(v["model"], "gpt-4o-mini");
        assert_eq!(v["system_fingerprint"], "fp_f85bea6784");
        assert_eq!(v["choices"][0]["message"]["role"], "assistant");
        assert_eq!(v["choices"][0]["message"]["content"], "Hello world");
        assert_eq!(v["choices"][0]["message"]["refusal"], Value::Null);
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["usage"]["prompt_tokens"], 8);
        assert!(v.get("obfuscation").is_none());
    }
}

#[test]
fn parallel_tool_calls_are_stitched_by_index() {
    let stream = [
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}"#,
        r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
    ];
    let mut acc = StreamAccumulator::new();
    for d in stream {
        acc.push_data(d).unwrap();
    }
    let resp = acc.finish().unwrap();
    let msg = &resp.choices[0].message;
    assert_eq!(msg.content, Some(Content::Null));
    let calls = msg.tool_calls.as_ref().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].id.as_deref(), Some("call_a"));
    assert_eq!(calls[0].index, None);
    let f0 = calls[0].function.as_ref().unwrap();
    assert_eq!(f0.name.as_deref(), Some("get_weather"));
    assert_eq!(f0.arguments.as_deref(), Some(r#"{"city":"Paris"}"#));
    assert_eq!(
        calls[1].function.as_ref().unwrap().name.as_deref(),
        Some("get_time")
    );
    assert_eq!(
        resp.choices[0].finish_reason,
        Some(Some("tool_calls".to_owned()))
    );
    // The assembled answer is itself a valid response body.
    let body = serde_json::to_string(&resp).unwrap();
    assert!(body.contains(r#""content":null"#));
}

#[test]
fn legacy_function_call_and_several_choices() {
    let mut acc = StreamAccumulator::new();
    for d in [
        r#"{"id":"c","choices":[{"index":1,"delta":{"role":"assistant","content":"B"}},{"index":0,"delta":{"role":"assistant","function_call":{"name":"f","arguments":"{\"a\""}}}]}"#,
        r#"{"id":"c","choices":[{"index":0,"delta":{"function_call":{"arguments":":1}"}},"finish_reason":"function_call"},{"index":1,"delta":{"content":"b"},"finish_reason":"length"}]}"#,
    ] {
        acc.push_data(d).unwrap();
    }
    let resp = acc.finish().unwrap();
    assert_eq!(resp.choices.len(), 2);
    assert_eq!(resp.choices[0].index, 0);
    let fc = resp.choices[0].message.function_call.as_ref().unwrap();
    assert_eq!(fc.name.as_deref(), Some("f"));
    assert_eq!(fc.arguments.as_deref(), Some(r#"{"a":1}"#));
    assert_eq!(resp.choices[1].message.text(), "Bb");
    assert_eq!(
        resp.choices[1].finish_reason,
        Some(Some("length".to_owned()))
    );
}

#[test]
fn deepseek_reasoning_content_is_accumulated() {
    let mut acc = StreamAccumulator::new();
    for d in [
        r#"{"id":"ds1","object":"chat.completion.chunk","created":1738000000,"model":"deepseek-reasoner","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":""},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"id":"ds1","object":"chat.completion.chunk","created":1738000000,"model":"deepseek-reasoner","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"Let me think"},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"id":"ds1","object":"chat.completion.chunk","created":1738000000,"model":"deepseek-reasoner","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"content":"42","reasoning_content":null},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"id":"ds1","object":"chat.completion.chunk","created":1738000000,"model":"deepseek-reasoner","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{"content":"","reasoning_content":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30,"completion_tokens_details":{"reasoning_tokens":15},"prompt_cache_hit_tokens":0,"prompt_cache_miss_tokens":10}}"#,
    ] {
        acc.push_data(d).unwrap();
    }
    assert_eq!(acc.usage().unwrap().reasoning_tokens, Some(15));
    let resp = acc.finish().unwrap();
    let msg = &resp.choices[0].message;
    assert_eq!(msg.reasoning_content, Some(Some("Let me think".to_owned())));
    assert_eq!(msg.text(), "42");
}

#[test]
fn azure_prompt_filter_chunk_with_empty_choices() {
    let stream = sse(&[
        r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}"#,
        r#"{"choices":[{"content_filter_results":{},"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0,"logprobs":null}],"created":1730000000,"id":"chatcmpl-AZ","model":"gpt-4o-2024-05-13","object":"chat.completion.chunk","system_fingerprint":"fp_1"}"#,
        r#"{"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}},"delta":{"content":"Hi"},"finish_reason":null,"index":0}],"created":1730000000,"id":"chatcmpl-AZ","model":"gpt-4o-2024-05-13","object":"chat.completion.chunk","system_fingerprint":"fp_1"}"#,
        r#"{"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"stop","index":0}],"created":1730000000,"id":"chatcmpl-AZ","model":"gpt-4o-2024-05-13","object":"chat.completion.chunk","system_fingerprint":"fp_1"}"#,
        "[DONE]",
    ]);
    let mut acc = StreamAccumulator::new();
    acc.feed_sse(&stream).unwrap();
    let resp = acc.finish().unwrap();
    assert_eq!(resp.id.as_deref(), Some("chatcmpl-AZ"));
    assert_eq!(resp.model.as_deref(), Some("gpt-4o-2024-05-13"));
    assert_eq!(resp.created, Some(1_730_000_000));
    assert!(resp.extra.contains_key("prompt_filter_results"));
    assert_eq!(resp.choices[0].message.text(), "Hi");
    // Last value wins for per-chunk vendor fields.
    assert_eq!(
        resp.choices[0].extra["content_filter_results"],
        serde_json::json!({})
    );
}

#[test]
fn error_event_inside_a_200_stream() {
    let mut stream = sse(&[OPENAI_STREAM[0], OPENAI_STREAM[1]]);
    stream.extend_from_slice(
        b"event: error\ndata: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n",
    );
    let mut acc = StreamAccumulator::new();
    let err = acc.feed_sse(&stream).unwrap_err();
    let StreamError::Upstream(e) = &err else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(e.message, "The server had an error");
    assert_eq!(e.kind.as_deref(), Some("server_error"));
    // Sticky: later input is ignored and finish reports the error.
    assert_eq!(acc.feed_sse(b"data: [DONE]\n\n").unwrap_err(), err);
    assert!(!acc.is_done());
    assert_eq!(acc.snapshot().choices[0].message.text(), "Hello");
    assert_eq!(acc.finish().unwrap_err(), err);
}

#[test]
fn malformed_json_is_an_error_not_a_panic() {
    let mut acc = StreamAccumulator::new();
    let err = acc
        .feed_sse(b"data: {\"id\":\"x\",\"choices\":[{\"delta\":\n\n")
        .unwrap_err();
    assert!(matches!(err, StreamError::InvalidChunk(_)));
    assert!(err.to_string().contains("invalid chat.completion.chunk"));
    let mut acc = StreamAccumulator::new();
    assert!(acc.push_data("not json").is_err());
    let mut acc = StreamAccumulator::new();
    assert!(acc.push_data(r#"{"choices":[{"index":"zero"}]}"#).is_err());
}

#[test]
fn overflow_stops_accumulation() {
    let mut acc = StreamAccumulator::with_limit(200);
    let piece = r#"{"id":"c","choices":[{"index":0,"delta":{"content":"0123456789"}}]}"#;
    let mut overflowed_at = None;
    for i in 0..100 {
        if acc.push_data(piece).is_err() {
            overflowed_at = Some(i);
            break;
        }
    }
    let at = overflowed_at.expect("limit must be hit");
    // 10 bytes of text per chunk plus small bookkeeping: the limit is hit well before 20 chunks.
    assert!((10..20).contains(&at), "overflow after {at} chunks");
    assert!(acc.is_overflowed());
    assert!(acc.accumulated_bytes() <= 200);
    // The failing chunk was not half-applied.
    assert_eq!(acc.snapshot().choices[0].message.text().len(), at * 10);
    assert!(matches!(
        acc.push_data(piece),
        Err(StreamError::Overflow { limit: 200 })
    ));
    assert!(matches!(
        acc.finish(),
        Err(StreamError::Overflow { limit: 200 })
    ));
}

#[test]
fn oversized_sse_event_is_reported() {
    let mut acc = StreamAccumulator::with_limit(32);
    let err = acc.feed_sse(&[b'x'; 100]).unwrap_err();
    assert!(matches!(err, StreamError::Sse(_)));
}

#[test]
fn last_event_without_blank_line_is_used_on_finish() {
    let mut acc = StreamAccumulator::new();
    acc.feed_sse(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tail\"}}]}")
        .unwrap();
    assert_eq!(acc.chunk_count(), 0);
    acc.finish_sse().unwrap();
    assert_eq!(acc.finish().unwrap().choices[0].message.text(), "tail");
}

#[test]
fn push_chunk_accepts_parsed_chunks() {
    let chunk: ChatChunk =
        serde_json::from_str(r#"{"id":"p","choices":[{"index":0,"delta":{"content":"x"}}]}"#)
            .unwrap();
    let mut acc = StreamAccumulator::new();
    acc.push_chunk(chunk.clone()).unwrap();
    acc.push_chunk(chunk).unwrap();
    assert_eq!(acc.finish().unwrap().choices[0].message.text(), "xx");
}

#[test]
fn logprobs_content_lists_are_concatenated() {
    let mut acc = StreamAccumulator::new();
    acc.push_data(r#"{"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"content":[{"token":"a","logprob":-0.1}],"refusal":null}}]}"#).unwrap();
    acc.push_data(r#"{"choices":[{"index":0,"delta":{"content":"b"},"logprobs":{"content":[{"token":"b","logprob":-0.2}],"refusal":null}}]}"#).unwrap();
    let resp = acc.finish().unwrap();
    let lp = resp.choices[0].logprobs.as_ref().unwrap();
    assert_eq!(lp["content"].as_array().unwrap().len(), 2);
    assert_eq!(lp["content"][1]["token"], "b");
}

#[test]
fn repeated_metadata_is_not_charged_per_chunk() {
    // 1000 chunks of one character each, with id, model and fingerprint repeated every time:
    // only the text and one copy of the metadata may count against the limit.
    let mut acc = StreamAccumulator::with_limit(1500);
    let chunk = r#"{"id":"chatcmpl-123456789","model":"gpt-4o-mini","system_fingerprint":"fp_0123456789ab","service_tier":"default","obfuscation":"pad0","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}"#;
    for _ in 0..1000 {
        acc.push_data(chunk).unwrap();
    }
    assert!(
        acc.accumulated_bytes() < 1200,
        "{}",
        acc.accumulated_bytes()
    );
    let resp = acc.finish().unwrap();
    assert_eq!(resp.choices[0].message.text().len(), 1000);
    assert_eq!(
        resp.system_fingerprint,
        Some(Some("fp_0123456789ab".to_owned()))
    );
}

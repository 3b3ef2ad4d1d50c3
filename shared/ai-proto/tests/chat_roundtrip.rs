//! Chat Completions types against real-looking bodies: round trips keep vendor fields, their
//! order and meaningful nulls; accessors and in-place editing behave.

use ai_proto::chat::{
    ChatChunk, ChatRequest, ChatResponse, Content, ContentPart, Message, Role, Stop, TextKind,
    ToolChoice,
};
use serde_json::Value;

/// Compact JSON, as gateways see it on the wire.
fn compact(json: &str) -> String {
    let v: Value = serde_json::from_str(json).unwrap();
    serde_json::to_string(&v).unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

const OPENAI_REQUEST: &str = r#"{
  "model": "gpt-4o-2024-08-06",
  "messages": [
    {"role": "developer", "content": "You are terse."},
    {"role": "system", "content": [{"type": "text", "text": "Answer in English."}]},
    {"role": "user", "content": [
      {"type": "text", "text": "What is in this image?"},
      {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
      {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
      {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBER"}},
      {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}
    ]},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"email\":\"bob@example.com\"}"}}
    ]},
    {"role": "tool", "content": "22C", "tool_call_id": "call_abc"},
    {"role": "assistant", "content": "It is 22C.", "name": "bot"},
    {"role": "user", "content": "And tomorrow?"}
  ],
  "stream": true,
  "stream_options": {"include_usage": true},
  "temperature": 1,
  "top_p": 0.9,
  "n": 1,
  "max_tokens": 100,
  "max_completion_tokens": 256,
  "stop": ["\n\n", "END"],
  "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}}],
  "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
  "parallel_tool_calls": false,
  "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
  "seed": 42,
  "user": "user-1234",
  "presence_penalty": 0.5,
  "frequency_penalty": -0.25,
  "logit_bias": {"50256": -100},
  "logprobs": true,
  "top_logprobs": 3,
  "metadata": {"team": "search"},
  "store": false,
  "reasoning_effort": "low",
  "modalities": ["text"],
  "service_tier": "auto",
  "prediction": {"type": "content", "content": "x"},
  "x-vendor-trace": {"span": "abc", "sampled": true},
  "enable_thinking": false
}"#;

#[test]
fn openai_request_round_trips_byte_exact() {
    let body = compact(OPENAI_REQUEST);
    let req: ChatRequest = serde_json::from_str(&body).unwrap();
    assert_eq!(serde_json::to_string(&req).unwrap(), body);
    assert_eq!(
        req.extra.keys().collect::<Vec<_>>(),
        [
            "service_tier",
            "prediction",
            "x-vendor-trace",
            "enable_thinking"
        ]
    );
}

#[test]
fn request_fields_are_typed() {
    let req: ChatRequest = serde_json::from_str(OPENAI_REQUEST).unwrap();
    assert_eq!(req.model.as_deref(), Some("gpt-4o-2024-08-06"));
    assert!(req.is_stream());
    assert!(req.wants_usage());
    assert_eq!(req.max_output_tokens(), Some(256));
    assert_eq!(req.stop.as_ref().unwrap().sequences(), ["\n\n", "END"]);
    assert_eq!(
        req.tool_choice.as_ref().unwrap().function_name(),
        Some("get_weather")
    );
    assert_eq!(req.temperature.as_ref().unwrap().as_u64(), Some(1));
    assert_eq!(
        req.frequency_penalty.as_ref().unwrap().as_f64(),
        Some(-0.25)
    );
    assert_eq!(req.last_user_text().as_deref(), Some("And tomorrow?"));
    assert_eq!(
        req.system_prompt().as_deref(),
        Some("You are terse.\n\nAnswer in English.")
    );
    let user = &req.messages[2];
    assert_eq!(user.text(), "What is in this image?\nBe brief.");
    let Some(Content::Parts(parts)) = &user.content else {
        panic!("expected parts");
    };
    let kinds: Vec<&str> = parts.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(kinds, ["text", "image_url", "input_audio", "file", "text"]);
    assert_eq!(
        parts[1].image_url.as_ref().unwrap().detail.as_deref(),
        Some("low")
    );
    assert_eq!(
        parts[2].input_audio.as_ref().unwrap().format.as_deref(),
        Some("wav")
    );
    assert_eq!(
        parts[3].file.as_ref().unwrap().filename.as_deref(),
        Some("a.pdf")
    );
    assert!(parts[4].extra.contains_key("cache_control"));
    let tool_msg = &req.messages[3];
    assert_eq!(tool_msg.content, Some(Content::Null));
    assert_eq!(req.messages[4].tool_call_id.as_deref(), Some("call_abc"));
    assert_eq!(req.messages[5].name.as_deref(), Some("bot"));
}

#[test]
fn assistant_null_content_is_written_as_null_and_absent_stays_absent() {
    let body =
        r#"{"messages":[{"role":"assistant","content":null,"tool_calls":[]},{"role":"user"}]}"#;
    let req: ChatRequest = serde_json::from_str(body).unwrap();
    assert_eq!(req.messages[0].content, Some(Content::Null));
    assert_eq!(req.messages[1].content, None);
    assert_eq!(serde_json::to_string(&req).unwrap(), body);
}

#[test]
fn unknown_roles_and_part_types_are_kept() {
    let body = r#"{"model":"m","messages":[{"role":"ipython","content":[{"type":"video_url","video_url":{"url":"v.mp4"}},{"type":"text","text":"hi"}],"x":1}]}"#;
    let req: ChatRequest = serde_json::from_str(body).unwrap();
    assert_eq!(req.messages[0].role, Role::Other("ipython".to_owned()));
    assert_eq!(req.messages[0].text(), "hi");
    assert_eq!(serde_json::to_string(&req).unwrap(), body);
}

#[test]
fn vendor_fields_between_known_ones_keep_their_relative_order() {
    let body =
        r#"{"zeta":1,"model":"m","alpha":{"b":2,"a":1},"messages":[],"mid":true,"stream":false}"#;
    let req: ChatRequest = serde_json::from_str(body).unwrap();
    let out: Value = serde_json::to_value(&req).unwrap();
    assert_eq!(out, serde_json::from_str::<Value>(body).unwrap());
    let ks = keys(&out);
    let vendor: Vec<&String> = ks
        .iter()
        .filter(|k| ["zeta", "alpha", "mid"].contains(&k.as_str()))
        .collect();
    assert_eq!(vendor, ["zeta", "alpha", "mid"]);
    assert_eq!(keys(&out["alpha"]), ["b", "a"]);
}

#[test]
fn stop_as_single_string() {
    let req: ChatRequest =
        serde_json::from_str(r#"{"messages":[],"stop":"--END--","tool_choice":"auto"}"#).unwrap();
    assert_eq!(req.stop, Some(Stop::One("--END--".to_owned())));
    assert_eq!(req.tool_choice, Some(ToolChoice::Mode("auto".to_owned())));
    assert!(!req.is_stream());
    assert!(!req.wants_usage());
}

#[test]
fn ensure_stream_usage_only_touches_streams_without_it() {
    let mut req: ChatRequest =
        serde_json::from_str(r#"{"messages":[],"stream":true,"stream_options":{"vendor":1}}"#)
            .unwrap();
    assert!(req.ensure_stream_usage());
    assert!(req.wants_usage());
    assert_eq!(
        serde_json::to_string(&req.stream_options).unwrap(),
        r#"{"include_usage":true,"vendor":1}"#
    );
    assert!(!req.ensure_stream_usage());
    let mut plain: ChatRequest = serde_json::from_str(r#"{"messages":[]}"#).unwrap();
    assert!(!plain.ensure_stream_usage());
    assert!(plain.stream_options.is_none());
}

#[test]
fn max_output_tokens_falls_back_to_max_tokens() {
    let req: ChatRequest = serde_json::from_str(r#"{"messages":[],"max_tokens":77}"#).unwrap();
    assert_eq!(req.max_output_tokens(), Some(77));
    let req: ChatRequest = serde_json::from_str(r#"{"messages":[]}"#).unwrap();
    assert_eq!(req.max_output_tokens(), None);
}

#[test]
fn redaction_rewrites_all_text_but_keeps_other_parts() {
    let mut req: ChatRequest = serde_json::from_str(OPENAI_REQUEST).unwrap();
    let mut kinds = Vec::new();
    for seg in req.text_segments_mut() {
        kinds.push(seg.kind);
        *seg.text = seg
            .text
            .replace("bob@example.com", "[EMAIL]")
            .replace("Paris", "[CITY]");
    }
    assert!(kinds.contains(&TextKind::ToolArguments));
    assert_eq!(kinds.iter().filter(|k| **k == TextKind::Content).count(), 7);
    let out = serde_json::to_string(&req).unwrap();
    assert!(!out.contains("bob@example.com"));
    assert!(out.contains(r#"{\"city\":\"[CITY]\",\"email\":\"[EMAIL]\"}"#));
    assert!(out.contains("https://example.com/cat.png"));
    assert!(out.contains("UklGRg=="));
}

#[test]
fn set_text_keeps_non_text_parts() {
    let mut c = Content::Parts(vec![
        ContentPart::image_url("https://x/y.png"),
        ContentPart::text("a"),
        ContentPart::text("b"),
    ]);
    c.set_text("redacted");
    assert_eq!(c.text(), "redacted");
    let Content::Parts(parts) = &c else { panic!() };
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].kind, "image_url");
    let mut only_image = Content::Parts(vec![ContentPart::image_url("u")]);
    only_image.set_text("t");
    let Content::Parts(parts) = &only_image else {
        panic!()
    };
    assert_eq!(parts[0].as_text(), Some("t"));
    assert_eq!(parts[1].kind, "image_url");
    let mut null = Content::Null;
    null.set_text("x");
    assert_eq!(null, Content::Text("x".to_owned()));
}

const OPENAI_RESPONSE: &str = r#"{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,"model":"gpt-4.1-2025-04-14","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I assist you today?","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_a1102cf978"}"#;

#[test]
fn openai_response_round_trips_byte_exact_with_nulls() {
    let resp: ChatResponse = serde_json::from_str(OPENAI_RESPONSE).unwrap();
    assert_eq!(
        resp.first_text().as_deref(),
        Some("Hello! How can I assist you today?")
    );
    assert_eq!(resp.choices[0].message.refusal, Some(None));
    assert_eq!(resp.choices[0].logprobs, Some(Value::Null));
    assert_eq!(resp.usage.as_ref().unwrap().total_tokens, Some(29));
    assert_eq!(serde_json::to_string(&resp).unwrap(), OPENAI_RESPONSE);
}

const TOOL_CALL_RESPONSE: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}],"annotations":[]},"logprobs":null,"finish_reason":"tool_calls"}]}"#;

#[test]
fn tool_call_response_keeps_content_null() {
    let resp: ChatResponse = serde_json::from_str(TOOL_CALL_RESPONSE).unwrap();
    let msg = &resp.choices[0].message;
    assert_eq!(msg.content, Some(Content::Null));
    assert_eq!(
        msg.tool_calls.as_ref().unwrap()[0].id.as_deref(),
        Some("call_1")
    );
    assert_eq!(serde_json::to_string(&resp).unwrap(), TOOL_CALL_RESPONSE);
}

const DEEPSEEK_RESPONSE: &str = r#"{"id":"5f6c1c4e","object":"chat.completion","created":1738000000,"model":"deepseek-reasoner","choices":[{"index":0,"message":{"role":"assistant","content":"9.11 < 9.8","reasoning_content":"Compare the decimals..."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":15,"completion_tokens":120,"total_tokens":135,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":100},"prompt_cache_hit_tokens":0,"prompt_cache_miss_tokens":15},"system_fingerprint":"fp_7e73fd9a08_prod0225"}"#;

#[test]
fn deepseek_reasoning_content_round_trips() {
    let mut resp: ChatResponse = serde_json::from_str(DEEPSEEK_RESPONSE).unwrap();
    assert_eq!(
        resp.choices[0].message.reasoning_content,
        Some(Some("Compare the decimals...".to_owned()))
    );
    let usage = resp.usage.as_ref().unwrap();
    assert!(usage.extra.contains_key("prompt_cache_miss_tokens"));
    assert_eq!(serde_json::to_string(&resp).unwrap(), DEEPSEEK_RESPONSE);
    let kinds: Vec<TextKind> = resp.text_segments_mut().map(|s| s.kind).collect();
    assert_eq!(kinds, [TextKind::Content, TextKind::Reasoning]);
}

const AZURE_RESPONSE: &str = r#"{"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"}},"finish_reason":"stop","index":0,"logprobs":null,"message":{"content":"Hi there","refusal":null,"role":"assistant"}}],"created":1730000000,"id":"chatcmpl-AZ","model":"gpt-4o-2024-05-13","object":"chat.completion","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}],"system_fingerprint":"fp_67802d9a6d","usage":{"completion_tokens":3,"prompt_tokens":8,"total_tokens":11}}"#;

#[test]
fn azure_response_keeps_filter_results() {
    let resp: ChatResponse = serde_json::from_str(AZURE_RESPONSE).unwrap();
    assert!(resp.extra.contains_key("prompt_filter_results"));
    assert!(resp.choices[0].extra.contains_key("content_filter_results"));
    let out: Value = serde_json::to_value(&resp).unwrap();
    assert_eq!(out, serde_json::from_str::<Value>(AZURE_RESPONSE).unwrap());
}

#[test]
fn chunk_round_trips_with_null_usage_and_finish_reason() {
    let body = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x1"}"#;
    let chunk: ChatChunk = serde_json::from_str(body).unwrap();
    assert_eq!(chunk.choices[0].finish_reason(), None);
    assert_eq!(chunk.choices[0].finish_reason, Some(None));
    assert_eq!(chunk.usage, Some(None));
    assert!(chunk.usage().is_none());
    assert_eq!(serde_json::to_string(&chunk).unwrap(), body);
}

#[test]
fn partial_usage_is_not_padded_with_zeros() {
    let body = r#"{"choices":[],"usage":{"prompt_tokens":5}}"#;
    let resp: ChatResponse = serde_json::from_str(body).unwrap();
    assert_eq!(resp.usage.as_ref().unwrap().completion_tokens, None);
    assert_eq!(serde_json::to_string(&resp).unwrap(), body);
}

#[test]
fn malformed_bodies_are_errors_not_panics() {
    for body in [
        "",
        "{",
        "[]",
        r#"{"messages":"nope"}"#,
        r#"{"messages":[{"role":5}]}"#,
        r#"{"messages":[{"role":"user","content":{"text":"x"}}]}"#,
        r#"{"model":"m"}"#,
    ] {
        assert!(serde_json::from_str::<ChatRequest>(body).is_err(), "{body}");
    }
    assert!(serde_json::from_str::<ChatChunk>(r#"{"choices":[{"index":-1}]}"#).is_err());
}

#[test]
fn message_constructor_and_role_strings() {
    let m = Message::new(Role::User, "hi");
    assert_eq!(
        serde_json::to_string(&m).unwrap(),
        r#"{"role":"user","content":"hi"}"#
    );
    assert_eq!(Role::from("developer"), Role::Developer);
    assert!(Role::Developer.is_system());
    assert_eq!(Role::Other("x".into()).to_string(), "x");
}

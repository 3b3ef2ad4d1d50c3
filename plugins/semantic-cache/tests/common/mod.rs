//! Helpers shared by the host tests: the built plugin, request/answer bodies, RESP encoding and
//! decoding of the Redis callouts the plugin makes.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;
use std::sync::OnceLock;

use higress_sdk::resp::{self, RespValue};
use proxy_wasm_host::callout::RedisCallout;
use proxy_wasm_host::{PluginConfig, TestHost};
use serde_json::{json, Value};

pub fn wasm() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = proxy_wasm_host::build_support::build_wasm_plugin(&ws, "semantic-cache")
            .expect("build semantic-cache for wasm32");
        std::fs::read(path).expect("read wasm")
    })
}

pub fn plugin_config(config: &Value) -> PluginConfig {
    let mut pc = PluginConfig::new("semantic-cache", config.to_string());
    pc.priority = 800;
    pc
}

pub fn host(config: Value) -> TestHost {
    let mut h = TestHost::new();
    h.add_plugin(wasm(), plugin_config(&config))
        .expect("plugin loads and configures");
    h
}

pub const REDIS: &str = "outbound|6379||redis.static";
pub const EMBED: &str = "outbound|8080||embed.static";

pub fn exact_only() -> Value {
    json!({"cache": {"type": "redis", "serviceName": "redis.static", "servicePort": 6379, "cacheTTL": 300}})
}

pub fn semantic(vector_type: &str) -> Value {
    json!({
        "embedding": {"type": "openai", "serviceName": "embed.static", "servicePort": 8080, "model": "all-MiniLM-L6-v2"},
        "vector": {"type": vector_type, "serviceName": "redis.static", "servicePort": 6379, "topK": 3},
        "cache": {"type": "redis", "serviceName": "redis.static", "servicePort": 6379, "cacheTTL": 300},
        "similarityThreshold": 0.8
    })
}

pub fn request_headers(consumer: Option<&str>) -> Vec<(&str, &str)> {
    let mut h = vec![
        (":method", "POST"),
        (":path", "/v1/chat/completions"),
        (":authority", "llm.example.com"),
        ("content-type", "application/json"),
    ];
    if let Some(c) = consumer {
        h.push(("x-mse-consumer", c));
    }
    h
}

pub fn chat(question: &str, stream: bool) -> Vec<u8> {
    json!({"model": "gpt-4o", "stream": stream, "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": question}]})
    .to_string()
    .into_bytes()
}

pub fn answer_json(text: &str, finish: &str) -> Vec<u8> {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}})
    .to_string()
    .into_bytes()
}

/// An OpenAI stream: role-only first chunk, `text` in pieces, finish chunk, usage chunk, [DONE].
pub fn answer_sse(text: &str) -> Vec<u8> {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "model": "gpt-4o",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let mut s = chunk(json!({"role": "assistant"}), Value::Null);
    for piece in text.split_inclusive(' ') {
        s += &chunk(json!({"content": piece}), Value::Null);
    }
    s += &chunk(json!({}), json!("stop"));
    s += &format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": [],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}})
    );
    s += "data: [DONE]\n\n";
    s.into_bytes()
}

/// The command of a Redis callout as strings (binary args lossy).
pub fn command(call: &RedisCallout) -> Vec<String> {
    match resp::decode(&call.query).expect("valid RESP command") {
        RespValue::Array(args) => args
            .iter()
            .map(|a| String::from_utf8_lossy(a.as_bytes().unwrap_or_default()).into_owned())
            .collect(),
        other => panic!("command is not an array: {other:?}"),
    }
}

/// Raw argument `i` of a Redis callout.
pub fn arg(call: &RedisCallout, i: usize) -> Vec<u8> {
    match resp::decode(&call.query).unwrap() {
        RespValue::Array(args) => args[i].as_bytes().unwrap().to_vec(),
        _ => unreachable!(),
    }
}

pub fn bulk(b: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", b.len()).into_bytes();
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
    out
}

pub const NULL: &[u8] = b"$-1\r\n";
pub const OK: &[u8] = b"+OK\r\n";

pub fn array(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for i in items {
        out.extend_from_slice(i);
    }
    out
}

/// An OpenAI embeddings response.
pub fn embedding_body(v: &[f32]) -> Vec<u8> {
    json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": v}]})
        .to_string()
        .into_bytes()
}

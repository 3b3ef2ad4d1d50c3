//! The built .wasm in our Envoy-semantics host: request redaction with the body arriving in
//! chunks of every size, restore of buffered and streamed answers split at every byte, block
//! and fail-closed replies, ai_log, and isolation between requests.
#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;
use std::sync::OnceLock;

use proxy_wasm_host::build_support::build_wasm_plugin;
use proxy_wasm_host::plugin::Phase;
use proxy_wasm_host::{PluginConfig, TestHost};
use serde_json::{json, Value};

fn wasm() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = build_wasm_plugin(&ws, "pii-redaction").expect("build pii-redaction for wasm32");
        std::fs::read(path).expect("read wasm")
    })
}

fn host(config: Value) -> TestHost {
    let mut h = TestHost::new();
    let mut pc = PluginConfig::new("pii-redaction", config.to_string());
    pc.phase = Phase::Authn;
    pc.priority = 991;
    h.add_plugin(wasm(), pc)
        .expect("plugin loads and configures");
    h
}

const REQ: &[(&str, &str)] = &[
    (":method", "POST"),
    (":path", "/v1/chat/completions"),
    (":authority", "llm.example.com"),
    ("content-type", "application/json"),
];

const PHONE: &str = "13812345678";

fn chat(content: &str, stream: bool) -> Vec<u8> {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": content}]})
        .to_string()
        .into_bytes()
}

#[test]
fn request_is_redacted_whatever_the_chunking_and_answer_restored() {
    let mut h = host(json!({}));
    let body = chat(&format!("my phone is {PHONE}, call me"), false);
    for size in (1..=body.len()).step_by(3).chain([body.len()]) {
        let mut s = h.stream();
        s.send_request_headers(REQ, false)
            .send_request_body_chunked(&body, size);
        let up = s.upstream();
        let sent: Value = serde_json::from_slice(&up.body()).expect("upstream got JSON");
        assert_eq!(
            sent["messages"][0]["content"], "my phone is [PHONE_1], call me",
            "chunk size {size}"
        );
        // The original request had no Content-Length; if one is present it must match.
        if let Some(cl) = up.headers.as_ref().and_then(|hm| hm.get("content-length")) {
            assert_eq!(cl, up.body().len().to_string());
        }
        let answer = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "I will call [PHONE_1]."}}]}).to_string();
        s.send_response_headers(
            &[(":status", "200"), ("content-type", "application/json")],
            false,
        )
        .send_response_body_chunked(answer.as_bytes(), 16);
        let got: Value = serde_json::from_slice(&s.downstream().body()).expect("downstream JSON");
        assert_eq!(
            got["choices"][0]["message"]["content"],
            format!("I will call {PHONE}.")
        );
    }
}

fn sse(tokens: &[&str]) -> Vec<u8> {
    let mut out = String::new();
    for t in tokens {
        out.push_str(&format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": null}]})
        ));
    }
    out.push_str(&format!(
        "data: {}\n\n",
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    ));
    out.push_str("data: [DONE]\n\n");
    out.into_bytes()
}

fn streamed_text(body: &[u8]) -> (String, bool) {
    let mut text = String::new();
    let mut done = false;
    for e in ai_proto::sse::SseDecoder::decode_all(body).expect("valid SSE downstream") {
        if e.is_done() {
            done = true;
            continue;
        }
        let v: Value = serde_json::from_str(&e.data).unwrap();
        text.push_str(v["choices"][0]["delta"]["content"].as_str().unwrap_or(""));
    }
    (text, done)
}

#[test]
fn streamed_answer_restored_at_every_split_point() {
    let mut h = host(json!({}));
    let answer = sse(&["Sure, ", "calling [PHO", "NE_1] now", "."]);
    for cut in 0..=answer.len() {
        let mut s = h.stream();
        s.send_request_headers(REQ, false)
            .send_request_body(chat(&format!("call {PHONE}"), true), true);
        s.send_response_headers(
            &[(":status", "200"), ("content-type", "text/event-stream")],
            false,
        )
        .send_response_body(&answer[..cut], false)
        .send_response_body(&answer[cut..], true);
        let (text, done) = streamed_text(&s.downstream().body());
        assert_eq!(text, format!("Sure, calling {PHONE} now."), "cut at {cut}");
        assert!(done, "[DONE] forwarded (cut at {cut})");
    }
}

#[test]
fn placeholders_do_not_leak_between_requests() {
    let mut h = host(json!({}));
    let mut a = h.stream();
    let mut headers = REQ.to_vec();
    headers.push(("accept-encoding", "gzip"));
    a.send_request_headers(&headers, false)
        .send_request_body(chat(&format!("call {PHONE}"), false), true);
    assert!(a.upstream().body_string().contains("[PHONE_1]"));
    // The answer must come back uncompressed to be restored.
    assert_eq!(
        a.upstream()
            .headers
            .as_ref()
            .and_then(|m| m.get("accept-encoding")),
        None
    );
    let mut b = h.stream();
    b.send_request_headers(REQ, false)
        .send_request_body(chat("hello", false), true);
    let answer =
        json!({"choices": [{"index": 0, "message": {"content": "[PHONE_1]"}}]}).to_string();
    b.send_response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    )
    .send_response_body(answer.as_bytes(), true);
    assert_eq!(b.downstream().body_string(), answer);
}

#[test]
fn block_replies_with_openai_error_and_sse_for_streams() {
    let mut h = host(json!({"detectors": {"bank_card": {"action": "block"}}, "block_status": 403}));
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(chat("card 4111 1111 1111 1111", true), true);
    let replies = s.local_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].code, 403);
    let body = String::from_utf8_lossy(&replies[0].body).into_owned();
    assert!(body.starts_with("data: {\"error\":"), "{body}");
    assert!(
        body.contains("\"code\":\"sensitive_data_detected\"") && body.ends_with("data: [DONE]\n\n"),
        "{body}"
    );
    assert!(
        s.upstream().body().is_empty(),
        "nothing reached the upstream"
    );
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(chat("card 4111 1111 1111 1111", false), true);
    let err: Value = serde_json::from_slice(&s.local_replies()[0].body).unwrap();
    assert_eq!(err["error"]["param"], "bank_card");
}

#[test]
fn fail_closed_by_default_and_open_when_configured() {
    let mut h = host(json!({"max_body_bytes": 64}));
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(b"{broken", true);
    assert_eq!(s.local_replies()[0].code, 400);
    assert!(s.upstream().body().is_empty());
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body_chunked(&chat(&"x".repeat(100), false), 10);
    let r = s.local_replies();
    assert_eq!(r.len(), 1, "one reply: {r:?}");
    assert_eq!(r[0].code, 413);
    assert!(s.upstream().body().is_empty());
    let mut h = host(json!({"fail_open": true}));
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(b"{broken", true);
    assert!(s.local_replies().is_empty());
    assert_eq!(s.upstream().body(), b"{broken");
}

#[test]
fn ai_log_records_what_was_found() {
    let mut h = host(json!({}));
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(chat(&format!("{PHONE} a@b.cn"), false), true);
    let log = String::from_utf8(s.filter_state("ai_log").expect("ai_log written")).unwrap();
    assert!(
        log.contains("pii_redaction") && log.contains("cn_mobile") && log.contains("redacted"),
        "{log}"
    );
}

#[test]
fn invalid_config_is_rejected() {
    let mut h = TestHost::new();
    let pc = PluginConfig::new(
        "pii-redaction",
        json!({"detectors": {"nope": {}}}).to_string(),
    );
    match h.add_plugin(wasm(), pc) {
        Err(proxy_wasm_host::harness::HarnessError::Vm(
            proxy_wasm_host::VmError::ConfigureRejected,
        )) => {}
        other => panic!("expected ConfigureRejected, got {:?}", other.err()),
    }
    let logs = h.log_messages().join("\n");
    assert!(logs.contains("detectors.nope: unknown detector"), "{logs}");
}

//! The built .wasm in our Envoy-semantics host: request redaction with the body arriving in
//! chunks of every size, restore of buffered and streamed answers split at every byte, block
//! and fail-closed replies, ai_log, and isolation between requests; the external detector against
//! a canned Presidio (`mock_presidio_*`) and a real one (`live_presidio_*`).
#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;
use std::sync::OnceLock;

use e2e_services::presidio::PresidioServer;
use proxy_wasm_host::build_support::build_wasm_plugin;
use proxy_wasm_host::live::LiveBackends;
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

/// Answers the stream with a JSON chat completion (in `chunk`-byte pieces) and returns the
/// content the client received.
fn answer_json(s: &mut proxy_wasm_host::Stream, content: &str, chunk: usize) -> Value {
    let answer =
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})
            .to_string();
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    )
    .send_response_body_chunked(answer.as_bytes(), chunk);
    let got: Value = serde_json::from_slice(&s.downstream().body()).expect("downstream JSON");
    got["choices"][0]["message"]["content"].clone()
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
        assert_eq!(
            answer_json(&mut s, "I will call [PHONE_1].", 16),
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

// ---- External detector (Presidio analyzer API). The analyzer is a mock here: its answers are
// built in the shape Presidio documents for `POST /analyze` (entity_type, start, end, score,
// with code-point offsets), hence the `mock_presidio_` names.

const PRESIDIO: &str = "outbound|3000||presidio-analyzer.dns";

fn presidio_config(extra: Value) -> Value {
    let mut ext = json!({"cluster": PRESIDIO, "timeout_ms": 300,
        "entities": {"PERSON": "replace", "LOCATION": "mask"}});
    if let (Some(e), Some(x)) = (ext.as_object_mut(), extra.as_object()) {
        e.extend(x.clone());
    }
    json!({ "external_detector": ext })
}

/// Presidio's answer for `names` found in `text`, offsets in code points as Python counts them.
fn presidio_answer(text: &str, names: &[(&str, &str)]) -> Vec<u8> {
    let results: Vec<Value> = names
        .iter()
        .map(|(name, kind)| {
            let b = text.find(name).expect("name in the analysed text");
            let start = text[..b].chars().count();
            json!({"entity_type": kind, "start": start, "end": start + name.chars().count(),
                   "score": 0.85, "analysis_explanation": null,
                   "recognition_metadata": {"recognizer_name": "SpacyRecognizer"}})
        })
        .collect();
    serde_json::to_vec(&results).unwrap()
}

fn ok_json(body: Vec<u8>) -> proxy_wasm_host::HttpCalloutResponse {
    proxy_wasm_host::HttpCalloutResponse::new(200, &[("content-type", "application/json")], body)
}

#[test]
fn mock_presidio_names_and_places_redacted_merged_and_restored() {
    let mut h = host(presidio_config(json!({})));
    let mut s = h.stream();
    let prompt = format!("我叫张伟 😀, I live in Hangzhou. Call {PHONE}, ask for David Johnson.");
    s.send_request_headers(REQ, false)
        .send_request_body(chat(&prompt, false), true);
    assert!(
        s.upstream().body().is_empty(),
        "the request waits for the detector"
    );
    let calls = s.http_calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.cluster, PRESIDIO);
    assert_eq!(call.headers.get(":path"), Some("/analyze"));
    assert_eq!(call.headers.get(":method"), Some("POST"));
    assert_eq!(call.timeout, Some(std::time::Duration::from_millis(300)));
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(sent["language"], "en");
    assert_eq!(sent["entities"], json!(["LOCATION", "PERSON"]));
    let text = sent["text"].as_str().unwrap();
    assert!(
        text.contains(&prompt),
        "the original text is analysed: {text}"
    );
    // Presidio also reports the phone number; the built-in detector found the same span, and
    // PHONE_NUMBER is not configured, so it is ignored.
    let mut answer: Vec<Value> = serde_json::from_slice(&presidio_answer(
        text,
        &[
            ("张伟", "PERSON"),
            ("Hangzhou", "LOCATION"),
            ("David Johnson", "PERSON"),
        ],
    ))
    .unwrap();
    answer.push(json!({"entity_type": "PHONE_NUMBER", "start": 0, "end": 3, "score": 0.75}));
    s.respond_http(call, ok_json(serde_json::to_vec(&answer).unwrap()));
    let up: Value =
        serde_json::from_slice(&s.upstream().body()).expect("forwarded after the answer");
    assert_eq!(
        up["messages"][0]["content"],
        "我叫[PERSON_1] 😀, I live in ********. Call [PHONE_1], ask for [PERSON_2]."
    );
    assert_eq!(
        answer_json(
            &mut s,
            "OK [PERSON_2], I will call [PHONE_1] and greet [PERSON_1].",
            usize::MAX
        ),
        format!("OK David Johnson, I will call {PHONE} and greet 张伟.")
    );
}

#[test]
fn mock_presidio_streamed_answer_restores_person_placeholders_split_anywhere() {
    let mut h = host(presidio_config(json!({})));
    let answer = sse(&["Hello [PER", "SON_1], nice", " to meet you"]);
    for cut in (0..=answer.len()).step_by(7) {
        let mut s = h.stream();
        let prompt = "I am Alice Smith";
        s.send_request_headers(REQ, false)
            .send_request_body(chat(prompt, true), true);
        let call = s.http_calls().remove(0);
        let text: Value = serde_json::from_slice(&call.body).unwrap();
        let body = presidio_answer(text["text"].as_str().unwrap(), &[("Alice Smith", "PERSON")]);
        s.respond_http(&call, ok_json(body));
        assert!(s.upstream().body_string().contains("I am [PERSON_1]"));
        s.send_response_headers(
            &[(":status", "200"), ("content-type", "text/event-stream")],
            false,
        )
        .send_response_body(&answer[..cut], false)
        .send_response_body(&answer[cut..], true);
        let (text, done) = streamed_text(&s.downstream().body());
        assert_eq!(text, "Hello Alice Smith, nice to meet you", "cut at {cut}");
        assert!(done);
    }
}

fn refused_with_503(s: &mut proxy_wasm_host::Stream, why: &str) {
    let r = s.local_replies();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].code, 503);
    let body = String::from_utf8_lossy(&r[0].body).into_owned();
    assert!(
        body.contains("pii_inspection_failed") && body.contains(why),
        "{body}"
    );
    assert!(s.upstream().body().is_empty(), "nothing reached the model");
}

#[test]
fn mock_presidio_timeout_fails_closed_by_default() {
    let mut h = host(presidio_config(json!({})));
    // The callout's own timeout fires on the fake clock.
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(chat("I am Alice Smith", false), true);
    assert_eq!(s.http_calls().len(), 1);
    s.advance(std::time::Duration::from_millis(299));
    assert!(s.local_replies().is_empty() && s.upstream().body().is_empty());
    s.advance(std::time::Duration::from_millis(1));
    refused_with_503(&mut s, "timed out after 300 ms");
    // A reset connection and an error status refuse too.
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(chat("I am Alice Smith", false), true);
    let call = s.http_calls().remove(0);
    s.fail_http(&call);
    refused_with_503(&mut s, "callout failed");
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(chat("I am Alice Smith", true), true);
    let call = s.http_calls().remove(0);
    s.respond_http(
        &call,
        proxy_wasm_host::HttpCalloutResponse::new(500, &[], "{\"error\": \"boom\"}"),
    );
    let r = s.local_replies();
    assert_eq!(r[0].code, 503);
    assert!(
        String::from_utf8_lossy(&r[0].body).ends_with("data: [DONE]\n\n"),
        "SSE error for a streaming request"
    );
}

#[test]
fn mock_presidio_failure_fails_open_when_configured() {
    let mut h = host(presidio_config(json!({"fail_open": true})));
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(chat(&format!("I am Alice Smith, {PHONE}"), false), true);
    let call = s.http_calls().remove(0);
    s.timeout_http(&call);
    assert!(s.local_replies().is_empty());
    let up: Value = serde_json::from_slice(&s.upstream().body()).unwrap();
    // The built-in detectors still ran; the name was not found without the detector.
    assert_eq!(up["messages"][0]["content"], "I am Alice Smith, [PHONE_1]");
    assert_eq!(
        h.metric("pii_redaction.external_failed"),
        Some(proxy_wasm_host::shared::MetricValue::Counter(1))
    );
}

#[test]
fn mock_presidio_answer_with_offsets_beyond_the_text_is_a_failure() {
    let mut h = host(presidio_config(json!({})));
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(chat("I am Alice", false), true);
    let call = s.http_calls().remove(0);
    let body = br#"[{"entity_type":"PERSON","start":5,"end":500,"score":0.9}]"#.to_vec();
    s.respond_http(&call, ok_json(body));
    refused_with_503(&mut s, "outside");
}

// ---- The external detector against a real Presidio analyzer: presidio-analyzer 2.2 with spaCy's
// en_core_web_sm NER model, both from PyPI, served over Presidio's REST shape by
// `e2e/services/presidio.sh`; every callout is answered live (`LiveBackends`). Skips loudly when
// Presidio cannot be installed here, unless E2E_REQUIRE_PRESIDIO=1.

fn live_presidio(test: &str) -> Option<(PresidioServer, LiveBackends)> {
    let server = PresidioServer::start_or_skip(test)?;
    let live = LiveBackends::new().http(PRESIDIO, server.addr());
    Some((server, live))
}

fn live_presidio_config(extra: Value) -> Value {
    let mut c = presidio_config(json!({
        "timeout_ms": 5000,
        "score_threshold": 0.4,
        "entities": {
            "PERSON": "replace",
            "LOCATION": "mask",
            "EMAIL_ADDRESS": {"detector": "email"},
        }
    }));
    if let (Some(e), Some(x)) = (c["external_detector"].as_object_mut(), extra.as_object()) {
        e.extend(x.clone());
    }
    c
}

/// A Chinese system prompt before an English user message: Presidio's offsets count code points
/// across both, so any byte/char mix-up lands the placeholders in the wrong place.
fn live_chat(stream: bool) -> Vec<u8> {
    json!({"model": "m", "stream": stream, "messages": [
        {"role": "system", "content": "你是客服助手，请用中文回答。"},
        {"role": "user", "content": format!("我叫张伟，电话 {PHONE}。My colleague David Johnson lives in \
            Seattle; write to him at david.johnson@example.com.")}]})
    .to_string()
    .into_bytes()
}

const LIVE_REDACTED: &str =
    "我叫张伟，电话 [PHONE_1]。My colleague [PERSON_1] lives in *******; write to him at [EMAIL_1].";

#[test]
fn live_presidio_names_redacted_before_the_upstream_and_restored_in_the_answer() {
    let Some((_presidio, mut live)) = live_presidio("live_presidio_names_redacted") else {
        return;
    };
    let mut h = host(live_presidio_config(json!({})));
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(live_chat(false), true);
    assert!(s.upstream().body().is_empty(), "held for the analyzer");
    assert_eq!(s.serve_live(&mut live).expect("presidio answers"), 1);
    let up: Value = serde_json::from_slice(&s.upstream().body()).expect("forwarded JSON");
    assert_eq!(up["messages"][0]["content"], "你是客服助手，请用中文回答。");
    // PERSON and LOCATION from spaCy's NER, EMAIL_ADDRESS from Presidio's pattern recognizer
    // (mapped to the built-in email rule, which found the same span), the phone from the
    // built-in detector.
    assert_eq!(up["messages"][1]["content"], LIVE_REDACTED);
    assert_eq!(
        answer_json(
            &mut s,
            "I will write to [PERSON_1] at [EMAIL_1] and call [PHONE_1].",
            usize::MAX
        ),
        format!("I will write to David Johnson at david.johnson@example.com and call {PHONE}.")
    );
}

#[test]
fn live_presidio_streamed_answer_restored() {
    let Some((_presidio, mut live)) = live_presidio("live_presidio_streamed_answer_restored")
    else {
        return;
    };
    let mut h = host(live_presidio_config(json!({})));
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(live_chat(true), true);
    s.serve_live(&mut live).expect("presidio answers");
    let up: Value = serde_json::from_slice(&s.upstream().body()).unwrap();
    assert_eq!(up["messages"][1]["content"], LIVE_REDACTED);
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "text/event-stream")],
        false,
    )
    .send_response_body(sse(&["Dear [PERS", "ON_1], your mail [EM", "AIL_1]"]), true);
    let (text, done) = streamed_text(&s.downstream().body());
    assert_eq!(
        text,
        "Dear David Johnson, your mail david.johnson@example.com"
    );
    assert!(done);
}

/// A port nothing listens on: the analyzer is down (connection refused, as Envoy reports it).
fn down_backend() -> LiveBackends {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    LiveBackends::new().http(PRESIDIO, format!("127.0.0.1:{port}"))
}

#[test]
fn live_presidio_down_fails_closed_by_default() {
    let mut live = down_backend();
    let mut h = host(live_presidio_config(json!({})));
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(live_chat(false), true);
    s.serve_live(&mut live).expect("callout attempted");
    refused_with_503(&mut s, "the external PII detector failed");
}

#[test]
fn live_presidio_down_forwards_with_builtin_findings_under_fail_open() {
    let mut live = down_backend();
    let mut h = host(live_presidio_config(json!({"fail_open": true})));
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(live_chat(false), true);
    s.serve_live(&mut live).expect("callout attempted");
    assert!(s.local_replies().is_empty());
    let up: Value = serde_json::from_slice(&s.upstream().body()).unwrap();
    // Names need the analyzer; the built-in detectors still ran.
    assert_eq!(
        up["messages"][1]["content"],
        "我叫张伟，电话 [PHONE_1]。My colleague David Johnson lives in Seattle; write to him at \
         [EMAIL_1]."
    );
}

/// The budget is the callout's timeout: when it runs out before the analyzer answers, the
/// request is refused and the late answer is never used. (The harness clock is simulated and
/// does not move during a live call, so the budget is spent with `advance` before serving.)
#[test]
fn live_presidio_budget_spent_before_the_answer_fails_closed() {
    let Some((_presidio, mut live)) = live_presidio("live_presidio_budget_spent") else {
        return;
    };
    let mut h = host(live_presidio_config(json!({"timeout_ms": 250})));
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(live_chat(false), true);
    let call = s.http_calls().remove(0);
    assert_eq!(call.timeout, Some(std::time::Duration::from_millis(250)));
    s.advance(std::time::Duration::from_millis(250));
    refused_with_503(&mut s, "timed out after 250 ms");
    assert_eq!(
        s.serve_live(&mut live).unwrap(),
        0,
        "the timed-out call is gone"
    );
    assert!(s.upstream().body().is_empty());
}

// ---- Non-OpenAI streams: the same bounded hold-back for Anthropic deltas and plain text.

fn anthropic_sse(tokens: &[&str]) -> Vec<u8> {
    let mut out = String::from("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":[]}}\n\n");
    out.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    for t in tokens {
        out.push_str(&format!(
            "event: content_block_delta\ndata: {}\n\n",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}})
        ));
    }
    out.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    );
    out.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"}}\n\n");
    out.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    out.into_bytes()
}

/// The text of an Anthropic stream, and whether every block's text arrived before its stop.
fn anthropic_text(body: &[u8]) -> (String, bool) {
    let mut text = String::new();
    let mut stopped = false;
    let mut ordered = true;
    for e in ai_proto::sse::SseDecoder::decode_all(body).expect("valid SSE downstream") {
        let v: Value = serde_json::from_str(&e.data).unwrap();
        match v["type"].as_str() {
            Some("content_block_delta") => {
                ordered &= !stopped;
                text.push_str(v["delta"]["text"].as_str().unwrap_or(""));
            }
            Some("content_block_stop") => stopped = true,
            _ => {}
        }
    }
    (text, ordered)
}

#[test]
fn anthropic_stream_restored_at_every_split_point() {
    let mut h = host(json!({}));
    let answer = anthropic_sse(&["Calling [PH", "ONE", "_1] now", "."]);
    for cut in 0..=answer.len() {
        let mut s = h.stream();
        let mut headers = REQ.to_vec();
        headers[1] = (":path", "/v1/messages");
        s.send_request_headers(&headers, false).send_request_body(
            json!({"model": "claude", "stream": true, "max_tokens": 100,
                   "messages": [{"role": "user", "content": format!("call {PHONE}")}]})
            .to_string(),
            true,
        );
        assert!(s.upstream().body_string().contains("[PHONE_1]"));
        s.send_response_headers(
            &[(":status", "200"), ("content-type", "text/event-stream")],
            false,
        )
        .send_response_body(&answer[..cut], false)
        .send_response_body(&answer[cut..], true);
        let (text, ordered) = anthropic_text(&s.downstream().body());
        assert_eq!(text, format!("Calling {PHONE} now."), "cut at {cut}");
        assert!(
            ordered,
            "held text goes out before content_block_stop (cut {cut})"
        );
    }
}

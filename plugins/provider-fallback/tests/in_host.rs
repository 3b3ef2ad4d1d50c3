//! The built .wasm in our Envoy-semantics host: every failure kind of the route's upstream and
//! of fallback callouts, the answer given to the client (JSON or re-chunked SSE, with the
//! provider and attempt headers), the last error when all fail, mid-stream failures, and every
//! breaker transition on the fake clock.
#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use ai_proto::stream::StreamAccumulator;
use proxy_wasm_host::callout::{HttpCallout, HttpCalloutResponse};
use proxy_wasm_host::harness::Stream;
use proxy_wasm_host::shared::MetricValue;
use proxy_wasm_host::{PluginConfig, TestHost};
use serde_json::{json, Value};

fn wasm() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = proxy_wasm_host::build_support::build_wasm_plugin(&ws, "provider-fallback")
            .expect("build provider-fallback for wasm32");
        std::fs::read(path).expect("read wasm")
    })
}

const A: &str = "outbound|443||a.example.com.dns";
const B: &str = "outbound|443||b.example.com.dns";

fn config() -> Value {
    json!({
        "primary": {"name": "openai"},
        "providerGroups": [
            {"providers": [{"name": "a", "cluster": A, "host": "a.example.com", "apiTokens": ["ka"],
                            "modelMapping": {"gpt-4o": "a-large"}, "timeout": 3000}]},
            {"providers": [{"name": "b", "cluster": B, "path": "/compatible-mode/v1/chat/completions",
                            "apiTokens": ["kb"], "authHeader": "api-key"}]}
        ],
        "failover": {"failureThreshold": 3, "cooldown": 10000}
    })
}

fn host_with(config: Value) -> TestHost {
    let mut h = TestHost::new();
    let mut pc = PluginConfig::new("provider-fallback", config.to_string());
    pc.priority = 120;
    h.add_plugin(wasm(), pc)
        .expect("plugin loads and configures");
    h
}

fn host() -> TestHost {
    host_with(config())
}

const REQ: &[(&str, &str)] = &[
    (":method", "POST"),
    (":path", "/v1/chat/completions"),
    (":authority", "gw.local"),
    ("content-type", "application/json"),
    ("x-request-id", "rid-1"),
];

fn chat(stream: bool) -> Vec<u8> {
    let mut v = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]});
    if stream {
        v["stream"] = json!(true);
        v["stream_options"] = json!({"include_usage": true});
    }
    v.to_string().into_bytes()
}

fn answer(text: &str) -> String {
    json!({"id": "x1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}})
    .to_string()
}

const SSE_OK: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"prim\"},\"finish_reason\":null}]}\n\n";
const SSE_END: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
const SSE_ERR: &str =
    "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n";

fn ok(text: &str) -> HttpCalloutResponse {
    HttpCalloutResponse::new(200, &[("content-type", "application/json")], answer(text))
}

fn start(h: &mut TestHost, stream: bool) -> Stream {
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(chat(stream), true);
    s
}

fn json_status(s: &mut Stream, status: &str, extra: &[(&str, &str)], body: &str) {
    let mut headers = vec![(":status", status), ("content-type", "application/json")];
    headers.extend_from_slice(extra);
    s.send_response_headers(&headers, false)
        .send_response_body(body, true);
}

fn one_call(s: &mut Stream) -> HttpCallout {
    let calls = s.http_calls();
    assert_eq!(calls.len(), 1, "exactly one callout in flight: {calls:?}");
    calls.into_iter().next().unwrap()
}

fn header(s: &Stream, name: &str) -> Option<String> {
    s.downstream()
        .headers
        .as_ref()
        .and_then(|h| h.get(name).map(str::to_string))
}

/// The `ai_log` object (stored JSON-string-escaped without its quotes).
fn ai_log(s: &Stream) -> Value {
    let stored = String::from_utf8(s.filter_state("ai_log").expect("ai_log written")).unwrap();
    let text: String = serde_json::from_str(&format!("\"{stored}\"")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn counter(h: &TestHost, name: &str) -> u64 {
    match h.metric(name) {
        Some(MetricValue::Counter(n)) => n,
        _ => 0,
    }
}

#[test]
fn mock_provider_429_then_fallback_answers_with_rewritten_request() {
    let mut h = host();
    let mut s = start(&mut h, false);
    assert!(
        s.upstream().end_stream,
        "the request streams to the primary"
    );
    json_status(&mut s, "429", &[], r#"{"error":{"message":"slow down"}}"#);
    assert!(s.downstream().headers.is_none(), "the 429 is held");
    let call = one_call(&mut s);
    assert_eq!(call.cluster, A);
    assert_eq!(call.headers.get(":authority"), Some("a.example.com"));
    assert_eq!(call.headers.get(":path"), Some("/v1/chat/completions"));
    assert_eq!(call.headers.get("authorization"), Some("Bearer ka"));
    assert_eq!(call.headers.get("x-request-id"), Some("rid-1"));
    assert_eq!(call.timeout, Some(Duration::from_millis(3000)));
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(sent["model"], "a-large");
    assert_eq!(sent["stream"], false);
    assert_eq!(sent["messages"][0]["content"], "hello");
    s.respond_http(&call, ok("from a"));
    let got: Value = serde_json::from_slice(&s.downstream().body()).unwrap();
    assert_eq!(s.downstream().status(), Some(200));
    assert_eq!(got["choices"][0]["message"]["content"], "from a");
    assert_eq!(header(&s, "x-ai-fallback-provider").as_deref(), Some("a"));
    assert_eq!(header(&s, "x-ai-fallback-attempts").as_deref(), Some("2"));
    assert!(!s.downstream().body_string().contains("slow down"));
    let log = ai_log(&s);
    assert_eq!(log["fallback_provider"], "a");
    assert_eq!(log["fallback_attempts"], 2);
    assert_eq!(log["fallback_reasons"], json!(["openai:status_429"]));
    drop(s);
    assert_eq!(counter(&h, "provider_fallback.fallback_served"), 1);
    assert_eq!(counter(&h, "provider_fallback.failure.status"), 1);
}

#[test]
fn primary_success_passes_through_with_headers_and_no_callout() {
    let mut h = host();
    let mut s = start(&mut h, false);
    json_status(&mut s, "200", &[], &answer("primary"));
    assert!(s.http_calls().is_empty());
    let got: Value = serde_json::from_slice(&s.downstream().body()).unwrap();
    assert_eq!(got["choices"][0]["message"]["content"], "primary");
    // Judged bodies: the headers left before the verdict, so who answered is in ai_log.
    assert_eq!(header(&s, "x-ai-fallback-provider"), None);
    assert_eq!(ai_log(&s)["fallback_provider"], "openai");
    // Not judged (onErrorBody off): the headers say it.
    let mut cfg = config();
    cfg["retryOnFailure"] = json!({"onErrorBody": false});
    let mut h2 = host_with(cfg);
    let mut s = start(&mut h2, false);
    json_status(&mut s, "200", &[], &answer("primary"));
    assert_eq!(
        header(&s, "x-ai-fallback-provider").as_deref(),
        Some("openai")
    );
    assert_eq!(header(&s, "x-ai-fallback-attempts").as_deref(), Some("1"));
    // A client error is neither a failure nor retried.
    let mut s = start(&mut h, false);
    json_status(&mut s, "400", &[], r#"{"error":{"message":"bad"}}"#);
    assert!(s.http_calls().is_empty());
    assert_eq!(s.downstream().status(), Some(400));
}

#[test]
fn mock_provider_gateway_connect_failure_and_timeout_fall_back() {
    let mut h = host();
    for (status, details) in [
        (
            "503",
            "upstream_reset_before_response_started{connection_failure}",
        ),
        ("504", "upstream_response_timeout"),
    ] {
        let mut s = start(&mut h, false);
        s.info().response_code_details = Some(details.into());
        s.send_response_headers(
            &[(":status", status), ("content-type", "text/plain")],
            false,
        )
        .send_response_body("upstream connect error", true);
        let call = one_call(&mut s);
        s.respond_http(&call, ok("rescued"));
        assert_eq!(s.downstream().status(), Some(200), "{details}");
        assert!(s.downstream().body_string().contains("rescued"));
    }
    // A later plugin's own local reply (not an upstream failure) is not retried.
    let mut s = start(&mut h, false);
    s.info().response_code_details = Some("via_wasm::ai-proxy".into());
    json_status(&mut s, "503", &[], "{}");
    assert!(s.http_calls().is_empty());
}

#[test]
fn mock_provider_error_object_in_a_200_body_falls_back() {
    let mut h = host();
    let mut s = start(&mut h, false);
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    )
    .send_response_body(r#"{"error":{"message":"inner fa"#, false);
    // Envoy cannot hold response headers while reading the body: they leave, the body waits.
    assert_eq!(s.downstream().status(), Some(200));
    assert!(
        s.downstream().body().is_empty(),
        "the body is held while judged"
    );
    s.send_response_body(r#"ilure"}}"#, true);
    let call = one_call(&mut s);
    s.respond_http(&call, ok("good"));
    let got: Value = serde_json::from_slice(&s.downstream().body()).expect("one JSON answer");
    assert_eq!(got["choices"][0]["message"]["content"], "good");
    assert!(s.downstream().end_stream);
    let log = ai_log(&s);
    assert_eq!(log["fallback_provider"], "a");
    assert_eq!(log["fallback_reasons"], json!(["openai:error_body"]));
}

fn folded(body: &[u8]) -> Value {
    let mut acc = StreamAccumulator::new();
    acc.feed_sse(body).expect("valid SSE");
    acc.finish_sse().unwrap();
    assert!(acc.is_done(), "stream ends with [DONE]");
    serde_json::to_value(acc.finish().unwrap()).unwrap()
}

#[test]
fn mock_provider_error_event_inside_a_200_stream_falls_back_as_sse() {
    let mut h = host();
    let mut s = start(&mut h, true);
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "text/event-stream")],
        false,
    )
    .send_response_body(&SSE_ERR[..20], false);
    assert!(s.downstream().body().is_empty());
    s.send_response_body(&SSE_ERR[20..], false);
    let call = one_call(&mut s);
    s.respond_http(&call, ok("streamed by a"));
    // The failed upstream ends its stream after the error: nothing of it reaches the client.
    s.send_response_body("data: [DONE]\n\n", true);
    assert!(s.downstream().end_stream);
    assert_eq!(
        header(&s, "content-type").as_deref(),
        Some("text/event-stream")
    );
    let v = folded(&s.downstream().body());
    assert_eq!(v["choices"][0]["message"]["content"], "streamed by a");
    assert_eq!(v["usage"]["total_tokens"], 5, "include_usage was asked");
    assert!(!s.downstream().body_string().contains("overloaded"));
}

#[test]
fn healthy_stream_is_released_at_its_first_event_and_passes_unchanged() {
    let mut h = host();
    let mut s = start(&mut h, true);
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "text/event-stream")],
        false,
    )
    .send_response_body(": keep-alive\n\n", false);
    assert!(
        s.downstream().body().is_empty(),
        "a comment is not an answer yet"
    );
    s.send_response_body(SSE_OK, false);
    assert_eq!(
        s.downstream().status(),
        Some(200),
        "released at the first data event"
    );
    s.send_response_body(SSE_END, true);
    assert_eq!(
        s.downstream().body_string(),
        format!(": keep-alive\n\n{SSE_OK}{SSE_END}")
    );
    assert!(s.http_calls().is_empty());
}

#[test]
fn stream_cut_after_bytes_went_out_ends_with_an_error_event_and_counts() {
    let mut h = host();
    let mut s = start(&mut h, true);
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "text/event-stream")],
        false,
    )
    .send_response_body(SSE_OK, false)
    .send_response_body("", true);
    let body = s.downstream().body_string();
    assert!(
        body.starts_with(SSE_OK),
        "the partial answer is not replaced: {body}"
    );
    assert!(body.contains("stream_incomplete"), "{body}");
    assert!(!body.contains("[DONE]"));
    assert!(
        s.http_calls().is_empty(),
        "no second answer after the first byte"
    );
    drop(s);
    assert_eq!(counter(&h, "provider_fallback.failure.mid_stream"), 1);
    // A reset after bytes went out (no end of stream): counted when the stream is logged.
    let mut s = start(&mut h, true);
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "text/event-stream")],
        false,
    )
    .send_response_body(SSE_OK, false);
    s.finish();
    drop(s);
    assert_eq!(counter(&h, "provider_fallback.failure.mid_stream"), 2);
    assert_eq!(counter(&h, "provider_fallback.provider.openai.failure"), 2);
}

#[test]
fn callout_reset_and_timeout_move_on_and_all_failing_gives_the_last_error() {
    let mut h = host();
    let mut s = start(&mut h, false);
    json_status(
        &mut s,
        "500",
        &[],
        r#"{"error":{"message":"primary down"}}"#,
    );
    let a = one_call(&mut s);
    s.fail_http(&a);
    let b = one_call(&mut s);
    assert_eq!(b.cluster, B);
    assert_eq!(b.headers.get("api-key"), Some("kb"));
    assert_eq!(
        b.headers.get(":path"),
        Some("/compatible-mode/v1/chat/completions")
    );
    s.respond_http(
        &b,
        HttpCalloutResponse::new(
            503,
            &[("content-type", "application/json"), ("retry-after", "2")],
            r#"{"error":{"message":"b is down too"}}"#,
        ),
    );
    assert!(s.http_calls().is_empty(), "attempt budget (3) used");
    assert_eq!(s.downstream().status(), Some(503));
    assert!(s.downstream().body_string().contains("b is down too"));
    assert_eq!(header(&s, "retry-after").as_deref(), Some("2"));
    assert_eq!(header(&s, "x-ai-fallback-attempts").as_deref(), Some("3"));
    drop(s);
    assert_eq!(counter(&h, "provider_fallback.exhausted"), 1);

    // Timeout: the callout's own timeout (3 s for a) on the fake clock.
    let mut h = host();
    let mut s = start(&mut h, false);
    json_status(&mut s, "502", &[], "{}");
    let a = one_call(&mut s);
    s.advance(Duration::from_millis(3001));
    let b = one_call(&mut s);
    assert_ne!(a.token, b.token);
    assert_eq!(b.cluster, B);
    s.respond_http(&b, ok("b after a timed out"));
    assert!(s.downstream().body_string().contains("b after a timed out"));
    drop(s);
    assert_eq!(counter(&h, "provider_fallback.failure.timeout"), 1);
}

#[test]
fn when_no_fallback_is_possible_the_primary_error_passes_through() {
    // All fallbacks fail without a response: the primary's held error is released.
    let mut h = host_with(json!({"primary": {"name": "p"},
        "providerGroups": [{"providers": [{"name": "a", "cluster": A}]}]}));
    let mut s = start(&mut h, false);
    json_status(
        &mut s,
        "429",
        &[("retry-after", "1")],
        r#"{"error":{"message":"primary 429"}}"#,
    );
    let a = one_call(&mut s);
    s.fail_http(&a);
    assert_eq!(s.downstream().status(), Some(429));
    assert!(s.downstream().body_string().contains("primary 429"));

    // A body over maxRequestBodyBytes is not kept: the error passes through, nothing is resent.
    let mut h = host_with(json!({"maxRequestBodyBytes": 10,
        "providerGroups": [{"providers": [{"name": "a", "cluster": A}]}]}));
    let mut s = start(&mut h, false);
    json_status(&mut s, "503", &[], "{}");
    assert!(s.http_calls().is_empty());
    assert_eq!(s.downstream().status(), Some(503));

    // Only chat completions are resent (an embeddings request at a chat endpoint would be wrong).
    let mut h = host();
    let mut s = h.stream();
    s.send_request_headers(REQ, false).send_request_body(
        json!({"model": "text-embedding-3-small", "input": "hello"}).to_string(),
        true,
    );
    json_status(&mut s, "503", &[], "{}");
    assert!(s.http_calls().is_empty());
    assert_eq!(s.downstream().status(), Some(503));

    // Slow failures are not retried with retryOnFailureWithin.
    let mut h = host_with(json!({"retryOnFailure": {"retryOnFailureWithin": 1000},
        "providerGroups": [{"providers": [{"name": "a", "cluster": A}]}]}));
    let mut s = start(&mut h, false);
    s.advance(Duration::from_millis(1500));
    json_status(&mut s, "503", &[], "{}");
    assert!(s.http_calls().is_empty());
    assert_eq!(s.downstream().status(), Some(503));
    let mut s = start(&mut h, false);
    s.advance(Duration::from_millis(500));
    json_status(&mut s, "503", &[], "{}");
    assert_eq!(s.http_calls().len(), 1, "a fast failure is retried");
}

fn fail_primary(h: &mut TestHost) {
    let mut s = start(h, false);
    json_status(&mut s, "503", &[], "{}");
    let call = one_call(&mut s);
    s.respond_http(&call, ok("a"));
}

#[test]
fn breaker_opens_skips_the_primary_half_opens_after_cooldown_and_closes_or_reopens() {
    let mut h = host();
    for _ in 0..3 {
        fail_primary(&mut h);
    }
    assert!(h
        .log_messages()
        .iter()
        .any(|m| m.contains("breaker openai: closed -> open")));
    // Open: the request never goes upstream; a answers straight away.
    let mut s = start(&mut h, false);
    assert!(
        s.upstream().headers.is_none(),
        "held, not sent to the open primary"
    );
    let call = one_call(&mut s);
    assert_eq!(call.cluster, A);
    s.respond_http(&call, ok("bypassed"));
    assert_eq!(s.downstream().status(), Some(200));
    assert!(s.downstream().body_string().contains("bypassed"));
    assert_eq!(header(&s, "x-ai-fallback-attempts").as_deref(), Some("1"));
    drop(s);

    // After the cooldown one probe goes to the primary; others still skip it meanwhile.
    h.advance(Duration::from_millis(10_001));
    let mut probe = start(&mut h, false);
    assert!(probe.upstream().end_stream, "the probe reaches the primary");
    let mut other = start(&mut h, false);
    assert!(
        other.upstream().headers.is_none(),
        "only one probe at a time"
    );
    let call = one_call(&mut other);
    other.respond_http(&call, ok("a"));
    drop(other);
    json_status(&mut probe, "200", &[], &answer("back"));
    drop(probe);
    assert!(h
        .log_messages()
        .iter()
        .any(|m| m.contains("breaker openai: half_open -> closed")));
    let s = start(&mut h, false);
    assert!(s.upstream().end_stream, "closed again");
    drop(s);

    // A failed probe opens it again for a whole cooldown.
    for _ in 0..3 {
        fail_primary(&mut h);
    }
    h.advance(Duration::from_millis(10_001));
    let mut probe = start(&mut h, false);
    json_status(&mut probe, "503", &[], "{}");
    let call = one_call(&mut probe);
    probe.respond_http(&call, ok("a"));
    drop(probe);
    assert!(h
        .log_messages()
        .iter()
        .any(|m| m.contains("breaker openai: half_open -> open")));
    let s = start(&mut h, false);
    assert!(s.upstream().headers.is_none(), "open again");
    assert_eq!(counter(&h, "provider_fallback.breaker.openai.open"), 3);
}

#[test]
fn retry_after_opens_the_breaker_for_that_long_and_open_fallbacks_are_skipped() {
    let mut h = host();
    let mut s = start(&mut h, false);
    json_status(&mut s, "429", &[("retry-after", "20")], "{}");
    let a = one_call(&mut s);
    // a fails three times in a row across requests → a opens too.
    s.respond_http(&a, HttpCalloutResponse::new(500, &[], "x"));
    let b = one_call(&mut s);
    s.respond_http(&b, ok("b"));
    drop(s);
    let s = start(&mut h, false);
    assert!(
        s.upstream().headers.is_none(),
        "Retry-After opened the primary at once"
    );
    drop(s);
    h.advance(Duration::from_millis(19_000));
    let s = start(&mut h, false);
    assert!(
        s.upstream().headers.is_none(),
        "still inside Retry-After (20 s > 10 s cooldown)"
    );
    drop(s);
    h.advance(Duration::from_millis(1_001));
    let s = start(&mut h, false);
    assert!(s.upstream().end_stream, "probe after Retry-After");
}

#[test]
fn open_fallback_is_skipped_and_all_open_sends_to_the_primary_anyway() {
    let mut h = host_with(json!({"primary": {"name": "p"},
        "providerGroups": [{"providers": [{"name": "a", "cluster": A}]}, {"providers": [{"name": "b", "cluster": B}]}],
        "failover": {"failureThreshold": 1, "cooldown": 10000}}));
    // p fails → a fails → b answers; p and a are open now.
    let mut s = start(&mut h, false);
    json_status(&mut s, "503", &[], "{}");
    let a = one_call(&mut s);
    s.respond_http(&a, HttpCalloutResponse::new(503, &[], "{}"));
    let b = one_call(&mut s);
    s.respond_http(&b, ok("b"));
    drop(s);
    let mut s = start(&mut h, false);
    let call = one_call(&mut s);
    assert_eq!(call.cluster, B, "a is open: skipped without a callout");
    s.respond_http(&call, HttpCalloutResponse::new(503, &[], "{}"));
    assert_eq!(s.downstream().status(), Some(503));
    drop(s);
    // Everything open: better the primary than nothing.
    let s = start(&mut h, false);
    assert!(s.upstream().end_stream);
}

fn with_first_byte_timeout(ms: u64) -> TestHost {
    let mut cfg = config();
    cfg["primary"]["firstByteTimeout"] = json!(ms);
    host_with(cfg)
}

#[test]
fn first_byte_timeout_falls_back_and_the_late_primary_is_not_sent() {
    let mut h = with_first_byte_timeout(1000);
    let mut s = start(&mut h, false);
    s.advance(Duration::from_millis(990));
    assert!(s.http_calls().is_empty(), "not yet");
    s.advance(Duration::from_millis(40));
    let call = one_call(&mut s);
    assert_eq!(call.cluster, A);
    assert!(call.timeout.unwrap() <= Duration::from_millis(3000));
    // The primary's answer comes late: held while a decides, never sent.
    json_status(&mut s, "200", &[], &answer("late primary"));
    assert!(s.downstream().headers.is_none());
    s.respond_http(&call, ok("fast a"));
    assert_eq!(s.downstream().status(), Some(200));
    let body = s.downstream().body_string();
    assert!(
        body.contains("fast a") && !body.contains("late primary"),
        "{body}"
    );
    assert_eq!(
        ai_log(&s)["fallback_reasons"],
        json!(["openai:first_byte_timeout"])
    );

    // The fallback answers before the primary says anything: a local reply.
    let mut s = start(&mut h, false);
    s.advance(Duration::from_millis(1030));
    let call = one_call(&mut s);
    s.respond_http(&call, ok("a first"));
    assert!(s.downstream().body_string().contains("a first"));
    assert!(
        !s.upstream_can_respond(),
        "the primary's answer can no longer reach the client"
    );

    // Every fallback fails but the primary answered late: its answer is the best one left.
    let mut s = start(&mut h, false);
    s.advance(Duration::from_millis(1030));
    json_status(&mut s, "200", &[], &answer("late but good"));
    let a = one_call(&mut s);
    s.fail_http(&a);
    let b = one_call(&mut s);
    s.respond_http(&b, HttpCalloutResponse::new(503, &[], "{}"));
    assert!(s.downstream().body_string().contains("late but good"));
}

#[test]
fn first_byte_timeout_of_a_stream_without_data_replaces_the_held_body() {
    let mut h = with_first_byte_timeout(500);
    let mut s = start(&mut h, true);
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "text/event-stream")],
        false,
    )
    .send_response_body(": still thinking\n\n", false);
    s.advance(Duration::from_millis(530));
    let call = one_call(&mut s);
    s.respond_http(&call, ok("a instead"));
    // What the slow primary still sends is dropped.
    s.send_response_body(SSE_OK, false)
        .send_response_body(SSE_END, true);
    let v = folded(&s.downstream().body());
    assert_eq!(v["choices"][0]["message"]["content"], "a instead");
    assert!(!s.downstream().body_string().contains("prim"));

    // Headers only, no byte of body: nothing to replace, the answer is injected and ends the
    // stream; what the primary sends later is dropped.
    let mut s = start(&mut h, true);
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "text/event-stream")],
        false,
    );
    s.advance(Duration::from_millis(530));
    let call = one_call(&mut s);
    s.respond_http(&call, ok("injected a"));
    assert!(s.downstream().end_stream);
    s.send_response_body(SSE_OK, false)
        .send_response_body(SSE_END, true);
    let v = folded(&s.downstream().body());
    assert_eq!(v["choices"][0]["message"]["content"], "injected a");
    assert!(!s.downstream().body_string().contains("prim"));

    // A stream whose first event came in time is never interrupted.
    let mut s = start(&mut h, true);
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "text/event-stream")],
        false,
    )
    .send_response_body(SSE_OK, false);
    s.advance(Duration::from_millis(2000));
    assert!(s.http_calls().is_empty());
    s.send_response_body(SSE_END, true);
    assert_eq!(s.downstream().body_string(), format!("{SSE_OK}{SSE_END}"));
}

#[test]
fn bad_config_is_rejected_naming_the_field() {
    let mut h = TestHost::new();
    let cfg = json!({"providerGroups": [{"providers": [{"name": "a"}]}]});
    let r = h.add_plugin(
        wasm(),
        PluginConfig::new("provider-fallback", cfg.to_string()),
    );
    assert!(r.is_err());
    assert!(
        h.log_messages()
            .iter()
            .any(|m| m.contains("providerGroups[0].providers[0].cluster")),
        "{:?}",
        h.log_messages()
    );
}

//! The built .wasm in our Envoy-semantics host: every rule kind, several windows, estimate and
//! settlement (JSON answers, streams with and without usage, failures, cancellations), stream
//! usage injection and removal, the Redis failure modes and the decision budget, and the Lua
//! script against a real Redis.
#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use e2e_services::redis::RedisServer;
use proxy_wasm_host::build_support::build_wasm_plugin;
use proxy_wasm_host::harness::Stream;
use proxy_wasm_host::live::LiveBackends;
use proxy_wasm_host::shared::MetricValue;
use proxy_wasm_host::{PluginConfig, TestHost};
use serde_json::{json, Value};

fn wasm() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path =
            build_wasm_plugin(&ws, "token-rate-limit").expect("build token-rate-limit for wasm32");
        std::fs::read(path).expect("read wasm")
    })
}

fn host(config: Value) -> TestHost {
    let mut h = TestHost::new();
    let mut pc = PluginConfig::new("token-rate-limit", config.to_string());
    pc.priority = 600;
    h.add_plugin(wasm(), pc)
        .expect("plugin loads and configures");
    h
}

const REDIS_CLUSTER: &str = "outbound|6379||redis.dns";

fn req(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut h = vec![
        (":method", "POST"),
        (":path", "/v1/chat/completions"),
        (":authority", "llm.example.com"),
        ("content-type", "application/json"),
    ];
    h.extend_from_slice(extra);
    h
}

fn chat(max_tokens: u64, stream: bool) -> Vec<u8> {
    json!({"model": "gpt-4o", "stream": stream, "max_tokens": max_tokens,
           "messages": [{"role": "user", "content": "Say hi."}]})
    .to_string()
    .into_bytes()
}

fn json_answer(prompt: u64, completion: u64) -> Vec<u8> {
    json!({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi."}, "finish_reason": "stop"}],
           "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}})
    .to_string()
    .into_bytes()
}

/// Sends a request; `None` if the plugin let it through, else the local reply's status.
fn send(s: &mut Stream, headers: &[(&str, &str)], body: &[u8]) -> Option<u32> {
    s.send_request_headers(headers, false)
        .send_request_body(body, true);
    s.local_replies().first().map(|r| r.code)
}

/// A complete request answered with `usage`; returns the downstream status and headers.
fn round_trip(
    h: &mut TestHost,
    headers: &[(&str, &str)],
    max_tokens: u64,
    usage: (u64, u64),
) -> (u32, Stream) {
    let mut s = h.stream();
    if let Some(code) = send(&mut s, headers, &chat(max_tokens, false)) {
        return (code, s);
    }
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    )
    .send_response_body(json_answer(usage.0, usage.1), true);
    s.finish();
    (200, s)
}

fn header(s: &Stream, name: &str) -> Option<String> {
    s.downstream()
        .headers
        .as_ref()
        .and_then(|h| h.get(name).map(str::to_string))
}

fn reply_header(r: &proxy_wasm_host::LocalReply, name: &str) -> Option<String> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

fn remaining(s: &Stream) -> u64 {
    header(s, "x-ratelimit-remaining-tokens")
        .expect("x-ratelimit-remaining-tokens")
        .parse()
        .unwrap()
}

fn global(limit: u64) -> Value {
    json!({"rule_name": "t", "global_threshold": {"token_per_minute": limit}})
}

#[test]
fn admits_against_the_estimate_settles_real_usage_and_rejects_like_openai() {
    let mut h = host(global(200));
    // Reserved: ~12 prompt + 100 output; real usage 10 + 20 = 30.
    let (code, s) = round_trip(&mut h, &req(&[]), 100, (10, 20));
    assert_eq!(code, 200);
    assert_eq!(
        header(&s, "x-ratelimit-limit-tokens").as_deref(),
        Some("200")
    );
    let after_first = remaining(&s);
    assert!((80..=95).contains(&after_first), "{after_first}");
    assert!(header(&s, "x-ratelimit-reset-tokens")
        .unwrap()
        .ends_with('s'));
    assert!(header(&s, "x-tokenratelimit-reset").is_some());
    // Settled to 30: the next request sees 170 minus its own reservation.
    let (_, s) = round_trip(&mut h, &req(&[]), 100, (10, 20));
    let after_second = remaining(&s);
    assert_eq!(
        after_second,
        200 - 30 - (200 - after_first),
        "settlement refunded the unused reservation"
    );
    // A reservation that does not fit is refused before the call.
    let mut s = h.stream();
    assert_eq!(send(&mut s, &req(&[]), &chat(150, false)), Some(429));
    let reply = &s.local_replies()[0];
    let body: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_exceeded");
    assert_eq!(body["error"]["message"], "Too many requests");
    let retry: u64 = reply_header(reply, "retry-after").unwrap().parse().unwrap();
    assert!((1..=61).contains(&retry), "{retry}");
    assert_eq!(
        reply_header(reply, "x-tokenratelimit-reset"),
        Some(retry.to_string())
    );
    assert!(reply_header(reply, "x-ratelimit-remaining-tokens").is_some());
    assert!(s.upstream().headers.is_none(), "the upstream never saw it");
    assert_eq!(
        h.metric("token_ratelimit.limited"),
        Some(MetricValue::Counter(1))
    );
    // A minute later the window is empty again.
    h.advance(Duration::from_secs(61));
    let (code, _) = round_trip(&mut h, &req(&[]), 150, (10, 20));
    assert_eq!(code, 200);
}

#[test]
fn higress_config_with_rejected_code_and_message() {
    let mut h = host(json!({
        "rule_name": "default_rule",
        "rule_items": [{"limit_by_header": "x-api-key", "limit_keys": [{"key": "k1", "token_per_minute": 50}]}],
        "rejected_code": 403,
        "rejected_msg": "quota gone"
    }));
    let mut s = h.stream();
    assert_eq!(
        send(&mut s, &req(&[("x-api-key", "k1")]), &chat(60, false)),
        Some(403)
    );
    let body: Value = serde_json::from_slice(&s.local_replies()[0].body).unwrap();
    assert_eq!(body["error"]["message"], "quota gone");
    // Another key is not limited at all.
    let mut s = h.stream();
    assert_eq!(
        send(&mut s, &req(&[("x-api-key", "k2")]), &chat(60, false)),
        None
    );
}

/// Every rule kind: the first request of a key uses up its limit, the second is refused, and a
/// different value (or no value) is not affected.
#[test]
fn every_rule_kind_buckets_separately() {
    type Case = (
        Value,
        Vec<(&'static str, &'static str)>,
        Vec<(&'static str, &'static str)>,
        Option<(&'static str, &'static str)>,
    );
    let cases: Vec<Case> = vec![
        (
            json!({"limit_by_header": "x-key", "limit_keys": [{"key": "a", "token_per_minute": 60}]}),
            vec![("x-key", "a")],
            vec![("x-key", "b")],
            None,
        ),
        (
            json!({"limit_by_per_header": "x-key", "limit_keys": [{"key": "*", "token_per_minute": 60}]}),
            vec![("x-key", "a")],
            vec![("x-key", "b")],
            None,
        ),
        (
            json!({"limit_by_consumer": "", "limit_keys": [{"key": "alice", "token_per_minute": 60}]}),
            vec![("x-mse-consumer", "alice")],
            vec![("x-mse-consumer", "bob")],
            None,
        ),
        (
            json!({"limit_by_per_consumer": "", "limit_keys": [{"key": "regexp:^team-", "token_per_minute": 60}]}),
            vec![("x-mse-consumer", "team-a")],
            vec![("x-mse-consumer", "team-b")],
            None,
        ),
        (
            json!({"limit_by_cookie": "uid", "limit_keys": [{"key": "u1", "token_per_minute": 60}]}),
            vec![("cookie", "a=b; uid=u1")],
            vec![("cookie", "uid=u2")],
            None,
        ),
        (
            json!({"limit_by_per_cookie": "uid", "limit_keys": [{"key": "*", "token_per_minute": 60}]}),
            vec![("cookie", "uid=u1")],
            vec![("cookie", "uid=u2")],
            None,
        ),
        (
            json!({"limit_by_per_ip": "from-header-x-real-ip", "limit_keys": [{"key": "10.0.0.0/8", "token_per_minute": 60}]}),
            vec![("x-real-ip", "10.1.1.1")],
            vec![("x-real-ip", "10.1.1.2")],
            None,
        ),
        (
            json!({"limit_by_per_ip": "from-header-x-real-ip", "limit_keys": [{"key": "10.0.0.0/8", "token_per_minute": 60}]}),
            vec![("x-real-ip", "10.1.1.1")],
            vec![("x-real-ip", "192.168.0.1")],
            None,
        ),
    ];
    for (item, first, other, _) in cases {
        let mut h = host(json!({"rule_name": "k", "rule_items": [item]}));
        let (code, _) = round_trip(&mut h, &req(&first), 40, (10, 40));
        assert_eq!(code, 200, "{item}");
        let mut s = h.stream();
        assert_eq!(
            send(&mut s, &req(&first), &chat(40, false)),
            Some(429),
            "{item}: second request of the key"
        );
        let mut s = h.stream();
        assert_eq!(
            send(&mut s, &req(&other), &chat(40, false)),
            None,
            "{item}: other value"
        );
    }
}

#[test]
fn params_remote_address_models_and_routes() {
    // Query parameter.
    let mut h = host(
        json!({"rule_name": "p", "rule_items": [{"limit_by_per_param": "apikey", "limit_keys": [{"key": "*", "token_per_minute": 60}]}]}),
    );
    let with = |key: &'static str| -> Vec<(&'static str, &'static str)> {
        let mut r = req(&[]);
        r[1] = (":path", key);
        r
    };
    assert_eq!(
        round_trip(&mut h, &with("/v1/chat/completions?apikey=a"), 40, (10, 40)).0,
        200
    );
    assert_eq!(
        send(
            &mut h.stream(),
            &with("/v1/chat/completions?apikey=a"),
            &chat(40, false)
        ),
        Some(429)
    );
    assert_eq!(
        send(
            &mut h.stream(),
            &with("/v1/chat/completions?apikey=b"),
            &chat(40, false)
        ),
        None
    );

    // Remote address (`source.address`) against CIDR keys.
    let mut h = host(
        json!({"rule_name": "ip", "rule_items": [{"limit_by_per_ip": "from-remote-addr", "limit_keys": [{"key": "192.168.0.0/16", "token_per_minute": 60}]}]}),
    );
    h.info.source_address = "192.168.3.4:5555".into();
    assert_eq!(round_trip(&mut h, &req(&[]), 40, (10, 40)).0, 200);
    assert_eq!(
        send(&mut h.stream(), &req(&[]), &chat(40, false)),
        Some(429)
    );
    h.info.source_address = "172.16.0.1:5555".into();
    assert_eq!(
        send(&mut h.stream(), &req(&[]), &chat(40, false)),
        None,
        "outside every key: unlimited"
    );

    // Model from the body.
    let mut h = host(
        json!({"rule_name": "m", "rule_items": [{"limit_by_per_model": "", "limit_keys": [{"key": "regexp:^gpt-4", "token_per_minute": 60}]}]}),
    );
    assert_eq!(round_trip(&mut h, &req(&[]), 40, (10, 40)).0, 200);
    assert_eq!(
        send(&mut h.stream(), &req(&[]), &chat(40, false)),
        Some(429)
    );
    let other_model = json!({"model": "qwen-max", "max_tokens": 40, "messages": [{"role": "user", "content": "hi"}]}).to_string();
    assert_eq!(
        send(&mut h.stream(), &req(&[]), other_model.as_bytes()),
        None
    );

    // Route name.
    let mut h = host(
        json!({"rule_name": "r", "rule_items": [{"limit_by_route": "", "limit_keys": [{"key": "chat-route", "token_per_minute": 60}]}]}),
    );
    let mut s = h.stream();
    s.set_route_name("chat-route");
    send(&mut s, &req(&[]), &chat(40, false));
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    )
    .send_response_body(json_answer(10, 40), true);
    s.finish();
    let mut s = h.stream();
    s.set_route_name("chat-route");
    assert_eq!(send(&mut s, &req(&[]), &chat(40, false)), Some(429));
    let mut s = h.stream();
    s.set_route_name("other");
    assert_eq!(send(&mut s, &req(&[]), &chat(40, false)), None);
}

#[test]
fn several_windows_and_request_counts() {
    let mut h = host(json!({"rule_name": "w", "global_threshold": {
        "token_per_second": 100, "token_per_minute": 250, "request_per_minute": 3}}));
    // 1st: fits; 2nd in the same second: over the per-second limit.
    assert_eq!(round_trip(&mut h, &req(&[]), 60, (10, 60)).0, 200);
    assert_eq!(
        send(&mut h.stream(), &req(&[]), &chat(60, false)),
        Some(429)
    );
    h.advance(Duration::from_millis(1100));
    let (_, s) = round_trip(&mut h, &req(&[]), 60, (10, 60));
    assert_eq!(
        header(&s, "x-ratelimit-limit-requests").as_deref(),
        Some("3")
    );
    assert_eq!(
        header(&s, "x-ratelimit-remaining-requests").as_deref(),
        Some("1")
    );
    h.advance(Duration::from_millis(1100));
    assert_eq!(round_trip(&mut h, &req(&[]), 60, (10, 60)).0, 200);
    h.advance(Duration::from_millis(1100));
    // Tokens: 3 × 70 = 210 of 250 used; a 4th request is over the request count anyway.
    let mut s = h.stream();
    assert_eq!(send(&mut s, &req(&[]), &chat(1, false)), Some(429));
    assert_eq!(
        reply_header(&s.local_replies()[0], "x-ratelimit-remaining-requests").as_deref(),
        Some("0")
    );
}

fn sse_answer(with_usage: bool, usage_on_last_choice: bool) -> String {
    let chunk = |content: &str, finish: Option<&str>| {
        let mut c = json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]});
        if with_usage {
            c["usage"] = Value::Null;
        }
        format!("data: {c}\n\n")
    };
    let mut out = chunk("Hello", None) + &chunk(" there, how are you today?", None);
    if with_usage && usage_on_last_choice {
        let last = json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}});
        out += &format!("data: {last}\n\n");
    } else {
        out += &chunk("", Some("stop"));
        if with_usage {
            let usage = json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}});
            out += &format!("data: {usage}\n\n");
        }
    }
    out + "data: [DONE]\n\n"
}

/// Streams `answer` back in `chunk`-byte pieces; returns the request as the upstream got it and
/// the client's body.
fn stream_round_trip(
    h: &mut TestHost,
    body: &[u8],
    answer: &str,
    chunk: usize,
) -> (Value, String, Stream) {
    let mut s = h.stream();
    assert_eq!(send(&mut s, &req(&[]), body), None);
    let sent: Value = serde_json::from_slice(&s.upstream().body()).unwrap();
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "text/event-stream")],
        false,
    )
    .send_response_body_chunked(answer.as_bytes(), chunk);
    s.finish();
    let got = s.downstream().body_string();
    (sent, got, s)
}

#[test]
fn stream_usage_is_requested_then_hidden_from_a_client_that_did_not_ask() {
    for usage_on_last_choice in [false, true] {
        for chunk in [1, 7, 64, 4096] {
            let mut h = host(global(1000));
            let (sent, got, s) = stream_round_trip(
                &mut h,
                &chat(50, true),
                &sse_answer(true, usage_on_last_choice),
                chunk,
            );
            assert_eq!(sent["stream_options"]["include_usage"], true);
            assert!(
                !got.contains("usage"),
                "usage leaked (chunk {chunk}): {got}"
            );
            assert!(got.ends_with("data: [DONE]\n\n"));
            let events = ai_proto::sse::SseDecoder::decode_all(got.as_bytes()).unwrap();
            assert_eq!(events.len(), 4, "3 chunks + [DONE]: {got}");
            let text: String = events
                .iter()
                .filter(|e| !e.is_done())
                .map(|e| {
                    serde_json::from_str::<Value>(&e.data).unwrap()["choices"][0]["delta"]
                        ["content"]
                        .as_str()
                        .unwrap_or("")
                        .to_string()
                })
                .collect();
            assert_eq!(text, "Hello there, how are you today?");
            assert!(header(&s, "content-length").is_none());
            // Settled to the reported 18 tokens.
            let (_, s) = round_trip(&mut h, &req(&[]), 1, (1, 1));
            let reserved_now = 1000 - remaining(&s) - 18;
            assert!(
                reserved_now < 20,
                "only this request's small reservation remains: {reserved_now}"
            );
        }
    }
}

#[test]
fn a_client_that_asked_for_usage_gets_it_unchanged() {
    let mut h = host(global(1000));
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}, "max_tokens": 50,
                      "messages": [{"role": "user", "content": "hi"}]})
    .to_string();
    let answer = sse_answer(true, false);
    let (sent, got, _) = stream_round_trip(&mut h, body.as_bytes(), &answer, 16);
    assert_eq!(sent, serde_json::from_str::<Value>(&body).unwrap());
    assert_eq!(got, answer, "byte for byte");
}

#[test]
fn a_stream_without_usage_is_counted_from_its_text() {
    let mut h = host(
        json!({"rule_name": "t", "global_threshold": {"token_per_minute": 1000}, "inject_stream_usage": false}),
    );
    let (sent, got, _) = stream_round_trip(&mut h, &chat(500, true), &sse_answer(false, false), 10);
    assert!(sent.get("stream_options").is_none());
    assert_eq!(got, sse_answer(false, false));
    let (_, s) = round_trip(&mut h, &req(&[]), 1, (1, 1));
    // The stream was charged its prompt estimate (~11) plus ~8 counted answer tokens, not 500.
    let charged = 1000 - remaining(&s) - 2;
    assert!((12..=40).contains(&charged), "{charged}");
}

#[test]
fn failed_and_cancelled_requests_release_their_reservation() {
    let mut h = host(global(300));
    // Upstream error.
    let mut s = h.stream();
    send(&mut s, &req(&[]), &chat(250, false));
    s.send_response_headers(
        &[(":status", "500"), ("content-type", "application/json")],
        false,
    )
    .send_response_body(b"{\"error\":{\"message\":\"boom\"}}", true);
    s.finish();
    // Client gone before any answer.
    let mut s = h.stream();
    send(&mut s, &req(&[]), &chat(250, false));
    s.finish();
    // Both released: a 250-token reservation fits again.
    let (code, s) = round_trip(&mut h, &req(&[]), 250, (10, 10));
    assert_eq!(code, 200);
    assert!(remaining(&s) >= 300 - 270, "{}", remaining(&s));
}

#[test]
fn a_stream_cut_midway_is_charged_what_was_streamed() {
    let mut h = host(global(1000));
    let mut s = h.stream();
    send(&mut s, &req(&[]), &chat(600, true));
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "text/event-stream")],
        false,
    );
    let answer = sse_answer(false, false);
    s.send_response_body(&answer.as_bytes()[..answer.len() / 2], false);
    s.finish();
    let (_, s) = round_trip(&mut h, &req(&[]), 1, (1, 1));
    let charged = 1000 - remaining(&s) - 2;
    assert!((10..=40).contains(&charged), "{charged}");
}

fn redis_config(extra: Value) -> Value {
    let mut c = json!({"rule_name": "rd", "global_threshold": {"token_per_minute": 500},
                       "redis": {"service_name": "redis.dns", "timeout": 200}});
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    c
}

#[test]
fn redis_failure_falls_back_to_the_local_limiter_or_fails_closed() {
    let mut h = host(redis_config(json!({})));
    let mut s = h.stream();
    assert_eq!(send(&mut s, &req(&[]), &chat(100, false)), None);
    let calls = s.redis_calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].query.windows(7).any(|w| w == b"EVALSHA"));
    assert!(s.upstream().headers.is_none(), "held while Redis decides");
    s.fail_redis(&calls[0]);
    assert!(s.upstream().headers.is_some(), "fail open");
    assert_eq!(
        h.metric("token_ratelimit.fallback_local"),
        Some(MetricValue::Counter(1))
    );
    // The local limiter counts: 500 - ~110 left, so 450 does not fit even when Redis fails.
    let mut s = h.stream();
    send(&mut s, &req(&[]), &chat(450, false));
    let calls = s.redis_calls();
    s.fail_redis(&calls[0]);
    assert_eq!(s.local_replies().first().map(|r| r.code), Some(429));

    let mut h = host(redis_config(json!({"failure_mode": "closed"})));
    let mut s = h.stream();
    send(&mut s, &req(&[]), &chat(100, false));
    let calls = s.redis_calls();
    s.fail_redis(&calls[0]);
    assert_eq!(s.local_replies().first().map(|r| r.code), Some(503));
    assert!(s.upstream().headers.is_none());
}

#[test]
fn a_slow_redis_never_holds_a_request_past_its_budget() {
    let mut h = host(redis_config(json!({})));
    let mut s = h.stream();
    send(&mut s, &req(&[]), &chat(100, false));
    let calls = s.redis_calls();
    s.advance(Duration::from_millis(150));
    assert!(
        s.upstream().headers.is_none(),
        "still within the 200 ms budget"
    );
    s.advance(Duration::from_millis(80));
    assert!(
        s.upstream().headers.is_some(),
        "decided locally once the budget ran out"
    );
    assert_eq!(
        h.metric("token_ratelimit.store_timeouts"),
        Some(MetricValue::Counter(1))
    );
    // The late answer (admitted by Redis) is given back to Redis.
    let late = b"*5\r\n:1\r\n:1700000000000\r\n:0\r\n:0\r\n:0\r\n".to_vec();
    s.respond_redis(&calls[0], late);
    let release = s.redis_calls();
    assert_eq!(
        release.len(),
        1,
        "a settle call releases the late reservation"
    );
    assert!(String::from_utf8_lossy(&release[0].query).contains("settle"));

    let mut h = host(redis_config(json!({"failure_mode": "closed"})));
    let mut s = h.stream();
    send(&mut s, &req(&[]), &chat(100, false));
    s.advance(Duration::from_millis(250));
    assert_eq!(s.local_replies().first().map(|r| r.code), Some(503));
}

#[test]
fn redis_error_replies_and_garbage_follow_the_failure_mode() {
    for reply in [&b"-ERR boom\r\n"[..], b":7\r\n", b"*2\r\n:1\r\n:2\r\n"] {
        let mut h = host(redis_config(json!({})));
        let mut s = h.stream();
        send(&mut s, &req(&[]), &chat(100, false));
        let calls = s.redis_calls();
        s.respond_redis(&calls[0], reply.to_vec());
        assert!(
            s.upstream().headers.is_some(),
            "{}",
            String::from_utf8_lossy(reply)
        );
    }
}

#[test]
fn malformed_bodies_and_streams_never_break_the_vm() {
    let mut h = host(global(100_000));
    for body in [
        &b""[..],
        b"{",
        b"\xff\xfe",
        b"[1,2,3]",
        br#"{"messages": 5}"#,
    ] {
        let mut s = h.stream();
        assert_eq!(send(&mut s, &req(&[]), body), None);
        s.send_response_headers(&[(":status", "200"), ("content-type", "text/event-stream")], false)
            .send_response_body(b"data: {\"usage\": {\ndata: \xff\n\n: x\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":\"x\"}}\n\n", true);
        s.finish();
    }
    let (code, _) = round_trip(&mut h, &req(&[]), 10, (1, 1));
    assert_eq!(code, 200, "the VM still works");
}

#[test]
fn bad_config_is_rejected_naming_the_field() {
    let mut h = TestHost::new();
    let pc = PluginConfig::new(
        "token-rate-limit",
        json!({"rule_name": "x", "rule_items": [
        {"limit_by_header": "h", "limit_keys": [{"key": "a", "token_per_minute": 0}]}]})
        .to_string(),
    );
    assert!(h.add_plugin(wasm(), pc).is_err());
    let logs = h.log_messages().join("\n");
    assert!(
        logs.contains("rule_items[0].limit_keys[0].token_per_minute"),
        "{logs}"
    );
}

/// The Lua script against a real Redis: reserve, refuse, settle, and keys that expire.
#[test]
fn lua_script_against_a_real_redis() {
    let Some(redis) =
        RedisServer::start_or_skip("token-rate-limit lua_script_against_a_real_redis")
    else {
        return;
    };
    let mut live = LiveBackends::new().redis(REDIS_CLUSTER, ("127.0.0.1", redis.port()));
    let rule = format!("live{}", std::process::id());
    let mut h = host(
        json!({"rule_name": rule, "global_threshold": {"token_per_minute": 300, "request_per_minute": 10},
                            "redis": {"service_name": "redis.dns"}}),
    );
    let mut run = |max_tokens: u64, usage: Option<(u64, u64)>| -> (Option<u32>, Stream) {
        let mut s = h.stream();
        send(&mut s, &req(&[]), &chat(max_tokens, false));
        s.serve_live(&mut live).expect("redis answers");
        if let Some(code) = s.local_replies().first().map(|r| r.code) {
            return (Some(code), s);
        }
        assert!(s.upstream().headers.is_some());
        if let Some((p, c)) = usage {
            s.send_response_headers(
                &[(":status", "200"), ("content-type", "application/json")],
                false,
            )
            .send_response_body(json_answer(p, c), true);
            s.serve_live(&mut live).expect("settle");
            s.finish();
        }
        (None, s)
    };
    let (code, s) = run(200, Some((10, 20)));
    assert_eq!(code, None);
    let first = remaining(&s);
    assert!((80..=95).contains(&first), "{first}");
    // Settled to 30 in Redis: 270 left, so 250 fits; then 100 more does not.
    let (code, _) = run(230, Some((20, 230)));
    assert_eq!(code, None);
    let (code, s) = run(100, None);
    assert_eq!(code, Some(429));
    let retry = reply_header(&s.local_replies()[0], "retry-after").unwrap();
    assert!(retry.parse::<u64>().unwrap() <= 61);

    // The counters are hashes with a TTL of about a minute.
    let mut conn = e2e_services::resp::Connection::connect(redis.port()).expect("connect");
    let key = format!("token-rate-limit:{{{rule}:global_threshold}}:tokens:60");
    let ttl = conn.cmd(&["PTTL", &key]).expect("PTTL");
    let ttl = ttl.as_int().expect("integer TTL");
    assert!((55_000..=62_000).contains(&ttl), "{ttl}");
}

//! The built .wasm in our Envoy-semantics host, with Redis and embedding callouts answered by the
//! test: miss → store → hit for JSON and SSE, the semantic layer, bypasses, fail-open/closed,
//! the lookup budget on the fake clock, what is not stored, and config errors.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::Duration;

use common::*;
use proxy_wasm_host::{HttpCalloutResponse, Stream, TestHost};
use serde_json::{json, Value};

/// Sends a request and answers the exact-layer GET with `stored` (None = miss).
fn exact_lookup(
    s: &mut Stream,
    consumer: Option<&str>,
    body: &[u8],
    stored: Option<&[u8]>,
) -> String {
    s.send_request_headers(&request_headers(consumer), false)
        .send_request_body(body, true);
    let calls = s.redis_calls();
    assert_eq!(calls.len(), 1, "one GET");
    let cmd = command(&calls[0]);
    assert_eq!(cmd[0], "GET");
    let reply = stored.map_or(NULL.to_vec(), bulk);
    s.respond_redis(&calls[0], reply);
    cmd[1].clone()
}

/// Finishes a miss: the upstream answers; returns the store commands (answered with success, so
/// they are not pending for the next stream).
fn upstream_answers(
    s: &mut Stream,
    content_type: &str,
    body: &[u8],
    status: &str,
) -> Vec<Vec<String>> {
    assert!(s.upstream().end_stream, "request reached the upstream");
    s.send_response_headers(
        &[(":status", status), ("content-type", content_type)],
        false,
    )
    .send_response_body_chunked(body, 7);
    answer_writes(s)
}

/// Answers every pending (write) call with success until none is left (a vector store's insert
/// calls follow one another); returns their commands in the order they were sent.
fn answer_writes(s: &mut Stream) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for _ in 0..10 {
        let calls = s.redis_calls();
        if calls.is_empty() {
            break;
        }
        for call in &calls {
            let cmd = command(call);
            let reply = if cmd[0].starts_with("SET") {
                OK.to_vec()
            } else {
                b":1\r\n".to_vec()
            };
            s.respond_redis(call, reply);
            commands.push(cmd);
        }
    }
    commands
}

fn status(s: &Stream) -> Option<String> {
    s.downstream()
        .headers
        .as_ref()
        .and_then(|h| h.get("x-cache-status").map(str::to_string))
}

#[test]
fn exact_miss_store_hit_json() {
    let mut h = host(exact_only());
    let body = chat("What is the capital of France?", false);
    let mut s = h.stream();
    let key = exact_lookup(&mut s, Some("alice"), &body, None);
    assert!(key.starts_with("higress-ai-cache:"));
    let stored = upstream_answers(
        &mut s,
        "application/json",
        &answer_json("Paris.", "stop"),
        "200",
    );
    assert_eq!(status(&s).as_deref(), Some("MISS"));
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0][..3],
        ["SETEX".to_string(), key.clone(), "300".to_string()]
    );
    let value = stored[0][3].clone().into_bytes();
    // The whole answer is stored, usage included.
    let v: Value = serde_json::from_slice(&value).unwrap();
    assert_eq!(v["usage"]["total_tokens"], 25);

    let mut s = h.stream();
    assert_eq!(
        exact_lookup(&mut s, Some("alice"), &body, Some(&value)),
        key
    );
    let replies = s.local_replies();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].code, 200);
    assert!(replies[0].details.ends_with("ai-cache.hit"));
    assert!(
        s.upstream().headers.is_none(),
        "a hit never reaches the upstream"
    );
    let got: Value = serde_json::from_slice(&s.downstream().body()).unwrap();
    assert_eq!(got["choices"][0]["message"]["content"], "Paris.");
    assert_eq!(got["usage"]["total_tokens"], 0);
    assert_eq!(got["usage"]["cached_tokens"], 25);
    assert_eq!(status(&s).as_deref(), Some("HIT"));
    assert_eq!(
        s.downstream().headers.unwrap().get("x-cache-similarity"),
        Some("1.0000")
    );
    assert!(matches!(
        h.metric("semantic_cache.hits"),
        Some(proxy_wasm_host::shared::MetricValue::Counter(1))
    ));
}

#[test]
fn streamed_answer_is_stored_and_replayed_as_sse_or_json() {
    let mut h = host(exact_only());
    let mut s = h.stream();
    exact_lookup(&mut s, None, &chat("Tell me a joke", true), None);
    let stored = upstream_answers(
        &mut s,
        "text/event-stream",
        &answer_sse("Why did the chicken cross the road?"),
        "200",
    );
    // The stream went through untouched.
    assert_eq!(
        s.downstream().body(),
        answer_sse("Why did the chicken cross the road?")
    );
    assert_eq!(stored.len(), 1, "{stored:?}");
    let value = stored[0][3].clone().into_bytes();

    // Streaming request: SSE replay.
    let mut s = h.stream();
    exact_lookup(&mut s, None, &chat("Tell me a joke", true), Some(&value));
    let down = s.downstream();
    assert_eq!(
        down.headers.as_ref().unwrap().get("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let mut acc = ai_proto::stream::StreamAccumulator::new();
    acc.feed_sse(&down.body()).unwrap();
    assert!(acc.is_done());
    assert_eq!(
        acc.finish().unwrap().first_text().unwrap(),
        "Why did the chicken cross the road?"
    );

    // The same question without stream: same entry (stream is not in the key), JSON replay.
    let mut s = h.stream();
    exact_lookup(&mut s, None, &chat("Tell me a joke", false), Some(&value));
    let got: Value = serde_json::from_slice(&s.downstream().body()).unwrap();
    assert_eq!(got["object"], "chat.completion");
    assert_eq!(
        got["choices"][0]["message"]["content"],
        "Why did the chicken cross the road?"
    );
}

#[test]
fn answers_that_are_not_complete_successes_are_not_stored() {
    let mut h = host(exact_only());
    let cases: [(&str, &str, Vec<u8>); 4] = [
        ("500", "application/json", answer_json("oops", "stop")),
        ("200", "application/json", answer_json("truncated", "length")),
        (
            "200",
            "application/json",
            json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                "finish_reason": "tool_calls"}]})
            .to_string()
            .into_bytes(),
        ),
        // A stream cut before its finish chunk.
        ("200", "text/event-stream", {
            let full = answer_sse("half an answer");
            let cut = String::from_utf8(full.clone()).unwrap().find("\"finish_reason\":\"stop\"").unwrap();
            let start = String::from_utf8(full[..cut].to_vec()).unwrap().rfind("data: ").unwrap();
            full[..start].to_vec()
        }),
    ];
    for (code, ct, body) in cases {
        let mut s = h.stream();
        exact_lookup(&mut s, None, &chat("q", false), None);
        let stored = upstream_answers(&mut s, ct, &body, code);
        assert!(stored.is_empty(), "{code} {ct}: {stored:?}");
        assert_eq!(
            s.downstream().body(),
            body,
            "the answer itself passes unchanged"
        );
    }
}

#[test]
fn oversized_answers_pass_but_are_not_stored() {
    let mut cfg = exact_only();
    cfg["maxResponseBytes"] = json!(64);
    let mut h = host(cfg);
    let mut s = h.stream();
    exact_lookup(&mut s, None, &chat("q", true), None);
    let big = answer_sse(&"word ".repeat(100));
    let stored = upstream_answers(&mut s, "text/event-stream", &big, "200");
    assert!(stored.is_empty());
    assert_eq!(s.downstream().body(), big);
}

#[test]
fn bypass_headers_skip_lookup_and_store() {
    let mut cfg = exact_only();
    cfg["honorCacheControl"] = json!(true);
    let mut h = host(cfg);
    for (name, value) in [
        ("x-higress-skip-ai-cache", "on"),
        ("cache-control", "no-cache"),
        ("cache-control", "no-store"),
    ] {
        let mut s = h.stream();
        let mut headers = request_headers(None);
        headers.push((name, value));
        s.send_request_headers(&headers, false)
            .send_request_body(chat("q", false), true);
        assert!(s.redis_calls().is_empty(), "{name}: no lookup");
        assert!(s.upstream().end_stream);
        s.send_response_headers(
            &[(":status", "200"), ("content-type", "application/json")],
            false,
        )
        .send_response_body(answer_json("a", "stop"), true);
        assert!(s.redis_calls().is_empty(), "{name}: not stored");
        assert_eq!(status(&s).as_deref(), Some("BYPASS"));
    }
    // Cache-Control is ignored unless honorCacheControl is on.
    let mut h = host(exact_only());
    let mut s = h.stream();
    let mut headers = request_headers(None);
    headers.push(("cache-control", "no-cache"));
    s.send_request_headers(&headers, false)
        .send_request_body(chat("q", false), true);
    assert_eq!(s.redis_calls().len(), 1);
}

#[test]
fn skip_rules_bypass_models_consumers_and_routes() {
    let mut cfg = exact_only();
    cfg["skip"] = json!({"models": ["gpt-4o"], "consumers": ["bob"], "routes": ["private"]});
    let mut h = host(cfg);
    let mut s = h.stream();
    s.send_request_headers(&request_headers(None), false)
        .send_request_body(chat("q", false), true);
    assert!(s.redis_calls().is_empty(), "model skipped");
    let mut s = h.stream();
    s.send_request_headers(&request_headers(Some("bob")), false)
        .send_request_body(
            json!({"model": "other", "messages": [{"role": "user", "content": "q"}]}).to_string(),
            true,
        );
    assert!(s.redis_calls().is_empty(), "consumer skipped");
    let mut s = h.stream();
    s.set_route_name("private");
    s.send_request_headers(&request_headers(None), false)
        .send_request_body(
            json!({"model": "other", "messages": [{"role": "user", "content": "q"}]}).to_string(),
            true,
        );
    assert!(s.redis_calls().is_empty(), "route skipped");
}

#[test]
fn consumers_never_share_entries() {
    let mut h = host(exact_only());
    let body = chat("What is my account balance?", false);
    let mut s = h.stream();
    let alice = exact_lookup(&mut s, Some("alice"), &body, None);
    let mut s = h.stream();
    let bob = exact_lookup(&mut s, Some("bob"), &body, None);
    assert_ne!(alice, bob);
}

#[test]
fn redis_errors_fail_open_with_status_error() {
    let mut h = host(exact_only());
    let mut s = h.stream();
    s.send_request_headers(&request_headers(None), false)
        .send_request_body(chat("q", false), true);
    let call = s.redis_calls().remove(0);
    s.fail_redis(&call);
    assert!(s.upstream().end_stream, "forwarded despite the failure");
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    )
    .send_response_body(answer_json("a", "stop"), true);
    assert_eq!(status(&s).as_deref(), Some("ERROR"));
    assert_eq!(answer_writes(&mut s).len(), 1, "the answer is still stored");
    assert!(matches!(
        h.metric("semantic_cache.errors"),
        Some(proxy_wasm_host::shared::MetricValue::Counter(1))
    ));

    // An error reply (-ERR) is an error too.
    let mut s = h.stream();
    s.send_request_headers(&request_headers(None), false)
        .send_request_body(chat("q", false), true);
    let call = s.redis_calls().remove(0);
    s.respond_redis(&call, b"-ERR wrong\r\n".to_vec());
    assert!(s.upstream().end_stream);
}

#[test]
fn fail_closed_refuses_with_503() {
    let mut cfg = exact_only();
    cfg["failOpen"] = json!(false);
    let mut h = host(cfg);
    let mut s = h.stream();
    s.send_request_headers(&request_headers(None), false)
        .send_request_body(chat("q", false), true);
    let call = s.redis_calls().remove(0);
    s.fail_redis(&call);
    assert!(s.upstream().headers.is_none());
    assert_eq!(s.local_replies()[0].code, 503);
}

#[test]
fn lookup_budget_bounds_a_silent_backend() {
    let mut cfg = exact_only();
    cfg["lookupTimeout"] = json!(200);
    let mut h = host(cfg);
    let mut s = h.stream();
    s.send_request_headers(&request_headers(None), false)
        .send_request_body(chat("q", false), true);
    let call = s.redis_calls().remove(0);
    s.advance(Duration::from_millis(150));
    assert!(!s.upstream().end_stream, "still within the budget");
    s.advance(Duration::from_millis(100));
    assert!(s.upstream().end_stream, "released when the budget ran out");
    // The late reply is ignored (a hit now would be a second response).
    s.respond_redis(&call, bulk(&answer_json("late", "stop")));
    assert!(s.local_replies().is_empty());
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    )
    .send_response_body(answer_json("a", "stop"), true);
    assert_eq!(status(&s).as_deref(), Some("ERROR"));
    assert!(matches!(
        h.metric("semantic_cache.timeouts"),
        Some(proxy_wasm_host::shared::MetricValue::Counter(1))
    ));
}

/// Runs the semantic lookup of `question` after an exact miss; `candidates` is the raw VSIM
/// reply. Returns the VSIM key.
fn semantic_lookup(
    s: &mut Stream,
    consumer: Option<&str>,
    question: &str,
    vector: &[f32],
    vsim: Vec<u8>,
) -> String {
    exact_lookup(s, consumer, &chat(question, false), None);
    let calls = s.http_calls();
    assert_eq!(calls.len(), 1, "embedding callout");
    assert_eq!(calls[0].cluster, EMBED);
    let sent: Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(sent["input"], question);
    assert!(
        calls[0].timeout.unwrap() <= Duration::from_millis(500),
        "budget bounds the callout"
    );
    s.respond_http(
        &calls[0],
        HttpCalloutResponse::new(
            200,
            &[("content-type", "application/json")],
            embedding_body(vector),
        ),
    );
    let calls = s.redis_calls();
    let cmd = command(&calls[0]);
    assert_eq!(cmd[0], "VSIM");
    s.respond_redis(&calls[0], vsim);
    cmd[1].clone()
}

#[test]
fn semantic_miss_store_then_similar_question_hits() {
    let mut h = host(semantic("redis-vectorset"));
    let mut s = h.stream();
    let vkey = semantic_lookup(
        &mut s,
        None,
        "What is the capital of France?",
        &[1.0, 0.0, 0.0],
        array(&[]),
    );
    let stored = upstream_answers(
        &mut s,
        "application/json",
        &answer_json("Paris.", "stop"),
        "200",
    );
    let names: Vec<&str> = stored.iter().map(|c| c[0].as_str()).collect();
    assert_eq!(names, ["SETEX", "VADD", "EXPIRE"]);
    assert_eq!(stored[1][1], vkey, "stored in the partition it searched");
    let answer_key = stored[0][1].clone();
    let attrs: Value = serde_json::from_str(&stored[1][7]).unwrap();
    assert_eq!(attrs["k"], answer_key.as_str());
    let value = stored[0][3].clone().into_bytes();

    // A paraphrase: exact miss, similar vector, candidate above the threshold → HIT.
    let mut s = h.stream();
    let vsim = array(&[
        bulk(b"id1"),
        bulk(b"0.98"),
        bulk(attrs.to_string().as_bytes()),
    ]);
    let vkey2 = semantic_lookup(
        &mut s,
        None,
        "Which city is France's capital?",
        &[0.96, 0.28, 0.0],
        vsim,
    );
    assert_eq!(vkey2, vkey, "same partition");
    let calls = s.redis_calls();
    assert_eq!(command(&calls[0]), ["GET", answer_key.as_str()]);
    s.respond_redis(&calls[0], bulk(&value));
    let down = s.downstream();
    assert_eq!(down.status(), Some(200));
    let headers = down.headers.as_ref().unwrap();
    assert_eq!(headers.get("x-cache-status"), Some("HIT"));
    assert_eq!(headers.get("x-cache-similarity"), Some("0.9600"));
    let got: Value = serde_json::from_slice(&down.body()).unwrap();
    assert_eq!(got["choices"][0]["message"]["content"], "Paris.");
    // The semantic hit back-fills the exact layer for this wording.
    let backfill = s.redis_calls();
    assert_eq!(command(&backfill[0])[0], "SETEX");
}

#[test]
fn candidates_below_the_threshold_are_misses() {
    let mut h = host(semantic("redis-vectorset"));
    let mut s = h.stream();
    let vsim = array(&[bulk(b"id1"), bulk(b"0.85"), bulk(br#"{"q":"x","k":"ak"}"#)]);
    semantic_lookup(&mut s, None, "Capital of Spain?", &[1.0, 0.0], vsim);
    assert!(s.upstream().end_stream);
    assert!(s.redis_calls().is_empty(), "no answer fetched");
}

#[test]
fn another_consumer_searches_another_partition() {
    let mut h = host(semantic("redis"));
    let mut s = h.stream();
    exact_lookup(&mut s, Some("alice"), &chat("my balance?", false), None);
    let call = s.http_calls().remove(0);
    s.respond_http(
        &call,
        HttpCalloutResponse::new(200, &[], embedding_body(&[1.0, 0.0])),
    );
    let search = s.redis_calls().remove(0);
    let alice = command(&search);
    s.respond_redis(&search, b"*1\r\n:0\r\n".to_vec());
    assert!(s.upstream().end_stream, "no candidates: a miss");
    let mut s = h.stream();
    exact_lookup(&mut s, Some("bob"), &chat("my balance?", false), None);
    let call = s.http_calls().remove(0);
    s.respond_http(
        &call,
        HttpCalloutResponse::new(200, &[], embedding_body(&[1.0, 0.0])),
    );
    let bob = command(&s.redis_calls()[0]);
    assert_eq!(alice[0], "FT.SEARCH");
    assert_ne!(alice[2], bob[2], "the partition TAG differs");
    assert_eq!(alice[1], bob[1], "same index");
}

#[test]
fn embedding_errors_and_timeouts_fail_open() {
    let mut h = host(semantic("redis-vectorset"));
    for mode in ["fail", "timeout", "500"] {
        let mut s = h.stream();
        exact_lookup(&mut s, None, &chat("q", false), None);
        let call = s.http_calls().remove(0);
        match mode {
            "fail" => s.fail_http(&call),
            "timeout" => s.timeout_http(&call),
            _ => s.respond_http(&call, HttpCalloutResponse::new(500, &[], "down")),
        };
        assert!(s.upstream().end_stream, "{mode}: forwarded");
        s.send_response_headers(
            &[(":status", "200"), ("content-type", "application/json")],
            false,
        )
        .send_response_body(answer_json("a", "stop"), true);
        assert_eq!(status(&s).as_deref(), Some("ERROR"), "{mode}");
        // The answer is still stored in the exact layer (no vector was computed).
        let stored = answer_writes(&mut s);
        assert_eq!(stored.len(), 1, "{mode}: {stored:?}");
    }
}

#[test]
fn bad_config_names_the_field() {
    for (config, field) in [
        (
            json!({"vector": {"type": "faiss", "serviceName": "x"}, "embedding": {"type": "openai", "serviceName": "e"}}),
            "vector.type",
        ),
        (
            json!({"vector": {"type": "redis", "serviceName": "x"}, "embedding": {"type": "word2vec", "serviceName": "e"}}),
            "embedding.type",
        ),
        (
            json!({"cache": {"serviceName": "r"}, "similarityThreshold": 3}),
            "similarityThreshold",
        ),
        (
            json!({"cache": {"serviceName": "r"}, "cacheKeyStrategy": "x"}),
            "cacheKeyStrategy",
        ),
    ] {
        let mut h = TestHost::new();
        assert!(
            h.add_plugin(wasm(), plugin_config(&config)).is_err(),
            "{config}"
        );
        let logs = h.log_messages().join("\n");
        assert!(logs.contains(field), "{field} not in {logs}");
    }
}

#[test]
fn non_chat_requests_pass_as_bypass() {
    let mut h = host(exact_only());
    let mut s = h.stream();
    s.send_request_headers(&request_headers(None), false)
        .send_request_body(br#"{"input": "embed me"}"#, true);
    assert!(s.redis_calls().is_empty());
    assert!(s.upstream().end_stream);
}

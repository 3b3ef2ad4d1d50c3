//! Plugin CPU per request in the host, callouts answered at once (no network): the exact-miss
//! path (GET → upstream → capture → SETEX), the exact-hit path (GET → JSON replay), the semantic
//! miss (GET → embed → VSIM → upstream → SETEX + VADD) and the semantic hit (… → GET → replay),
//! each against an empty (no-op) plugin doing the same request in the same run. Also the memory a
//! streaming response holds while it is captured, against its bound.
//!
//! `cargo bench -p semantic-cache --bench request`

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use proxy_wasm_host::build_support::build_wasm_plugin;
use proxy_wasm_host::tiny_wasm::{noop_plugin, Abi};
use proxy_wasm_host::{HttpCalloutResponse, PluginConfig, Runtime, Stream, TestHost};
use semantic_cache::capture::Capture;
use serde_json::json;

const REQ: &[(&str, &str)] = &[
    (":method", "POST"),
    (":path", "/v1/chat/completions"),
    (":authority", "api.example.com"),
    ("content-type", "application/json"),
    ("x-mse-consumer", "alice"),
];
const RESP: &[(&str, &str)] = &[(":status", "200"), ("content-type", "application/json")];

fn body() -> Vec<u8> {
    json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
        {"role": "user", "content": "What is the capital of France and why is it famous?"}]})
    .to_string()
    .into_bytes()
}

fn answer() -> Vec<u8> {
    json!({"id": "c", "object": "chat.completion", "model": "gpt-4o", "choices": [{"index": 0,
        "message": {"role": "assistant", "content": "Paris. ".repeat(60)}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 120, "total_tokens": 150}})
    .to_string()
    .into_bytes()
}

fn host(wasm: &[u8], config: &str) -> TestHost {
    let (env, upstreams, clock) = proxy_wasm_host::HostEnv::for_tests();
    let mut h = TestHost::with_env(Runtime::shared(), env, upstreams, clock);
    let mut pc = PluginConfig::new("p", config);
    pc.priority = 800;
    h.add_plugin(wasm, pc).unwrap();
    h
}

fn bulk(b: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", b.len()).into_bytes();
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
    out
}

/// Answers every pending callout at once: GET with `stored` (or nil), embeddings with a fixed
/// vector, VSIM with `vsim`, writes with success.
fn answer_callouts(s: &mut Stream, stored: Option<&[u8]>, vsim: &[u8]) {
    loop {
        if let Some(c) = s.http_calls().into_iter().next() {
            let v: Vec<f32> = (0..384).map(|i| (i as f32).sin()).collect();
            let body = json!({"data": [{"embedding": v}]}).to_string();
            s.respond_http(&c, HttpCalloutResponse::new(200, &[], body));
        } else if let Some(c) = s.redis_calls().into_iter().next() {
            let q = &c.query;
            let reply = if q.windows(5).any(|w| w == b"\r\nGET") {
                stored.map_or(b"$-1\r\n".to_vec(), bulk)
            } else if q.windows(6).any(|w| w == b"\r\nVSIM") {
                vsim.to_vec()
            } else {
                b"+OK\r\n".to_vec()
            };
            s.respond_redis(&c, reply);
        } else {
            return;
        }
    }
}

fn one(h: &mut TestHost, stored: Option<&[u8]>, vsim: &[u8], body: &[u8], answer: &[u8]) {
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(body, true);
    answer_callouts(&mut s, stored, vsim);
    if s.upstream().end_stream {
        s.send_response_headers(RESP, false)
            .send_response_body(answer, true);
        answer_callouts(&mut s, stored, vsim);
    }
    s.finish();
    assert!(s.downstream().end_stream);
}

fn mean_us(mut f: impl FnMut()) -> f64 {
    for _ in 0..50 {
        f();
    }
    let n = 400;
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn streaming_memory() {
    let mut sse = String::new();
    sse += "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n";
    for i in 0..2000 {
        sse += &format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token{i} \"}}}}]}}\n\n"
        );
    }
    sse += "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    for bound in [4096usize, 1 << 20] {
        let mut c = Capture::sse(bound);
        let mut peak = 0;
        for chunk in sse.as_bytes().chunks(1024) {
            c.feed(chunk);
            peak = peak.max(c.held_bytes());
        }
        eprintln!(
            "streaming capture: {} KiB stream, bound {bound} B: peak held {peak} B, stored: {}",
            sse.len() / 1024,
            !c.failed()
        );
    }
}

fn benches(c: &mut Criterion) {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let wasm = std::fs::read(build_wasm_plugin(&ws, "semantic-cache").unwrap()).unwrap();
    let noop = noop_plugin(Abi::V0_2_100, false);
    let exact =
        json!({"cache": {"serviceName": "redis.static", "servicePort": 6379, "cacheTTL": 60}})
            .to_string();
    let semantic = json!({
        "embedding": {"type": "openai", "serviceName": "e.static", "servicePort": 8080},
        "vector": {"type": "redis-vectorset", "serviceName": "redis.static", "servicePort": 6379},
        "cache": {"serviceName": "redis.static", "servicePort": 6379}})
    .to_string();
    let body = body();
    let answer = answer();
    // The exact layer stores the answer as captured.
    let stored = answer.clone();
    let empty_vsim = b"*0\r\n".to_vec();
    let hit_vsim = {
        let attrs = br#"{"q":"capital of France","k":"higress-ai-cache:x"}"#;
        let mut v = b"*3\r\n".to_vec();
        v.extend(bulk(b"id"));
        v.extend(bulk(b"0.99"));
        v.extend(bulk(attrs));
        v
    };

    let mut noop_host = host(&noop, "");
    let mut exact_host = host(&wasm, &exact);
    let mut semantic_host = host(&wasm, &semantic);
    let base = mean_us(|| one(&mut noop_host, None, &empty_vsim, &body, &answer));
    let rows = [
        (
            "exact miss (GET, upstream, SETEX)",
            mean_us(|| one(&mut exact_host, None, &empty_vsim, &body, &answer)),
        ),
        (
            "exact hit (GET, JSON replay)",
            mean_us(|| one(&mut exact_host, Some(&stored), &empty_vsim, &body, &answer)),
        ),
        (
            "semantic miss (GET, embed, VSIM, upstream, SETEX+VADD)",
            mean_us(|| one(&mut semantic_host, None, &empty_vsim, &body, &answer)),
        ),
    ];
    eprintln!("no-op plugin, same request and answer: {base:.1} µs");
    for (name, us) in rows {
        eprintln!(
            "{name}: {us:.1} µs, {:.2}x no-op, plugin CPU ≈ {:.1} µs",
            us / base,
            us - base
        );
    }
    streaming_memory();

    let mut g = c.benchmark_group("semantic_cache");
    g.measurement_time(Duration::from_secs(3)).sample_size(20);
    g.bench_function("noop_plugin", |b| {
        b.iter(|| one(&mut noop_host, None, &empty_vsim, &body, &answer))
    });
    g.bench_function("exact_miss", |b| {
        b.iter(|| one(&mut exact_host, None, &empty_vsim, &body, &answer))
    });
    g.bench_function("exact_hit", |b| {
        b.iter(|| one(&mut exact_host, Some(&stored), &empty_vsim, &body, &answer))
    });
    g.bench_function("semantic_miss", |b| {
        b.iter(|| one(&mut semantic_host, None, &empty_vsim, &body, &answer))
    });
    g.bench_function("semantic_hit", |b| {
        b.iter(|| {
            let mut s = semantic_host.stream();
            s.send_request_headers(REQ, false)
                .send_request_body(&body, true);
            // GET nil, embed, VSIM hit, answer GET → replay.
            let mut first_get = true;
            loop {
                if let Some(c) = s.http_calls().into_iter().next() {
                    let v: Vec<f32> = (0..384).map(|i| (i as f32).sin()).collect();
                    s.respond_http(
                        &c,
                        HttpCalloutResponse::new(
                            200,
                            &[],
                            json!({"data": [{"embedding": v}]}).to_string(),
                        ),
                    );
                } else if let Some(c) = s.redis_calls().into_iter().next() {
                    let q = &c.query;
                    let reply = if q.windows(5).any(|w| w == b"\r\nGET") {
                        let r = if first_get {
                            b"$-1\r\n".to_vec()
                        } else {
                            bulk(&stored)
                        };
                        first_get = false;
                        r
                    } else if q.windows(6).any(|w| w == b"\r\nVSIM") {
                        hit_vsim.clone()
                    } else {
                        b"+OK\r\n".to_vec()
                    };
                    s.respond_redis(&c, reply);
                } else {
                    break;
                }
            }
            s.finish();
            assert!(s.downstream().end_stream);
        })
    });
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);

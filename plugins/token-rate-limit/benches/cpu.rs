//! The plugin's own CPU per request, as a ratio to a no-op plugin in the same run: a 2.4 KB
//! streaming chat request and a 64 KB SSE answer whose usage chunk the plugin requested and
//! removes, with the shared-data store and with Redis (replies canned, so the Redis round trip is
//! excluded). Also prints wasm instructions per request (wasmtime fuel).
//!
//! `cargo bench -p token-rate-limit --bench cpu`

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use proxy_wasm_host::build_support::build_wasm_plugin;
use proxy_wasm_host::tiny_wasm::{noop_plugin, Abi};
use proxy_wasm_host::{HostEnv, PluginConfig, Runtime, RuntimeConfig, TestHost};
use serde_json::json;

const REQ: &[(&str, &str)] = &[
    (":method", "POST"),
    (":path", "/v1/chat/completions"),
    (":authority", "api.example.com"),
    ("content-type", "application/json"),
    ("x-mse-consumer", "team-a"),
];
const RESP: &[(&str, &str)] = &[(":status", "200"), ("content-type", "text/event-stream")];

fn request() -> Vec<u8> {
    let text =
        "Explain how a sliding-window token limiter bounds usage across gateways. ".repeat(16);
    json!({"model": "gpt-4o", "stream": true, "max_tokens": 512, "messages": [
        {"role": "system", "content": text},
        {"role": "user", "content": text}
    ]})
    .to_string()
    .into_bytes()
}

fn answer() -> Vec<u8> {
    let mut out = String::new();
    while out.len() < 64 * 1024 {
        let c = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
                       "choices": [{"index": 0, "delta": {"content": "tokens flow through the gateway "}, "finish_reason": null}], "usage": null});
        out.push_str(&format!("data: {c}\n\n"));
    }
    let u = json!({"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 300, "completion_tokens": 500, "total_tokens": 800}});
    out.push_str(&format!("data: {u}\n\ndata: [DONE]\n\n"));
    out.into_bytes()
}

fn config(redis: bool) -> String {
    let mut c = json!({"rule_name": "bench", "rule_items": [{"limit_by_per_consumer": "",
        "limit_keys": [{"key": "*", "token_per_minute": 1_000_000_000_000u64, "token_per_day": 1_000_000_000_000u64}]}]});
    if redis {
        c["redis"] = json!({"service_name": "redis.dns"});
    }
    c.to_string()
}

const ADMITTED: &[u8] = b"*8\r\n:1\r\n:1700000000000\r\n:0\r\n:0\r\n:0\r\n:0\r\n:0\r\n:0\r\n";

fn one_request(h: &mut TestHost, body: &[u8], answer: &[u8]) {
    let mut s = h.stream();
    s.send_request_headers(REQ, false);
    s.send_request_body(body, true);
    for call in s.redis_calls() {
        s.respond_redis(&call, ADMITTED.to_vec());
    }
    s.send_response_headers(RESP, false);
    s.send_response_body_chunked(answer, 4096);
    for call in s.redis_calls() {
        s.respond_redis(&call, b":1\r\n".to_vec());
    }
    s.finish();
    assert!(s.downstream().end_stream);
}

fn host(rt: Arc<Runtime>, wasm: &[u8], config: &str) -> TestHost {
    let (env, up, clock) = HostEnv::for_tests();
    let mut h = TestHost::with_env(rt, env, up, clock);
    h.add_plugin(wasm, PluginConfig::new("p", config)).unwrap();
    h
}

fn fuel_per_request(wasm: &[u8], config: &str, body: &[u8], answer: &[u8]) -> u64 {
    let rt = Runtime::new(RuntimeConfig {
        consume_fuel: true,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let mut h = host(rt, wasm, config);
    one_request(&mut h, body, answer);
    let vm = h.vm("p").unwrap();
    let before = vm.borrow().fuel_consumed;
    one_request(&mut h, body, answer);
    let after = vm.borrow().fuel_consumed;
    after - before
}

fn benches(c: &mut Criterion) {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let wasm = std::fs::read(build_wasm_plugin(&ws, "token-rate-limit").expect("build")).unwrap();
    let noop = noop_plugin(Abi::V0_2_100, false);
    let (body, answer) = (request(), answer());
    eprintln!(
        "wasm instructions per request ({} B request, {} B SSE answer): no-op plugin {}, \
         token-rate-limit shared data {}, token-rate-limit redis {}",
        body.len(),
        answer.len(),
        fuel_per_request(&noop, "", &body, &answer),
        fuel_per_request(&wasm, &config(false), &body, &answer),
        fuel_per_request(&wasm, &config(true), &body, &answer),
    );
    let rt = Runtime::shared();
    let mut g = c.benchmark_group("request");
    g.measurement_time(Duration::from_secs(4)).sample_size(30);
    let mut h = host(rt.clone(), &noop, "");
    g.bench_function("noop_plugin", |b| {
        b.iter(|| one_request(&mut h, &body, &answer))
    });
    let mut h = host(rt.clone(), &wasm, &config(false));
    g.bench_function("token_rate_limit_shared_data", |b| {
        b.iter(|| one_request(&mut h, &body, &answer))
    });
    let mut h = host(rt.clone(), &wasm, &config(true));
    g.bench_function("token_rate_limit_redis_canned", |b| {
        b.iter(|| one_request(&mut h, &body, &answer))
    });
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);

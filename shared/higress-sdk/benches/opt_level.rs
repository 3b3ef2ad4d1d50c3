//! Release profile measurement: builds `examples/stream-usage.rs` with `opt-level = 3` and `"s"`
//! (everything else from the workspace `[profile.release]`), then reports for each build the
//! `.wasm` size, the time wasmtime takes to compile it (what a gateway pays once per plugin
//! load), the time of one request through the host (2 KiB chat request body, 64 KiB SSE answer in
//! 1-4 KiB chunks), and the wasm instructions that request executes (wasmtime fuel).
//!
//! ```text
//! CARGO_TARGET_DIR=/work/targets/sdkhost cargo bench -p higress-sdk --bench opt_level
//! ```

use std::path::Path;
use std::time::Instant;

use proxy_wasm_host::build_support::{build_wasm_example_with, ExampleBuild};
use proxy_wasm_host::{HostEnv, PluginConfig, Runtime, RuntimeConfig, TestHost};

const OPT_LEVELS: [&str; 2] = ["3", "s"];

const REQUEST_HEADERS: &[(&str, &str)] = &[
    (":method", "POST"),
    (":path", "/v1/chat/completions"),
    (":authority", "api.example.com"),
    (":scheme", "https"),
    ("content-type", "application/json"),
];
const RESPONSE_HEADERS: &[(&str, &str)] =
    &[(":status", "200"), ("content-type", "text/event-stream")];

/// A ~2 KiB streaming chat request.
fn chat_request() -> Vec<u8> {
    let turn =
        "Summarise the attached meeting notes in three bullet points, keeping names and dates. ";
    let messages: Vec<serde_json::Value> = (0..8)
        .map(|i| {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            serde_json::json!({"role": role, "content": turn.repeat(3)})
        })
        .collect();
    let body = serde_json::json!({
        "model": "qwen-max",
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": 0.7,
        "messages": messages,
    });
    serde_json::to_vec(&body).unwrap()
}

/// A ~64 KiB OpenAI SSE answer ending with a usage chunk and `[DONE]`.
fn sse_answer() -> Vec<u8> {
    let mut out = Vec::new();
    let mut n = 0;
    while out.len() < 64 * 1024 {
        let chunk = serde_json::json!({
            "id": "chatcmpl-9f2c", "object": "chat.completion.chunk", "created": 1767225600,
            "model": "qwen-max",
            "choices": [{"index": 0, "delta": {"content": format!("token{n} ")}, "finish_reason": null}]
        });
        out.extend_from_slice(format!("data: {chunk}\n\n").as_bytes());
        n += 1;
    }
    let usage = serde_json::json!({
        "id": "chatcmpl-9f2c", "object": "chat.completion.chunk", "created": 1767225600,
        "model": "qwen-max", "choices": [],
        "usage": {"prompt_tokens": 512, "completion_tokens": n, "total_tokens": 512 + n}
    });
    out.extend_from_slice(format!("data: {usage}\n\ndata: [DONE]\n\n").as_bytes());
    out
}

/// 1, 2, 3, 4 KiB, repeating.
fn chunks(body: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut at, mut kib) = (0, 1);
    while at < body.len() {
        let end = (at + kib * 1024).min(body.len());
        out.push(&body[at..end]);
        at = end;
        kib = kib % 4 + 1;
    }
    out
}

struct Workload {
    request: Vec<u8>,
    answer: Vec<u8>,
}

fn one_request(h: &mut TestHost, w: &Workload) {
    let mut s = h.stream();
    s.send_request_headers(REQUEST_HEADERS, false);
    s.send_request_body_chunked(&w.request, 4096);
    s.send_response_headers(RESPONSE_HEADERS, false);
    let parts = chunks(&w.answer);
    for (i, c) in parts.iter().enumerate() {
        s.send_response_body(c, i + 1 == parts.len());
    }
    s.finish();
}

fn host(rt: std::sync::Arc<Runtime>, wasm: &[u8]) -> TestHost {
    let (env, up, clock) = HostEnv::for_tests();
    let mut h = TestHost::with_env(rt, env, up, clock);
    h.add_plugin(wasm, PluginConfig::new("stream-usage", "{}"))
        .expect("load stream-usage");
    h
}

/// The plugin did its job: every chunk left at once, and the usage reached ai_log.
fn check(h: &mut TestHost, w: &Workload) {
    let mut s = h.stream();
    s.send_request_headers(REQUEST_HEADERS, false);
    s.send_request_body_chunked(&w.request, 4096);
    s.send_response_headers(RESPONSE_HEADERS, false);
    let parts = chunks(&w.answer);
    for (i, c) in parts.iter().enumerate() {
        s.send_response_body(c, i + 1 == parts.len());
        assert_eq!(s.downstream().frames.len(), i + 1, "chunk {i} was held");
    }
    let log = higress_sdk::ai_log::decode(&s.filter_state("ai_log").expect("ai_log"));
    assert_eq!(
        log.get("model"),
        Some(&serde_json::json!("qwen-max")),
        "{log:?}"
    );
    assert_eq!(
        log.get("input_token"),
        Some(&serde_json::json!(512)),
        "{log:?}"
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

struct Row {
    opt: &'static str,
    size: u64,
    compile_ms: f64,
    request_us: f64,
    fuel: u64,
}

fn measure(opt: &'static str, w: &Workload) -> Row {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = build_wasm_example_with(
        &workspace,
        &ExampleBuild {
            package: "higress-sdk".into(),
            example: "stream-usage".into(),
            features: Vec::new(),
            env: vec![("CARGO_PROFILE_RELEASE_OPT_LEVEL".into(), opt.into())],
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let wasm = std::fs::read(&path).unwrap();

    // Cold compile: a fresh engine without the disk cache, median of 5.
    let no_cache = || RuntimeConfig {
        cache_dir: None,
        ..RuntimeConfig::default()
    };
    let compile_ms = median(
        (0..5)
            .map(|_| {
                let rt = Runtime::new(no_cache()).unwrap();
                let t = Instant::now();
                rt.compile(&wasm).expect("compile");
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );

    let rt = Runtime::new(no_cache()).unwrap();
    let mut h = host(rt, &wasm);
    check(&mut h, w);
    for _ in 0..50 {
        one_request(&mut h, w);
    }
    // Median over 25 batches of 40 requests.
    let request_us = median(
        (0..25)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..40 {
                    one_request(&mut h, w);
                }
                t.elapsed().as_secs_f64() * 1e6 / 40.0
            })
            .collect(),
    );

    let fuel_rt = Runtime::new(RuntimeConfig {
        consume_fuel: true,
        ..no_cache()
    })
    .unwrap();
    let mut h = host(fuel_rt, &wasm);
    one_request(&mut h, w); // first request pays one-time allocations
    let vm = h.vm("stream-usage").unwrap();
    let before = vm.borrow().fuel_consumed;
    one_request(&mut h, w);
    let fuel = vm.borrow().fuel_consumed - before;

    Row {
        opt,
        size: wasm.len() as u64,
        compile_ms,
        request_us,
        fuel,
    }
}

/// Same as `one_request` but through no plugin: the host's own share of the request time.
fn host_only_us(w: &Workload) -> f64 {
    let (env, up, clock) = HostEnv::for_tests();
    let mut h = TestHost::with_env(Runtime::shared(), env, up, clock);
    let t = Instant::now();
    for _ in 0..500 {
        one_request(&mut h, w);
    }
    t.elapsed().as_secs_f64() * 1e6 / 500.0
}

fn main() {
    // `cargo bench` passes `--bench`; any other invocation (e.g. `cargo test --benches`) only
    // checks that the bench builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let w = Workload {
        request: chat_request(),
        answer: sse_answer(),
    };
    eprintln!(
        "workload: request body {} B, SSE answer {} B in {} chunks of 1-4 KiB",
        w.request.len(),
        w.answer.len(),
        chunks(&w.answer).len()
    );
    let rows: Vec<Row> = OPT_LEVELS.iter().map(|o| measure(o, &w)).collect();
    let host_us = host_only_us(&w);
    println!("| opt-level | .wasm bytes | wasmtime compile (ms) | request through host (µs) | wasm instructions per request |");
    println!("|---|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.1} | {:.1} | {} |",
            r.opt, r.size, r.compile_ms, r.request_us, r.fuel
        );
    }
    println!("host alone (no plugin), same request: {host_us:.1} µs");
}

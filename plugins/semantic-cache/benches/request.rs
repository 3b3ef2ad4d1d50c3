//! Plugin CPU per request in the host, every callout answered at once (no network), against an
//! empty (no-op) plugin doing the same request in the same run:
//!
//! * exact miss (GET → upstream → capture → SETEX), exact hit (GET → JSON replay);
//! * semantic miss (GET → embed → VSIM → upstream → SETEX + VADD), semantic hit (… → answer GET →
//!   replay);
//! * streamed capture per SSE chunk: the slope between a 16- and a 256-chunk streamed answer on the
//!   exact-miss path, minus the no-op plugin's slope;
//! * memory one in-flight streaming response holds (heap measured by a counting allocator) against
//!   `maxResponseBytes`.
//!
//! Time is the fastest of interleaved rounds (the machine is shared, so scenarios alternate rather
//! than run back to back); wasm instructions (wasmtime fuel) are exact and load-independent.
//!
//! `cargo bench -p semantic-cache --bench request --profile native-release`

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use proxy_wasm_host::build_support::build_wasm_plugin;
use proxy_wasm_host::tiny_wasm::{noop_plugin, Abi};
use proxy_wasm_host::{
    HostEnv, HttpCalloutResponse, PluginConfig, Runtime, RuntimeConfig, Stream, TestHost,
};
use semantic_cache::capture::Capture;
use semantic_cache::key::{self, KeySettings};
use serde_json::json;

/// Live and peak heap bytes of this process (for the streaming-memory figures).
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let live = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            LIVE.fetch_sub(l.size(), Ordering::Relaxed);
            let live = LIVE.fetch_add(new, Ordering::Relaxed) + new;
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const REQ: &[(&str, &str)] = &[
    (":method", "POST"),
    (":path", "/v1/chat/completions"),
    (":authority", "api.example.com"),
    ("content-type", "application/json"),
    ("x-mse-consumer", "alice"),
];
const RESP: &[(&str, &str)] = &[(":status", "200"), ("content-type", "application/json")];
const SSE_RESP: &[(&str, &str)] = &[(":status", "200"), ("content-type", "text/event-stream")];

fn body(stream: bool) -> Vec<u8> {
    json!({"model": "gpt-4o", "stream": stream, "messages": [
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

/// An OpenAI-style streamed answer, one SSE event per element: role chunk, `n` content chunks,
/// finish chunk with usage, `[DONE]`.
fn sse_events(n: usize) -> Vec<Vec<u8>> {
    sse_events_with(n, "")
}

/// [`sse_events`] with `pad` appended to every content piece.
fn sse_events_with(n: usize, pad: &str) -> Vec<Vec<u8>> {
    let head = r#""id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o""#;
    let mut out = vec![format!(
        "data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\"}},\"finish_reason\":null}}]}}\n\n"
    )];
    for i in 0..n {
        out.push(format!(
            "data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token{i}{pad} \"}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    out.push(format!(
        "data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}],\"usage\":{{\"prompt_tokens\":30,\"completion_tokens\":{n},\"total_tokens\":{}}}}}\n\ndata: [DONE]\n\n",
        n + 30
    ));
    out.into_iter().map(String::into_bytes).collect()
}

fn host(rt: Arc<Runtime>, wasm: &[u8], config: &str) -> TestHost {
    let (env, upstreams, clock) = HostEnv::for_tests();
    let mut h = TestHost::with_env(rt, env, upstreams, clock);
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

/// Canned backend replies: exact GETs answer `stored` (first GET) / `answer_get` (later GETs),
/// embeddings a fixed 384-dim vector (base64 when asked for, else a float array), VSIM `vsim`,
/// writes `+OK`.
struct Replies {
    stored: Option<Vec<u8>>,
    answer_get: Option<Vec<u8>>,
    vsim: Vec<u8>,
    embedding: Embedding,
}

/// An OpenAI-compatible server's embeddings answers, in both `encoding_format`s.
#[derive(Clone)]
struct Embedding {
    base64: String,
    floats: String,
}

impl Embedding {
    fn new() -> Embedding {
        use base64::Engine;
        let v: Vec<f32> = (0..384).map(|i| (i as f32).sin()).collect();
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        let body = |e: serde_json::Value| {
            json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": e}]})
                .to_string()
        };
        Embedding {
            base64: body(json!(b64)),
            floats: body(json!(v)),
        }
    }

    fn answer(&self, request: &[u8]) -> String {
        let asked = |needle: &[u8]| request.windows(needle.len()).any(|w| w == needle);
        if asked(br#""encoding_format":"base64""#) {
            self.base64.clone()
        } else {
            self.floats.clone()
        }
    }
}

impl Replies {
    fn answer(&self, s: &mut Stream) {
        let mut gets = 0;
        loop {
            if let Some(c) = s.http_calls().into_iter().next() {
                let body = self.embedding.answer(&c.body);
                s.respond_http(&c, HttpCalloutResponse::new(200, &[], body));
            } else if let Some(c) = s.redis_calls().into_iter().next() {
                let q = &c.query;
                let reply = if q.windows(5).any(|w| w == b"\r\nGET") {
                    gets += 1;
                    let v = if gets == 1 {
                        &self.stored
                    } else {
                        &self.answer_get
                    };
                    v.as_deref().map_or(b"$-1\r\n".to_vec(), bulk)
                } else if q.windows(6).any(|w| w == b"\r\nVSIM") {
                    self.vsim.clone()
                } else {
                    b"+OK\r\n".to_vec()
                };
                s.respond_redis(&c, reply);
            } else {
                return;
            }
        }
    }
}

/// One request through the host. `answer` is sent as one JSON body, or as SSE events.
enum Answer<'a> {
    Json(&'a [u8]),
    Sse(&'a [Vec<u8>]),
}

fn one(h: &mut TestHost, replies: &Replies, body: &[u8], answer: &Answer) {
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(body, true);
    replies.answer(&mut s);
    if s.upstream().end_stream {
        match answer {
            Answer::Json(a) => {
                s.send_response_headers(RESP, false)
                    .send_response_body(a, true);
            }
            Answer::Sse(events) => {
                s.send_response_headers(SSE_RESP, false);
                for (i, e) in events.iter().enumerate() {
                    s.send_response_body(e, i + 1 == events.len());
                }
            }
        }
        replies.answer(&mut s);
    }
    s.finish();
    assert!(s.downstream().end_stream);
}

struct Scenario<'a> {
    name: &'static str,
    wasm: &'a [u8],
    config: &'a str,
    replies: &'a Replies,
    body: &'a [u8],
    answer: Answer<'a>,
}

/// Wasm instructions (wasmtime fuel) of one request, after a warm-up request.
fn fuel(s: &Scenario) -> u64 {
    let rt = Runtime::new(RuntimeConfig {
        consume_fuel: true,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let mut h = host(rt, s.wasm, s.config);
    one(&mut h, s.replies, s.body, &s.answer);
    let vm = h.vm("p").unwrap();
    let before = vm.borrow().fuel_consumed;
    one(&mut h, s.replies, s.body, &s.answer);
    let after = vm.borrow().fuel_consumed;
    after - before
}

/// The fastest of `rounds` rounds of `per_round` requests (mean µs per request), scenarios
/// interleaved per round. The machine is shared: the least-disturbed round is the best estimate
/// of the CPU a request costs, and interleaving exposes every scenario to the same load.
fn times_us(scenarios: &[Scenario], rounds: usize, per_round: usize) -> Vec<f64> {
    let rt = Runtime::shared();
    let mut hosts: Vec<TestHost> = scenarios
        .iter()
        .map(|s| host(rt.clone(), s.wasm, s.config))
        .collect();
    let mut samples = vec![Vec::with_capacity(rounds); scenarios.len()];
    for round in 0..=rounds {
        for (i, s) in scenarios.iter().enumerate() {
            let t = Instant::now();
            for _ in 0..per_round {
                one(&mut hosts[i], s.replies, s.body, &s.answer);
            }
            // Round 0 warms up (module instantiation, allocator growth).
            if round > 0 {
                samples[i].push(t.elapsed().as_secs_f64() * 1e6 / per_round as f64);
            }
        }
    }
    samples
        .into_iter()
        .map(|v| v.into_iter().fold(f64::INFINITY, f64::min))
        .collect()
}

/// Peak heap of one streaming capture fed `chunk`-byte pieces, per bound.
fn streaming_memory() {
    // 4,000 content chunks of about 64 characters: about 260 KB of answer text.
    let events = sse_events_with(4000, &"x".repeat(56));
    let sse: Vec<u8> = events.concat();
    println!(
        "\nMemory of one in-flight streaming response ({} KiB SSE answer, 4,000 content chunks of \
         ~64 characters, fed in 1 KiB pieces; peak heap of the capture, transient parsing included, \
         measured by a counting allocator):\n",
        sse.len() / 1024
    );
    println!("| `maxResponseBytes` | peak heap held | stored |");
    println!("|---|---|---|");
    for bound in [4096usize, 64 << 10, 1 << 20] {
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let mut c = Capture::sse(bound);
        for chunk in sse.chunks(1024) {
            c.feed(chunk);
        }
        let peak = PEAK.load(Ordering::Relaxed) - base;
        let stored = !c.failed();
        drop(c);
        println!("| {bound} B | {peak} B | {stored} |");
    }
    let base = LIVE.load(Ordering::Relaxed);
    let settings = KeySettings {
        countback: Some(1),
        shared_temperature_max: 1.0,
    };
    let keys = key::derive(&body(true), "consumer:alice", settings).unwrap();
    let keys_heap = LIVE.load(Ordering::Relaxed) - base;
    drop(keys);
    println!(
        "\nPer-request state besides the capture: the HTTP context ({} B) and its keys ({keys_heap} B \
         of heap for this request: fingerprint, partition, question, model).",
        std::mem::size_of::<semantic_cache::plugin::CacheHttp>()
    );
}

fn main() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // `BENCH_WASM=<file>`: another build of the plugin (e.g. unstripped, to name functions in
    // `perf report`, or a previous version to compare).
    let wasm = match std::env::var_os("BENCH_WASM") {
        Some(path) => std::fs::read(path).unwrap(),
        None => std::fs::read(build_wasm_plugin(&ws, "semantic-cache").unwrap()).unwrap(),
    };
    let noop = noop_plugin(Abi::V0_2_100, false);
    let exact =
        json!({"cache": {"serviceName": "redis.static", "servicePort": 6379, "cacheTTL": 60}})
            .to_string();
    let semantic = json!({
        "embedding": {"type": "openai", "serviceName": "e.static", "servicePort": 8080},
        "vector": {"type": "redis-vectorset", "serviceName": "redis.static", "servicePort": 6379},
        "cache": {"serviceName": "redis.static", "servicePort": 6379}})
    .to_string();
    // Builds given by `BENCH_WASM` may predate `encodingFormat` (and then always ask for floats).
    let semantic_floats = match std::env::var_os("BENCH_WASM") {
        Some(_) => semantic.clone(),
        None => semantic.replace(
            r#""type":"openai""#,
            r#""type":"openai","encodingFormat":"float""#,
        ),
    };
    let (json_body, stream_body, answer) = (body(false), body(true), answer());
    let embedding = Embedding::new();
    let hit_vsim = {
        let attrs = br#"{"q":"capital of France","k":"higress-ai-cache:x"}"#;
        let mut v = b"*3\r\n".to_vec();
        v.extend(bulk(b"id"));
        v.extend(bulk(b"0.99"));
        v.extend(bulk(attrs));
        v
    };
    let replies = |stored: Option<&[u8]>, answer_get: Option<&[u8]>, vsim: &[u8]| Replies {
        stored: stored.map(<[u8]>::to_vec),
        answer_get: answer_get.map(<[u8]>::to_vec),
        vsim: vsim.to_vec(),
        embedding: embedding.clone(),
    };
    // The exact layer stores the answer as captured (its JSON).
    let miss = replies(None, None, b"*0\r\n");
    let exact_hit = replies(Some(&answer), None, b"*0\r\n");
    let semantic_hit = replies(None, Some(&answer), &hit_vsim);
    let (short, long) = (sse_events(16), sse_events(256));
    let sc = |name, wasm, config, replies, body, answer| Scenario {
        name,
        wasm,
        config,
        replies,
        body,
        answer,
    };
    let scenarios = [
        sc(
            "no-op plugin",
            &noop[..],
            "",
            &miss,
            &json_body[..],
            Answer::Json(&answer),
        ),
        sc(
            "exact miss (GET, upstream, capture, SETEX)",
            &wasm,
            &exact,
            &miss,
            &json_body,
            Answer::Json(&answer),
        ),
        sc(
            "exact hit (GET, JSON replay)",
            &wasm,
            &exact,
            &exact_hit,
            &json_body,
            Answer::Json(&answer),
        ),
        sc(
            "semantic miss (GET, embed, VSIM, upstream, SETEX + VADD)",
            &wasm,
            &semantic,
            &miss,
            &json_body,
            Answer::Json(&answer),
        ),
        sc(
            "semantic hit (GET, embed, VSIM, answer GET, JSON replay)",
            &wasm,
            &semantic,
            &semantic_hit,
            &json_body,
            Answer::Json(&answer),
        ),
        sc(
            "no-op, 16-chunk stream",
            &noop,
            "",
            &miss,
            &stream_body,
            Answer::Sse(&short),
        ),
        sc(
            "no-op, 256-chunk stream",
            &noop,
            "",
            &miss,
            &stream_body,
            Answer::Sse(&long),
        ),
        sc(
            "exact miss, 16-chunk stream",
            &wasm,
            &exact,
            &miss,
            &stream_body,
            Answer::Sse(&short),
        ),
        sc(
            "exact miss, 256-chunk stream",
            &wasm,
            &exact,
            &miss,
            &stream_body,
            Answer::Sse(&long),
        ),
        sc(
            "exact hit, streaming request (GET, SSE replay)",
            &wasm,
            &exact,
            &exact_hit,
            &stream_body,
            Answer::Json(&answer),
        ),
        sc(
            "semantic miss, embedding as a JSON float array (`encodingFormat: float`)",
            &wasm,
            &semantic_floats,
            &miss,
            &json_body,
            Answer::Json(&answer),
        ),
    ];
    // `BENCH_PROFILE=<row>`: only loop that scenario for 10 s (for `perf record`).
    if let Some(i) = std::env::var("BENCH_PROFILE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let s = &scenarios[i];
        let mut h = host(Runtime::shared(), s.wasm, s.config);
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed().as_secs() < 10 {
            one(&mut h, s.replies, s.body, &s.answer);
            n += 1;
        }
        println!(
            "{}: {:.1} µs",
            s.name,
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
        return;
    }
    let fuels: Vec<u64> = scenarios.iter().map(fuel).collect();
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(15);
    let us = times_us(&scenarios, rounds, 100);

    println!(
        "\nOne request through the host, callouts answered at once (no network); fastest of {rounds} \
         interleaved rounds of 100 requests. Plugin CPU = request time − no-op request time.\n"
    );
    println!("| path | request µs | × no-op | plugin CPU µs | wasm instructions |");
    println!("|---|---|---|---|---|");
    for i in [0, 1, 2, 9, 3, 10, 4] {
        println!(
            "| {} | {:.1} | {:.2}× | {:.1} | {} |",
            scenarios[i].name,
            us[i],
            us[i] / us[0],
            us[i] - us[0],
            fuels[i]
        );
    }
    let chunks = (long.len() - short.len()) as f64;
    let noop_slope = (us[6] - us[5]) / chunks;
    let plugin_slope = (us[8] - us[7]) / chunks;
    let fuel_slope = (fuels[8] - fuels[7]) as f64 / chunks;
    println!(
        "| streamed capture, per SSE chunk ({:.0}-chunk slope) | {:.2} | {:.2}× | {:.2} | {:.0} |",
        chunks,
        plugin_slope,
        plugin_slope / noop_slope,
        plugin_slope - noop_slope,
        fuel_slope
    );
    println!(
        "\n(no-op per chunk: {noop_slope:.2} µs; streamed exact miss, 16 chunks: {:.1} µs, 256 \
         chunks: {:.1} µs)",
        us[7], us[8]
    );
    streaming_memory();
}

//! Cost of one request through the host: a truly empty plugin (hand-assembled, every callback
//! returns at once), the scripted plugin with an empty script, the scripted plugin buffering both
//! bodies, and VM start. Also prints wasm instructions per request (wasmtime fuel).
//!
//! `cargo bench -p proxy-wasm-host --bench request`

use criterion::{criterion_group, criterion_main, Criterion};
use proxy_wasm_host::build_support::build_wasm_plugin;
use proxy_wasm_host::tiny_wasm::{noop_plugin, Abi};
use proxy_wasm_host::vm::VmInstance;
use proxy_wasm_host::{HostEnv, Plugin, PluginConfig, Runtime, RuntimeConfig, TestHost};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const EMPTY: &str = "#quiet";
const BUFFERING: &str = "#quiet\nrequest_body.more: return 1\nresponse_body.more: return 1";
const REQ: &[(&str, &str)] = &[
    (":method", "POST"),
    (":path", "/v1/chat/completions"),
    (":authority", "api.example.com"),
];
const RESP: &[(&str, &str)] = &[(":status", "200"), ("content-type", "application/json")];

fn wasm() -> Vec<u8> {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::read(build_wasm_plugin(ws, "scripted-test-plugin").expect("build plugin")).unwrap()
}

fn one_request(h: &mut TestHost, body: &[u8]) {
    let mut s = h.stream();
    s.send_request_headers(REQ, false);
    s.send_request_body_chunked(body, 4096);
    s.send_response_headers(RESP, false);
    s.send_response_body_chunked(body, 4096);
    s.finish();
    assert!(s.downstream().end_stream);
}

fn host(rt: Arc<Runtime>, wasm: &[u8], script: &str) -> TestHost {
    let (env, up, clock) = HostEnv::for_tests();
    let mut h = TestHost::with_env(rt, env, up, clock);
    h.add_plugin(wasm, PluginConfig::new("p", script)).unwrap();
    h
}

fn fuel_per_request(wasm: &[u8], script: &str, body: &[u8]) -> u64 {
    let rt = Runtime::new(RuntimeConfig {
        consume_fuel: true,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let mut h = host(rt, wasm, script);
    let vm = h.vm("p").unwrap();
    let before = vm.borrow().fuel_consumed;
    one_request(&mut h, body);
    let after = vm.borrow().fuel_consumed;
    after - before
}

fn benches(c: &mut Criterion) {
    let wasm = wasm();
    let empty_wasm = noop_plugin(Abi::V0_2_100, false);
    let body = vec![b'x'; 16 * 1024];
    eprintln!(
        "wasm instructions (fuel) per request with a 16 KiB body each way: empty plugin {}, \
         scripted plugin with an empty script {}, buffering plugin {}",
        fuel_per_request(&empty_wasm, "", &body),
        fuel_per_request(&wasm, EMPTY, &body),
        fuel_per_request(&wasm, BUFFERING, &body)
    );
    let rt = Runtime::shared();
    let mut g = c.benchmark_group("request");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    let mut empty = host(rt.clone(), &empty_wasm, "");
    g.bench_function("empty_plugin_16k_body", |b| {
        b.iter(|| one_request(&mut empty, &body))
    });
    let mut scripted_empty = host(rt.clone(), &wasm, EMPTY);
    g.bench_function("scripted_empty_script_16k_body", |b| {
        b.iter(|| one_request(&mut scripted_empty, &body))
    });
    let mut buffering = host(rt.clone(), &wasm, BUFFERING);
    g.bench_function("buffering_plugin_16k_body", |b| {
        b.iter(|| one_request(&mut buffering, &body))
    });
    let env = HostEnv::for_tests().0;
    let plugin = Plugin::new(rt.clone(), &empty_wasm, PluginConfig::new("p", "")).unwrap();
    g.bench_function("vm_start_empty_plugin", |b| {
        b.iter(|| VmInstance::start(plugin.clone(), env.clone()).unwrap())
    });
    let plugin = Plugin::new(rt.clone(), &wasm, PluginConfig::new("p", EMPTY)).unwrap();
    g.bench_function("vm_start_scripted_plugin", |b| {
        b.iter(|| VmInstance::start(plugin.clone(), env.clone()).unwrap())
    });
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);

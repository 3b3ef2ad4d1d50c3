//! Throughput of the scanner natively and inside the wasm VM (through our host), and the time a
//! streamed chunk spends in the plugin (added time to first token).
//!
//! `cargo bench -p pii-redaction --bench throughput`; with `PII_BENCH_BASELINE_WASM=old.wasm`
//! an earlier build is measured in the same run too, interleaved with the current one. Plain timing loops (no criterion) so the
//! wasm figures come from the same code path as production: the built .wasm in the host.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    bench::run();
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod bench {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use pii_redaction::config::Config;
    use proxy_wasm_host::build_support::build_wasm_plugin;
    use proxy_wasm_host::plugin::Phase;
    use proxy_wasm_host::{HostEnv, PluginConfig, Runtime, RuntimeConfig, TestHost};
    use serde_json::json;

    /// Realistic prompt text: English and Chinese prose, code, a log line, with a planted
    /// value every few paragraphs (most prompt bytes hold no personal data).
    fn prompt_text(target: usize) -> String {
        let paras = [
            "Please summarise the following incident report and suggest next steps for the on-call engineer. The service returned errors for about twelve minutes after the 14:05 deploy of version 2.31.4; latency rose to 870 ms at p99.",
            "用户反馈在提交订单时页面卡顿，订单号 20240520123456789，请分析可能的原因并给出优化建议。我们使用的是 Kubernetes 1.29 集群，节点规格 8C16G。",
            "fn main() {\n    let items: Vec<u32> = (0..1000).collect();\n    let total: u64 = items.iter().map(|x| *x as u64).sum();\n    println!(\"total = {total}\");\n}\n",
            "2024-05-20T14:05:31.123Z INFO request_id=7f3a2c1b method=POST path=/api/v1/orders status=500 duration_ms=873 upstream=10.4.2.17:8080",
            "Translate to English: 您好，我是客户服务中心的小李，关于您上周咨询的退款问题，我们已经处理完毕，款项将在三到五个工作日内退回原支付账户。",
            "Write a polite email to the customer explaining the delay. Mention the tracking number ORD-98765432 and that the parcel left the warehouse on Monday.",
        ];
        let pii = [
            "Contact me at 13812345678 or alice@example.com.",
            "我的身份证号是11010519491231002X，银行卡 6222 0212 3456 7890 128。",
            "The API key sk-proj-abcDEF1234567890abcdefGHIJklmn leaked in the logs.",
        ];
        let mut s = String::with_capacity(target + 1024);
        let mut i = 0;
        while s.len() < target {
            s.push_str(paras[i % paras.len()]);
            s.push('\n');
            if i % 8 == 7 {
                s.push_str(pii[(i / 8) % pii.len()]);
                s.push('\n');
            }
            i += 1;
        }
        s
    }

    fn mbps(bytes: usize, d: Duration) -> f64 {
        bytes as f64 / d.as_secs_f64() / 1e6
    }

    fn time<F: FnMut()>(min: Duration, mut f: F) -> (u32, Duration) {
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < min || n < 3 {
            f();
            n += 1;
        }
        (n, start.elapsed() / n)
    }

    fn native(text: &str) {
        let configs = [
            ("built-ins (default)", json!({})),
            (
                "built-ins + 2 custom regexes + 200 deny words",
                json!({
                    "custom_patterns": [
                        {"name": "employee", "regex": "EMP-\\d{6}"},
                        {"name": "project", "regex": "Project [A-Z]{4}"}
                    ],
                    "deny_words": (0..200).map(|i| format!("secretword{i}")).collect::<Vec<_>>()
                }),
            ),
        ];
        for (name, c) in configs {
            let cfg: Config = serde_json::from_value(c).unwrap();
            let engine = &cfg.compiled().unwrap().engine;
            let (_, per) = time(Duration::from_secs(2), || {
                std::hint::black_box(engine.find(std::hint::black_box(text)));
            });
            println!(
                "native scan, {name}: {:.0} MB/s ({} findings per {} KiB)",
                mbps(text.len(), per),
                engine.find(text).len(),
                text.len() / 1024
            );
        }
    }

    fn wasm() -> Vec<u8> {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        std::fs::read(build_wasm_plugin(&ws, "pii-redaction").unwrap()).unwrap()
    }

    fn host(wasm: &[u8], config: serde_json::Value) -> TestHost {
        let mut h = TestHost::new();
        let mut pc = PluginConfig::new("pii-redaction", config.to_string());
        pc.phase = Phase::Authn;
        pc.priority = 991;
        h.add_plugin(wasm, pc).unwrap();
        h
    }

    const REQ: &[(&str, &str)] = &[
        (":method", "POST"),
        (":path", "/v1/chat/completions"),
        (":authority", "llm"),
        ("content-type", "application/json"),
    ];

    /// One in-VM measurement: a plugin build, a config and a request body.
    struct Scenario {
        name: String,
        wasm: Vec<u8>,
        config: serde_json::Value,
        body: Vec<u8>,
    }

    fn send(h: &mut TestHost, body: &[u8]) {
        let mut s = h.stream();
        s.send_request_headers(REQ, false)
            .send_request_body(body, true);
    }

    /// Wasm instructions per body byte (wasmtime fuel), after a warm-up request: exact and
    /// independent of machine load, though it weighs a register-heavy loop (each local read
    /// counts) more than the CPU does.
    fn fuel_per_byte(s: &Scenario) -> f64 {
        let rt = Runtime::new(RuntimeConfig {
            consume_fuel: true,
            ..RuntimeConfig::default()
        })
        .unwrap();
        let (env, upstreams, clock) = HostEnv::for_tests();
        let mut h = TestHost::with_env(rt, env, upstreams, clock);
        let mut pc = PluginConfig::new("pii-redaction", s.config.to_string());
        pc.phase = Phase::Authn;
        pc.priority = 991;
        h.add_plugin(&s.wasm, pc).unwrap();
        send(&mut h, &s.body);
        let vm = h.vm("pii-redaction").unwrap();
        let before = vm.borrow().fuel_consumed;
        send(&mut h, &s.body);
        let after = vm.borrow().fuel_consumed;
        (after - before) as f64 / s.body.len() as f64
    }

    /// Median request time of each scenario over `rounds` rounds, the scenarios interleaved in
    /// every round so that a busy machine slows them alike.
    fn interleaved(scenarios: &[Scenario], rounds: usize) -> Vec<Duration> {
        let mut hosts: Vec<TestHost> = scenarios
            .iter()
            .map(|s| host(&s.wasm, s.config.clone()))
            .collect();
        let mut samples = vec![Vec::with_capacity(rounds); scenarios.len()];
        for round in 0..=rounds {
            for (i, s) in scenarios.iter().enumerate() {
                let t = Instant::now();
                send(&mut hosts[i], &s.body);
                // Round 0 warms up (instantiation, allocator growth).
                if round > 0 {
                    samples[i].push(t.elapsed());
                }
            }
        }
        samples
            .into_iter()
            .map(|mut v| {
                v.sort();
                v[v.len() / 2]
            })
            .collect()
    }

    /// Raw mode (the body goes straight to the scanner, plus a UTF-8 check and one copy) and
    /// OpenAI mode (JSON parse, scan every message, serialise), with an earlier build measured
    /// in the same run when `PII_BENCH_BASELINE_WASM` names one (before/after ratios).
    fn in_vm(wasm: &[u8], text: &str) {
        let msgs: Vec<_> = text
            .as_bytes()
            .chunks(4096)
            .map(|c| json!({"role": "user", "content": String::from_utf8_lossy(c)}))
            .collect();
        let chat = json!({"model": "m", "messages": msgs})
            .to_string()
            .into_bytes();
        let mut builds = vec![("current".to_string(), wasm.to_vec())];
        if let Ok(path) = std::env::var("PII_BENCH_BASELINE_WASM") {
            let baseline = std::fs::read(&path).expect("read PII_BENCH_BASELINE_WASM");
            builds.push((format!("baseline {path}"), baseline));
        }
        let mut scenarios = Vec::new();
        for (build, w) in &builds {
            for (mode, config, body) in [
                (
                    "raw body",
                    json!({"deny_raw": true, "max_body_bytes": 8 << 20}),
                    text.as_bytes(),
                ),
                (
                    "OpenAI chat body",
                    json!({"max_body_bytes": 8 << 20}),
                    chat.as_slice(),
                ),
                (
                    "OpenAI chat body, report only",
                    json!({"default_action": "report", "max_body_bytes": 8 << 20}),
                    chat.as_slice(),
                ),
            ] {
                scenarios.push(Scenario {
                    name: format!("{mode} [{build}]"),
                    wasm: w.clone(),
                    config,
                    body: body.to_vec(),
                });
            }
        }
        let medians = interleaved(&scenarios, 40);
        for (s, t) in scenarios.iter().zip(medians) {
            println!(
                "in wasm VM, {} ({} KiB, whole request incl. host copies): {:.0} MB/s, {:.1} wasm instructions/byte",
                s.name,
                s.body.len() / 1024,
                mbps(s.body.len(), t),
                fuel_per_byte(s)
            );
        }
    }

    fn sse_chunk(content: &str) -> Vec<u8> {
        format!("data: {}\n\n", json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})).into_bytes()
    }

    /// Time from handing the first answer chunk to the chain until it leaves it, with the plugin
    /// restoring (placeholders issued) and with a plain pass-through config (no placeholders).
    fn ttft(wasm: &[u8]) {
        let first = sse_chunk("Sure, I will call ");
        let rest: Vec<Vec<u8>> = ["[PHONE_1]", " tomorrow", "."]
            .iter()
            .map(|t| sse_chunk(t))
            .collect();
        for (name, prompt) in [
            ("restoring (1 placeholder issued)", "call 13812345678"),
            ("nothing to restore", "hello"),
        ] {
            let mut h = host(wasm, json!({}));
            let mut samples = Vec::new();
            for _ in 0..300 {
                let mut s = h.stream();
                let body =
                    json!({"stream": true, "messages": [{"role": "user", "content": prompt}]})
                        .to_string();
                s.send_request_headers(REQ, false)
                    .send_request_body(body.as_bytes(), true);
                s.send_response_headers(
                    &[(":status", "200"), ("content-type", "text/event-stream")],
                    false,
                );
                let t = Instant::now();
                s.send_response_body(&first, false);
                samples.push(t.elapsed());
                assert!(
                    !s.downstream().body().is_empty(),
                    "first chunk forwarded at once"
                );
                for c in &rest {
                    s.send_response_body(c, false);
                }
                s.send_response_body(b"data: [DONE]\n\n", true);
            }
            samples.sort();
            println!(
                "first streamed chunk through the plugin, {name}: median {:?}, p99 {:?}",
                samples[samples.len() / 2],
                samples[samples.len() * 99 / 100]
            );
        }
    }

    pub fn run() {
        let text = prompt_text(1 << 20);
        native(&text);
        let wasm = wasm();
        println!("wasm size: {} KiB", wasm.len() / 1024);
        in_vm(&wasm, &text);
        ttft(&wasm);
    }
}

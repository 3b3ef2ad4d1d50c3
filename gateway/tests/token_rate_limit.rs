//! token-rate-limit end to end: two gateway processes (two workers each) share one real Redis and
//! stream from the mock LLM (e2e/mock-llm, a mock provider) while 50 concurrent clients of one
//! consumer push against its per-minute token limit and a light consumer stays within its own.
//! The real usage of everything admitted must stay within the limit plus one reservation (the
//! whole run is shorter than the window), and the light consumer must never be refused.
//! Prints the figures. Skips with a banner when Redis is unavailable (unless E2E_REQUIRE_REDIS=1).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use e2e_services::redis::RedisServer;
use serde_json::{json, Value};

const REDIS: &str = "outbound|6379||redis.static";
/// Tokens per minute of each consumer.
const LIMIT: u64 = 4000;
const MAX_TOKENS: u64 = 40;
const HOGS: usize = 50;
const RUN: Duration = Duration::from_secs(8);

fn plugin_doc(rule: &str) -> String {
    let wasm =
        proxy_wasm_host::build_support::build_wasm_plugin(&workspace_dir(), "token-rate-limit")
            .unwrap_or_else(|e| panic!("{e}"));
    let config = json!({
        "rule_name": rule,
        "rule_items": [{"limit_by_per_consumer": "", "limit_keys": [{"key": "*", "token_per_minute": LIMIT}]}],
        "redis": {"service_name": "redis.static", "service_port": 6379, "timeout": 3000}
    });
    wasmplugin(
        "token-rate-limit",
        &wasm,
        600,
        "FAIL_CLOSE",
        &config.to_string(),
    )
}

/// The usage a client saw in its stream (it asked for it).
fn usage_of(body: &[u8]) -> Option<u64> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter_map(|e| e.trim().strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find_map(|v| v["usage"]["total_tokens"].as_u64())
}

fn chat(include_usage: bool, text: &str) -> Vec<u8> {
    let mut body = json!({"model": "gpt-4o-mini", "stream": true, "max_tokens": MAX_TOKENS,
                          "messages": [{"role": "user", "content": text}]});
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body.to_string().into_bytes()
}

#[derive(Default)]
struct Figures {
    admitted: AtomicU64,
    limited: AtomicU64,
    admitted_tokens: AtomicU64,
    light_ok: AtomicU64,
    light_refused: AtomicU64,
    errors: AtomicU64,
}

#[test]
fn mock_provider_two_gateways_one_redis_50_streaming_clients_stay_within_the_limit() {
    let Some(redis) = RedisServer::start_or_skip("token_rate_limit two gateways") else {
        return;
    };
    let mock = mock_llm::handle::spawn(mock_llm::config::Config::default()).expect("mock-llm");
    let redis_addr: std::net::SocketAddr = format!("127.0.0.1:{}", redis.port()).parse().unwrap();
    let rule = format!("e2e{}", std::process::id());
    let yaml = config(
        &[(LLM, mock.addr()), (REDIS, redis_addr)],
        &simple_routes(),
        &plugin_doc(&rule),
    );
    warm_module_cache(&yaml);
    let gateways = [Gateway::start(&yaml), Gateway::start(&yaml)];
    let urls: Vec<String> = gateways
        .iter()
        .map(|g| g.url("/v1/chat/completions"))
        .collect();

    // A client that did not ask for usage gets none, though the limiter asked the provider for it.
    let plain = rt().block_on(send(
        &client(),
        "POST",
        &urls[0],
        &[
            ("content-type", "application/json"),
            ("x-mse-consumer", "probe"),
        ],
        chat(false, "hello"),
    ));
    let (status, headers, body) = plain.unwrap();
    assert_eq!(status, 200);
    assert!(
        !String::from_utf8_lossy(&body).contains("\"usage\""),
        "usage leaked"
    );
    assert!(String::from_utf8_lossy(&body)
        .trim_end()
        .ends_with("data: [DONE]"));
    assert_eq!(
        headers["x-ratelimit-limit-tokens"],
        LIMIT.to_string().as_str()
    );

    let figures = Arc::new(Figures::default());
    let start = Instant::now();
    rt().block_on(async {
        let mut tasks = Vec::new();
        for i in 0..HOGS {
            let url = urls[i % 2].clone();
            let f = figures.clone();
            tasks.push(tokio::spawn(async move {
                let c = client();
                while start.elapsed() < RUN {
                    let r = send(
                        &c,
                        "POST",
                        &url,
                        &[
                            ("content-type", "application/json"),
                            ("x-mse-consumer", "hog"),
                            ("x-mock-ttft-ms", "50"),
                            ("x-mock-tps", "400"),
                        ],
                        chat(true, "Tell me a story about rate limits and tokens."),
                    )
                    .await;
                    match r {
                        Ok((200, _, body)) => {
                            f.admitted.fetch_add(1, Ordering::Relaxed);
                            let used = usage_of(&body).expect("usage in an admitted stream");
                            f.admitted_tokens.fetch_add(used, Ordering::Relaxed);
                        }
                        Ok((429, h, _)) => {
                            f.limited.fetch_add(1, Ordering::Relaxed);
                            let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
                            assert!((1..=61).contains(&retry));
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        _ => {
                            f.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        // The light consumer: one small request every 400 ms, far below its own limit.
        let f = figures.clone();
        let url = urls[1].clone();
        tasks.push(tokio::spawn(async move {
            let c = client();
            while start.elapsed() < RUN {
                let r = send(
                    &c,
                    "POST",
                    &url,
                    &[
                        ("content-type", "application/json"),
                        ("x-mse-consumer", "light"),
                    ],
                    chat(true, "hi"),
                )
                .await;
                match r {
                    Ok((200, _, _)) => {
                        f.light_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        f.light_refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        }));
        for t in tasks {
            t.await.expect("client task");
        }
    });
    let elapsed = start.elapsed();
    // Every decision was Redis's: no timeout or failure sent one to a gateway's local limiter.
    for g in &gateways {
        let (_, _, b) = rt()
            .block_on(get(&format!(
                "http://{}/stats/prometheus",
                g.admin.unwrap()
            )))
            .unwrap();
        let text = String::from_utf8(b).unwrap();
        let metric = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("token_ratelimit_{name} ")))
                .map_or(0, |v| v.trim().parse::<u64>().unwrap_or(0))
        };
        println!(
            "gateway {}: allowed {} limited {} reserved {} settled {} store failures {} local fallbacks {}",
            g.addr,
            metric("allowed"),
            metric("limited"),
            metric("tokens_reserved"),
            metric("tokens_settled"),
            metric("store_failures"),
            metric("fallback_local")
        );
        assert_eq!(
            metric("fallback_local"),
            0,
            "a decision fell back to the local limiter"
        );
    }
    let admitted = figures.admitted.load(Ordering::Relaxed);
    let limited = figures.limited.load(Ordering::Relaxed);
    let tokens = figures.admitted_tokens.load(Ordering::Relaxed);
    // One reservation: the prompt estimate (well under 40 tokens here) plus max_tokens.
    let one_reservation = 40 + MAX_TOKENS;
    println!(
        "token-rate-limit e2e: {HOGS} streaming clients over 2 gateways x 2 workers, one Redis, {:.1} s \
         (< 1 window): admitted {admitted} streams = {tokens} real tokens against a limit of {LIMIT}/min \
         (bound {LIMIT} + one reservation {one_reservation}; {:.1}% of the limit used), limited {limited}; \
         light consumer {} admitted / {} refused; errors {}",
        elapsed.as_secs_f64(),
        100.0 * tokens as f64 / LIMIT as f64,
        figures.light_ok.load(Ordering::Relaxed),
        figures.light_refused.load(Ordering::Relaxed),
        figures.errors.load(Ordering::Relaxed),
    );
    assert!(
        elapsed < Duration::from_secs(55),
        "the run must stay inside one window"
    );
    assert!(
        tokens <= LIMIT + one_reservation,
        "{tokens} admitted over {LIMIT}"
    );
    assert!(
        tokens >= LIMIT * 3 / 4,
        "the limit was used ({tokens} of {LIMIT})"
    );
    assert!(limited > 0, "the hogs were limited");
    assert_eq!(
        figures.light_refused.load(Ordering::Relaxed),
        0,
        "a client within its budget is never refused"
    );
    assert!(figures.light_ok.load(Ordering::Relaxed) >= 10);
    assert_eq!(figures.errors.load(Ordering::Relaxed), 0);
}

//! Gateway overhead, measured end to end with real sockets in one run:
//! 1. latency of the same request straight to the upstream and through the gateway (no plugins),
//!    same client, same load, rounds interleaved so both see the same machine state;
//! 2. gateway memory per concurrent SSE stream (RSS growth with N streams held open).
//!
//! `cargo bench -p higress-ai-gateway` (release) or, for a quick functional run,
//! `cargo test -p higress-ai-gateway --bench gateway` (debug: numbers are not meaningful).
//! Knobs: BENCH_REQUESTS (per round, default 2000), BENCH_CONCURRENCY (16), BENCH_STREAMS (200).

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use http_body_util::BodyExt;
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs `requests` GETs with `concurrency` parallel loops; returns sorted latencies and wall time.
async fn load(url: &str, requests: usize, concurrency: usize) -> (Vec<Duration>, Duration) {
    let c = client();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (c, url) = (c.clone(), url.to_string());
        let n = requests / concurrency + usize::from(w < requests % concurrency);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                let (s, _, _) = send(&c, "GET", &url, &[], Vec::new())
                    .await
                    .expect("request");
                assert_eq!(s, 200);
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort();
    (all, start.elapsed())
}

fn pct(v: &[Duration], p: f64) -> f64 {
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1e6
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --all-targets`) this is a smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let requests = env_usize("BENCH_REQUESTS", if full { 2000 } else { 100 });
    let concurrency = env_usize("BENCH_CONCURRENCY", 16);
    let streams = env_usize("BENCH_STREAMS", if full { 200 } else { 10 });
    let up = start_upstream();
    let yaml = format!(
        "apiVersion: gateway.higress.io/v1alpha1\nkind: Gateway\nspec:\n  workers: 2\n  accessLog: \"off\"\n  listeners: [{{address: 127.0.0.1, port: 0}}]\n  clusters:\n  - name: \"{LLM}\"\n    addresses: [\"{}\"]\n  routes:\n  - name: r\n    cluster: \"{LLM}\"\n    timeout: 0s\n",
        up.addr
    );
    let gw = Gateway::start(&yaml);
    let direct = format!("http://{}/bench", up.addr);
    let through = gw.url("/bench");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("| target | requests | concurrency | p50 µs | p90 µs | p99 µs | req/s |");
    println!("|---|---|---|---|---|---|---|");
    rt.block_on(async {
        // Warm-up: connection pools and the gateway's upstream pool.
        load(&direct, 200, concurrency).await;
        load(&through, 200, concurrency).await;
        let mut results = vec![(Vec::new(), Duration::ZERO), (Vec::new(), Duration::ZERO)];
        for _round in 0..3 {
            for (i, url) in [&direct, &through].into_iter().enumerate() {
                let (lat, wall) = load(url, requests, concurrency).await;
                results[i].0.extend(lat);
                results[i].1 += wall;
            }
        }
        for (name, (mut lat, wall)) in ["upstream direct", "through gateway"].into_iter().zip(results) {
            lat.sort();
            println!(
                "| {name} | {} | {concurrency} | {:.0} | {:.0} | {:.0} | {:.0} |",
                lat.len(),
                pct(&lat, 0.5),
                pct(&lat, 0.9),
                pct(&lat, 0.99),
                lat.len() as f64 / wall.as_secs_f64()
            );
        }

        // Memory per concurrent SSE stream: the upstream sends one event and holds the rest.
        let before = rss_kib(gw.pid());
        let c = client();
        let mut bodies = Vec::new();
        for _ in 0..streams {
            let req = http::Request::get(gw.url("/v1/sse"))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap();
            let resp = c.request(req).await.expect("sse");
            let mut body = resp.into_body();
            body.frame().await.expect("first event").expect("frame");
            bodies.push(body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let after = rss_kib(gw.pid());
        println!(
            "\nSSE streams held open: {streams}; gateway RSS {before} KiB -> {after} KiB; {:.1} KiB per stream",
            (after.saturating_sub(before)) as f64 / streams as f64
        );
        up.state.release.notify_waiters();
        drop(bodies);
    });
}

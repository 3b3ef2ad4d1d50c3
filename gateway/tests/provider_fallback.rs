//! provider-fallback through the real gateway, with mock-LLM instances standing in for the
//! providers (we cannot make real providers fail on demand): the route's own upstream is the
//! primary, the others are reached by the plugin's callouts. Each test makes one mock fail with
//! its instance fault and checks what the client got and what each mock saw (`/mock/stats`).

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use http_body_util::BodyExt;
use mock_llm::{Config as MockConfig, FaultSpec, MockHandle};
use serde_json::{json, Value};

const BACKUP: &str = "outbound|80||backup.static";
const SPARE: &str = "outbound|80||spare.static";

/// The plugin built for wasm32, compiled once into the gateway's module cache (`--check`), so
/// that gateways started by parallel tests do not each compile it within their start-up wait.
fn plugin_wasm() -> &'static PathBuf {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        let wasm = proxy_wasm_host::build_support::build_wasm_plugin(
            &workspace_dir(),
            "provider-fallback",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let docs = wasmplugin("provider-fallback", &wasm, 120, "FAIL_OPEN", "{}");
        warm_module_cache(&config(&[(LLM, refused_addr())], &simple_routes(), &docs));
        wasm
    })
}

fn mock(fault: Option<&str>, fail_ratio: f64) -> MockHandle {
    mock_llm::spawn(MockConfig {
        fault: fault.map(|f| f.parse::<FaultSpec>().expect("fault spec")),
        fail_ratio,
        ..MockConfig::default()
    })
    .expect("mock-llm")
}

fn healthy() -> MockHandle {
    mock(None, 1.0)
}

/// A local port nothing listens on.
fn refused_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

fn provider(name: &str, cluster: &str, model: &str, timeout_ms: u32) -> Value {
    json!({"name": name, "cluster": cluster, "host": format!("{name}.example.com"),
        "apiTokens": [format!("sk-{name}")], "modelMapping": {"*": model}, "timeout": timeout_ms})
}

/// Gateway with the plugin; `groups` are the fallback provider groups; the primary is
/// `primary`; `extra` is merged into the plugin config.
fn gateway(
    primary: SocketAddr,
    fallbacks: &[(&str, SocketAddr)],
    groups: Value,
    route_timeout: &str,
    extra: Value,
) -> Gateway {
    let mut cfg = json!({"primary": {"name": "primary"}, "providerGroups": groups,
        "failover": {"failureThreshold": 1000, "cooldown": 60000}});
    if let (Some(c), Some(e)) = (cfg.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    let docs = wasmplugin(
        "provider-fallback",
        plugin_wasm(),
        120,
        "FAIL_OPEN",
        &cfg.to_string(),
    );
    let mut clusters = vec![(LLM, primary)];
    clusters.extend_from_slice(fallbacks);
    let routes =
        format!("  - name: ai-route-llm\n    cluster: \"{LLM}\"\n    timeout: {route_timeout}\n");
    Gateway::start(&config(&clusters, &routes, &docs))
}

/// The usual setup: the primary, one fallback group holding the backup mock, a 15 s route timeout.
fn gateway_with_backup(primary: &MockHandle, backup: &MockHandle, extra: Value) -> Gateway {
    gateway(
        primary.addr(),
        &[(BACKUP, backup.addr())],
        json!([{"providers": [provider("backup", BACKUP, "backup-model", 5000)]}]),
        "15s",
        extra,
    )
}

fn chat(stream: bool) -> Vec<u8> {
    let mut v = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hello"}]});
    if stream {
        v["stream"] = json!(true);
    }
    v.to_string().into_bytes()
}

fn post(gw: &Gateway, stream: bool) -> Got {
    rt().block_on(send(
        &client(),
        "POST",
        &gw.url("/v1/chat/completions"),
        &[("content-type", "application/json")],
        chat(stream),
    ))
    .expect("the gateway answers")
}

fn kind(m: &MockHandle, k: &str) -> u64 {
    m.stats().by_kind.get(k).copied().unwrap_or(0)
}

fn json_body(got: &Got) -> Value {
    serde_json::from_slice(&got.2)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&got.2)))
}

/// The answer's `model`, which tells which provider answered (each maps to its own model).
fn model_of(got: &Got) -> String {
    json_body(got)["model"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn prometheus(gw: &Gateway) -> String {
    let admin = gw.admin.expect("admin");
    let (_, _, b) = rt()
        .block_on(get(&format!("http://{admin}/stats/prometheus")))
        .unwrap();
    String::from_utf8(b).unwrap()
}

fn metric(gw: &Gateway, name: &str) -> u64 {
    let text = prometheus(gw);
    let prefix = format!("{} ", name.replace('.', "_"));
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn mock_provider_429_then_success_on_the_second() {
    let primary = mock(Some("status=429,retry-after=1"), 1.0);
    let backup = healthy();
    let gw = gateway_with_backup(&primary, &backup, json!({}));
    let got = post(&gw, false);
    assert_eq!(got.0, 200, "{}", String::from_utf8_lossy(&got.2));
    assert_eq!(model_of(&got), "backup-model");
    assert_eq!(got.1["x-ai-fallback-provider"], "backup");
    assert_eq!(got.1["x-ai-fallback-attempts"], "2");
    assert_eq!(kind(&primary, "fault:status=429"), 1);
    assert_eq!(kind(&backup, "non_stream"), 1);
    let sent = &backup.requests()[0];
    assert_eq!(sent.body["model"], "backup-model");
    assert_eq!(sent.body["stream"], false);
    assert_eq!(sent.headers["authorization"], "Bearer sk-backup");
    assert_eq!(sent.headers["host"], "backup.example.com");
    // The streamed variant: the buffered answer is re-chunked as SSE.
    let got = post(&gw, true);
    assert_eq!(got.0, 200);
    assert!(got.1["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = String::from_utf8(got.2).unwrap();
    assert!(text.contains("chat.completion.chunk"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}

#[test]
fn mock_provider_5xx_on_all_gives_the_client_the_last_error() {
    let primary = mock(Some("status=503"), 1.0);
    let backup = mock(Some("status=500"), 1.0);
    let spare = mock(Some("status=502"), 1.0);
    let gw = gateway(
        primary.addr(),
        &[(BACKUP, backup.addr()), (SPARE, spare.addr())],
        json!([{"providers": [provider("backup", BACKUP, "b", 5000)]},
               {"providers": [provider("spare", SPARE, "s", 5000)]}]),
        "15s",
        json!({}),
    );
    let started = Instant::now();
    let got = post(&gw, false);
    assert!(started.elapsed() < Duration::from_secs(10), "no hang");
    assert_eq!(got.0, 502, "the last provider's error");
    assert_eq!(json_body(&got)["error"]["code"], "bad_gateway");
    assert_eq!(got.1["x-ai-fallback-attempts"], "3");
    assert_eq!(got.1["x-ai-fallback-provider"], "spare");
    for m in [&primary, &backup, &spare] {
        assert_eq!(m.stats().total, 1, "each provider tried exactly once");
    }
    let log = gw.access_logs(1).pop().unwrap();
    let ai_log: Value = serde_json::from_str(log["ai_log"].as_str().unwrap()).unwrap();
    assert_eq!(
        ai_log["fallback_reasons"],
        json!([
            "primary:status_503",
            "backup:status_500",
            "spare:status_502"
        ])
    );
}

#[test]
fn mock_provider_connect_refused_primary_and_fallback() {
    let spare = healthy();
    let gw = gateway(
        refused_addr(),
        &[(BACKUP, refused_addr()), (SPARE, spare.addr())],
        json!([{"providers": [provider("backup", BACKUP, "b", 5000)]},
               {"providers": [provider("spare", SPARE, "spare-model", 5000)]}]),
        "15s",
        json!({}),
    );
    let got = post(&gw, false);
    assert_eq!(got.0, 200, "{}", String::from_utf8_lossy(&got.2));
    assert_eq!(model_of(&got), "spare-model");
    let log = gw.access_logs(1).pop().unwrap();
    let ai_log: Value = serde_json::from_str(log["ai_log"].as_str().unwrap()).unwrap();
    assert_eq!(
        ai_log["fallback_reasons"],
        json!(["primary:gateway_503_connection_failure", "backup:reset"]),
        "{ai_log}"
    );
}

#[test]
fn mock_provider_timeout_of_the_route_and_of_a_callout() {
    let primary = mock(Some("delay=3000"), 1.0);
    let slow_backup = mock(Some("delay=3000"), 1.0);
    let spare = healthy();
    let gw = gateway(
        primary.addr(),
        &[(BACKUP, slow_backup.addr()), (SPARE, spare.addr())],
        json!([{"providers": [provider("backup", BACKUP, "b", 300)]},
               {"providers": [provider("spare", SPARE, "spare-model", 5000)]}]),
        "500ms",
        json!({}),
    );
    let started = Instant::now();
    let got = post(&gw, false);
    let took = started.elapsed();
    assert_eq!(got.0, 200, "{}", String::from_utf8_lossy(&got.2));
    assert_eq!(model_of(&got), "spare-model");
    assert!(
        took < Duration::from_millis(3000),
        "faster than the slow providers: {took:?}"
    );
    let log = gw.access_logs(1).pop().unwrap();
    let ai_log: Value = serde_json::from_str(log["ai_log"].as_str().unwrap()).unwrap();
    assert_eq!(
        ai_log["fallback_reasons"],
        json!([
            "primary:gateway_504_upstream_response_timeout",
            "backup:timeout"
        ])
    );
}

#[test]
fn mock_provider_slow_first_token_falls_back_at_the_first_byte_timeout() {
    let primary = mock_llm::spawn(MockConfig {
        ttft: Duration::from_millis(3000),
        ..MockConfig::default()
    })
    .expect("mock-llm");
    let backup = healthy();
    let gw = gateway_with_backup(
        &primary,
        &backup,
        json!({"primary": {"name": "primary", "firstByteTimeout": 300}}),
    );
    for stream in [true, false] {
        let started = Instant::now();
        let got = post(&gw, stream);
        let took = started.elapsed();
        assert_eq!(got.0, 200);
        let text = String::from_utf8_lossy(&got.2).to_string();
        assert!(text.contains("backup-model"), "stream={stream}: {text}");
        assert!(
            took < Duration::from_millis(2500),
            "stream={stream}: took {took:?}"
        );
    }
    assert_eq!(primary.stats().total, 2, "the primary was asked first");
    assert_eq!(backup.stats().total, 2);
    let log = gw.access_logs(2).pop().unwrap();
    let ai_log: Value = serde_json::from_str(log["ai_log"].as_str().unwrap()).unwrap();
    assert_eq!(
        ai_log["fallback_reasons"],
        json!(["primary:first_byte_timeout"])
    );
}

#[test]
fn mock_provider_reset_before_headers_falls_back_and_reset_mid_stream_is_not_a_clean_end() {
    let primary = mock(Some("reset-before-headers"), 1.0);
    let backup = healthy();
    let gw = gateway_with_backup(&primary, &backup, json!({}));
    let got = post(&gw, false);
    assert_eq!(got.0, 200);
    assert_eq!(model_of(&got), "backup-model");

    // After bytes went out the answer cannot change: the client sees the partial stream and an
    // error (a reset), never a clean end, and the failure counts against the primary.
    primary.set_fault(Some("reset-mid-stream=2".parse().unwrap()));
    let outcome = rt().block_on(async {
        let req = http::Request::builder()
            .method("POST")
            .uri(gw.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(chat(true))))
            .unwrap();
        let resp = client().request(req).await.expect("headers arrive");
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut got = Vec::new();
        loop {
            match tokio::time::timeout(WAIT, body.frame())
                .await
                .expect("no hang")
            {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        got.extend_from_slice(&d);
                    }
                }
                Some(Err(_)) => return (got, true),
                None => return (got, false),
            }
        }
    });
    let (bytes, errored) = outcome;
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("data: "),
        "partial answer reached the client: {text}"
    );
    assert!(!text.contains("[DONE]"), "{text}");
    assert!(
        errored || text.contains("stream_incomplete"),
        "not a silent clean end: {text}"
    );
    assert_eq!(
        kind(&backup, "stream"),
        0,
        "no second answer after the first byte"
    );
    let deadline = Instant::now() + WAIT;
    while metric(&gw, "provider_fallback.failure.mid_stream") == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(metric(&gw, "provider_fallback.failure.mid_stream"), 1);
}

#[test]
fn mock_provider_error_inside_a_200_stream() {
    // error-event=0: the stream's first data event is the error: fall back before any byte.
    let primary = mock(Some("error-event=0"), 1.0);
    let backup = healthy();
    let gw = gateway_with_backup(&primary, &backup, json!({}));
    let got = post(&gw, true);
    assert_eq!(got.0, 200);
    let text = String::from_utf8(got.2).unwrap();
    assert!(
        !text.contains("\"error\""),
        "the error never reaches the client: {text}"
    );
    assert!(text.contains("backup-model"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert_eq!(kind(&primary, "fault:error-event"), 1);
    assert_eq!(kind(&backup, "non_stream"), 1);

    // The non-streaming variant: a 200 whose JSON body is an error object.
    let got = post(&gw, false);
    assert_eq!(got.0, 200);
    assert_eq!(model_of(&got), "backup-model");

    // error-event=1: an answer event went out first; the error passes as it is and counts.
    primary.set_fault(Some("error-event=1".parse().unwrap()));
    let got = post(&gw, true);
    let text = String::from_utf8(got.2).unwrap();
    assert!(text.contains("\"error\""), "{text}");
    assert_eq!(
        kind(&backup, "non_stream"),
        2,
        "no fallback after the first byte"
    );
    assert_eq!(metric(&gw, "provider_fallback.failure.mid_stream"), 1);
}

#[test]
fn mock_provider_breaker_open_skips_the_bad_provider() {
    let primary = mock(Some("status=503"), 1.0);
    let backup = healthy();
    let gw = gateway_with_backup(
        &primary,
        &backup,
        json!({"failover": {"failureThreshold": 2, "cooldown": 60000}}),
    );
    for _ in 0..6 {
        let got = post(&gw, false);
        assert_eq!(got.0, 200);
        assert_eq!(model_of(&got), "backup-model");
    }
    assert_eq!(
        primary.stats().total,
        2,
        "after two failures the open breaker keeps requests off the primary (all workers)"
    );
    assert_eq!(backup.stats().total, 6);
    assert_eq!(metric(&gw, "provider_fallback.breaker.primary.open"), 1);
    let log = gw.access_logs(6).pop().unwrap();
    let ai_log: Value = serde_json::from_str(log["ai_log"].as_str().unwrap()).unwrap();
    assert_eq!(ai_log["fallback_reasons"], json!(["primary:breaker_open"]));
    assert_eq!(ai_log["fallback_attempts"], 1);
}

/// Sends `n` requests, `concurrency` at a time; returns (latency, answering model) each.
fn load(gw: &Gateway, n: usize, concurrency: usize) -> Vec<(Duration, u16, String)> {
    let url = gw.url("/v1/chat/completions");
    rt().block_on(async move {
        let c = client();
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (c, url, next) = (c.clone(), url.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < n {
                    let started = Instant::now();
                    let got = send(
                        &c,
                        "POST",
                        &url,
                        &[("content-type", "application/json")],
                        chat(false),
                    )
                    .await
                    .expect("answer");
                    let model = serde_json::from_slice::<Value>(&got.2)
                        .ok()
                        .and_then(|v| v["model"].as_str().map(str::to_string))
                        .unwrap_or_default();
                    out.push((started.elapsed(), got.0, model));
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn half_failing_primary_under_load(n: usize, concurrency: usize) {
    let primary = mock(Some("status=503"), 0.5);
    let backup = healthy();
    // The breaker is off here so that the primary keeps taking half-failing traffic: this
    // measures what a fallback answer costs, not how well the breaker avoids it.
    let gw = gateway_with_backup(&primary, &backup, json!({"failover": {"enabled": false}}));
    let results = load(&gw, n, concurrency);
    assert_eq!(results.len(), n);
    let failed: Vec<_> = results.iter().filter(|r| r.1 != 200).collect();
    assert!(failed.is_empty(), "every request succeeds: {failed:?}");
    let mut direct: Vec<Duration> = results
        .iter()
        .filter(|r| r.2 == "gpt-4o")
        .map(|r| r.0)
        .collect();
    let mut fallback: Vec<Duration> = results
        .iter()
        .filter(|r| r.2 == "backup-model")
        .map(|r| r.0)
        .collect();
    direct.sort();
    fallback.sort();
    assert_eq!(direct.len() + fallback.len(), n);
    let share = fallback.len() as f64 / n as f64;
    assert!((0.3..0.7).contains(&share), "fallback share {share}");
    assert_eq!(primary.stats().total as usize, n);
    assert_eq!(backup.stats().total as usize, fallback.len());
    let line = |name: &str, v: &[Duration]| {
        format!(
            "{name:>9}: n={:5} p50={:>8.2?} p90={:>8.2?} p99={:>8.2?}",
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99)
        )
    };
    let report = format!(
        "provider-fallback under load ({n} requests, concurrency {concurrency}, primary fails 50%):\n{}\n{}\n added latency of a fallback answer at p50: {:.2?}",
        line("primary", &direct),
        line("fallback", &fallback),
        percentile(&fallback, 0.5).saturating_sub(percentile(&direct, 0.5)),
    );
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{report}");
}

#[test]
fn mock_provider_half_failing_primary_every_request_succeeds() {
    half_failing_primary_under_load(200, 8);
}

/// The heavy variant: `cargo test -p higress-ai-gateway --test provider_fallback -- --ignored --nocapture`.
#[test]
#[ignore]
fn mock_provider_half_failing_primary_every_request_succeeds_heavy() {
    half_failing_primary_under_load(4000, 32);
}

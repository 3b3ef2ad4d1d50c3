//! The gateway as a proxy without plugins: HTTP/1.1 and h2c downstream, streaming, large bodies,
//! and Envoy's own replies (404 / 503 / 504), each through a real gateway process.

mod common;

use common::*;
use http_body_util::BodyExt;
use std::time::{Duration, Instant};

#[test]
fn http1_and_h2c_requests_reach_the_upstream_with_envoy_request_headers() {
    let up = start_upstream();
    let gw = Gateway::start(&config(&[(LLM, up.addr)], &simple_routes(), ""));
    rt().block_on(async {
        for (proto, c) in [("HTTP/1.1", client()), ("HTTP/2", h2c_client())] {
            let (status, headers, body) = send(
                &c,
                "POST",
                &gw.url("/v1/chat/completions?x=1"),
                &[("host", "api.local"), ("x-client", proto)],
                b"{\"model\":\"m\"}".to_vec(),
            )
            .await
            .unwrap();
            assert_eq!(status, 200, "{proto}");
            assert_eq!(headers["x-upstream"], "test");
            assert_eq!(
                String::from_utf8(body).unwrap(),
                "echo /v1/chat/completions?x=1 13 bytes"
            );
            let seen = up.seen().pop().unwrap();
            assert_eq!(seen.method, "POST");
            assert_eq!(seen.header_values("x-client"), vec![proto.to_string()]);
            // Envoy's connection manager adds x-request-id and x-forwarded-proto.
            assert_eq!(seen.header_values("x-request-id").len(), 1);
            assert_eq!(seen.header_values("x-forwarded-proto"), vec!["http"]);
            assert_eq!(seen.body, b"{\"model\":\"m\"}");
        }
    });
    let logs = gw.access_logs(2);
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert_eq!(logs[0]["route_name"], "ai-route-llm");
    assert_eq!(logs[0]["upstream_cluster"], LLM);
    assert_eq!(logs[0]["response_code_details"], "via_upstream");
    let protocols: Vec<&str> = logs
        .iter()
        .map(|l| l["protocol"].as_str().unwrap())
        .collect();
    assert!(
        protocols.contains(&"HTTP/1.1") && protocols.contains(&"HTTP/2"),
        "{protocols:?}"
    );
}

/// The first SSE event must reach the client while the upstream is still holding the rest; the
/// whole stream must arrive byte-exact.
#[test]
fn sse_events_stream_through_before_the_upstream_finishes_byte_exact() {
    let up = start_upstream();
    let gw = Gateway::start(&config(&[(LLM, up.addr)], &simple_routes(), ""));
    rt().block_on(async {
        for c in [client(), h2c_client()] {
            up.state
                .sse_finished
                .store(false, std::sync::atomic::Ordering::SeqCst);
            let req = http::Request::get(gw.url("/v1/sse"))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap();
            let resp = tokio::time::timeout(WAIT, c.request(req))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(resp.headers()["content-type"], "text/event-stream");
            let mut body = resp.into_body();
            let mut got = Vec::new();
            read_at_least(&mut body, &mut got, SSE_EVENTS[0].len()).await;
            assert_eq!(got, SSE_EVENTS[0].as_bytes());
            assert!(
                !up.state
                    .sse_finished
                    .load(std::sync::atomic::Ordering::SeqCst),
                "the first event must arrive before the upstream finished"
            );
            up.state.release.notify_one();
            read_rest(&mut body, &mut got).await;
            assert_eq!(String::from_utf8(got).unwrap(), SSE_EVENTS.concat());
        }
    });
}

#[test]
fn large_bodies_stream_both_ways_byte_exact() {
    let up = start_upstream();
    let gw = Gateway::start(&config(&[(LLM, up.addr)], &simple_routes(), ""));
    let req_body = pattern(3 << 20);
    rt().block_on(async {
        let (status, _, body) = send(
            &client(),
            "POST",
            &gw.url("/upload"),
            &[("x-respond-bytes", "5000000")],
            req_body.clone(),
        )
        .await
        .unwrap();
        assert_eq!(status, 200);
        assert_eq!(body.len(), 5_000_000);
        assert!(body == pattern(5_000_000), "response body differs");
    });
    let seen = up.seen_path("/upload").pop().unwrap();
    assert!(seen.body == req_body, "request body differs");
}

/// Envoy's `request_headers_to_add` with each append action, as `make run` uses it to send a real
/// provider's API key.
#[test]
fn route_request_headers_to_add_follow_envoy_append_actions() {
    let up = start_upstream();
    let routes = format!(
        "  - name: keyed\n    cluster: \"{LLM}\"\n    requestHeadersToAdd:\n\
         \x20   - {{key: Authorization, value: Bearer route-key, appendAction: OVERWRITE_IF_EXISTS_OR_ADD}}\n\
         \x20   - {{key: x-tag, value: route}}\n\
         \x20   - {{key: x-default, value: route, appendAction: ADD_IF_ABSENT}}\n\
         \x20   - {{key: x-only-if-sent, value: route, appendAction: OVERWRITE_IF_EXISTS}}\n"
    );
    let gw = Gateway::start(&config(&[(LLM, up.addr)], &routes, ""));
    rt().block_on(async {
        let c = client();
        for (path, sent) in [
            ("/bare", &[][..]),
            (
                "/sent",
                &[
                    ("authorization", "Bearer client-key"),
                    ("x-tag", "client"),
                    ("x-default", "client"),
                    ("x-only-if-sent", "client"),
                ][..],
            ),
        ] {
            let (status, _, _) = send(&c, "GET", &gw.url(path), sent, vec![]).await.unwrap();
            assert_eq!(status, 200);
        }
    });
    let bare = up.seen_path("/bare").pop().unwrap();
    assert_eq!(bare.header_values("authorization"), ["Bearer route-key"]);
    assert_eq!(bare.header_values("x-tag"), ["route"]);
    assert_eq!(bare.header_values("x-default"), ["route"]);
    assert!(bare.header_values("x-only-if-sent").is_empty());
    let sent = up.seen_path("/sent").pop().unwrap();
    assert_eq!(sent.header_values("authorization"), ["Bearer route-key"]);
    assert_eq!(sent.header_values("x-tag").len(), 2, "appended");
    assert_eq!(sent.header_values("x-default"), ["client"]);
    assert_eq!(sent.header_values("x-only-if-sent"), ["route"]);
}

#[test]
fn route_request_headers_to_add_cannot_touch_pseudo_headers() {
    let dir = tempdir("bad-header");
    let routes = format!(
        "  - name: bad\n    cluster: \"{LLM}\"\n    requestHeadersToAdd: [{{key: \":path\", value: /x}}]\n"
    );
    std::fs::write(
        dir.join("gateway.yaml"),
        config(&[(LLM, "127.0.0.1:9".parse().unwrap())], &routes, ""),
    )
    .unwrap();
    let out = std::process::Command::new(binary())
        .args(["--check", "--config"])
        .arg(dir.join("gateway.yaml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("requestHeadersToAdd[0]"), "{err}");
}

#[test]
fn no_route_is_404_route_not_found() {
    let up = start_upstream();
    let routes = format!(
        "  - name: only-v1\n    match: {{pathPrefix: /v1/, hosts: [\"api.local\"]}}\n    cluster: \"{LLM}\"\n"
    );
    let gw = Gateway::start(&config(&[(LLM, up.addr)], &routes, ""));
    rt().block_on(async {
        let c = client();
        let (s, _, b) = send(
            &c,
            "GET",
            &gw.url("/v2/x"),
            &[("host", "api.local")],
            vec![],
        )
        .await
        .unwrap();
        assert_eq!((s, b.len()), (404, 0));
        let (s, _, _) = send(&c, "GET", &gw.url("/v1/x"), &[("host", "other")], vec![])
            .await
            .unwrap();
        assert_eq!(s, 404);
        let (s, _, _) = send(
            &c,
            "GET",
            &gw.url("/v1/x"),
            &[("host", "api.local:80")],
            vec![],
        )
        .await
        .unwrap();
        assert_eq!(s, 200);
    });
    let logs = gw.access_logs(3);
    assert_eq!(logs[0]["response_code"], 404);
    assert_eq!(logs[0]["response_code_details"], "route_not_found");
    assert!(up.seen_path("/v2").is_empty());
}

#[test]
fn connect_failure_is_503_with_envoy_details() {
    // A port nothing listens on: bind, note it, close.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = Gateway::start(&config(&[(LLM, dead)], &simple_routes(), ""));
    rt().block_on(async {
        let (s, h, b) = send(&client(), "GET", &gw.url("/v1/models"), &[], vec![]).await.unwrap();
        assert_eq!(s, 503);
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
        );
    });
    let logs = gw.access_logs(1);
    assert_eq!(
        logs[0]["response_code_details"],
        "upstream_reset_before_response_started{connection_failure}"
    );
}

#[test]
fn route_timeout_is_504_upstream_response_timeout() {
    let up = start_upstream();
    let routes = format!("  - name: slow\n    timeout: 300ms\n    cluster: \"{LLM}\"\n");
    let gw = Gateway::start(&config(&[(LLM, up.addr)], &routes, ""));
    rt().block_on(async {
        let t = Instant::now();
        let (s, _, b) = send(&client(), "GET", &gw.url("/slow"), &[], vec![])
            .await
            .unwrap();
        assert_eq!(s, 504);
        assert_eq!(b, b"upstream request timeout");
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(3),
            "{took:?}"
        );
    });
    let logs = gw.access_logs(1);
    assert_eq!(
        logs[0]["response_code_details"],
        "upstream_response_timeout"
    );
}

#[test]
fn admin_reports_ready_and_prometheus_counters() {
    let up = start_upstream();
    let gw = Gateway::start(&config(&[(LLM, up.addr)], &simple_routes(), ""));
    let admin = gw.admin.unwrap();
    rt().block_on(async {
        let (s, _, b) = get(&format!("http://{admin}/ready")).await.unwrap();
        assert_eq!((s, b.as_slice()), (200, &b"LIVE\n"[..]));
        get(&gw.url("/x")).await.unwrap();
        let (s, _, b) = get(&format!("http://{admin}/stats/prometheus"))
            .await
            .unwrap();
        let text = String::from_utf8(b).unwrap();
        assert_eq!(s, 200);
        assert!(
            text.contains("envoy_http_downstream_rq_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("envoy_cluster_upstream_rq_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("envoy_http_downstream_rq_xx{envoy_response_code_class=\"2\"} 1\n"),
            "{text}"
        );
    });
}

#[test]
fn http2_cluster_speaks_h2c_to_the_upstream_and_streams_sse() {
    let up = start_upstream();
    let yaml = format!(
        "apiVersion: gateway.higress.io/v1alpha1\nkind: Gateway\nspec:\n  listeners: [{{address: 127.0.0.1, port: 0}}]\n  clusters:\n  - name: \"{LLM}\"\n    addresses: [\"{}\"]\n    http2: true\n  routes:\n  - name: r\n    cluster: \"{LLM}\"\n",
        up.addr
    );
    let gw = Gateway::start(&yaml);
    rt().block_on(async {
        let (s, _, b) = send(&client(), "POST", &gw.url("/v1/x"), &[], b"abc".to_vec())
            .await
            .unwrap();
        assert_eq!(
            (s, String::from_utf8(b).unwrap()),
            (200, "echo /v1/x 3 bytes".to_string())
        );
        up.state.release.notify_one();
        let (s, _, b) = send(&client(), "GET", &gw.url("/v1/sse"), &[], vec![])
            .await
            .unwrap();
        assert_eq!(
            (s, String::from_utf8(b).unwrap()),
            (200, SSE_EVENTS.concat())
        );
    });
    let seen = up.seen();
    assert!(
        seen.iter().all(|s| s.version == http::Version::HTTP_2),
        "{seen:?}"
    );
}

#[test]
fn upstream_reset_after_headers_resets_the_downstream_stream() {
    let up = start_upstream();
    let gw = Gateway::start(&config(&[(LLM, up.addr)], &simple_routes(), ""));
    rt().block_on(async {
        let req = http::Request::get(gw.url("/reset-mid"))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let resp = tokio::time::timeout(WAIT, client().request(req))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut got = Vec::new();
        let mut failed = false;
        while let Some(f) = tokio::time::timeout(WAIT, body.frame()).await.unwrap() {
            match f {
                Ok(f) => got.extend_from_slice(&f.into_data().unwrap_or_default()),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(
            failed,
            "the client must see the stream fail, not a clean end"
        );
        assert_eq!(got, SSE_EVENTS[0].as_bytes());
    });
    let log = gw.access_logs(1).pop().unwrap();
    assert_eq!(
        log["response_code_details"],
        "upstream_reset_after_response_started{connection_termination}"
    );
}

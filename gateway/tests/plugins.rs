//! Plugins in the gateway: chain order as the upstream sees it, body buffering and the 413 path,
//! failStrategy, HTTP and Redis callouts to named clusters, route re-matching after header edits,
//! ai_log in the access log and plugin metrics on the admin port.

mod common;

use common::*;
use std::net::SocketAddr;

fn guard(name: &str, prio: i64, tag: &str, extra: &str) -> String {
    wasmplugin(
        name,
        &sdk_example("request-guard"),
        prio,
        "FAIL_CLOSE",
        &format!("{{tag: {tag}, log_key: {name}{extra}}}"),
    )
}

#[test]
fn plugin_chain_order_is_visible_upstream_and_ai_log_reaches_the_access_log() {
    let up = start_upstream();
    // Higher priority runs first (Higress orders by phase, then priority descending).
    let docs = guard("guard-b", 100, "b", "") + &guard("guard-a", 200, "a", "");
    let gw = Gateway::start(&config(&[(LLM, up.addr)], &simple_routes(), &docs));
    rt().block_on(async {
        let (s, _, _) = send(&client(), "POST", &gw.url("/v1/chat"), &[], b"hi".to_vec())
            .await
            .unwrap();
        assert_eq!(s, 200);
    });
    let seen = up.seen().pop().unwrap();
    assert_eq!(seen.header_values("x-guard-tag"), vec!["a", "b"]);
    let log = gw.access_logs(1).pop().unwrap();
    let ai_log: serde_json::Value = serde_json::from_str(log["ai_log"].as_str().unwrap()).unwrap();
    assert_eq!(ai_log["guard-a"], "a");
    assert_eq!(ai_log["guard-b"], "b");
    assert_eq!(ai_log["route"], "ai-route-llm");
    assert_eq!(ai_log["cluster"], LLM);
    // Plugin metrics on the admin port, under Envoy's Prometheus naming.
    rt().block_on(async {
        let (_, _, b) = get(&format!("http://{}/stats/prometheus", gw.admin.unwrap()))
            .await
            .unwrap();
        let text = String::from_utf8(b).unwrap();
        assert!(text.contains("envoy_request_guard_requests 2\n"), "{text}");
    });
}

#[test]
fn buffering_plugin_gets_413_over_the_32k_limit_and_can_block_or_rewrite_below_it() {
    let up = start_upstream();
    let docs = guard("guard", 100, "t", ", deny: [jailbreak], redact: [secret]");
    let gw = Gateway::start(&config(&[(LLM, up.addr)], &simple_routes(), &docs));
    rt().block_on(async {
        let c = client();
        let (s, _, b) = send(&c, "POST", &gw.url("/v1/chat"), &[], pattern(40 * 1024))
            .await
            .unwrap();
        assert_eq!(s, 413);
        assert_eq!(b, b"Payload Too Large");
        let (s, _, _) = send(
            &c,
            "POST",
            &gw.url("/v1/chat"),
            &[],
            b"a jailbreak".to_vec(),
        )
        .await
        .unwrap();
        assert_eq!(s, 403);
        let (s, _, _) = send(
            &c,
            "POST",
            &gw.url("/v1/chat"),
            &[],
            b"my secret ok".to_vec(),
        )
        .await
        .unwrap();
        assert_eq!(s, 200);
    });
    let seen = up.seen();
    assert_eq!(
        seen.len(),
        1,
        "only the allowed request reaches the upstream"
    );
    assert_eq!(seen[0].body, b"my [redacted] ok");
    let logs = gw.access_logs(3);
    assert_eq!(
        logs[0]["response_code_details"],
        "request_payload_too_large"
    );
}

#[test]
fn fail_strategy_open_passes_and_close_answers_503_wasm_fail_stream() {
    let up = start_upstream();
    let dir = tempdir("trap");
    let trap = dir.join("trap.wasm");
    std::fs::write(&trap, wasm::plugin(true)).unwrap();
    for (strategy, want) in [("FAIL_OPEN", 200), ("FAIL_CLOSE", 503)] {
        let docs = wasmplugin("trapper", &trap, 0, strategy, "{}");
        let gw = Gateway::start(&config(&[(LLM, up.addr)], &simple_routes(), &docs));
        rt().block_on(async {
            let (s, _, _) = send(&client(), "GET", &gw.url("/v1/models"), &[], vec![])
                .await
                .unwrap();
            assert_eq!(s, want, "{strategy}");
        });
        let log = gw.access_logs(1).pop().unwrap();
        if want == 503 {
            assert_eq!(log["response_code_details"], "wasm_fail_stream");
        } else {
            assert_eq!(log["response_code_details"], "via_upstream");
        }
    }
}

const AUTH: &str = "outbound|80||auth.static";
const REDIS: &str = "outbound|6379||redis.static";

fn gatekeeper_config(up: SocketAddr, other: SocketAddr, redis: SocketAddr) -> String {
    let docs = wasmplugin(
        "gatekeeper",
        &sdk_example("gatekeeper"),
        10,
        "FAIL_CLOSE",
        &format!(
            "{{auth: {{cluster: \"{AUTH}\", path: /auth, timeout_ms: 2000}}, quota: {{cluster: \"{REDIS}\", limit: 2, password: s3cret}}}}"
        ),
    );
    // The request arrives without x-auth-user (route `anon`); the plugin adds it after the auth
    // callout, and the router re-matches to `authed` (Envoy clears the route cache on header edits).
    let routes = format!(
        "  - name: authed\n    match: {{headers: [{{name: x-auth-user, exact: alice}}]}}\n    cluster: \"{LLM}\"\n  - name: anon\n    cluster: \"outbound|80||anon.static\"\n"
    );
    config(
        &[
            (LLM, up),
            ("outbound|80||anon.static", other),
            (AUTH, up),
            (REDIS, redis),
        ],
        &routes,
        &docs,
    )
}

#[test]
fn http_callout_and_redis_callouts_over_tcp_to_in_test_resp_server_then_route_rematch() {
    let up = start_upstream();
    let other = start_upstream();
    let redis = start_resp_server("s3cret");
    let gw = Gateway::start(&gatekeeper_config(up.addr, other.addr, redis.addr));
    rt().block_on(async {
        let c = client();
        let key = [("x-api-key", "k1")];
        let (s, _, _) = send(&c, "GET", &gw.url("/v1/a"), &key, vec![])
            .await
            .unwrap();
        assert_eq!(s, 200);
        let (s, _, _) = send(&c, "GET", &gw.url("/v1/b"), &key, vec![])
            .await
            .unwrap();
        assert_eq!(s, 200);
        let (s, _, b) = send(&c, "GET", &gw.url("/v1/c"), &key, vec![])
            .await
            .unwrap();
        assert_eq!((s, b.as_slice()), (429, &b"quota exceeded"[..]));
        let (s, _, _) = send(&c, "GET", &gw.url("/v1/deny"), &key, vec![])
            .await
            .unwrap();
        assert_eq!(s, 403);
    });
    // The auth callout went to the auth cluster with the plugin's headers.
    let auth = up.seen_path("/auth");
    assert_eq!(auth.len(), 4);
    assert_eq!(auth[0].header_values("x-original-path"), vec!["/v1/a"]);
    // The allowed requests carry what the plugin learnt from both callouts, and went to the
    // re-matched route's cluster.
    let v1: Vec<Seen> = up.seen_path("/v1/");
    assert_eq!(v1.len(), 2);
    assert_eq!(v1[0].header_values("x-auth-user"), vec!["alice"]);
    assert_eq!(v1[0].header_values("x-quota-used"), vec!["1"]);
    assert_eq!(v1[1].header_values("x-quota-used"), vec!["2"]);
    assert!(
        other.seen().is_empty(),
        "the pre-edit route must not be used"
    );
    // Real RESP over TCP: AUTH first on each connection, EVALSHA falls back to EVAL.
    let cmds = redis.commands.lock().unwrap().clone();
    assert_eq!(cmds[0], vec!["AUTH", "s3cret"]);
    assert!(cmds.iter().any(|c| c[0] == "EVALSHA"));
    assert_eq!(cmds.iter().filter(|c| c[0] == "EVAL").count(), 3);
    let logs = gw.access_logs(4);
    assert_eq!(logs[0]["route_name"], "authed");
}

#[test]
fn redis_unreachable_leaves_the_request_unmetered_but_served() {
    let up = start_upstream();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = Gateway::start(&gatekeeper_config(up.addr, up.addr, dead));
    rt().block_on(async {
        let (s, _, _) = send(&client(), "GET", &gw.url("/v1/a"), &[], vec![])
            .await
            .unwrap();
        assert_eq!(s, 200);
    });
    let v1 = up.seen_path("/v1/");
    assert_eq!(v1[0].header_values("x-quota"), vec!["unavailable"]);
}

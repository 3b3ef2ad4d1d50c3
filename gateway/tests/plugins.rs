//! Plugins in the gateway: chain order as the upstream sees it, body buffering and the 413 path,
//! failStrategy, HTTP and Redis callouts to named clusters (an in-test RESP server, and a real
//! Redis from `e2e-services`), route re-matching after header edits and its opt-out
//! (`clear_route_cache` off), ai_log in the access log and plugin metrics on the admin port.

mod common;

use common::*;
use e2e_services::redis::RedisServer;
use e2e_services::resp::{Connection, Reply};
use proxy_wasm_host::tiny_wasm::{noop_plugin, Abi};
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
    // Plugin metrics on the admin port, named as Envoy names Wasm metrics: no `envoy_` prefix.
    rt().block_on(async {
        let (_, _, b) = get(&format!("http://{}/stats/prometheus", gw.admin.unwrap()))
            .await
            .unwrap();
        let text = String::from_utf8(b).unwrap();
        assert!(text.contains("\nrequest_guard_requests 2\n"), "{text}");
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
    std::fs::write(&trap, noop_plugin(Abi::V0_2_1, true)).unwrap();
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
    gatekeeper_config_with(up, other, redis, REDIS, "s3cret")
}

/// `quota_cluster` is what the plugin hands the host: the cluster name, optionally with Higress's
/// `?db=N` (the host strips it to find the cluster and sends `SELECT N`).
fn gatekeeper_config_with(
    up: SocketAddr,
    other: SocketAddr,
    redis: SocketAddr,
    quota_cluster: &str,
    password: &str,
) -> String {
    let docs = wasmplugin(
        "gatekeeper",
        &sdk_example("gatekeeper"),
        10,
        "FAIL_CLOSE",
        &format!(
            "{{auth: {{cluster: \"{AUTH}\", path: /auth, timeout_ms: 2000}}, quota: {{cluster: \"{quota_cluster}\", limit: 2, password: \"{password}\"}}}}"
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

/// Two requests under the quota (limit 2), one over it (429), one refused by the auth callout; all
/// with `x-api-key: k1`, so the quota key is `quota:k1`.
fn two_allowed_one_over_quota_one_denied(gw: &Gateway) {
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
}

#[test]
fn http_callout_and_redis_callouts_over_tcp_to_in_test_resp_server_then_route_rematch() {
    let up = start_upstream();
    let other = start_upstream();
    let redis = start_resp_server("s3cret");
    let gw = Gateway::start(&gatekeeper_config(up.addr, other.addr, redis.addr));
    two_allowed_one_over_quota_one_denied(&gw);
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

fn ok(reply: std::io::Result<Reply>) -> Reply {
    match reply {
        Ok(Reply::Error(e)) => panic!("redis error: {e}"),
        Ok(r) => r,
        Err(e) => panic!("redis i/o: {e}"),
    }
}

/// One `INFO <section>` line's value, e.g. `cmdstat_eval` → `calls=1,usec=...`.
fn info_line(c: &mut Connection, section: &str, key: &str) -> Option<String> {
    let info = ok(c.cmd(&["INFO", section]));
    let text = info.as_str().unwrap_or_default().to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(str::to_string)
}

/// A numeric field of an `INFO` line (`calls`, `failed_calls`, `count`); 0 when the line is absent
/// (Redis omits commands never called since `CONFIG RESETSTAT`).
fn info_count(c: &mut Connection, section: &str, key: &str, field: &str) -> i64 {
    info_line(c, section, key).map_or(0, |l| {
        l.split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}

/// The same gatekeeper flow as against the in-test RESP server, but against a real Redis with a
/// password and the quota in database 3: the SDK's EVALSHA meets a real NOSCRIPT on the flushed
/// script cache and falls back to EVAL once, the Lua script really counts (and sets the window),
/// the third request is refused, and a wrong password leaves requests unmetered.
#[test]
fn gatekeeper_quota_through_the_gateway_against_real_redis_with_auth_and_db() {
    let Some(server) = RedisServer::start_or_skip(
        "gatekeeper_quota_through_the_gateway_against_real_redis_with_auth_and_db",
    ) else {
        return;
    };
    const PASSWORD: &str = "gw-e2e-pw";
    let mut admin = Connection::connect(server.port()).unwrap();
    // redis.sh starts without a password; this connection stays authenticated after the change.
    ok(admin.cmd(&["CONFIG", "SET", "requirepass", PASSWORD]));
    // A fresh server has no cached scripts anyway; the flush makes the NOSCRIPT path certain, and
    // the reset makes the command counts below this test's alone.
    ok(admin.cmd(&["SCRIPT", "FLUSH"]));
    ok(admin.cmd(&["CONFIG", "RESETSTAT"]));
    let mut anon = Connection::connect(server.port()).unwrap();
    assert!(
        matches!(anon.cmd(&["GET", "x"]).unwrap(), Reply::Error(e) if e.starts_with("NOAUTH")),
        "the password is in force, so only an authenticated gateway can count"
    );

    let redis: SocketAddr = ([127, 0, 0, 1], server.port()).into();
    let up = start_upstream();
    let other = start_upstream();
    let gw = Gateway::start(&gatekeeper_config_with(
        up.addr,
        other.addr,
        redis,
        &format!("{REDIS}?db=3"),
        PASSWORD,
    ));
    two_allowed_one_over_quota_one_denied(&gw);
    let v1 = up.seen_path("/v1/");
    assert_eq!(v1.len(), 2, "the 429 and the 403 never reach the upstream");
    assert_eq!(v1[0].header_values("x-quota-used"), vec!["1"]);
    assert_eq!(v1[1].header_values("x-quota-used"), vec!["2"]);
    assert!(other.seen().is_empty());

    // The counter is in database 3, not 0, and the script's EXPIRE gave it its window.
    ok(admin.cmd(&["SELECT", "3"]));
    assert_eq!(ok(admin.cmd(&["GET", "quota:k1"])).as_str(), Some("3"));
    let ttl = ok(admin.cmd(&["TTL", "quota:k1"])).as_int().unwrap();
    assert!((1..=60).contains(&ttl), "ttl {ttl}");
    ok(admin.cmd(&["SELECT", "0"]));
    assert_eq!(ok(admin.cmd(&["EXISTS", "quota:k1"])).as_int(), Some(0));

    // EVALSHA→NOSCRIPT→EVAL, once: the EVAL cached the script server-side, so the later
    // EVALSHAs succeed. Three requests reached the quota check (the 403 stopped at auth).
    let count = |c: &mut Connection, k: &str, f: &str| info_count(c, "commandstats", k, f);
    assert_eq!(count(&mut admin, "cmdstat_evalsha", "calls"), 3);
    assert_eq!(count(&mut admin, "cmdstat_evalsha", "failed_calls"), 1);
    assert_eq!(count(&mut admin, "cmdstat_eval", "calls"), 1);
    assert_eq!(
        info_count(&mut admin, "errorstats", "errorstat_NOSCRIPT", "count"),
        1
    );
    // The gateway authenticated and selected the database on its connection(s).
    assert!(count(&mut admin, "cmdstat_auth", "calls") >= 1);
    assert!(count(&mut admin, "cmdstat_select", "calls") >= 1);
    assert_eq!(
        info_count(&mut admin, "errorstats", "errorstat_WRONGPASS", "count"),
        0
    );
    drop(gw);

    // A wrong password: Redis refuses AUTH, the plugin fails open and marks the request.
    let gw = Gateway::start(&gatekeeper_config_with(
        up.addr,
        other.addr,
        redis,
        &format!("{REDIS}?db=3"),
        "wrong",
    ));
    rt().block_on(async {
        let (s, _, _) = send(
            &client(),
            "GET",
            &gw.url("/v1/w"),
            &[("x-api-key", "k1")],
            vec![],
        )
        .await
        .unwrap();
        assert_eq!(s, 200);
    });
    let w = up.seen_path("/v1/w");
    assert_eq!(w[0].header_values("x-quota"), vec!["unavailable"]);
    assert!(info_count(&mut admin, "errorstats", "errorstat_WRONGPASS", "count") >= 1);
    ok(admin.cmd(&["SELECT", "3"]));
    assert_eq!(
        ok(admin.cmd(&["GET", "quota:k1"])).as_str(),
        Some("3"),
        "nothing counted without AUTH"
    );
}

/// Routes for the re-match test: `tagged` only matches once request-guard has added its
/// `x-guard-tag: t`, so the request arrives on `plain`.
fn tag_routes() -> String {
    format!(
        "  - name: tagged\n    match: {{headers: [{{name: x-guard-tag, exact: t}}]}}\n    cluster: \"outbound|80||tagged.static\"\n  - name: plain\n    cluster: \"{LLM}\"\n"
    )
}

/// Envoy re-matches the route when a filter edited request headers (`clearRouteCache`), unless the
/// plugin set Higress's `clear_route_cache` property to `off` first (`keep_route`).
#[test]
fn header_edit_rematches_the_route_unless_the_plugin_set_clear_route_cache_off() {
    let plain = start_upstream();
    let tagged = start_upstream();
    for (keep, want_route) in [(false, "tagged"), (true, "plain")] {
        let docs = guard("guard", 100, "t", &format!(", keep_route: {keep}"));
        let gw = Gateway::start(&config(
            &[
                (LLM, plain.addr),
                ("outbound|80||tagged.static", tagged.addr),
            ],
            &tag_routes(),
            &docs,
        ));
        rt().block_on(async {
            let (s, _, _) = send(&client(), "GET", &gw.url("/v1/x"), &[], vec![])
                .await
                .unwrap();
            assert_eq!(s, 200, "keep_route={keep}");
        });
        let log = gw.access_logs(1).pop().unwrap();
        assert_eq!(log["route_name"], want_route, "keep_route={keep}");
        // The plugin itself ran on the route picked before the chain either way.
        let ai_log: serde_json::Value =
            serde_json::from_str(log["ai_log"].as_str().unwrap()).unwrap();
        assert_eq!(ai_log["route"], "plain");
    }
    // Without keep_route the request went to `tagged`'s cluster; with it, to `plain`'s.
    assert_eq!(tagged.seen().len(), 1);
    assert_eq!(plain.seen().len(), 1);
    assert_eq!(plain.seen()[0].header_values("x-guard-tag"), vec!["t"]);
}

//! Every SDK feature, exercised by small example plugins (`examples/request-guard.rs`,
//! `examples/gatekeeper.rs`) built for wasm32-wasip1 and run in our Envoy-semantics host
//! (`proxy-wasm-host`). Each test runs under both ABI builds: the default one exporting
//! `proxy_abi_version_0_2_100` (Higress) and the `abi-0-2-1` one (vanilla Envoy), and asserts the
//! difference where the ABI matters.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use higress_sdk::resp::{self, RespValue};
use higress_sdk::{ai_log, LuaScript};
use proxy_wasm_host::build_support::build_wasm_example;
use proxy_wasm_host::harness::HarnessError;
use proxy_wasm_host::shared::MetricValue;
use proxy_wasm_host::{
    AbiVersion, HttpCalloutResponse, PluginConfig, Received, Stream, TestHost, VmError,
};
use serde_json::{json, Map, Value};

// ---- building and loading the plugins ---------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Abi {
    /// Default build: Higress's ABI, request headers really held while the body is read.
    Higress,
    /// `--features abi-0-2-1`: vanilla Envoy.
    Vanilla,
}

const ABIS: [Abi; 2] = [Abi::Higress, Abi::Vanilla];

impl Abi {
    fn features(self) -> &'static [&'static str] {
        match self {
            Abi::Higress => &[],
            Abi::Vanilla => &["abi-0-2-1"],
        }
    }

    fn version(self) -> AbiVersion {
        match self {
            Abi::Higress => AbiVersion::V0_2_100,
            Abi::Vanilla => AbiVersion::V0_2_1,
        }
    }
}

/// The example's wasm for `abi`, built once per test process.
fn wasm(example: &str, abi: Abi) -> Vec<u8> {
    type Builds = HashMap<(String, Abi), Vec<u8>>;
    static CACHE: OnceLock<Mutex<Builds>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry((example.to_string(), abi))
        .or_insert_with(|| {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let path = build_wasm_example(&workspace, "higress-sdk", example, abi.features())
                .unwrap_or_else(|e| panic!("{e}"));
            std::fs::read(path).unwrap()
        })
        .clone()
}

/// Adds plugin `name` (example `example`, `abi` build) with `config` to `host`.
fn add(
    host: &mut TestHost,
    example: &str,
    abi: Abi,
    name: &str,
    config: Value,
) -> Result<(), HarnessError> {
    let config = PluginConfig {
        root_id: name.to_string(),
        vm_id: format!("{name}-vm"),
        ..PluginConfig::new(name, config.to_string())
    };
    host.add_plugin(&wasm(example, abi), config)?;
    // The host picked the ABI from the build's marker export.
    let vm = host.vm(name).expect("plugin in the chain");
    assert_eq!(vm.borrow().abi(), abi.version());
    Ok(())
}

/// A host running one example plugin, named after the example.
fn host(example: &str, abi: Abi, config: Value) -> TestHost {
    let mut h = TestHost::new();
    add(&mut h, example, abi, example, config).unwrap_or_else(|e| panic!("{abi:?}: {e}"));
    h
}

// ---- requests ---------------------------------------------------------------------------------

fn get(path: &str, authority: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "GET".into()),
        (":path", path.to_string()),
        (":authority", authority.to_string()),
        (":scheme", "http".into()),
    ]
}

fn post(content_length: usize) -> Vec<(&'static str, String)> {
    let mut h = get("/v1/chat/completions", "api.example.com");
    h[0].1 = "POST".into();
    h.push(("content-type", "application/json".into()));
    h.push(("content-length", content_length.to_string()));
    h
}

fn pairs<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    h.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn header(r: &Received, name: &str) -> Option<String> {
    r.headers.as_ref()?.get(name).map(str::to_string)
}

fn ai_log_of(s: &Stream) -> Map<String, Value> {
    ai_log::decode(&s.filter_state("ai_log").expect("ai_log filter state"))
}

fn messages(h: &TestHost, plugin: &str) -> Vec<String> {
    h.take_logs()
        .into_iter()
        .filter(|l| l.plugin == plugin)
        .map(|l| l.message)
        .collect()
}

const OK_JSON: &[(&str, &str)] = &[(":status", "200"), ("content-type", "application/json")];

// ---- config and rule matching -----------------------------------------------------------------

/// Each rule kind picks the config through the host's `route_name`, `cluster_name` and
/// `:authority`; the first matching rule wins; a rule inherits the global keys it does not set.
#[test]
fn rules_select_the_config_by_route_prefix_domain_service_and_mixed_keys() {
    let config = json!({
        "tag": "global",
        "_rules_": [
            {"_match_route_": ["chat"], "tag": "route"},
            {"_match_route_prefix_": ["embed-"], "tag": "prefix"},
            {"_match_domain_": ["*.internal.example.com"], "tag": "domain"},
            {"_match_service_": ["llm.dns:443"], "tag": "service"},
            {"_match_route_": ["mixed"], "_match_domain_": ["api.example.com"], "tag": "mixed"},
            {"_match_route_": ["inherit"], "log_key": "inherited"}
        ]
    });
    let cases = [
        ("chat", "", "api.example.com", "route"),
        ("embed-v2", "", "api.example.com", "prefix"),
        ("other", "", "Gpu.Internal.Example.com:8443", "domain"),
        (
            "other",
            "outbound|443||llm.dns",
            "api.example.com",
            "service",
        ),
        // The service entry names port 443; another port falls through to the global config.
        ("other", "outbound|80||llm.dns", "api.example.com", "global"),
        // Several keys in one rule must all match.
        ("mixed", "", "api.example.com", "mixed"),
        ("mixed", "", "other.example.com", "global"),
        ("inherit", "", "api.example.com", "global"),
    ];
    for abi in ABIS {
        let mut h = host("request-guard", abi, config.clone());
        for (route, cluster, authority, want) in cases {
            let mut s = h.stream();
            s.set_route_name(route).set_cluster_name(cluster);
            s.send_request_headers(&pairs(&get("/", authority)), true);
            let case = format!("{abi:?} route={route} cluster={cluster} authority={authority}");
            assert_eq!(
                header(&s.upstream(), "x-guard-tag").as_deref(),
                Some(want),
                "{case}"
            );
            // The inheriting rule changed only `log_key`; `tag` came from the global config.
            let key = if route == "inherit" {
                "inherited"
            } else {
                "guard"
            };
            assert_eq!(ai_log_of(&s).get(key), Some(&json!(want)), "{case}");
        }
    }
}

/// With only `_rules_`, a request that matches no rule is not touched at all.
#[test]
fn without_a_global_config_unmatched_requests_are_untouched() {
    for abi in ABIS {
        let mut h = host(
            "request-guard",
            abi,
            json!({"_rules_": [{"_match_route_": ["chat"], "tag": "chat"}]}),
        );
        let mut other = h.stream();
        other.set_route_name("other");
        other.send_request_headers(&pairs(&get("/", "api.example.com")), true);
        assert_eq!(header(&other.upstream(), "x-guard-tag"), None, "{abi:?}");
        assert_eq!(other.filter_state("ai_log"), None, "{abi:?}");
        let mut chat = h.stream();
        chat.set_route_name("chat");
        chat.send_request_headers(&pairs(&get("/", "api.example.com")), true);
        assert_eq!(
            header(&chat.upstream(), "x-guard-tag").as_deref(),
            Some("chat"),
            "{abi:?}"
        );
    }
}

/// A bad config makes `proxy_on_configure` fail, so the host rejects the plugin, and the log
/// line names the field: a type error inside a rule, and a `validate` error.
#[test]
fn bad_config_is_rejected_at_configure_with_the_field_named() {
    let cases = [
        (
            json!({"_rules_": [{"_match_route_": ["a"], "body_limit": "big"}]}),
            "[request-guard] invalid configuration: _rules_[0].body_limit: invalid type: string \"big\"",
        ),
        (
            json!({"deny": ["ok", ""]}),
            "[request-guard] invalid configuration: deny[1]: must not be empty",
        ),
    ];
    for abi in ABIS {
        for (config, line) in &cases {
            let mut h = TestHost::new();
            let err = add(
                &mut h,
                "request-guard",
                abi,
                "request-guard",
                config.clone(),
            )
            .expect_err("bad config accepted");
            assert!(
                matches!(err, HarnessError::Vm(VmError::ConfigureRejected)),
                "{abi:?}: {err}"
            );
            let logs = messages(&h, "request-guard");
            assert!(
                logs.iter().any(|l| l.starts_with(line)),
                "{abi:?}: {logs:?}"
            );
        }
    }
}

// ---- request body -----------------------------------------------------------------------------

/// The complete request body is rewritten. Under 0.2.100 the headers wait for the body, so a header
/// set after reading it reaches the upstream and Content-Length is corrected; under 0.2.1 the
/// headers went upstream at the first callback, without Content-Length, and the late header is lost.
#[test]
fn request_body_is_replaced_and_the_abi_decides_what_happens_to_the_headers() {
    let body = r#"{"messages":[{"role":"user","content":"my secret is secret"}]}"#;
    let redacted = body.replace("secret", "[redacted]");
    for abi in ABIS {
        let mut h = host("request-guard", abi, json!({"redact": ["secret"]}));
        let mut s = h.stream();
        s.send_request_headers(&pairs(&post(body.len())), false);
        let (first, rest) = body.split_at(20);
        s.send_request_body(first, false);
        let early = s.upstream();
        s.send_request_body(rest, true);
        let up = s.upstream();
        assert_eq!(up.body_string(), redacted, "{abi:?}");
        match abi {
            Abi::Higress => {
                assert!(
                    early.headers.is_none(),
                    "headers must be held while the body is read"
                );
                assert_eq!(header(&up, "x-guard-redacted").as_deref(), Some("2"));
                assert_eq!(
                    header(&up, "content-length"),
                    Some(redacted.len().to_string())
                );
            }
            Abi::Vanilla => {
                assert!(early.headers.is_some(), "0.2.1 lets the headers go at once");
                assert!(early.frames.is_empty(), "but the body is still buffered");
                assert_eq!(header(&up, "x-guard-redacted"), None);
                assert_eq!(header(&up, "content-length"), None);
            }
        }
    }
}

/// A local reply after reading the body. Under 0.2.100 the upstream never saw the request; under
/// 0.2.1 it already got the headers (as Envoy would have sent them), never the body, and the
/// client gets the plugin's 403 either way.
#[test]
fn local_reply_after_the_body_reaches_the_client_under_both_abis() {
    let body = r#"{"messages":[{"role":"user","content":"try a jailbreak"}]}"#;
    for abi in ABIS {
        let mut h = host("request-guard", abi, json!({"deny": ["jailbreak"]}));
        let mut s = h.stream();
        s.send_request_headers(&pairs(&post(body.len())), false);
        s.send_request_body(body, true);
        let down = s.downstream();
        assert_eq!(down.status(), Some(403), "{abi:?}");
        assert_eq!(down.body_string(), "blocked by request-guard", "{abi:?}");
        assert_eq!(
            s.local_replies()[0].sender.as_deref(),
            Some("request-guard")
        );
        assert!(!s.upstream_can_respond(), "{abi:?}");
        let up = s.upstream();
        assert!(up.frames.is_empty(), "{abi:?}: the body never left");
        match abi {
            Abi::Higress => assert!(up.headers.is_none(), "held headers are never sent"),
            Abi::Vanilla => {
                assert!(
                    up.headers.is_some(),
                    "0.2.1 sent the headers before the body"
                );
                assert_eq!(header(&up, "content-length"), None);
                // The upstream request is left unfinished: Envoy resets it for the local reply.
                assert!(!up.end_stream);
            }
        }
        assert_eq!(
            ai_log_of(&s).get("guard_blocked"),
            Some(&json!("jailbreak"))
        );
    }
}

/// Buffering a body over Higress's 32 KiB stream limit gets the host's 413, unless the plugin
/// raised the limit through the `set_decoder_buffer_limit` property.
#[test]
fn buffer_limit_property_raises_the_32k_limit() {
    let body = format!(r#"{{"pad":"{}"}}"#, "x".repeat(40 * 1024));
    for abi in ABIS {
        for limit in [None, Some(64 * 1024)] {
            let mut config = json!({"deny": ["jailbreak"]});
            if let Some(limit) = limit {
                config["body_limit"] = json!(limit);
            }
            let mut h = host("request-guard", abi, config);
            let mut s = h.stream();
            s.send_request_headers(&pairs(&post(body.len())), false);
            s.send_request_body_chunked(body.as_bytes(), 4096);
            let case = format!("{abi:?} limit={limit:?}");
            if limit.is_some() {
                assert_eq!(s.upstream().body().len(), body.len(), "{case}");
                assert!(s.upstream_can_respond(), "{case}");
            } else {
                assert_eq!(s.downstream().status(), Some(413), "{case}");
                assert_eq!(
                    s.local_replies()[0].sender,
                    None,
                    "{case}: the host's reply"
                );
                assert!(s.upstream().frames.is_empty(), "{case}");
            }
        }
    }
}

// ---- response body ----------------------------------------------------------------------------

/// The complete response body is replaced; its headers went first without Content-Length, and no
/// body byte left before the end.
#[test]
fn response_body_is_buffered_whole_and_replaced() {
    for abi in ABIS {
        let mut h = host(
            "request-guard",
            abi,
            json!({"response_footer": "\n-- checked"}),
        );
        let mut s = h.stream();
        s.send_request_headers(&pairs(&get("/", "api.example.com")), true);
        s.send_response_headers(&[(":status", "200"), ("content-length", "11")], false);
        s.send_response_body("hello ", false);
        assert!(s.downstream().frames.is_empty(), "{abi:?}: buffered");
        s.send_response_body("world", true);
        let down = s.downstream();
        assert_eq!(header(&down, "content-length"), None, "{abi:?}");
        assert_eq!(down.body_string(), "hello world\n-- checked", "{abi:?}");
        assert!(down.end_stream);
    }
}

/// Without buffering each chunk reaches the client as soon as it is sent (Content-Length intact),
/// while the plugin still sees every chunk (its byte count lands in ai_log).
#[test]
fn streaming_response_passes_through_chunk_by_chunk() {
    for abi in ABIS {
        let mut h = host("request-guard", abi, json!({}));
        let mut s = h.stream();
        s.send_request_headers(&pairs(&get("/", "api.example.com")), true);
        s.send_response_headers(&[(":status", "200"), ("content-length", "9")], false);
        for (n, chunk) in ["abc", "def", "ghi"].iter().enumerate() {
            s.send_response_body(chunk, n == 2);
            assert_eq!(
                s.downstream().frames.len(),
                n + 1,
                "{abi:?}: chunk {n} held"
            );
        }
        let down = s.downstream();
        assert_eq!(
            header(&down, "content-length").as_deref(),
            Some("9"),
            "{abi:?}"
        );
        assert_eq!(down.body_string(), "abcdefghi");
        assert_eq!(
            ai_log_of(&s).get("response_bytes"),
            Some(&json!(9)),
            "{abi:?}"
        );
    }
}

// ---- ai_log, properties, shared data, metrics, logging ------------------------------------------

/// Two instances of the plugin in one chain write ai_log; the second merges into what the first
/// wrote, and both read `route_name`/`cluster_name` from the host.
#[test]
fn ai_log_entries_of_two_plugins_merge_and_properties_come_from_the_stream() {
    for abi in ABIS {
        let mut h = TestHost::new();
        add(
            &mut h,
            "request-guard",
            abi,
            "guard-a",
            json!({"tag": "a", "log_key": "guard_a"}),
        )
        .unwrap();
        add(
            &mut h,
            "request-guard",
            abi,
            "guard-b",
            json!({"tag": "b", "log_key": "guard_b"}),
        )
        .unwrap();
        let mut s = h.stream();
        s.set_route_name("llm-route")
            .set_cluster_name("outbound|443||llm.dns");
        s.send_request_headers(&pairs(&get("/", "api.example.com")), true);
        let log = ai_log_of(&s);
        assert_eq!(log.get("guard_a"), Some(&json!("a")), "{abi:?}: {log:?}");
        assert_eq!(log.get("guard_b"), Some(&json!("b")), "{abi:?}: {log:?}");
        assert_eq!(log.get("route"), Some(&json!("llm-route")));
        assert_eq!(log.get("cluster"), Some(&json!("outbound|443||llm.dns")));
        // Stored escaped, as the access log's `"%FILTER_STATE(wasm.ai_log:PLAIN)%"` expects.
        assert!(s.filter_state("ai_log").unwrap().starts_with(br#"{\""#));
        // Both instances tagged the request (one `x-guard-tag` each).
        let up = s.upstream();
        assert_eq!(up.headers.unwrap().get_all("x-guard-tag"), vec!["a", "b"]);
    }
}

/// `keep_route` sets `clear_route_cache` off before the `x-guard-tag` edit, so that edit does not
/// clear the route cache (the router would otherwise re-match); without it, the edit does.
#[test]
fn keep_route_turns_off_route_cache_clearing_before_the_header_edit() {
    for abi in ABIS {
        for (keep, clears) in [(false, 1), (true, 0)] {
            let mut h = host(
                "request-guard",
                abi,
                json!({"tag": "t", "keep_route": keep}),
            );
            let mut s = h.stream();
            s.send_request_headers(&pairs(&get("/", "api.example.com")), true);
            let info = s.info();
            assert_eq!(info.route_cache_clearing_disabled, keep, "{abi:?}");
            assert_eq!(info.route_cache_clears, clears, "{abi:?} keep_route={keep}");
        }
    }
}

/// Two requests in flight read the shared counter with the same CAS; the second write is refused
/// with a CAS mismatch and redone on a fresh read, so neither response is lost.
#[test]
fn shared_data_cas_keeps_both_concurrent_updates() {
    for abi in ABIS {
        let mut h = host("request-guard", abi, json!({}));
        let mut a = h.stream();
        let mut b = h.stream();
        a.send_request_headers(&pairs(&get("/a", "api.example.com")), true);
        b.send_request_headers(&pairs(&get("/b", "api.example.com")), true);
        h.take_logs();
        a.send_response_headers(OK_JSON, true);
        b.send_response_headers(OK_JSON, true);
        let (value, _cas) = h
            .env
            .shared_data
            .get("request-guard-vm", "request-guard/responses")
            .expect("counter written");
        assert_eq!(String::from_utf8_lossy(&value), "2", "{abi:?}");
        assert_eq!(
            messages(&h, "request-guard"),
            vec!["[request-guard] request-guard/responses changed concurrently, retrying"],
            "{abi:?}: exactly one conflict, on the second write"
        );
    }
}

#[test]
fn metrics_defined_by_the_plugin_are_visible_in_the_host() {
    for abi in ABIS {
        let mut h = host("request-guard", abi, json!({}));
        for _ in 0..3 {
            h.stream()
                .send_request_headers(&pairs(&get("/", "api.example.com")), true);
        }
        assert_eq!(
            h.metric("request_guard.requests"),
            Some(MetricValue::Counter(3)),
            "{abi:?}"
        );
    }
}

/// Every line the plugin logs through `Log` carries its `[name] ` prefix.
#[test]
fn plugin_log_lines_carry_the_prefix() {
    let body = "jailbreak";
    for abi in ABIS {
        let mut h = host("request-guard", abi, json!({"deny": ["jailbreak"]}));
        h.take_logs();
        let mut s = h.stream();
        s.send_request_headers(&pairs(&post(body.len())), false);
        s.send_request_body(body, true);
        let logs = messages(&h, "request-guard");
        assert!(
            logs.contains(
                &"[request-guard] blocked a request containing \"jailbreak\"".to_string()
            ),
            "{abi:?}: {logs:?}"
        );
        assert!(
            logs.iter().all(|l| l.starts_with("[request-guard] ")),
            "{abi:?}: {logs:?}"
        );
    }
}

// ---- callouts and timers ----------------------------------------------------------------------

const AUTH_CLUSTER: &str = "outbound|80||auth.dns";

/// Four requests wait for their auth callouts at once; each answer (allowed, denied, failed, timed
/// out) acts on the stream that made the call and on no other.
#[test]
fn http_callouts_are_answered_failed_and_timed_out_on_the_right_stream() {
    let config = json!({"auth": {"cluster": AUTH_CLUSTER, "path": "/check", "timeout_ms": 200}});
    for abi in ABIS {
        let mut h = host("gatekeeper", abi, config.clone());
        let mut streams: Vec<Stream> = ["/ok", "/denied", "/failed", "/slow"]
            .iter()
            .map(|path| {
                let mut s = h.stream();
                s.send_request_headers(&pairs(&get(path, "api.example.com")), true);
                s
            })
            .collect();
        let calls = h.http_calls();
        assert_eq!(calls.len(), 4, "{abi:?}");
        let call_for = |path: &str| {
            calls
                .iter()
                .find(|c| c.headers.get("x-original-path") == Some(path))
                .unwrap_or_else(|| panic!("no callout for {path}"))
                .clone()
        };
        for c in &calls {
            assert_eq!(c.cluster, AUTH_CLUSTER);
            assert_eq!(c.headers.get(":path"), Some("/check"));
            assert_eq!(c.headers.get(":authority"), Some("auth"));
            assert_eq!(c.timeout, Some(Duration::from_millis(200)));
        }
        assert!(
            streams.iter().all(|s| s.upstream().headers.is_none()),
            "{abi:?}: all waiting"
        );

        // Answered in reverse order of dispatch, to show the routing is by stream, not by order.
        h.respond_http(&call_for("/denied"), HttpCalloutResponse::new(401, &[], ""));
        h.respond_http(
            &call_for("/ok"),
            HttpCalloutResponse::new(200, &[("x-user", "bob")], ""),
        );
        streams[2].fail_http(&call_for("/failed"));
        assert_eq!(
            streams[3].downstream().status(),
            None,
            "{abi:?}: /slow still waiting"
        );
        h.advance(Duration::from_millis(200));

        let [ok, denied, failed, slow] = &streams[..] else {
            unreachable!()
        };
        assert_eq!(
            header(&ok.upstream(), "x-auth-user").as_deref(),
            Some("bob"),
            "{abi:?}"
        );
        assert_eq!(ok.downstream().status(), None);
        for (s, status, body) in [
            (denied, 403, "denied by auth"),
            (
                failed,
                503,
                "auth unavailable: callout failed (no response)",
            ),
            (slow, 503, "auth unavailable: status 504"),
        ] {
            assert!(s.upstream().headers.is_none(), "{abi:?} {body}");
            assert_eq!(s.downstream().status(), Some(status), "{abi:?} {body}");
            assert_eq!(s.downstream().body_string(), body, "{abi:?}");
        }
        assert!(h.http_calls().is_empty());
    }
}

const REDIS_CLUSTER: &str = "outbound|6379||redis.dns";

fn quota_host(abi: Abi) -> TestHost {
    host(
        "gatekeeper",
        abi,
        json!({"quota": {"cluster": REDIS_CLUSTER, "limit": 3, "password": "pw"}}),
    )
}

fn keyed_request(key: &str) -> Vec<(&'static str, String)> {
    let mut r = get("/", "api.example.com");
    r.push(("x-api-key", key.to_string()));
    r
}

fn command(query: &[u8]) -> Vec<String> {
    match resp::decode(query).expect("RESP query") {
        RespValue::Array(items) => items
            .into_iter()
            .map(|i| match i {
                RespValue::Bulk(b) => String::from_utf8(b).unwrap(),
                other => panic!("not a bulk string: {other:?}"),
            })
            .collect(),
        other => panic!("not a command: {other:?}"),
    }
}

/// Higress: the quota script goes out as EVALSHA; on NOSCRIPT the SDK resends it as EVAL with the
/// script whose SHA-1 it sent, and the plugin only sees the final count. Vanilla Envoy has no Redis:
/// the call fails at once and the plugin lets the request through unmetered.
#[test]
fn redis_quota_uses_evalsha_and_falls_back_to_eval_on_noscript() {
    for abi in ABIS {
        let mut h = quota_host(abi);
        let mut s = h.stream();
        s.send_request_headers(&pairs(&keyed_request("alice")), true);
        if abi == Abi::Vanilla {
            assert!(h.upstreams.redis_inits().is_empty());
            assert!(s.redis_calls().is_empty());
            assert_eq!(
                header(&s.upstream(), "x-quota").as_deref(),
                Some("unavailable")
            );
            continue;
        }
        let init = &h.upstreams.redis_inits()[0];
        assert_eq!(
            (init.cluster.as_str(), init.password.as_str()),
            (REDIS_CLUSTER, "pw")
        );
        let evalsha = s.redis_calls().remove(0);
        let sent = command(&evalsha.query);
        assert_eq!(sent[0], "EVALSHA");
        assert_eq!(sent[2..], ["1", "quota:alice"]);
        s.respond_redis(
            &evalsha,
            "-NOSCRIPT No matching script. Please use EVAL.\r\n",
        );
        assert!(
            s.upstream().headers.is_none(),
            "the plugin must not see NOSCRIPT"
        );
        let eval = s.redis_calls().remove(0);
        let resent = command(&eval.query);
        assert_eq!(resent[0], "EVAL");
        assert_eq!(
            LuaScript::new(resent[1].as_str()).sha1(),
            sent[1],
            "EVAL sends the EVALSHA'd script"
        );
        assert_eq!(resent[2..], ["1", "quota:alice"]);
        s.respond_redis(&eval, ":3\r\n");
        assert_eq!(header(&s.upstream(), "x-quota-used").as_deref(), Some("3"));

        // Over the limit: the count comes back as 4 and the plugin answers 429.
        let mut over = h.stream();
        over.send_request_headers(&pairs(&keyed_request("alice")), true);
        let call = over.redis_calls().remove(0);
        over.respond_redis(&call, ":4\r\n");
        assert_eq!(over.downstream().status(), Some(429));
        assert!(over.upstream().headers.is_none());
    }
}

/// A Redis transport failure reaches the plugin as an error; it fails open and says so.
#[test]
fn failed_redis_call_lets_the_request_through_unmetered() {
    for abi in ABIS {
        let mut h = quota_host(abi);
        h.take_logs();
        let mut s = h.stream();
        s.send_request_headers(&pairs(&keyed_request("bob")), true);
        if abi == Abi::Higress {
            let call = s.redis_calls().remove(0);
            assert!(s.upstream().headers.is_none(), "waiting for Redis");
            s.fail_redis(&call);
        }
        assert_eq!(
            header(&s.upstream(), "x-quota").as_deref(),
            Some("unavailable"),
            "{abi:?}"
        );
        let logs = messages(&h, "gatekeeper");
        let want = match abi {
            Abi::Higress => "[gatekeeper] quota not checked: redis call failed with status 1",
            Abi::Vanilla => "[gatekeeper] quota not checked: proxy_redis_call",
        };
        assert!(
            logs.iter().any(|l| l.starts_with(want)),
            "{abi:?}: {logs:?}"
        );
    }
}

/// The tick timer follows the host's fake clock: one tick per elapsed period.
#[test]
fn tick_timer_fires_once_per_period_of_the_fake_clock() {
    for abi in ABIS {
        let mut h = host("gatekeeper", abi, json!({"heartbeat_ms": 100}));
        assert_eq!(
            h.metric("gatekeeper.heartbeats"),
            None,
            "{abi:?}: no tick before time passes"
        );
        h.advance(Duration::from_millis(250));
        assert_eq!(
            h.metric("gatekeeper.heartbeats"),
            Some(MetricValue::Counter(2)),
            "{abi:?}"
        );
        h.advance(Duration::from_millis(50));
        assert_eq!(
            h.metric("gatekeeper.heartbeats"),
            Some(MetricValue::Counter(3)),
            "{abi:?}"
        );
    }
}

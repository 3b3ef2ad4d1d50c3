//! Plugin chains: Higress ordering, WasmPlugin documents, and data shared between plugins
//! through filter state.

mod common;
use common::*;
use proxy_wasm_host::{Phase, TestHost};

#[test]
fn chain_is_ordered_by_phase_then_priority_descending_then_name() {
    let mut h = TestHost::new();
    for (name, phase, prio) in [
        ("m-unspec", Phase::Unspecified, 10),
        ("a-stats", Phase::Stats, 0),
        ("z-authn", Phase::Authn, 0),
        ("b-unspec", Phase::Unspecified, 10),
        ("c-unspec", Phase::Unspecified, 100),
        ("y-authz", Phase::Authz, 5),
    ] {
        let mut cfg = config(name, "");
        cfg.phase = phase;
        cfg.priority = prio;
        h.add_plugin(scripted(), cfg).unwrap();
    }
    assert_eq!(
        h.chain(),
        vec!["z-authn", "y-authz", "a-stats", "c-unspec", "b-unspec", "m-unspec"]
    );
    h.take_logs();
    h.stream().send_request_headers(GET, true);
    assert_eq!(
        only(&all_logs(&h), &["request_headers n="]),
        vec![
            "z-authn| request_headers n=4 eos=1",
            "y-authz| request_headers n=4 eos=1",
            "a-stats| request_headers n=4 eos=1",
            "c-unspec| request_headers n=4 eos=1",
            "b-unspec| request_headers n=4 eos=1",
            "m-unspec| request_headers n=4 eos=1",
        ]
    );
}

#[test]
fn wasmplugin_yaml_loads_the_plugin_with_the_controller_config() {
    let dir = std::env::temp_dir().join(format!("pwh-yaml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = dir.join("scripted.wasm");
    std::fs::write(&wasm, scripted()).unwrap();
    let yaml = format!(
        "apiVersion: extensions.higress.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: ai-cache\n  namespace: higress-system\n\
         spec:\n  url: file://{}\n  phase: STATS\n  priority: 10\n  defaultConfig:\n    ttl: 60\n  matchRules:\n  - domain: [api.example.com]\n    config:\n      ttl: 5\n",
        wasm.display()
    );
    let mut h = TestHost::new();
    assert!(h.add_wasmplugin_yaml(&yaml).unwrap());
    assert_eq!(h.chain(), vec!["ai-cache"]);
    let lines = logs(&h, "ai-cache");
    assert!(
        lines.contains(
            &r#"config {"ttl":60,"_rules_":[{"ttl":5,"_match_domain_":["api.example.com"]}]}"#
                .to_string()
        ),
        "{lines:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn later_plugins_read_filter_state_set_by_earlier_ones() {
    let mut h = host(&[
        (
            "a",
            "request_headers: set_property ai_log {\"model\":\"m\"}",
        ),
        (
            "b",
            "request_headers: get_property ai_log\nlog: get_property ai_log",
        ),
    ]);
    let mut s = h.stream();
    s.send_request_headers(GET, true)
        .send_response_headers(OK, true)
        .finish();
    assert_eq!(
        only(&logs(&h, "b"), &["get_property"]),
        vec![
            r#"request_headers: get_property -> 0 {"model":"m"}"#,
            r#"log: get_property -> 0 {"model":"m"}"#
        ]
    );
    assert_eq!(s.filter_state("ai_log"), Some(br#"{"model":"m"}"#.to_vec()));
}

#[test]
fn plugins_in_a_chain_pause_and_resume_independently() {
    // a holds the request until its callout returns; b must not see anything before that.
    let mut h = host(&[
        (
            "a",
            "request_headers: http_call c /x 0; return 1\nhttp_call_response: continue 0",
        ),
        ("b", "request_headers: add_header 0 x-b 1"),
    ]);
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    assert!(!all_logs(&h)
        .iter()
        .any(|l| l.starts_with("b| request_headers")));
    let call = s.http_calls().remove(0);
    s.respond_http(
        &call,
        proxy_wasm_host::HttpCalloutResponse::new(200, &[], ""),
    );
    assert!(all_logs(&h).contains(&"b| request_headers n=4 eos=1".to_string()));
    assert_eq!(s.upstream().headers.as_ref().unwrap().get("x-b"), Some("1"));
    s.send_response_headers(OK, true);
    assert_eq!(s.downstream().status(), Some(200));
}

#[test]
fn callout_answers_reach_the_stream_that_made_them_among_concurrent_streams() {
    let mut h = host(&[(
        "p",
        "request_headers: http_call c /x 0; return 1\nhttp_call_response: continue 0",
    )]);
    let mut first = h.stream();
    first.send_request_headers(GET, true);
    let mut second = h.stream();
    second.send_request_headers(GET, true);
    let calls = h.http_calls();
    assert_eq!(calls.len(), 2);
    // Answer the second stream's callout (through the host): only the second stream resumes.
    h.respond_http(
        &calls[1],
        proxy_wasm_host::HttpCalloutResponse::new(200, &[], ""),
    );
    assert!(second.upstream().headers.is_some());
    assert!(first.upstream().headers.is_none());
    first.respond_http(
        &calls[0],
        proxy_wasm_host::HttpCalloutResponse::new(200, &[], ""),
    );
    assert!(first.upstream().headers.is_some());
    assert!(h.http_calls().is_empty());
}

//! VM lifecycle beyond start: the root context's shutdown sequence (`proxy_on_done`, pending
//! roots and `proxy_done`, `proxy_on_delete`), Higress `wasm_need_rebuild`, `vmConfig.env` in the
//! WASI environment, the default log level, and the empty benchmark plugin.

mod common;
use common::*;
use proxy_wasm_host::tiny_wasm::{noop_plugin, Abi};
use proxy_wasm_host::vm::Shutdown;
use proxy_wasm_host::{
    FailStrategy, HostEnv, LogLevel, ManualClock, PluginConfig, RecordingUpstreams, Runtime,
    TestHost,
};
use std::sync::Arc;
use std::time::Duration;

/// Callback trace lines and op results of the scripted plugin.
fn trace(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| {
            [
                "tick",
                "log",
                "done",
                "delete",
                "request_headers",
                "response_headers",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .cloned()
        .collect()
}

#[test]
fn host_drop_runs_root_on_done_then_on_delete() {
    let h = host(&[("p", "done: log root-done")]);
    let env = h.env.clone();
    drop(h);
    let lines: Vec<String> = env.take_logs().into_iter().map(|l| l.message).collect();
    // cpp-host `WasmBase::startShutdown`: onDone returned true, so onDelete follows at once.
    assert_eq!(lines, vec!["done", "root-done", "done: log -> 0", "delete"]);
}

#[test]
fn root_on_done_false_stays_pending_until_proxy_done_then_on_delete_after_that_call() {
    let mut h = host(&[(
        "p",
        "configure: set_tick 100\ndone: return 0\ntick: done; done; log after-done",
    )]);
    assert!(h.remove_plugin("p"));
    assert!(!h.remove_plugin("p"));
    assert_eq!(logs(&h, "p"), vec!["done"]);
    let retired = h.retired_vms("p");
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0].borrow().shutdown_state(), Shutdown::PendingDone);
    drop(retired);
    // The pending root still gets its timer; `proxy_done` is Ok once, then NotFound, and the
    // root's `proxy_on_delete` runs after the tick callback returned.
    h.advance(Duration::from_millis(100));
    assert_eq!(
        logs(&h, "p"),
        vec![
            "tick",
            "tick: done -> 0",
            "tick: done -> 1",
            "after-done",
            "tick: log -> 0",
            "delete"
        ]
    );
    h.reap();
    assert!(h.retired_vms("p").is_empty());
    h.advance(Duration::from_millis(500));
    assert_eq!(
        logs(&h, "p"),
        Vec::<String>::new(),
        "the deleted VM is gone"
    );
}

#[test]
fn proxy_done_inside_on_done_is_not_found() {
    let mut h = host(&[("p", "done: done")]);
    h.remove_plugin("p");
    // The root moves to `pending_done_` only after onDone returned false.
    assert_eq!(logs(&h, "p"), vec!["done", "done: done -> 1", "delete"]);
    assert!(h.retired_vms("p").is_empty());
}

#[test]
fn removed_plugin_shuts_down_after_its_last_stream() {
    let mut h = host(&[("p", "")]);
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    h.take_logs();
    h.remove_plugin("p");
    assert_eq!(
        logs(&h, "p"),
        Vec::<String>::new(),
        "a stream still uses the VM"
    );
    assert_eq!(h.retired_vms("p").len(), 1);
    s.send_response_headers(OK, true);
    assert_eq!(s.downstream().status(), Some(200));
    drop(s);
    h.reap();
    // The stream context ends first (log, done, delete), then the root's done and delete.
    assert_eq!(
        trace(&logs(&h, "p")),
        vec![
            "response_headers n=2 eos=1",
            "log",
            "done",
            "delete",
            "done",
            "delete"
        ]
    );
    assert!(h.retired_vms("p").is_empty());
}

#[test]
fn failed_vm_shutdown_calls_neither_on_done_nor_on_delete() {
    let (env, up, clock) = HostEnv::for_tests();
    let mut h = TestHost::with_env(Runtime::shared(), env, up, clock);
    let mut cfg = config("p", "request_headers: trap\ndone: log never");
    cfg.fail_strategy = FailStrategy::FailClose;
    h.add_plugin(scripted(), cfg).unwrap();
    let vm = h.vm("p").unwrap();
    h.stream().send_request_headers(GET, true);
    assert!(vm.borrow().is_failed());
    h.take_logs();
    assert_eq!(vm.borrow_mut().shutdown(), Shutdown::Deleted);
    assert_eq!(logs(&h, "p"), Vec::<String>::new());
}

#[test]
fn wasm_need_rebuild_gives_later_streams_a_new_vm_and_the_old_one_finishes_its_stream() {
    // Every VM's first request asks for a rebuild; a second request on the same VM would log
    // `second-on-vm`.
    let script = "request_headers#1: set_property wasm_need_rebuild true; log first-on-vm\n\
                  request_headers#2: log second-on-vm\n\
                  response_headers: set_property wasm_need_rebuild false";
    let mut h = host(&[("p", script)]);
    let old = h.vm("p").unwrap().borrow().uid();
    let mut s1 = h.stream();
    s1.send_request_headers(GET, false);
    assert_eq!(
        h.rebuilds("p"),
        0,
        "the flag only acts when the next stream starts"
    );
    let mut s2 = h.stream();
    assert_eq!(h.rebuilds("p"), 1);
    assert_ne!(h.vm("p").unwrap().borrow().uid(), old);
    s2.send_request_headers(GET, true);
    let lines = logs(&h, "p");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.ends_with("-on-vm"))
            .collect::<Vec<_>>(),
        vec!["first-on-vm", "first-on-vm"],
        "the second stream ran on a fresh VM"
    );
    // The in-flight stream keeps its VM, which is not shut down yet.
    assert_eq!(h.retired_vms("p").len(), 1);
    assert_eq!(h.retired_vms("p")[0].borrow().uid(), old);
    s1.send_response_headers(OK, true);
    assert_eq!(s1.downstream().status(), Some(200));
    drop(s1);
    h.reap();
    assert_eq!(
        trace(&logs(&h, "p")),
        vec![
            "response_headers n=2 eos=1",
            "response_headers: set_property -> 0",
            "log",
            "done",
            "delete",
            "done",
            "delete"
        ]
    );
    assert!(h.retired_vms("p").is_empty());
    // `false` does not ask for a rebuild; the second VM asked with its first request.
    drop(s2);
    let _s3 = h.stream();
    assert_eq!(h.rebuilds("p"), 2);
}

#[test]
fn wasm_need_rebuild_set_to_another_value_or_from_the_root_does_nothing() {
    let script = "configure: set_property wasm_need_rebuild true\n\
                  request_headers: set_property wasm_need_rebuild yes";
    let mut h = host(&[("p", script)]);
    h.stream().send_request_headers(GET, true);
    let _ = h.stream();
    assert_eq!(h.rebuilds("p"), 0);
    assert!(!h.vm("p").unwrap().borrow().needs_rebuild());
}

#[test]
fn vm_config_env_is_the_wasi_environment_after_the_host_one() {
    let up = Arc::new(RecordingUpstreams::any_cluster());
    let clock = Arc::new(ManualClock::new());
    let mut env = HostEnv::new(up.clone(), clock.clone());
    env.environment = vec![("A".into(), "host".into()), ("G".into(), "g".into())];
    let mut h = TestHost::with_env(Runtime::shared(), Arc::new(env), up, clock);
    let mut cfg = config(
        "p",
        "request_headers: env A; env G; env B; env MISSING; env_count",
    );
    cfg.environment = vec![("A".into(), "plugin".into()), ("B".into(), "b".into())];
    h.add_plugin(scripted(), cfg).unwrap();
    h.take_logs();
    h.stream().send_request_headers(GET, true);
    assert_eq!(
        only(&logs(&h, "p"), &["request_headers: env"]),
        vec![
            "request_headers: env -> 0 plugin",
            "request_headers: env -> 0 g",
            "request_headers: env -> 0 b",
            "request_headers: env -> 0 -",
            "request_headers: env_count -> 0 3",
        ]
    );
}

#[test]
fn wasmplugin_vm_config_env_reaches_the_plugin_config() {
    let path = std::env::var("PATH").unwrap();
    let yaml = r#"
apiVersion: extensions.higress.io/v1alpha1
kind: WasmPlugin
metadata:
  name: p
spec:
  url: file:///x.wasm
  defaultConfig: {a: 1}
  vmConfig:
    env:
      - name: MODE
        value: fast
      - name: PATH
        valueFrom: HOST
      - name: PWH_SURELY_UNSET_VAR
        valueFrom: HOST
"#;
    let doc = proxy_wasm_host::wasmplugin::parse(yaml).unwrap();
    let (cfg, _) = proxy_wasm_host::wasmplugin::to_plugin_config(&doc)
        .unwrap()
        .unwrap();
    assert_eq!(
        cfg.environment,
        vec![
            ("MODE".to_string(), "fast".to_string()),
            ("PATH".to_string(), path)
        ]
    );
}

#[test]
fn default_log_level_is_info_like_envoy_and_tests_can_lower_it() {
    let script = "request_headers: log_level; log dbg 1; log trc 0; log inf 2; \
                  foreign get_log_level x hex";
    let mut h = host(&[("p", script)]);
    h.stream().send_request_headers(GET, true);
    assert_eq!(
        only(&logs(&h, "p"), &["request_headers: ", "dbg", "trc", "inf"]),
        vec![
            "request_headers: log_level -> 0 2",
            // Filtered lines are still Ok for the plugin.
            "request_headers: log -> 0",
            "request_headers: log -> 0",
            "inf",
            "request_headers: log -> 0",
            "request_headers: foreign -> 0 02000000",
        ]
    );
    let mut h = TestHost::with_log_level(LogLevel::Trace);
    h.add_plugin(scripted(), config("p", script)).unwrap();
    h.take_logs();
    h.stream().send_request_headers(GET, true);
    let lines = logs(&h, "p");
    assert!(lines.contains(&"request_headers: log_level -> 0 0".to_string()));
    assert!(lines.contains(&"dbg".to_string()) && lines.contains(&"trc".to_string()));
    assert!(lines.contains(&"request_headers: foreign -> 0 00000000".to_string()));
}

#[test]
fn empty_benchmark_plugin_passes_traffic_through() {
    let mut h = TestHost::new();
    h.add_plugin(
        &noop_plugin(Abi::V0_2_100, false),
        PluginConfig::new("empty", ""),
    )
    .unwrap();
    let mut s = h.stream();
    s.send_request_headers(POST, false)
        .send_request_body("ab", true);
    s.send_response_headers(OK, false)
        .send_response_body("cd", true);
    assert_eq!(s.upstream().body_string(), "ab");
    assert_eq!(s.downstream().status(), Some(200));
    assert_eq!(s.downstream().frames, vec![(b"cd".to_vec(), true)]);
    assert_eq!(s.context_of(0), Some(2));
    assert!(
        h.take_logs().is_empty(),
        "the empty plugin calls no host function"
    );
}

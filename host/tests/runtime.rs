//! Runtime: ABI detection, module cache, lifecycle, memory cap, deadlines, VM failure and
//! rebuild, WASI answers.

mod common;
use common::*;
use proxy_wasm_host::runtime::LoadError;
use proxy_wasm_host::{
    AbiVersion, FailStrategy, HostEnv, Plugin, PluginConfig, ReplyPath, Runtime, RuntimeConfig,
    TestHost, VmError,
};
use std::time::Duration;

#[test]
fn abi_version_is_detected_from_the_export() {
    let rt = Runtime::shared();
    assert_eq!(rt.compile(scripted()).unwrap().abi, AbiVersion::V0_2_100);
    assert_eq!(
        rt.compile(&scripted_abi("proxy_abi_version_0_2_1"))
            .unwrap()
            .abi,
        AbiVersion::V0_2_1
    );
    assert_eq!(
        rt.compile(&scripted_abi("proxy_abi_version_0_2_0"))
            .unwrap()
            .abi,
        AbiVersion::V0_2_0
    );
    // cpp-host `bytecode_util.cc`: an unknown version is an error, not a guess.
    match rt.compile(&scripted_abi("proxy_abi_version_9_9_9")) {
        Err(LoadError::UnknownAbi(found)) => {
            assert_eq!(found, vec!["proxy_abi_version_9_9_9".to_string()])
        }
        other => panic!("expected UnknownAbi, got {:?}", other.map(|m| m.abi)),
    }
}

#[test]
fn compiled_modules_are_cached_on_disk_by_hash() {
    let dir = std::env::temp_dir().join(format!("pwh-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = RuntimeConfig {
        cache_dir: Some(dir.clone()),
        ..RuntimeConfig::default()
    };
    let first = Runtime::new(cfg.clone()).unwrap();
    let m = first.compile(scripted()).unwrap();
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert!(files[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with(&m.sha256));
    let written = std::fs::metadata(&files[0]).unwrap().modified().unwrap();
    // A second runtime (a new test process) loads the artifact instead of compiling and
    // rewriting it.
    let second = Runtime::new(cfg).unwrap();
    assert_eq!(
        second.compile(scripted()).unwrap().abi,
        AbiVersion::V0_2_100
    );
    assert_eq!(
        std::fs::metadata(&files[0]).unwrap().modified().unwrap(),
        written
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lifecycle_creates_root_context_then_vm_start_then_configure_with_buffer_7() {
    let mut h = TestHost::new();
    let mut cfg = config("p", "configure: log configured");
    cfg.vm_configuration = b"vmcfg".to_vec();
    h.add_plugin(scripted(), cfg).unwrap();
    assert_eq!(
        logs(&h, "p"),
        vec![
            "context_create 1 0",
            "vm_start size=5 config=vmcfg",
            "configure size=25",
            "configured",
            "configure: log -> 0"
        ]
    );
}

#[test]
fn configure_returning_false_rejects_the_plugin() {
    let mut h = TestHost::new();
    match h.add_plugin(scripted(), config("p", "configure: return 0")) {
        Err(proxy_wasm_host::harness::HarnessError::Vm(VmError::ConfigureRejected)) => {}
        other => panic!("expected ConfigureRejected, got {:?}", other.err()),
    }
}

#[test]
fn plugin_configuration_buffer_is_only_readable_during_configure() {
    let h_script = "configure: body_status 7\nrequest_headers: body_status 7; body_status 6";
    let mut h = host(&[("p", h_script)]);
    h.stream().send_request_headers(GET, true);
    // Envoy `getBuffer(PluginConfiguration)` is null outside on_configure (NotFound = 1); the VM
    // configuration stays readable.
    assert_eq!(
        only(&logs(&h, "p"), ["body_status"].as_ref()),
        vec![
            "request_headers: body_status -> 1 0",
            "request_headers: body_status -> 0 0"
        ]
    );
}

fn failing_host(
    script: &str,
    strategy: FailStrategy,
    rt: Option<std::sync::Arc<Runtime>>,
) -> TestHost {
    let (env, up, clock) = HostEnv::for_tests();
    let mut h = TestHost::with_env(rt.unwrap_or_else(Runtime::shared), env, up, clock);
    let mut cfg = config("p", script);
    cfg.fail_strategy = strategy;
    h.add_plugin(scripted(), cfg).unwrap();
    h
}

#[test]
fn trap_fails_the_stream_with_503_wasm_fail_stream_and_the_vm_is_rebuilt() {
    let mut h = failing_host("request_headers.eos: trap", FailStrategy::FailClose, None);
    {
        let mut s = h.stream();
        s.send_request_headers(GET, true);
        assert_eq!(s.downstream().status(), Some(503));
        assert_eq!(s.upstream().headers, None);
        assert_eq!(
            s.response_code_details().as_deref(),
            Some("wasm_fail_stream")
        );
        assert_eq!(s.local_replies()[0].path, Some(ReplyPath::FilterChain));
    }
    assert!(h.vm("p").unwrap().borrow().is_failed());
    let failure = h.vm("p").unwrap().borrow().failure().unwrap().to_string();
    assert!(failure.contains("proxy_on_request_headers"), "{failure}");
    // The next stream gets a fresh VM (and does not hit the trapping rule).
    let mut s = h.stream();
    s.send_request_headers(GET, false);
    assert_eq!(
        s.upstream().headers.as_ref().unwrap().get(":path"),
        Some("/v1/chat?x=1")
    );
    assert_eq!(h.rebuilds("p"), 1);
}

#[test]
fn fail_open_passes_traffic_through_a_failed_vm() {
    let mut h = failing_host(
        "request_headers: trap\nresponse_headers: log never",
        FailStrategy::FailOpen,
        None,
    );
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    assert!(s.upstream().headers.is_some());
    s.send_response_headers(OK, true);
    assert_eq!(s.downstream().status(), Some(200));
    assert!(s.local_replies().is_empty());
}

#[test]
fn blown_deadline_fails_the_vm() {
    let rt = Runtime::new(RuntimeConfig {
        callback_deadline: Duration::from_millis(50),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let mut h = failing_host("request_body: spin", FailStrategy::FailClose, Some(rt));
    let mut s = h.stream();
    s.send_request_headers(POST, false);
    let t = std::time::Instant::now();
    s.send_request_body("x", true);
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(s.downstream().status(), Some(503));
    assert!(h
        .vm("p")
        .unwrap()
        .borrow()
        .failure()
        .unwrap()
        .contains("interrupt"));
}

#[test]
fn memory_cap_fails_the_vm_when_the_guest_outgrows_it() {
    let rt = Runtime::new(RuntimeConfig {
        max_memory_bytes: 16 << 20,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let mut h = failing_host(
        "request_headers: grow_mib 4\nrequest_body: grow_mib 64",
        FailStrategy::FailClose,
        Some(rt),
    );
    let mut s = h.stream();
    s.send_request_headers(POST, false);
    assert!(s.upstream().headers.is_some(), "4 MiB fits under the cap");
    s.send_request_body("x", true);
    assert_eq!(s.downstream().status(), Some(503));
    assert!(h.vm("p").unwrap().borrow().is_failed());
}

#[test]
fn wasi_answers_like_cpp_host() {
    let script = "request_headers: stdout hello%0A; stderr oops; random; fd_read; now; env_count";
    let mut h = host(&[("p", script)]);
    let now = {
        use proxy_wasm_host::env::Clock;
        h.clock.realtime_ns()
    };
    h.stream().send_request_headers(GET, true);
    let recs: Vec<_> = h.take_logs();
    // fd 1 → info, fd 2 → error, one trailing newline dropped per write. Rust's println! issues
    // the text and the newline as two writes, so the second one logs an empty line (as cpp-host
    // `writevImpl` would).
    use proxy_wasm_host::LogLevel::{Error, Info};
    let io: Vec<(proxy_wasm_host::LogLevel, &str)> = recs
        .iter()
        .filter(|r| {
            !r.message.contains(':')
                && !r.message.contains('=')
                && !r.message.starts_with("context_create")
        })
        .map(|r| (r.level, r.message.as_str()))
        .collect();
    assert_eq!(
        io[..4],
        [(Info, "hello"), (Info, ""), (Error, "oops"), (Error, "")]
    );
    let msgs: Vec<String> = recs.into_iter().map(|r| r.message).collect();
    assert!(msgs.contains(&"request_headers: random -> 0 true".to_string()));
    // fd_read is ENOSYS (52).
    assert!(msgs.contains(&"request_headers: fd_read -> 52".to_string()));
    // clock_time_get realtime comes from the host clock.
    assert!(msgs.contains(&format!("request_headers: now -> 0 {now}")));
    assert!(msgs.contains(&"request_headers: env_count -> 0 0".to_string()));
}

#[test]
fn proc_exit_fails_the_vm() {
    let mut h = failing_host("request_headers: exit", FailStrategy::FailClose, None);
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    assert_eq!(s.downstream().status(), Some(503));
    assert!(h
        .vm("p")
        .unwrap()
        .borrow()
        .failure()
        .unwrap()
        .contains("proc_exit"));
}

#[test]
fn plugin_built_for_another_abi_runs() {
    let mut h = TestHost::new();
    h.add_plugin(
        &scripted_abi("proxy_abi_version_0_2_1"),
        PluginConfig::new("p", ""),
    )
    .unwrap();
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    assert!(s.upstream().headers.is_some());
    let _ = Plugin::new(Runtime::shared(), scripted(), PluginConfig::default()).unwrap();
}

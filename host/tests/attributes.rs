//! Envoy attributes beyond the basic request/response ones (request time/size/duration, response
//! size/flags, connection.*, upstream.*, node, metadata) and the Higress host extensions:
//! upstream hosts, upstream override host and the foreign functions the Go SDK calls.

mod common;
use common::*;
use proxy_wasm_host::{
    stream::TlsInfo, HostEnv, HttpCalloutResponse, ManualClock, RecordingUpstreams, Runtime,
    TestHost,
};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

fn ops(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains(": ") && l.contains(" -> "))
        .cloned()
        .collect()
}

#[test]
fn request_and_response_sizes_time_duration_and_flags() {
    let script = "request_headers: get_property request.time int; get_property request.size int; \
                  get_property request.total_size int; get_property request.duration int\n\
                  request_body.eos: get_property request.size int; get_property request.total_size int\n\
                  response_headers: get_property response.size int; get_property response.total_size int; \
                  get_property response.flags int\n\
                  log: get_property request.duration int; get_property request.size int; \
                  get_property request.total_size int; get_property response.size int; \
                  get_property response.total_size int";
    let mut h = host(&[("p", script)]);
    let start = {
        use proxy_wasm_host::env::Clock;
        h.clock.realtime_ns()
    };
    let mut s = h.stream();
    s.info().response_flags = 0x20;
    // POST: 7+4 + 5+8 + 10+15 + 7+4 = 60 bytes of headers.
    s.send_request_headers(POST, false);
    s.send_request_body("hello", false)
        .send_request_body("!!", true);
    h.advance(Duration::from_millis(7));
    s.send_response_headers(OK, false)
        .send_response_body("0123456789", true);
    s.finish();
    assert_eq!(
        ops(&logs(&h, "p")),
        vec![
            format!("request_headers: get_property -> 0 {start}"),
            // No content-length: bytesReceived so far; total adds the held headers.
            "request_headers: get_property -> 0 0".to_string(),
            "request_headers: get_property -> 0 60".into(),
            // requestComplete() is unset until the stream ends.
            "request_headers: get_property -> 1".into(),
            // The headers were released (Continue): their size no longer counts.
            "request_body: get_property -> 0 7".into(),
            "request_body: get_property -> 0 7".into(),
            "response_headers: get_property -> 0 0".into(),
            // `:status` 200 + content-type application/json = 10 + 28.
            "response_headers: get_property -> 0 38".into(),
            "response_headers: get_property -> 0 32".into(),
            "log: get_property -> 0 7000000".into(),
            "log: get_property -> 0 7".into(),
            "log: get_property -> 0 67".into(),
            "log: get_property -> 0 10".into(),
            "log: get_property -> 0 48".into(),
        ]
    );
}

#[test]
fn request_size_prefers_content_length_while_the_headers_are_held() {
    let script = "request_headers: get_property request.size int; return 1\n\
                  request_body.eos: get_property request.size int";
    let mut h = host(&[("p", script)]);
    let mut s = h.stream();
    let mut post = POST.to_vec();
    post.push(("content-length", "42"));
    s.send_request_headers(&post, false)
        .send_request_body("abc", true);
    assert_eq!(
        ops(&logs(&h, "p")),
        vec![
            "request_headers: get_property -> 0 42",
            "request_body: get_property -> 0 42"
        ]
    );
}

#[test]
fn connection_upstream_node_and_metadata_attributes() {
    let script = "request_headers: get_property connection.id int; get_property connection.mtls hex; \
                  get_property connection.requested_server_name; get_property connection.tls_version; \
                  get_property upstream.address; get_property upstream.port int; \
                  get_property node hex; get_property route_metadata; get_property cluster_metadata; \
                  get_property plugin_vm_memory int\n\
                  response_headers: get_property upstream.address; get_property upstream.port int; \
                  get_property upstream.tls_version; get_property upstream.transport_failure_reason; \
                  get_property connection.mtls hex; get_property connection.tls_version; \
                  get_property connection.requested_server_name";
    let up = Arc::new(RecordingUpstreams::any_cluster());
    let clock = Arc::new(ManualClock::new());
    let mut env = HostEnv::new(up.clone(), clock.clone());
    env.node_id = "gw-1".into();
    env.node_cluster = "higress".into();
    let mut h = TestHost::with_env(Runtime::shared(), Arc::new(env), up, clock);
    h.add_plugin(scripted(), config("p", script)).unwrap();
    h.take_logs();
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    {
        let mut info = s.info();
        info.upstream_address = Some("10.0.0.7:8080".into());
        info.requested_server_name = "api.example.com".into();
        info.downstream_tls = Some(TlsInfo {
            tls_version: "TLSv1.3".into(),
            peer_certificate_presented: true,
            ..TlsInfo::default()
        });
    }
    s.send_response_headers(OK, true);
    let lines = ops(&logs(&h, "p"));
    let memory = lines[9].rsplit(' ').next().unwrap().parse::<u64>().unwrap();
    assert!(memory > 0 && memory % 65536 == 0, "{memory}");
    assert_eq!(
        lines,
        vec![
            "request_headers: get_property -> 0 1".to_string(),
            // CelValue bool: one byte.
            "request_headers: get_property -> 0 00".into(),
            "request_headers: get_property -> 0".into(),
            // Plaintext: no TLS attributes.
            "request_headers: get_property -> 1".into(),
            // No upstream host chosen yet.
            "request_headers: get_property -> 1".into(),
            "request_headers: get_property -> 1".into(),
            // config.core.v3.Node {id: "gw-1", cluster: "higress"} as protobuf bytes.
            "request_headers: get_property -> 0 0a0467772d31120768696772657373".into(),
            "request_headers: get_property -> 1".into(),
            "request_headers: get_property -> 1".into(),
            format!("request_headers: get_property -> 0 {memory}"),
            "response_headers: get_property -> 0 10.0.0.7:8080".into(),
            "response_headers: get_property -> 0 8080".into(),
            "response_headers: get_property -> 1".into(),
            "response_headers: get_property -> 0".into(),
            "response_headers: get_property -> 0 01".into(),
            "response_headers: get_property -> 0 TLSv1.3".into(),
            "response_headers: get_property -> 0 api.example.com".into(),
        ]
    );
}

#[test]
fn node_is_readable_from_the_root_context_and_not_found_when_unset() {
    let mut h = host(&[("p", "configure: get_property node")]);
    // `host()` took the configure logs; a second plugin shows the answer.
    h.add_plugin(scripted(), config("q", "configure: get_property node"))
        .unwrap();
    assert_eq!(ops(&logs(&h, "q")), vec!["configure: get_property -> 1"]);
}

#[test]
fn upstream_hosts_come_from_the_embedder_for_the_streams_cluster() {
    let script = "configure: upstream_hosts\nrequest_headers: upstream_hosts";
    let mut h = TestHost::new();
    h.upstreams.set_upstream_hosts(
        "outbound|80||llm.dns",
        &[
            ("10.0.0.1:80", ""),
            ("10.0.0.2:80", "vllm:num_requests_running 3"),
        ],
    );
    h.upstreams
        .set_upstream_hosts("outbound|80||empty.dns", &[]);
    h.add_plugin(scripted(), config("p", script)).unwrap();
    // Root context: no stream, no cluster.
    assert_eq!(ops(&logs(&h, "p")), vec!["configure: upstream_hosts -> 1"]);
    for (cluster, want) in [
        (
            "outbound|80||llm.dns",
            "request_headers: upstream_hosts -> 0 10.0.0.1:80=,10.0.0.2:80=vllm:num_requests_running 3",
        ),
        ("outbound|80||empty.dns", "request_headers: upstream_hosts -> 0"),
        ("outbound|80||unknown.dns", "request_headers: upstream_hosts -> 1"),
        ("", "request_headers: upstream_hosts -> 1"),
    ] {
        let mut s = h.stream();
        s.set_cluster_name(cluster);
        s.send_request_headers(GET, true);
        assert_eq!(ops(&logs(&h, "p")), vec![want], "{cluster}");
    }
}

#[test]
fn upstream_override_host_is_recorded_on_the_stream() {
    let script = "configure: override_host 1.1.1.1:80\n\
                  request_headers: override_host 10.0.0.2:80; override_host 10.0.0.3:80";
    let mut h = host(&[("p", script)]);
    let mut s = h.stream();
    assert_eq!(s.upstream_override_host(), None);
    s.send_request_headers(GET, true);
    assert_eq!(
        ops(&logs(&h, "p")),
        vec![
            "request_headers: override_host -> 0",
            "request_headers: override_host -> 0"
        ]
    );
    // The last call wins; the root's call (Ok, no stream) pinned nothing.
    assert_eq!(s.upstream_override_host().as_deref(), Some("10.0.0.3:80"));
}

#[test]
fn set_global_max_requests_per_io_cycle_takes_a_u64_and_the_smallest_wins() {
    let mut h = host(&[
        (
            "a",
            "request_headers: foreign set_global_max_requests_per_io_cycle %14%00%00%00%00%00%00%00; \
             foreign set_global_max_requests_per_io_cycle abc",
        ),
        (
            "b",
            "request_headers: foreign set_global_max_requests_per_io_cycle %32%00%00%00%00%00%00%00",
        ),
    ]);
    assert_eq!(h.env.max_requests_per_io_cycle.load(Ordering::SeqCst), 0);
    h.stream().send_request_headers(GET, true);
    assert_eq!(
        ops(&all_logs(&h)),
        vec![
            "a| request_headers: foreign -> 0",
            // Not 8 bytes.
            "a| request_headers: foreign -> 2",
            "b| request_headers: foreign -> 0",
        ]
    );
    assert_eq!(h.env.max_requests_per_io_cycle.load(Ordering::SeqCst), 20);
}

#[test]
fn registered_foreign_functions_win_over_the_builtin_ones() {
    let up = Arc::new(RecordingUpstreams::any_cluster());
    let clock = Arc::new(ManualClock::new());
    let mut env = HostEnv::new(up.clone(), clock.clone());
    env.foreign_functions.insert(
        "get_log_level".into(),
        Arc::new(|_: &[u8]| Ok(vec![4, 0, 0, 0])),
    );
    let mut h = TestHost::with_env(Runtime::shared(), Arc::new(env), up, clock);
    h.add_plugin(
        scripted(),
        config("p", "request_headers: foreign get_log_level x hex"),
    )
    .unwrap();
    h.take_logs();
    h.stream().send_request_headers(GET, true);
    assert_eq!(
        ops(&logs(&h, "p")),
        vec!["request_headers: foreign -> 0 04000000"]
    );
}

#[test]
fn inject_on_header_sends_the_body_after_the_response_headers() {
    // InjectEncodedDataToFilterChainArguments{body: "hi", endstream: true}.
    let script = "configure: foreign inject_encoded_data_to_filter_chain_on_header %0A%02hi%10%01\n\
                  response_headers: foreign inject_encoded_data_to_filter_chain_on_header %0A%02hi%10%01; \
                  foreign inject_encoded_data_to_filter_chain_on_header %FF";
    let mut h = host(&[("p", script)]);
    let mut s = h.stream();
    s.send_request_headers(GET, true)
        .send_response_headers(OK, false);
    assert_eq!(
        ops(&logs(&h, "p")),
        vec![
            "response_headers: foreign -> 0",
            // Not a protobuf message.
            "response_headers: foreign -> 2",
        ]
    );
    let d = s.downstream();
    assert_eq!(d.status(), Some(200));
    assert_eq!(d.frames, vec![(b"hi".to_vec(), true)]);
    assert!(d.end_stream);
}

#[test]
fn inject_on_header_waits_for_held_response_headers() {
    // Headers held (response StopIteration is StopAll), resumed from a callout answer; the
    // injected body follows the headers, and the headers do not carry end_stream.
    let script = "response_headers: foreign inject_encoded_data_to_filter_chain_on_header %0A%04done%10%01; \
                  http_call c /x 0; return 1\n\
                  http_call_response: continue 1";
    let mut h = host(&[("p", script)]);
    let mut s = h.stream();
    s.send_request_headers(GET, true)
        .send_response_headers(OK, false);
    assert_eq!(s.downstream().headers, None);
    let call = s.http_calls().remove(0);
    s.respond_http(&call, HttpCalloutResponse::new(200, &[], ""));
    let d = s.downstream();
    assert_eq!(d.status(), Some(200));
    assert_eq!(d.frames, vec![(b"done".to_vec(), true)]);
}

#[test]
fn inject_on_header_from_the_root_context_is_not_found() {
    let mut h = TestHost::new();
    h.add_plugin(
        scripted(),
        config(
            "p",
            "configure: foreign inject_encoded_data_to_filter_chain_on_header %0A%02hi",
        ),
    )
    .unwrap();
    assert_eq!(ops(&logs(&h, "p")), vec!["configure: foreign -> 1"]);
}

//! Host functions: the status codes Envoy returns for header maps, buffers, properties, shared
//! data, queues, metrics, callouts, timers and the rest of ABI 0.2.1 plus Higress extensions.

mod common;
use common::*;
use proxy_wasm_host::shared::MetricValue;
use proxy_wasm_host::{
    HostEnv, HttpCalloutResponse, ManualClock, RecordingUpstreams, Runtime, Status, TestHost,
};
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
fn header_map_ops_and_availability() {
    let script = "request_headers: get_header 0 :path; get_header 0 missing; add_header 0 x-a 1; add_header 0 x-a 2; \
                  get_header 0 x-a; replace_header 0 x-a 3; remove_header 0 x-b; get_pairs 0; header_size 0; \
                  get_header 9 a; get_header 2 a\n\
                  request_body: get_header 0 :path; add_header 0 x-late 1; get_pairs 0; header_size 0";
    let mut h = host(&[("p", script)]);
    let mut s = h.stream();
    s.send_request_headers(POST, false)
        .send_request_body("x", true);
    assert_eq!(
        ops(&logs(&h, "p")),
        vec![
            "request_headers: get_header -> 0 /v1/chat",
            "request_headers: get_header -> 1",
            "request_headers: add_header -> 0",
            "request_headers: add_header -> 0",
            "request_headers: get_header -> 0 1",
            "request_headers: replace_header -> 0",
            "request_headers: remove_header -> 0",
            "request_headers: get_pairs -> 0 :method=POST,:path=/v1/chat,:authority=api.example.com,:scheme=http,x-a=3",
            "request_headers: header_size -> 0 64",
            // Map type 9 does not exist; response headers do not exist yet: BadArgument.
            "request_headers: get_header -> 2",
            "request_headers: get_header -> 2",
            // After Continue Envoy drops `request_headers_`: BadArgument for reads and writes,
            // while get_header_map_pairs is Ok with no pairs (`getHeaderMapPairs`).
            "request_body: get_header -> 2",
            "request_body: add_header -> 2",
            "request_body: get_pairs -> 0",
            "request_body: header_size -> 2 0",
        ]
    );
    assert_eq!(
        s.upstream().headers.as_ref().unwrap().get_all("x-a"),
        vec!["3"]
    );
    // Each request-header edit cleared the route cache (add, add, replace, remove).
    assert_eq!(s.info().route_cache_clears, 4);
}

#[test]
fn clear_route_cache_off_stops_header_edits_from_clearing_it() {
    let script =
        "request_headers: set_property clear_route_cache off; add_header 0 x 1; clear_route_cache";
    let mut h = host(&[("p", script)]);
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    // Only the explicit proxy_clear_route_cache counted.
    assert_eq!(s.info().route_cache_clears, 1);
}

#[test]
fn body_buffer_reads_and_envoys_two_edits() {
    let script = "configure: get_body 0 0; set_body 0 0 0 x\n\
                  request_body.eos: get_body 0 1 3; get_body 0 10 5; set_body 0 2 1 X; set_body 0 0 0 >; \
                  set_body 0 99 0 <; get_body 0 0; body_status 0; set_body 6 0 0 x";
    let mut h = host(&[("p", script)]);
    let configure = ops(&logs(&h, "p"));
    assert_eq!(configure, Vec::<String>::new(), "logs were taken by host()");
    let mut s = h.stream();
    s.send_request_headers(POST, false)
        .send_request_body("hello", true);
    assert_eq!(
        ops(&logs(&h, "p")),
        vec![
            "request_body: get_body -> 0 ell",
            // A start past the end reads nothing, Ok.
            "request_body: get_body -> 0",
            // Inserting in the middle is BadArgument (`Buffer::copyFrom`).
            "request_body: set_body -> 2",
            "request_body: set_body -> 0",
            "request_body: set_body -> 0",
            "request_body: get_body -> 0 >hello<",
            "request_body: body_status -> 0 7",
            // The VM configuration is a read-only buffer.
            "request_body: set_body -> 2",
        ]
    );
    assert_eq!(s.upstream().body_string(), ">hello<");
}

#[test]
fn root_context_body_buffer_is_empty_and_read_only() {
    let mut h = TestHost::new();
    h.add_plugin(
        scripted(),
        config(
            "p",
            "configure: get_body 0 0; set_body 0 0 0 x; get_body 4 0; get_body 9 0; get_body 10 0",
        ),
    )
    .unwrap();
    assert_eq!(
        ops(&logs(&h, "p")),
        vec![
            "configure: get_body -> 0",
            "configure: set_body -> 2",
            // Callout response bodies exist only during their callback (NotFound otherwise).
            "configure: get_body -> 1",
            "configure: get_body -> 1",
            // Unknown buffer type.
            "configure: get_body -> 2",
        ]
    );
}

#[test]
fn properties_from_stream_info_request_and_filter_state() {
    let script = "configure: get_property route_name; set_property x y\n\
                  request_headers: get_property route_name; get_property cluster_name; get_property request.path; \
                  get_property request.url_path; get_property request.host; get_property request.method; \
                  get_property request.scheme; get_property plugin_name; get_property plugin_root_id; \
                  get_property nope; set_property ai_log {\"a\":1}; get_property ai_log; get_property source.port int\n\
                  request_body: get_property request.path; get_property route_name\n\
                  response_headers: get_property response.code int\n\
                  log: get_property request.path; get_property response.code_details";
    let mut h = TestHost::new();
    h.add_plugin(scripted(), config("p", script)).unwrap();
    // Root context: no stream info, so NotFound for both get and set.
    assert_eq!(
        ops(&logs(&h, "p")),
        vec![
            "configure: get_property -> 1",
            "configure: set_property -> 1"
        ]
    );
    let mut s = h.stream();
    s.set_route_name("default/r1")
        .set_cluster_name("outbound|80||svc.ns.svc.cluster.local");
    s.send_request_headers(GET, false)
        .send_request_body("b", true);
    s.send_response_headers(OK, true);
    s.finish();
    assert_eq!(
        ops(&logs(&h, "p")),
        vec![
            "request_headers: get_property -> 0 default/r1",
            "request_headers: get_property -> 0 outbound|80||svc.ns.svc.cluster.local",
            "request_headers: get_property -> 0 /v1/chat?x=1",
            "request_headers: get_property -> 0 /v1/chat",
            "request_headers: get_property -> 0 api.example.com",
            "request_headers: get_property -> 0 GET",
            "request_headers: get_property -> 0 http",
            "request_headers: get_property -> 0 p",
            "request_headers: get_property -> 0 p-root",
            "request_headers: get_property -> 1",
            "request_headers: set_property -> 0",
            "request_headers: get_property -> 0 {\"a\":1}",
            "request_headers: get_property -> 0 50000",
            // RequestWrapper reads `request_headers_`, gone after Continue.
            "request_body: get_property -> 1",
            "request_body: get_property -> 0 default/r1",
            "response_headers: get_property -> 0 200",
            // on_log sees the access-log request headers.
            "log: get_property -> 0 /v1/chat?x=1",
            "log: get_property -> 0 via_upstream",
        ]
    );
    assert_eq!(s.filter_state("ai_log"), Some(br#"{"a":1}"#.to_vec()));
}

#[test]
fn shared_data_cas_across_vms_with_the_same_vm_id() {
    let mut h = TestHost::new();
    let mut a = config(
        "a",
        "request_headers: shared_set k v1 0; shared_get k; shared_set k v2 999; shared_get missing",
    );
    let mut b = config("b", "request_headers: shared_get k");
    a.vm_id = "shared".into();
    b.vm_id = "shared".into();
    h.add_plugin(scripted(), a)
        .unwrap()
        .add_plugin(scripted(), b)
        .unwrap();
    h.take_logs();
    h.stream().send_request_headers(GET, true);
    let lines = ops(&all_logs(&h));
    assert_eq!(lines[0], "a| request_headers: shared_set -> 0");
    assert!(
        lines[1].starts_with("a| request_headers: shared_get -> 0 v1 cas="),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2], "a| request_headers: shared_set -> 8",
        "CasMismatch"
    );
    assert_eq!(lines[3], "a| request_headers: shared_get -> 1  cas=0");
    assert_eq!(lines[4], lines[1].replace("a| ", "b| "));
}

#[test]
fn shared_queue_register_enqueue_ready_dequeue() {
    let script = "configure: queue_register q; queue_resolve a-vm nope\n\
                  request_headers: enqueue q hello; enqueue nope x\n\
                  queue_ready: dequeue q; dequeue q";
    let mut h = TestHost::new();
    h.add_plugin(scripted(), config("a", script)).unwrap();
    assert_eq!(
        ops(&logs(&h, "a")),
        vec![
            "configure: queue_register -> 0",
            "configure: queue_resolve -> 1"
        ]
    );
    h.stream().send_request_headers(GET, true);
    let lines = logs(&h, "a");
    let ready = lines
        .iter()
        .position(|l| l.starts_with("queue_ready "))
        .expect("queue_ready delivered");
    assert_eq!(
        ops(&lines),
        vec![
            "request_headers: enqueue -> 0",
            "request_headers: enqueue -> 1",
            "queue_ready: dequeue -> 0 hello",
            "queue_ready: dequeue -> 7",
        ]
    );
    assert!(
        ready
            > lines
                .iter()
                .position(|l| l == "request_headers: enqueue -> 1")
                .unwrap(),
        "after the call"
    );
}

#[test]
fn metrics_statuses_and_values() {
    let script = "configure: metric_define 0 reqs; metric_define 1 inflight; metric_define 2 lat\n\
                  request_headers: metric_inc reqs 1; metric_inc reqs 0; metric_inc inflight -2; metric_record lat 42; \
                  metric_get reqs; metric_get lat; metric_define 7 bad; metric_inc lat 1";
    let mut h = host(&[("p", script)]);
    h.stream().send_request_headers(GET, true);
    assert_eq!(
        ops(&logs(&h, "p")),
        vec![
            "request_headers: metric_inc -> 0",
            "request_headers: metric_inc -> 2",
            "request_headers: metric_inc -> 0",
            "request_headers: metric_record -> 0",
            "request_headers: metric_get -> 0 1",
            "request_headers: metric_get -> 2 0",
            "request_headers: metric_define -> 2",
            "request_headers: metric_inc -> 2",
        ]
    );
    assert_eq!(h.metric("reqs"), Some(MetricValue::Counter(1)));
    assert_eq!(h.metric("inflight"), Some(MetricValue::Gauge(-2)));
    assert_eq!(h.metric("lat"), Some(MetricValue::Histogram(vec![42])));
}

#[test]
fn misc_statuses_log_level_effective_context_done_foreign_time() {
    let up = Arc::new(RecordingUpstreams::any_cluster());
    let clock = Arc::new(ManualClock::new());
    let mut env = HostEnv::new(up.clone(), clock.clone());
    env.foreign_functions.insert(
        "reverse".into(),
        Arc::new(|a: &[u8]| Ok(a.iter().rev().copied().collect::<Vec<u8>>())),
    );
    env.foreign_functions.insert(
        "fail".into(),
        Arc::new(|_: &[u8]| Err(Status::InternalFailure)),
    );
    let mut h = TestHost::with_env(Runtime::shared(), Arc::new(env), up, clock.clone());
    let script = "request_headers: log_level; log hi 9; effective 999; effective 2; done; foreign reverse abc; \
                  foreign missing x; foreign fail x; time; continue 7; close 9";
    h.add_plugin(scripted(), config("p", script)).unwrap();
    h.take_logs();
    h.stream().send_request_headers(GET, true);
    use proxy_wasm_host::env::Clock;
    assert_eq!(
        ops(&logs(&h, "p")),
        vec![
            // Envoy's default log level is info.
            "request_headers: log_level -> 0 2".to_string(),
            "request_headers: log -> 2".into(),
            "request_headers: effective -> 2".into(),
            "request_headers: effective -> 0".into(),
            // No root context is waiting for proxy_done.
            "request_headers: done -> 1".into(),
            "request_headers: foreign -> 0 cba".into(),
            "request_headers: foreign -> 1".into(),
            "request_headers: foreign -> 10".into(),
            format!("request_headers: time -> 0 {}", clock.realtime_ns()),
            "request_headers: continue -> 2".into(),
            "request_headers: close -> 2".into(),
        ]
    );
}

#[test]
fn http_call_validation() {
    let up = Arc::new(RecordingUpstreams::with_clusters(&["known"]));
    let clock = Arc::new(ManualClock::new());
    let mut h = TestHost::with_env(
        Runtime::shared(),
        Arc::new(HostEnv::new(up.clone(), clock.clone())),
        up,
        clock,
    );
    h.add_plugin(
        scripted(),
        config("p", "request_headers: http_call unknown /x 0; http_call known %20 0; http_call known /x 0 body"),
    )
    .unwrap();
    h.take_logs();
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    let calls = s.http_calls();
    // Unknown cluster: BadArgument. (" " is a path; an empty one would be missing.)
    let lines = ops(&logs(&h, "p"));
    assert_eq!(lines[0], "request_headers: http_call -> 2 0");
    assert_eq!(lines[1], "request_headers: http_call -> 0 4");
    assert_eq!(lines[2], "request_headers: http_call -> 0 8");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].headers.get("content-length"), Some("4"));
    assert_eq!(calls[1].timeout, None, "0 ms means no timeout");
}

#[test]
fn http_call_missing_pseudo_header_is_bad_argument() {
    let mut h = host(&[("p", "request_headers: http_call c - 100")]);
    h.stream().send_request_headers(GET, true);
    assert_eq!(
        ops(&logs(&h, "p")),
        vec!["request_headers: http_call -> 2 0"]
    );
}

#[test]
fn http_callout_answer_failure_and_timeout() {
    let script = "request_headers: http_call auth /check 500; return 1\n\
                  http_call_response: get_pairs 6; get_body 4 0; add_header 0 x-auth ok; continue 0";
    let mut h = host(&[("p", script)]);
    // Answered.
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    assert_eq!(
        s.upstream().headers,
        None,
        "held while the callout is pending"
    );
    let calls = s.http_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].cluster, "auth");
    assert_eq!(calls[0].headers.get(":path"), Some("/check"));
    assert_eq!(calls[0].timeout, Some(Duration::from_millis(500)));
    logs(&h, "p");
    s.respond_http(&calls[0], HttpCalloutResponse::new(200, &[], "yes"));
    let lines = logs(&h, "p");
    assert_eq!(
        lines[..2],
        [
            "http_call_response token=4 headers=1 body=3 trailers=0".to_string(),
            "effective 2 -> 0".to_string()
        ]
    );
    assert_eq!(
        ops(&lines),
        vec![
            "http_call_response: get_pairs -> 0 :status=200",
            "http_call_response: get_body -> 0 yes",
            "http_call_response: add_header -> 0",
            "http_call_response: continue -> 0",
        ]
    );
    assert_eq!(
        s.upstream().headers.as_ref().unwrap().get("x-auth"),
        Some("ok")
    );
    assert!(s.upstream().end_stream);
    drop(s);
    // Failed: zero sizes (`onHttpCallFailure`).
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    let call = s.http_calls().remove(0);
    logs(&h, "p");
    s.fail_http(&call);
    assert!(logs(&h, "p")[0].ends_with("headers=0 body=0 trailers=0"));
    drop(s);
    // Timed out by the fake clock: a 504 answer from the async client.
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    logs(&h, "p");
    s.advance(Duration::from_millis(499));
    assert!(logs(&h, "p").is_empty());
    s.advance(Duration::from_millis(1));
    let lines = logs(&h, "p");
    assert!(
        lines[0].ends_with("headers=3 body=24 trailers=0"),
        "{lines:?}"
    );
    assert!(lines.contains(
        &"http_call_response: get_pairs -> 0 :status=504,content-length=24,content-type=text/plain"
            .to_string()
    ));
}

#[test]
fn redis_init_call_and_response_in_buffer_9() {
    let script = "request_headers: redis_init redis?db=1 user pass 1000; redis_init nope u p 1; \
                  redis_call redis *1%0D%0A$4%0D%0APING%0D%0A; return 1\n\
                  redis_call_response: get_body 9 0; continue 0";
    let up = Arc::new(RecordingUpstreams::with_clusters(&["redis"]));
    let clock = Arc::new(ManualClock::new());
    let mut h = TestHost::with_env(
        Runtime::shared(),
        Arc::new(HostEnv::new(up.clone(), clock.clone())),
        up.clone(),
        clock,
    );
    h.add_plugin(scripted(), config("p", script)).unwrap();
    h.take_logs();
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    let inits = up.redis_inits();
    assert_eq!(inits.len(), 1);
    assert_eq!(inits[0].cluster, "redis");
    assert_eq!(inits[0].params, vec![("db".to_string(), "1".to_string())]);
    assert_eq!(inits[0].timeout, Duration::from_millis(1000));
    let calls = s.redis_calls();
    assert_eq!(calls[0].query, b"*1\r\n$4\r\nPING\r\n");
    // Redis tokens carry callout type 3 in their low bits.
    assert_eq!(calls[0].token & 3, 3);
    s.respond_redis(&calls[0], "+PONG\r\n");
    let lines = logs(&h, "p");
    assert!(lines.contains(&format!(
        "redis_call_response token={} status=0 size=7",
        calls[0].token
    )));
    assert_eq!(
        ops(&lines),
        vec![
            "request_headers: redis_init -> 0",
            "request_headers: redis_init -> 2",
            format!("request_headers: redis_call -> 0 {}", calls[0].token).as_str(),
            "redis_call_response: get_body -> 0 +PONG\r\n",
            "redis_call_response: continue -> 0",
        ]
    );
    assert!(s.upstream().headers.is_some());
}

#[test]
fn tick_timer_fires_per_elapsed_period() {
    let mut h = host(&[("p", "configure: set_tick 100\ntick: time")]);
    h.advance(Duration::from_millis(99));
    assert!(logs(&h, "p").is_empty());
    h.advance(Duration::from_millis(151));
    let lines = logs(&h, "p");
    assert_eq!(
        lines.iter().filter(|l| *l == "tick").count(),
        2,
        "{lines:?}"
    );
}

#[test]
fn header_maps_in_on_log_are_read_only() {
    let script = "log: get_header 0 :path; add_header 0 x 1; get_header 2 :status; get_header 2 missing; get_header 1 a";
    let mut h = host(&[("p", script)]);
    let mut s = h.stream();
    s.send_request_headers(GET, true)
        .send_response_headers(OK, true)
        .finish();
    assert_eq!(
        ops(&logs(&h, "p")),
        vec![
            "log: get_header -> 0 /v1/chat?x=1",
            "log: add_header -> 2",
            "log: get_header -> 0 200",
            "log: get_header -> 1",
            "log: get_header -> 2",
        ]
    );
}

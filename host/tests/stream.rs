//! Stream semantics: return actions per ABI version, buffering and body_size, watermarks, buffer
//! limits, local replies and the encoder path they take, continue after a pause, trailers,
//! injection, and the log/done/delete order.

mod common;
use common::*;
use proxy_wasm_host::{PluginConfig, ReplyPath, TestHost};

fn cbs(lines: &[String]) -> Vec<String> {
    only(
        lines,
        &[
            "_headers n=",
            "_body size=",
            "_trailers n=",
            "| log",
            "| done",
            "| delete",
        ],
    )
}

#[test]
fn request_header_stop_iteration_is_real_under_0_2_100() {
    let script = "request_headers: remove_header 0 content-length; return 1\n\
                  request_body.more: return 1\n\
                  request_body.eos: get_header 0 :path; replace_header 0 x-body seen; set_body 0 0 999999 replaced";
    let mut h = host(&[("p", script)]);
    let mut s = h.stream();
    let mut post = POST.to_vec();
    post.push(("content-length", "5"));
    s.send_request_headers(&post, false);
    assert_eq!(s.upstream().headers, None, "headers held by StopIteration");
    s.send_request_body("hel", false)
        .send_request_body("lo", true);
    let lines = logs(&h, "p");
    // Body callbacks keep coming while the headers are held, and the headers stay writable.
    assert!(lines.contains(&"request_body size=3 eos=0".to_string()));
    assert!(
        lines.contains(&"request_body size=5 eos=1".to_string()),
        "buffered total"
    );
    assert!(lines.contains(&"request_body: replace_header -> 0".to_string()));
    let up = s.upstream();
    let headers = up.headers.as_ref().unwrap();
    assert_eq!(headers.get("x-body"), Some("seen"));
    assert_eq!(headers.get("content-length"), None);
    // Continue on the last chunk sends the held headers, then the whole (replaced) buffer.
    assert_eq!(up.frames, vec![(b"replaced".to_vec(), true)]);
}

#[test]
fn request_header_stop_iteration_pauses_everything_under_0_2_1() {
    let mut h = TestHost::new();
    h.add_plugin(
        &scripted_abi("proxy_abi_version_0_2_1"),
        PluginConfig::new("p", "request_headers: return 1"),
    )
    .unwrap();
    h.take_logs();
    let mut s = h.stream();
    s.send_request_headers(POST, false)
        .send_request_body("hello", true);
    // StopIteration became StopAllIterationAndWatermark: no body callback, nothing upstream.
    assert!(!logs(&h, "p").iter().any(|l| l.starts_with("request_body")));
    assert_eq!(s.upstream().headers, None);
    assert!(s.upstream().frames.is_empty());
}

#[test]
fn response_header_stop_iteration_pauses_everything_even_under_0_2_100() {
    let mut h = host(&[("p", "response_headers: return 1")]);
    let mut s = h.stream();
    s.send_request_headers(GET, true)
        .send_response_headers(OK, false)
        .send_response_body("x", true);
    assert!(!logs(&h, "p").iter().any(|l| l.starts_with("response_body")));
    assert_eq!(s.downstream().headers, None);
}

#[test]
fn continue_and_end_stream_acts_as_continue_and_big_values_clamp() {
    let mut h = host(&[("p", "request_headers: return 2\nrequest_body: return 9")]);
    let mut s = h.stream();
    s.send_request_headers(POST, false);
    assert!(
        s.upstream().headers.is_some(),
        "2 (ContinueAndEndStream) is Continue in Envoy"
    );
    assert!(!s.upstream().end_stream);
    s.send_request_body("abc", true);
    // 9 > 3 clamps to StopIterationNoBuffer: the chunk is dropped.
    assert!(s.upstream().frames.is_empty());
}

#[test]
fn buffering_reports_the_total_and_releases_one_frame() {
    let mut h = host(&[(
        "p",
        "request_body: return 1\nrequest_body.eos: get_body 0 0; return 0",
    )]);
    let mut s = h.stream();
    s.send_request_headers(POST, false);
    s.send_request_body("ab", false)
        .send_request_body("cd", false)
        .send_request_body("ef", true);
    assert_eq!(
        only(&logs(&h, "p"), &["request_body size", "get_body"]),
        vec![
            "request_body size=2 eos=0",
            "request_body size=4 eos=0",
            "request_body size=6 eos=1",
            "request_body: get_body -> 0 abcdef",
        ]
    );
    assert_eq!(s.upstream().frames, vec![(b"abcdef".to_vec(), true)]);
}

#[test]
fn after_buffering_continues_later_chunks_report_only_themselves() {
    let mut h = host(&[("p", "request_body#1: return 1")]);
    let mut s = h.stream();
    s.send_request_headers(POST, false);
    s.send_request_body("ab", false)
        .send_request_body("cd", false)
        .send_request_body("ef", true);
    assert_eq!(
        only(&logs(&h, "p"), &["request_body size"]),
        vec![
            "request_body size=2 eos=0",
            "request_body size=4 eos=0",
            "request_body size=2 eos=1"
        ]
    );
    assert_eq!(
        s.upstream().frames,
        vec![(b"abcd".to_vec(), false), (b"ef".to_vec(), true)]
    );
}

#[test]
fn buffer_over_32k_is_413_and_the_limit_property_raises_it() {
    let chunk = vec![b'a'; 20_000];
    let mut h = host(&[("p", "request_body: return 1\nrequest_body.eos: return 0")]);
    let mut s = h.stream();
    s.send_request_headers(POST, false)
        .send_request_body(&chunk, false)
        .send_request_body(&chunk, true);
    assert_eq!(s.downstream().status(), Some(413));
    assert_eq!(s.downstream().body_string(), "Payload Too Large");
    assert_eq!(
        s.response_code_details().as_deref(),
        Some("request_payload_too_large")
    );
    assert!(s.upstream().frames.is_empty());
    // The chunk that overflowed never reached the VM (`if (destroyed_) return ...`).
    assert_eq!(
        only(&logs(&h, "p"), &["request_body size"]),
        vec!["request_body size=20000 eos=0"]
    );
    drop(s);

    let script = "request_headers: set_property set_decoder_buffer_limit 100000\nrequest_body: return 1\nrequest_body.eos: return 0";
    let mut h = host(&[("p", script)]);
    let mut s = h.stream();
    s.send_request_headers(POST, false)
        .send_request_body(&chunk, false)
        .send_request_body(&chunk, true);
    assert_eq!(s.upstream().body().len(), 40_000);
    assert_eq!(s.downstream().headers, None);
}

#[test]
fn watermark_buffering_flow_controls_instead_of_413() {
    let chunk = vec![b'a'; 20_000];
    let mut h = host(&[("p", "request_body.more: return 2")]);
    let mut s = h.stream();
    s.send_request_headers(POST, false)
        .send_request_body(&chunk, false)
        .send_request_body(&chunk, true);
    // Watermark buffering does not make later callbacks see the total.
    assert_eq!(
        only(&logs(&h, "p"), &["request_body size"]),
        vec![
            "request_body size=20000 eos=0",
            "request_body size=20000 eos=1"
        ]
    );
    assert_eq!(s.watermark_hit(), [true, false]);
    assert_eq!(s.upstream().frames.len(), 1);
    assert_eq!(s.upstream().body().len(), 40_000);
}

#[test]
fn response_buffer_overflow_is_500_before_headers_left_and_a_reset_after() {
    let chunk = vec![b'a'; 40_000];
    let mut h = host(&[("p", "response_headers: return 3")]);
    let mut s = h.stream();
    s.send_request_headers(GET, true)
        .send_response_headers(OK, false)
        .send_response_body(&chunk, true);
    assert_eq!(s.downstream().status(), Some(500));
    assert_eq!(s.downstream().body_string(), "Internal Server Error");
    assert_eq!(s.local_replies()[0].path, Some(ReplyPath::Direct));
    assert_eq!(
        s.response_code_details().as_deref(),
        Some("response_payload_too_large")
    );
    drop(s);

    let mut h = host(&[("p", "response_body: return 1")]);
    let mut s = h.stream();
    s.send_request_headers(GET, true)
        .send_response_headers(OK, false)
        .send_response_body(&chunk, false);
    assert_eq!(s.downstream().status(), Some(200));
    assert_eq!(s.local_replies()[0].path, Some(ReplyPath::Reset));
    assert!(s.reset_reason().is_some());
}

#[test]
fn local_reply_travels_through_the_sender_and_earlier_filters_only() {
    let mut h = host(&[
        ("a", ""),
        (
            "b",
            "request_headers: local_reply 403 denied auth%20failed x-r=1; return 0",
        ),
        ("c", ""),
    ]);
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    let down = s.downstream();
    assert_eq!(down.status(), Some(403));
    let headers = down.headers.as_ref().unwrap();
    assert_eq!(headers.get("x-r"), Some("1"));
    assert_eq!(headers.get("content-length"), Some("6"));
    assert_eq!(headers.get("content-type"), Some("text/plain"));
    assert_eq!(down.body_string(), "denied");
    assert_eq!(s.upstream().headers, None);
    // Higress reports `via_wasm::<plugin>::<details>`.
    assert_eq!(
        s.response_code_details().as_deref(),
        Some("via_wasm::b::auth_failed")
    );
    assert_eq!(s.local_replies()[0].sender.as_deref(), Some("b"));
    s.finish();
    // The reply starts at the first encoder filter; c never decoded so it is skipped, b sees its
    // own reply, then a (so an earlier cache plugin sees a later plugin's reply). Headers cross
    // the whole chain before the body does.
    assert_eq!(
        cbs(&all_logs(&h)),
        vec![
            "a| request_headers n=4 eos=1",
            "b| request_headers n=4 eos=1",
            "b| response_headers n=4 eos=0",
            "a| response_headers n=4 eos=0",
            "b| response_body size=6 eos=1",
            "a| response_body size=6 eos=1",
            "a| log",
            "b| log",
            "c| log",
            "a| done",
            "a| delete",
            "b| done",
            "b| delete",
            "c| done",
            "c| delete",
        ]
    );
}

#[test]
fn second_local_reply_is_bad_argument_and_return_value_is_ignored() {
    let mut h = host(&[(
        "p",
        "request_body: local_reply 429 slow; local_reply 500 x; return 0",
    )]);
    let mut s = h.stream();
    s.send_request_headers(POST, false)
        .send_request_body("abc", true);
    assert_eq!(
        only(&logs(&h, "p"), &["local_reply"]),
        vec![
            "request_body: local_reply -> 0",
            "request_body: local_reply -> 2"
        ]
    );
    assert_eq!(s.downstream().status(), Some(429));
    // The Continue return was replaced by StopIterationNoBuffer: no body upstream.
    assert!(s.upstream().frames.is_empty());
    assert_eq!(s.local_replies().len(), 1);
}

#[test]
fn local_reply_from_a_callout_answer_goes_through_the_chain() {
    let mut h = host(&[
        ("a", ""),
        ("b", "request_headers: http_call auth /c 0; return 1\nhttp_call_response: local_reply 401 no"),
    ]);
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    let call = s.http_calls().remove(0);
    s.respond_http(
        &call,
        proxy_wasm_host::HttpCalloutResponse::new(403, &[], ""),
    );
    assert_eq!(s.downstream().status(), Some(401));
    assert_eq!(s.local_replies()[0].path, Some(ReplyPath::FilterChain));
    assert_eq!(
        only(&all_logs(&h), &["response_headers n="]),
        vec![
            "b| response_headers n=3 eos=0",
            "a| response_headers n=3 eos=0"
        ]
    );
}

#[test]
fn local_reply_from_response_headers_goes_directly_to_the_client() {
    let mut h = host(&[("a", ""), ("b", "response_headers: local_reply 502 bad")]);
    let mut s = h.stream();
    s.send_request_headers(GET, true)
        .send_response_headers(OK, false)
        .send_response_body("upstream", true);
    assert_eq!(s.downstream().status(), Some(502));
    assert_eq!(s.downstream().body_string(), "bad");
    assert_eq!(s.local_replies()[0].path, Some(ReplyPath::Direct));
    // a never saw the upstream headers nor the reply.
    assert!(!all_logs(&h).iter().any(|l| l.starts_with("a| response_")));
}

#[test]
fn continue_stream_takes_effect_after_the_vm_call() {
    let script = "request_headers: return 1\nresponse_headers: return 4\nrequest_body.eos: continue 0; continue 1";
    let mut h = host(&[("p", script)]);
    let mut s = h.stream();
    s.send_request_headers(POST, false)
        .send_request_body("x", true);
    assert!(s.upstream().headers.is_some());
    assert_eq!(s.upstream().body_string(), "x");
}

#[test]
fn request_trailers_and_trailers_added_at_end_of_stream() {
    let mut h = host(&[("p", "request_trailers: get_pairs 1; add_header 1 x-t 2")]);
    let mut s = h.stream();
    s.send_request_headers(POST, false)
        .send_request_body("b", false)
        .send_request_trailers(&[("grpc-status", "0")]);
    assert_eq!(
        only(&logs(&h, "p"), &["get_pairs"]),
        vec!["request_trailers: get_pairs -> 0 grpc-status=0"]
    );
    assert_eq!(
        s.upstream().trailers.as_ref().unwrap().get("x-t"),
        Some("2")
    );
    assert_eq!(s.upstream().frames, vec![(b"b".to_vec(), false)]);
    drop(s);

    let mut h = host(&[(
        "p",
        "request_body.eos: add_header 1 x-added yes\nrequest_body.more: add_header 1 x-early no",
    )]);
    let mut s = h.stream();
    s.send_request_headers(POST, false)
        .send_request_body("a", false)
        .send_request_body("b", true);
    assert_eq!(
        only(&logs(&h, "p"), &["add_header"]),
        vec![
            "request_body: add_header -> 2",
            "request_body: add_header -> 0"
        ]
    );
    // Trailers added on the last frame turn that frame's end_stream off.
    assert_eq!(
        s.upstream().frames,
        vec![(b"a".to_vec(), false), (b"b".to_vec(), false)]
    );
    assert_eq!(
        s.upstream().trailers.as_ref().unwrap().get("x-added"),
        Some("yes")
    );
    assert!(s.upstream().end_stream);
}

#[test]
fn injected_encoded_data_replaces_a_withheld_response() {
    let mut h = host(&[(
        "p",
        "response_body: return 3\nresponse_body.eos: inject rewritten 1",
    )]);
    let mut s = h.stream();
    s.send_request_headers(GET, true)
        .send_response_headers(OK, false);
    s.send_response_body("chunk1", false)
        .send_response_body("chunk2", true);
    assert_eq!(s.downstream().frames, vec![(b"rewritten".to_vec(), true)]);
}

#[test]
fn close_stream_resets_with_wasm_fail_stream_details() {
    let mut h = host(&[("p", "request_headers: close 0")]);
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    assert_eq!(s.reset_reason().as_deref(), Some("close_stream"));
    assert_eq!(
        s.response_code_details().as_deref(),
        Some("wasm_fail_stream")
    );
    assert!(!s.upstream_can_respond());
}

#[test]
fn response_body_edit_and_header_only_passthrough() {
    let mut h = host(&[(
        "p",
        "response_headers: remove_header 2 content-length\nresponse_body.eos: set_body 1 0 99 new",
    )]);
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    assert!(s.upstream().end_stream);
    s.send_response_headers(&[(":status", "200"), ("content-length", "3")], false)
        .send_response_body("old", true);
    assert_eq!(
        s.downstream()
            .headers
            .as_ref()
            .unwrap()
            .get("content-length"),
        None
    );
    assert_eq!(s.downstream().body_string(), "new");
}

#[test]
fn stop_all_then_continue_hands_the_whole_buffered_body_to_the_paused_filter() {
    let script = "request_headers: http_call c /x 0; return 3\nhttp_call_response: continue 0\nrequest_body: get_body 0 0";
    let mut h = host(&[("p", script)]);
    let mut s = h.stream();
    s.send_request_headers(POST, false)
        .send_request_body("abc", false)
        .send_request_body("def", true);
    // StopAllIterationAndBuffer: no body callback while paused, the stream buffers.
    assert!(!logs(&h, "p").iter().any(|l| l.starts_with("request_body")));
    let call = s.http_calls().remove(0);
    s.respond_http(
        &call,
        proxy_wasm_host::HttpCalloutResponse::new(200, &[], ""),
    );
    // `commonContinue` iterates from the current filter (`iterate_from_current_filter_`): one
    // callback with everything buffered.
    assert_eq!(
        only(&logs(&h, "p"), &["request_body"]),
        vec![
            "request_body size=6 eos=1",
            "request_body: get_body -> 0 abcdef"
        ]
    );
    assert_eq!(s.upstream().frames, vec![(b"abcdef".to_vec(), true)]);
}

#[test]
fn stop_all_buffer_overflows_with_413_but_stop_all_watermark_does_not() {
    let chunk = vec![b'a'; 40_000];
    let mut h = host(&[("p", "request_headers: return 3")]);
    let mut s = h.stream();
    s.send_request_headers(POST, false)
        .send_request_body(&chunk, true);
    assert_eq!(s.downstream().status(), Some(413));
    drop(s);
    let mut h = host(&[("p", "request_headers: return 4")]);
    let mut s = h.stream();
    s.send_request_headers(POST, false)
        .send_request_body(&chunk, true);
    assert_eq!(s.downstream().headers, None);
    assert_eq!(s.watermark_hit(), [true, false]);
}

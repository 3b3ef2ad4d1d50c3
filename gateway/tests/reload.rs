//! Hot reload on SIGHUP: new streams get the new plugins and routes; a stream in flight finishes
//! byte-exact on the configuration it started with; a broken config is refused.

mod common;

use common::*;
use std::process::Command;

fn hup(gw: &Gateway) {
    let ok = Command::new("kill")
        .args(["-HUP", &gw.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP failed");
}

#[test]
fn sse_stream_spanning_a_reload_finishes_byte_exact_while_new_streams_use_the_new_chain() {
    let up = start_upstream();
    let v1 = config(&[(LLM, up.addr)], &simple_routes(), "");
    let guard = wasmplugin(
        "guard",
        &sdk_example("request-guard"),
        0,
        "FAIL_CLOSE",
        "{tag: v2}",
    );
    let v2 = config(&[(LLM, up.addr)], &simple_routes(), &guard);
    let gw = Gateway::start(&v1);
    rt().block_on(async {
        let c = client();
        let req = http::Request::get(gw.url("/v1/sse"))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let resp = tokio::time::timeout(WAIT, c.request(req))
            .await
            .unwrap()
            .unwrap();
        let mut body = resp.into_body();
        let mut got = Vec::new();
        read_at_least(&mut body, &mut got, SSE_EVENTS[0].len()).await;

        std::fs::write(&gw.config, &v2).unwrap();
        hup(&gw);
        assert!(gw.wait_stderr("configuration reloaded").is_some());
        // A new request sees the new chain (the guard tags it) ...
        let (s, _, _) = send(&c, "GET", &gw.url("/v1/after"), &[], vec![])
            .await
            .unwrap();
        assert_eq!(s, 200);
        let after = up.seen_path("/v1/after").pop().unwrap();
        assert_eq!(after.header_values("x-guard-tag"), vec!["v2"]);

        // ... while the old stream continues to the end, untouched.
        up.state.release.notify_one();
        read_rest(&mut body, &mut got).await;
        assert_eq!(String::from_utf8(got).unwrap(), SSE_EVENTS.concat());
        let sse = up.seen_path("/v1/sse").pop().unwrap();
        assert!(sse.header_values("x-guard-tag").is_empty());

        // A broken config is refused; the running one stays.
        std::fs::write(
            &gw.config,
            "apiVersion: v\nkind: Gateway\nspec: {listeners: []}\n",
        )
        .unwrap();
        hup(&gw);
        assert!(gw.wait_stderr("reload rejected").is_some());
        let (s, _, _) = send(&c, "GET", &gw.url("/v1/still"), &[], vec![])
            .await
            .unwrap();
        assert_eq!(s, 200);
        let still = up.seen_path("/v1/still").pop().unwrap();
        assert_eq!(still.header_values("x-guard-tag"), vec!["v2"]);
    });
    let rejected = gw.wait_stderr("reload rejected").unwrap();
    assert!(rejected.contains("spec.listeners"), "{rejected}");
}

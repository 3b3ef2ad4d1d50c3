//! Through the gateway to the mock LLM (e2e/mock-llm): a streamed chat completion passes the
//! `stream-usage` SDK plugin, which folds the SSE answer and logs model and token usage in ai_log.

mod common;

use common::*;

#[test]
fn streamed_chat_completion_through_a_plugin_reaches_the_client_and_ai_log() {
    let mock = mock_llm::handle::spawn(mock_llm::config::Config::default()).expect("mock-llm");
    let docs = wasmplugin(
        "stream-usage",
        &sdk_example("stream-usage"),
        0,
        "FAIL_CLOSE",
        "{}",
    );
    let gw = Gateway::start(&config(&[(LLM, mock.addr())], &simple_routes(), &docs));
    let req = br#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hello"}]}"#;
    let body = rt().block_on(async {
        let (s, h, body) = send(
            &client(),
            "POST",
            &gw.url("/v1/chat/completions"),
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer sk-test"),
            ],
            req.to_vec(),
        )
        .await
        .unwrap();
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
        assert!(h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        String::from_utf8(body).unwrap()
    });
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    let direct = rt().block_on(async {
        send(
            &client(),
            "POST",
            &format!("{}/v1/chat/completions", mock.base_url()),
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer sk-test"),
            ],
            req.to_vec(),
        )
        .await
        .unwrap()
        .2
    });
    // Same number of SSE events with and without the gateway (content ids/timestamps may differ).
    let events = |b: &str| b.matches("\n\n").count();
    assert_eq!(events(&body), events(&String::from_utf8(direct).unwrap()));
    let log = gw.access_logs(1).pop().unwrap();
    let ai_log: serde_json::Value = serde_json::from_str(log["ai_log"].as_str().unwrap()).unwrap();
    assert_eq!(ai_log["model"], "gpt-4o-mini");
    assert!(ai_log["output_token"].as_u64().unwrap() > 0, "{ai_log}");
}

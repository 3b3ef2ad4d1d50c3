//! Every fault, by header and by instance configuration, observed with a real client.

mod common;

use std::time::Duration;

use common::{bounded, openai_error, user, with, Client};
use mock_llm::fault::FailSequence;
use mock_llm::{Config, FaultAction, FaultSpec};
use serde_json::{json, Value};

fn mock() -> mock_llm::MockHandle {
    mock_llm::spawn(Config::default()).expect("mock starts")
}

fn streamed(text: &str) -> Value {
    with(user(text), json!({"stream": true}))
}

#[tokio::test]
async fn status_faults_carry_openai_error_bodies() {
    bounded(async {
        let m = mock();
        let c = Client::http1(m.addr());
        let r = c
            .chat(&[("x-mock-fault", "status=503")], &user("x"))
            .await
            .unwrap();
        let e = openai_error(&r, 503);
        assert_eq!(e["type"], "server_error");
        assert!(r.header("retry-after").is_none());

        let r = c
            .chat(
                &[("x-mock-fault", "429"), ("x-mock-retry-after", "7")],
                &user("x"),
            )
            .await
            .unwrap();
        assert_eq!(openai_error(&r, 429)["code"], "rate_limit_exceeded");
        assert_eq!(r.header("retry-after"), Some("7"));

        let r = c
            .chat(&[("x-mock-fault", "status=429")], &streamed("x"))
            .await
            .unwrap();
        openai_error(&r, 429);
        assert_eq!(
            r.header("retry-after"),
            Some("1"),
            "429 always has a Retry-After"
        );

        let r = c
            .chat(&[("x-mock-fault", "status=500,retry-after=3")], &user("x"))
            .await
            .unwrap();
        openai_error(&r, 500);
        assert_eq!(r.header("retry-after"), Some("3"));
        assert_eq!(m.stats().by_kind["fault:status=429"], 2);
    })
    .await
}

#[tokio::test]
async fn delay_fault_delays_then_answers() {
    bounded(async {
        let m = mock();
        let c = Client::http1(m.addr());
        let r = c
            .chat(&[("x-mock-fault", "delay=400")], &user("x"))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(
            r.head_after >= Duration::from_millis(400),
            "{:?}",
            r.head_after
        );
        let r = c
            .chat(&[("x-mock-fault", "delay=300,status=502")], &user("x"))
            .await
            .unwrap();
        openai_error(&r, 502);
        assert!(r.head_after >= Duration::from_millis(300));
    })
    .await
}

#[tokio::test]
async fn reset_before_headers_closes_without_a_response() {
    bounded(async {
        let m = mock();
        for c in [Client::http1(m.addr()), Client::h2c(m.addr())] {
            let r = c
                .chat(&[("x-mock-fault", "reset-before-headers")], &user("x"))
                .await;
            assert!(r.is_err(), "no response expected, got {r:?}");
        }
        // The server itself is fine afterwards.
        assert_eq!(
            Client::http1(m.addr())
                .chat(&[], &user("x"))
                .await
                .unwrap()
                .status,
            200
        );
        assert_eq!(m.stats().by_kind["fault:reset-before-headers"], 2);
    })
    .await
}

#[tokio::test]
async fn reset_mid_stream_delivers_n_events_then_aborts() {
    bounded(async {
        let m = mock();
        for c in [Client::http1(m.addr()), Client::h2c(m.addr())] {
            let r = c
                .chat(
                    &[("x-mock-fault", "reset-mid-stream=3")],
                    &streamed("a long enough answer"),
                )
                .await
                .unwrap();
            assert_eq!(r.status, 200);
            assert!(r.body_error.is_some(), "the body must end in an error");
            let data = r.sse_data();
            assert_eq!(data.len(), 3, "exactly 3 events before the reset: {data:?}");
            assert!(data.iter().all(|d| d != "[DONE]"));
            assert!(r
                .chunks()
                .iter()
                .all(|c| c["choices"][0]["finish_reason"].is_null()));

            let r = c
                .chat(
                    &[("x-mock-fault", "reset-mid-stream")],
                    &user("non-streamed"),
                )
                .await
                .unwrap();
            assert!(r.body_error.is_some());
            assert!(
                serde_json::from_slice::<Value>(&r.body()).is_err(),
                "only part of the JSON arrives"
            );
            assert!(!r.body().is_empty());
        }
    })
    .await
}

#[tokio::test]
async fn error_event_inside_a_200_stream() {
    bounded(async {
        let m = mock();
        let c = Client::http1(m.addr());
        let r = c
            .chat(&[("x-mock-fault", "error-event=2")], &streamed("x"))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(
            r.body_error.is_none(),
            "the stream ends cleanly after the error event"
        );
        let chunks = r.chunks();
        assert_eq!(chunks.len(), 3);
        assert!(!r.sse_data().contains(&"[DONE]".to_string()));
        let e = &chunks[2]["error"];
        assert_eq!(e["type"], "server_error");
        assert!(e["message"].is_string() && e.get("param").is_some() && e.get("code").is_some());
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    })
    .await
}

#[tokio::test]
async fn invalid_json_is_a_200_with_a_broken_body() {
    bounded(async {
        let m = mock();
        let c = Client::http1(m.addr());
        let r = c
            .chat(&[("x-mock-fault", "invalid-json")], &user("x"))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(serde_json::from_slice::<Value>(&r.body()).is_err());
        let r = c
            .chat(&[("x-mock-fault", "invalid-json")], &streamed("x"))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        let data = r.sse_data();
        assert!(serde_json::from_str::<Value>(&data[0]).is_err());
    })
    .await
}

#[tokio::test]
async fn bad_fault_header_is_a_400() {
    bounded(async {
        let m = mock();
        let c = Client::http1(m.addr());
        let r = c
            .chat(&[("x-mock-fault", "explode")], &user("x"))
            .await
            .unwrap();
        assert!(openai_error(&r, 400)["message"]
            .as_str()
            .unwrap()
            .contains("x-mock-fault"));
        // obs-text (non-ASCII) header bytes are legal on the wire but not a spec.
        let r = c
            .send_bytes_header("x-mock-fault", b"status=50\xe9", &user("x").to_string())
            .await
            .unwrap();
        assert!(openai_error(&r, 400)["message"]
            .as_str()
            .unwrap()
            .contains("x-mock-fault"));
        assert_eq!(m.stats().by_kind["bad_request"], 2);
    })
    .await
}

#[tokio::test]
async fn instance_fault_follows_the_seeded_fail_sequence() {
    bounded(async {
        let fault = FaultSpec {
            action: Some(FaultAction::Status(503)),
            ..Default::default()
        };
        let config = Config {
            fault: Some(fault),
            fail_ratio: 0.5,
            seed: 11,
            ..Default::default()
        };
        let m = mock_llm::spawn(config).unwrap();
        let c = Client::http1(m.addr());
        let mut expected = FailSequence::new(11, 0.5);
        let mut seen = Vec::new();
        for _ in 0..12 {
            let status = c.chat(&[], &user("x")).await.unwrap().status;
            assert_eq!(status, if expected.next_fails() { 503 } else { 200 });
            seen.push(status);
        }
        assert!(
            seen.contains(&503) && seen.contains(&200),
            "ratio 0.5 over 12 draws: {seen:?}"
        );
        // A fault header (even `none`) bypasses the instance fault without consuming a draw.
        assert_eq!(
            c.chat(&[("x-mock-fault", "none")], &user("x"))
                .await
                .unwrap()
                .status,
            200
        );
        m.reset();
        let mut again = FailSequence::new(11, 0.5);
        for _ in 0..6 {
            let status = c.chat(&[], &user("x")).await.unwrap().status;
            assert_eq!(
                status,
                if again.next_fails() { 503 } else { 200 },
                "reset restarts the sequence"
            );
        }
    })
    .await
}

#[tokio::test]
async fn instance_fault_can_be_set_and_cleared_at_run_time() {
    bounded(async {
        let m = mock();
        let c = Client::http1(m.addr());
        assert_eq!(
            c.post("/mock/fault", &[], "reset-before-headers")
                .await
                .unwrap()
                .status,
            200
        );
        assert!(c.chat(&[], &user("x")).await.is_err());
        m.set_fault(Some("status=502".parse().unwrap()));
        openai_error(&c.chat(&[], &user("x")).await.unwrap(), 502);
        assert_eq!(
            c.send("DELETE", "/mock/fault", &[], "")
                .await
                .unwrap()
                .status,
            200
        );
        assert_eq!(c.chat(&[], &user("x")).await.unwrap().status, 200);
        openai_error(
            &c.post("/mock/fault", &[], "status=200").await.unwrap(),
            400,
        );
    })
    .await
}

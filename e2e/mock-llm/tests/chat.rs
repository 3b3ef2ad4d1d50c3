//! Chat completions over real HTTP: deterministic content, usage, SSE framing, include_usage, `n`,
//! tool calls, latency, h2c.

mod common;

use std::time::Duration;

use common::{bounded, user, with, Client};
use mock_llm::answer::{messages_hash, reply_text};
use mock_llm::request::parse;
use mock_llm::tokens;
use serde_json::{json, Value};

fn mock() -> mock_llm::MockHandle {
    mock_llm::spawn(mock_llm::Config::default()).expect("mock starts")
}

/// What the README promises, recomputed from the public functions.
fn expected(body: &Value, index: usize) -> String {
    let req = parse(body.to_string().as_bytes(), None).unwrap();
    reply_text(&messages_hash(&req.messages), index, req.last_user_text())
}

#[tokio::test]
async fn non_streaming_answer_is_deterministic_and_recomputable() {
    bounded(async {
        let m = mock();
        let c = Client::http1(m.addr());
        let body = json!({"model": "gpt-4o", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France, and why is it famous?"}]});
        let a = c.chat(&[], &body).await.unwrap();
        let b = c.chat(&[], &body).await.unwrap();
        let other = c.chat(&[], &user("Something else entirely")).await.unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.header("content-type"), Some("application/json"));
        assert_eq!(a.header("x-request-id"), Some("req_mock_1"));
        let (a, b, other) = (a.json(), b.json(), other.json());
        assert_eq!(a["object"], "chat.completion");
        assert_eq!(a["model"], "gpt-4o");
        let content = a["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(content, expected(&body, 0));
        assert!(content.contains("What is the capital of France, and why i"));
        assert_eq!(a["choices"][0]["finish_reason"], "stop");
        assert_eq!(a["choices"][0]["message"]["role"], "assistant");
        assert_eq!(b["choices"], a["choices"], "same prompt, same answer");
        assert_ne!(b["id"], a["id"], "each served request has its own id");
        assert_ne!(other["choices"][0]["message"]["content"], a["choices"][0]["message"]["content"]);
        let prompt = 3 + (3 + tokens::count("Be brief."))
            + (3 + tokens::count("What is the capital of France, and why is it famous?"));
        let completion = tokens::count(content);
        assert_eq!(a["usage"], json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}));
    })
    .await
}

#[tokio::test]
async fn stream_has_openai_framing_and_matches_the_non_streamed_answer() {
    bounded(async {
        let m = mock();
        let c = Client::http1(m.addr());
        let body = user("Stream me a reasonably long answer, please");
        let plain = c.chat(&[], &body).await.unwrap().json();
        let r = c
            .chat(&[], &with(body.clone(), json!({"stream": true})))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("text/event-stream; charset=utf-8")
        );
        assert!(r.body_error.is_none());
        assert!(r.text().ends_with("data: [DONE]\n\n"));
        let data = r.sse_data();
        assert_eq!(data.last().unwrap(), "[DONE]");
        let chunks = r.chunks();
        assert_eq!(
            chunks[0]["choices"][0]["delta"],
            json!({"role": "assistant", "content": "", "refusal": null})
        );
        let id = &chunks[0]["id"];
        let mut content = String::new();
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c["object"], "chat.completion.chunk");
            assert_eq!(&c["id"], id, "one id for the whole stream");
            assert!(
                c.get("usage").is_none(),
                "no usage field without include_usage"
            );
            let choice = &c["choices"][0];
            let last = i == chunks.len() - 1;
            assert_eq!(
                choice["finish_reason"],
                if last { json!("stop") } else { Value::Null }
            );
            if i > 0 && !last {
                let piece = choice["delta"]["content"].as_str().unwrap();
                assert!(
                    !piece.is_empty() && piece.chars().count() <= 8,
                    "small deltas: {piece:?}"
                );
                content += piece;
            }
        }
        assert_eq!(chunks.last().unwrap()["choices"][0]["delta"], json!({}));
        assert_eq!(
            content,
            plain["choices"][0]["message"]["content"].as_str().unwrap()
        );
        assert_eq!(
            chunks.len() - 2,
            plain["usage"]["completion_tokens"].as_u64().unwrap() as usize
        );
    })
    .await
}

#[tokio::test]
async fn include_usage_adds_a_final_usage_chunk() {
    bounded(async {
        let m = mock();
        let c = Client::http1(m.addr());
        let body = user("Count my tokens");
        let plain = c.chat(&[], &body).await.unwrap().json();
        let r = c
            .chat(
                &[],
                &with(
                    body,
                    json!({"stream": true, "stream_options": {"include_usage": true}}),
                ),
            )
            .await
            .unwrap();
        let chunks = r.chunks();
        let (last, rest) = chunks.split_last().unwrap();
        assert_eq!(last["choices"], json!([]));
        assert_eq!(last["usage"], plain["usage"]);
        for c in rest {
            assert_eq!(
                c["usage"],
                Value::Null,
                "usage is null until the last chunk"
            );
            assert!(c.get("usage").is_some());
        }
        assert_eq!(rest.last().unwrap()["choices"][0]["finish_reason"], "stop");
    })
    .await
}

#[tokio::test]
async fn n_choices_streamed_and_not() {
    bounded(async {
        let m = mock();
        let c = Client::http1(m.addr());
        let body = with(user("Give me options"), json!({"n": 3}));
        let plain = c.chat(&[], &body).await.unwrap().json();
        let choices = plain["choices"].as_array().unwrap();
        assert_eq!(choices.len(), 3);
        let mut sum = 0;
        for (i, choice) in choices.iter().enumerate() {
            assert_eq!(choice["index"], i);
            let text = choice["message"]["content"].as_str().unwrap();
            assert_eq!(text, expected(&body, i));
            sum += tokens::count(text);
        }
        assert_eq!(plain["usage"]["completion_tokens"], sum);
        let r = c
            .chat(&[], &with(body, json!({"stream": true})))
            .await
            .unwrap();
        let mut texts = vec![String::new(); 3];
        let mut finished = vec![false; 3];
        for chunk in r.chunks() {
            let choice = &chunk["choices"][0];
            let i = choice["index"].as_u64().unwrap() as usize;
            texts[i] += choice["delta"]["content"].as_str().unwrap_or("");
            if choice["finish_reason"] == "stop" {
                finished[i] = true;
            }
        }
        for (i, t) in texts.iter().enumerate() {
            assert_eq!(t, choices[i]["message"]["content"].as_str().unwrap());
        }
        assert_eq!(finished, [true, true, true]);
    })
    .await
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}])
}

#[tokio::test]
async fn tool_calls_follow_the_documented_rule() {
    bounded(async {
        let m = mock();
        let c = Client::http1(m.addr());
        let asks = with(
            user("Use get_weather for Paris"),
            json!({"tools": weather_tools()}),
        );
        let plain = c.chat(&[], &asks).await.unwrap().json();
        let choice = &plain["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], Value::Null);
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        let args = call["function"]["arguments"].as_str().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(args).unwrap(),
            json!({"city": "Use get_weather for ", "unit": "celsius"})
        );
        assert_eq!(plain["usage"]["completion_tokens"], tokens::count(args));

        // No tool named in the prompt and tool_choice auto: a normal answer.
        let no_call = c
            .chat(&[], &with(user("hello"), json!({"tools": weather_tools()})))
            .await
            .unwrap()
            .json();
        assert_eq!(no_call["choices"][0]["finish_reason"], "stop");
        // `required` picks the first tool.
        let required = with(
            user("hello"),
            json!({"tools": weather_tools(), "tool_choice": "required"}),
        );
        let r = c.chat(&[], &required).await.unwrap().json();
        assert_eq!(
            r["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
            "get_weather"
        );
        // A named choice wins over the mention.
        let named = with(
            asks.clone(),
            json!({"tool_choice": {"type": "function", "function": {"name": "get_time"}}}),
        );
        let r = c.chat(&[], &named).await.unwrap().json();
        assert_eq!(
            r["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
            "get_time"
        );
        assert_eq!(
            r["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{}"
        );

        // Streamed: id and name first, then argument fragments that concatenate to the same arguments.
        let r = c
            .chat(&[], &with(asks, json!({"stream": true})))
            .await
            .unwrap();
        let chunks = r.chunks();
        let first = &chunks[0]["choices"][0]["delta"];
        assert_eq!(first["role"], "assistant");
        assert_eq!(first["tool_calls"][0]["id"], call["id"]);
        assert_eq!(first["tool_calls"][0]["function"]["name"], "get_weather");
        assert_eq!(first["tool_calls"][0]["function"]["arguments"], "");
        let fragments: Vec<&str> = chunks[1..chunks.len() - 1]
            .iter()
            .map(|c| {
                let tc = &c["choices"][0]["delta"]["tool_calls"][0];
                assert_eq!(tc["index"], 0);
                assert!(tc.get("id").is_none(), "id only in the first fragment");
                tc["function"]["arguments"].as_str().unwrap()
            })
            .collect();
        assert!(fragments.len() > 3, "arguments arrive in several fragments");
        assert_eq!(fragments.concat(), args);
        assert_eq!(
            chunks.last().unwrap()["choices"][0]["finish_reason"],
            "tool_calls"
        );
        assert_eq!(m.stats().by_kind["tool_calls"], 4);
    })
    .await
}

#[tokio::test]
async fn max_tokens_truncates_with_finish_reason_length() {
    bounded(async {
        let m = mock();
        let c = Client::http1(m.addr());
        let r = c
            .chat(
                &[],
                &with(user("a long question here"), json!({"max_tokens": 2})),
            )
            .await
            .unwrap()
            .json();
        assert_eq!(r["choices"][0]["finish_reason"], "length");
        assert_eq!(r["choices"][0]["message"]["content"], "Mock answer");
        assert_eq!(r["usage"]["completion_tokens"], 2);
    })
    .await
}

#[tokio::test]
async fn reply_header_overrides_the_content() {
    bounded(async {
        let m = mock();
        let c = Client::http1(m.addr());
        let r = c
            .chat(&[("x-mock-reply", "Call me at 555-0100.")], &user("hi"))
            .await
            .unwrap()
            .json();
        assert_eq!(
            r["choices"][0]["message"]["content"],
            "Call me at 555-0100."
        );
        assert_eq!(
            r["usage"]["completion_tokens"],
            tokens::count("Call me at 555-0100.")
        );
    })
    .await
}

#[tokio::test]
async fn latency_headers_delay_first_token_and_pace_the_rest() {
    bounded(async {
        let m = mock();
        let c = Client::http1(m.addr());
        let body = with(user("pace"), json!({"stream": true}));
        let r = c
            .chat(&[("x-mock-ttft-ms", "300"), ("x-mock-tps", "20")], &body)
            .await
            .unwrap();
        let first = r.frames.first().unwrap().0;
        let last = r.frames.last().unwrap().0;
        assert!(r.head_after < first, "headers come before the first token");
        assert!(first >= Duration::from_millis(300), "ttft {first:?}");
        let pieces = r.chunks().len() - 2;
        let min_span = Duration::from_millis(50) * (pieces as u32 - 1);
        assert!(
            last - first >= min_span.mul_f64(0.8),
            "{pieces} pieces at 20/s took {:?}",
            last - first
        );

        let fast = c.chat(&[], &body).await.unwrap();
        assert!(
            fast.frames.last().unwrap().0 < first,
            "without headers the default (no delay) applies"
        );

        let plain = c
            .chat(&[("x-mock-ttft-ms", "250")], &user("pace"))
            .await
            .unwrap();
        assert!(plain.head_after >= Duration::from_millis(250));
    })
    .await
}

#[tokio::test]
async fn configured_latency_is_the_default() {
    bounded(async {
        let config = mock_llm::Config {
            ttft: Duration::from_millis(200),
            ..Default::default()
        };
        let m = mock_llm::spawn(config).unwrap();
        let c = Client::http1(m.addr());
        let r = c.chat(&[], &user("slow")).await.unwrap();
        assert!(r.head_after >= Duration::from_millis(200));
        let r = c
            .chat(&[("x-mock-ttft-ms", "0")], &user("fast"))
            .await
            .unwrap();
        assert!(
            r.head_after < Duration::from_millis(200),
            "header overrides config: {:?}",
            r.head_after
        );
    })
    .await
}

#[tokio::test]
async fn h2c_serves_streams_and_models() {
    bounded(async {
        let m = mock();
        let c = Client::h2c(m.addr());
        let r = c
            .chat(&[], &with(user("over h2"), json!({"stream": true})))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.sse_data().last().unwrap(), "[DONE]");
        let models = c.get("/v1/models").await.unwrap().json();
        assert_eq!(models["object"], "list");
        let ids: Vec<&str> = models["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["gpt-4o-mini", "gpt-4o", "qwen-turbo"]);
    })
    .await
}

//! OpenAI wire shapes for an `Answer`: the `chat.completion` object and the timed list of
//! `chat.completion.chunk` SSE events, in the order and with the fields OpenAI sends.

use std::time::Duration;

use serde_json::{json, Value};

use crate::answer::{Answer, Choice};

/// Identity fields shared by a response and all its chunks.
#[derive(Debug, Clone)]
pub struct Meta {
    pub id: String,
    pub created: u64,
    pub model: String,
}

/// Time to first token and time between tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    pub ttft: Duration,
    pub per_token: Duration,
}

impl Latency {
    pub fn from_tps(ttft: Duration, tps: f64) -> Self {
        // Non-finite or non-positive rates mean "no pacing"; callers validate user input first.
        let per_token = match Duration::try_from_secs_f64(1.0 / tps) {
            Ok(d) if tps.is_finite() && tps > 0.0 => d,
            _ => Duration::ZERO,
        };
        Latency { ttft, per_token }
    }

    /// When piece number `tick` (0-based) of every choice is produced.
    pub fn tick_at(&self, tick: usize) -> Duration {
        let n = u32::try_from(tick).unwrap_or(u32::MAX);
        self.per_token
            .checked_mul(n)
            .and_then(|d| d.checked_add(self.ttft))
            .unwrap_or(Duration::MAX)
    }
}

/// One SSE event: send `data` (without the `data: ` prefix) at `at` after the response headers.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    pub at: Duration,
    pub data: String,
}

impl StreamEvent {
    pub fn frame(&self) -> String {
        format!("data: {}\n\n", self.data)
    }
}

pub fn usage_json(answer: &Answer) -> Value {
    let completion = answer.completion_tokens();
    json!({
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": answer.prompt_tokens + completion,
    })
}

pub fn completion_json(meta: &Meta, answer: &Answer) -> Value {
    let choices: Vec<Value> = answer
        .choices
        .iter()
        .enumerate()
        .map(|(index, choice)| {
            let message = match choice {
                Choice::Text { pieces, .. } => {
                    json!({"role": "assistant", "content": pieces.concat(), "refusal": null})
                }
                Choice::ToolCall { id, name, fragments } => json!({
                    "role": "assistant",
                    "content": null,
                    "tool_calls": [{
                        "id": id,
                        "type": "function",
                        "function": {"name": name, "arguments": fragments.concat()},
                    }],
                    "refusal": null,
                }),
            };
            json!({"index": index, "message": message, "logprobs": null, "finish_reason": choice.finish_reason()})
        })
        .collect();
    json!({
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "system_fingerprint": "fp_mock",
        "choices": choices,
        "usage": usage_json(answer),
    })
}

/// The full stream: per choice a role chunk, then one delta per piece (choices interleaved tick by
/// tick), then one finish chunk per choice, the usage chunk when asked for, and `[DONE]`.
pub fn stream_events(
    meta: &Meta,
    answer: &Answer,
    include_usage: bool,
    latency: Latency,
) -> Vec<StreamEvent> {
    let chunk = |choices: Value, usage: Option<Value>| {
        let mut c = json!({
            "id": meta.id,
            "object": "chat.completion.chunk",
            "created": meta.created,
            "model": meta.model,
            "system_fingerprint": "fp_mock",
            "choices": choices,
        });
        if include_usage {
            // OpenAI sends `"usage": null` on every chunk but the last once include_usage is set.
            c["usage"] = usage.unwrap_or(Value::Null);
        }
        c.to_string()
    };
    let delta = |index: usize, delta: Value, finish: Option<&str>| json!([{"index": index, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let mut events = Vec::new();
    let first_at = latency.tick_at(0);
    for (index, choice) in answer.choices.iter().enumerate() {
        let role = match choice {
            Choice::Text { .. } => json!({"role": "assistant", "content": "", "refusal": null}),
            Choice::ToolCall { id, name, .. } => json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}],
                "refusal": null,
            }),
        };
        events.push(StreamEvent {
            at: first_at,
            data: chunk(delta(index, role, None), None),
        });
    }
    for tick in 0..answer.max_pieces() {
        for (index, choice) in answer.choices.iter().enumerate() {
            let d = match choice {
                Choice::Text { pieces, .. } => pieces.get(tick).map(|p| json!({"content": p})),
                Choice::ToolCall { fragments, .. } => fragments
                    .get(tick)
                    .map(|f| json!({"tool_calls": [{"index": 0, "function": {"arguments": f}}]})),
            };
            if let Some(d) = d {
                events.push(StreamEvent {
                    at: latency.tick_at(tick),
                    data: chunk(delta(index, d, None), None),
                });
            }
        }
    }
    let end_at = latency.tick_at(answer.max_pieces().saturating_sub(1));
    for (index, choice) in answer.choices.iter().enumerate() {
        events.push(StreamEvent {
            at: end_at,
            data: chunk(delta(index, json!({}), Some(choice.finish_reason())), None),
        });
    }
    if include_usage {
        events.push(StreamEvent {
            at: end_at,
            data: chunk(json!([]), Some(usage_json(answer))),
        });
    }
    events.push(StreamEvent {
        at: end_at,
        data: "[DONE]".into(),
    });
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::build;
    use crate::request::parse;

    fn meta() -> Meta {
        Meta {
            id: "chatcmpl-x".into(),
            created: 1,
            model: "m".into(),
        }
    }

    #[test]
    fn stream_reassembles_to_the_non_streamed_answer() {
        let r = parse(br#"{"model":"m","n":2,"messages":[{"role":"user","content":"Tell me a story about a dragon"}]}"#, None).unwrap();
        let a = build(&r, None);
        let full = completion_json(&meta(), &a);
        let events = stream_events(&meta(), &a, true, Latency::default());
        assert_eq!(events.last().unwrap().data, "[DONE]");
        let mut texts = [String::new(), String::new()];
        let mut finishes = Vec::new();
        let mut usage = None;
        for e in &events[..events.len() - 1] {
            let v: Value = serde_json::from_str(&e.data).unwrap();
            assert_eq!(v["object"], "chat.completion.chunk");
            if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                assert_eq!(v["choices"], json!([]));
                usage = Some(u.clone());
                continue;
            }
            let c = &v["choices"][0];
            let i = c["index"].as_u64().unwrap() as usize;
            texts[i] += c["delta"]["content"].as_str().unwrap_or("");
            if let Some(f) = c["finish_reason"].as_str() {
                finishes.push((i, f.to_string()));
            }
        }
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(
                text,
                full["choices"][i]["message"]["content"].as_str().unwrap()
            );
        }
        assert_eq!(finishes, [(0, "stop".to_string()), (1, "stop".to_string())]);
        assert_eq!(usage.unwrap(), full["usage"]);
    }

    #[test]
    fn ticks_follow_the_latency_model() {
        let r = parse(
            br#"{"model":"m","messages":[{"role":"user","content":"abc def"}]}"#,
            None,
        )
        .unwrap();
        let a = build(&r, None);
        let lat = Latency::from_tps(Duration::from_millis(100), 10.0);
        let events = stream_events(&meta(), &a, false, lat);
        assert_eq!(events[0].at, Duration::from_millis(100));
        assert_eq!(events[1].at, Duration::from_millis(100));
        assert_eq!(events[2].at, Duration::from_millis(200));
        let last = a.max_pieces() - 1;
        assert_eq!(events.last().unwrap().at, lat.tick_at(last));
        assert!(!events[0].data.contains("usage"));
    }
}

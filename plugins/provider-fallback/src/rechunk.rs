//! A `chat.completion` answer as a `chat.completion.chunk` SSE stream, for streaming clients
//! served by a (buffered) fallback callout: per choice one delta with the role, content,
//! reasoning, refusal and tool calls, then one with its `finish_reason`; the usage chunk when the
//! client asked for it (`stream_options.include_usage`); then `[DONE]`.

use ai_proto::sse::SseEncoder;
use serde_json::{json, Map, Value};

pub fn to_sse(answer: &Value, include_usage: bool) -> Vec<u8> {
    let mut head = Map::new();
    for key in [
        "id",
        "created",
        "model",
        "system_fingerprint",
        "service_tier",
    ] {
        if let Some(v) = answer.get(key) {
            head.insert(key.into(), v.clone());
        }
    }
    head.insert("object".into(), json!("chat.completion.chunk"));
    let chunk = |choices: Value, usage: Option<&Value>| {
        let mut c = head.clone();
        c.insert("choices".into(), choices);
        if let Some(u) = usage {
            c.insert("usage".into(), u.clone());
        }
        Value::Object(c).to_string()
    };
    let mut out = SseEncoder::new();
    let choices = answer
        .get("choices")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, choice) in choices.iter().enumerate() {
        let index = choice.get("index").cloned().unwrap_or_else(|| json!(i));
        let message = choice.get("message").cloned().unwrap_or_else(|| json!({}));
        let mut delta = Map::new();
        delta.insert(
            "role".into(),
            message
                .get("role")
                .cloned()
                .unwrap_or_else(|| json!("assistant")),
        );
        for key in ["content", "reasoning_content", "refusal"] {
            if let Some(v) = message.get(key).filter(|v| !v.is_null()) {
                delta.insert(key.into(), v.clone());
            }
        }
        if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
            let calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(n, call)| {
                    let mut call = call.as_object().cloned().unwrap_or_default();
                    call.insert("index".into(), json!(n));
                    Value::Object(call)
                })
                .collect();
            delta.insert("tool_calls".into(), Value::Array(calls));
        }
        let first = json!([{"index": index, "delta": delta, "logprobs": choice.get("logprobs").cloned().unwrap_or(Value::Null), "finish_reason": null}]);
        out.data(&chunk(first, None));
        let finish = choice
            .get("finish_reason")
            .cloned()
            .unwrap_or(json!("stop"));
        out.data(&chunk(
            json!([{"index": index, "delta": {}, "finish_reason": finish}]),
            None,
        ));
    }
    if include_usage {
        if let Some(usage) = answer.get("usage") {
            out.data(&chunk(json!([]), Some(usage)));
        }
    }
    out.done();
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ai_proto::stream::StreamAccumulator;

    #[test]
    fn stream_folds_back_into_the_same_answer() {
        let answer = json!({"id": "c1", "object": "chat.completion", "created": 7, "model": "qwen-max",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hello \"world\"\n"}, "finish_reason": "stop"},
                {"index": 1, "message": {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                 "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}});
        let sse = to_sse(&answer, true);
        let mut acc = StreamAccumulator::new();
        acc.feed_sse(&sse).unwrap();
        acc.finish_sse().unwrap();
        assert!(acc.is_done());
        let usage = acc.usage().unwrap();
        assert_eq!(
            (usage.input_tokens, usage.output_tokens),
            (Some(3), Some(4))
        );
        let folded = serde_json::to_value(acc.finish().unwrap()).unwrap();
        assert_eq!(folded["id"], "c1");
        assert_eq!(folded["model"], "qwen-max");
        assert_eq!(
            folded["choices"][0]["message"]["content"],
            "Hello \"world\"\n"
        );
        assert_eq!(folded["choices"][0]["finish_reason"], "stop");
        assert_eq!(folded["choices"][1]["finish_reason"], "tool_calls");
        assert_eq!(
            folded["choices"][1]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"a\":1}"
        );
    }

    #[test]
    fn usage_chunk_only_when_asked() {
        let answer =
            json!({"choices": [{"message": {"content": "x"}}], "usage": {"total_tokens": 1}});
        let text = String::from_utf8(to_sse(&answer, false)).unwrap();
        assert!(!text.contains("usage"));
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert!(text.contains("\"finish_reason\":\"stop\""));
    }
}

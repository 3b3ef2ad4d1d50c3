//! Answering from the cache: a stored answer (always a whole `chat.completion`, however it was
//! captured) becomes a JSON body or an SSE stream, whichever the request asked for.
//!
//! `usage` reports zero new tokens; `usage.cached_tokens` carries the total tokens of the
//! original answer (what the hit saved). A `responseTemplate` / `streamResponseTemplate`
//! (Higress ai-cache) replaces the body, with `%s` = the answer text JSON-escaped.

use ai_proto::chat::{ChatResponse, ChatUsage};
use ai_proto::sse::SseEncoder;
use serde_json::{json, Map, Value};

/// Tokens the original answer cost (total, else prompt + completion).
pub fn tokens_saved(r: &ChatResponse) -> u64 {
    r.usage.as_ref().map_or(0, |u| {
        u.total_tokens
            .unwrap_or(u.prompt_tokens.unwrap_or(0) + u.completion_tokens.unwrap_or(0))
    })
}

fn hit_usage(saved: u64) -> ChatUsage {
    let mut extra = Map::new();
    extra.insert("cached_tokens".into(), json!(saved));
    ChatUsage {
        prompt_tokens: Some(0),
        completion_tokens: Some(0),
        total_tokens: Some(0),
        extra,
        ..Default::default()
    }
}

/// Non-streaming body.
pub fn json_body(stored: &ChatResponse) -> Vec<u8> {
    let mut r = stored.clone();
    r.object = Some("chat.completion".into());
    r.usage = Some(hit_usage(tokens_saved(stored)));
    serde_json::to_vec(&r).unwrap_or_default()
}

/// Splits `text` into pieces of at most `chars` characters (0 = one piece).
fn pieces(text: &str, chars: usize) -> Vec<&str> {
    if chars == 0 || text.is_empty() {
        return vec![text];
    }
    let mut out = Vec::with_capacity(text.len() / chars + 1);
    let mut start = 0;
    let mut count = 0;
    for (i, _) in text.char_indices() {
        if count == chars {
            out.push(&text[start..i]);
            start = i;
            count = 0;
        }
        count += 1;
    }
    out.push(&text[start..]);
    out
}

/// Streaming body: role chunk, reasoning and content in `chunk_chars` pieces, tool calls, the
/// finish chunk with usage, `[DONE]`. No delays: replay is as fast as the client reads.
pub fn sse_body(stored: &ChatResponse, chunk_chars: usize) -> Vec<u8> {
    let head = |choices: Value| {
        let mut o = Map::new();
        if let Some(id) = &stored.id {
            o.insert("id".into(), json!(id));
        }
        o.insert("object".into(), json!("chat.completion.chunk"));
        if let Some(c) = stored.created {
            o.insert("created".into(), json!(c));
        }
        if let Some(m) = &stored.model {
            o.insert("model".into(), json!(m));
        }
        o.insert("choices".into(), choices);
        o
    };
    let mut enc = SseEncoder::with_capacity(512);
    let emit = |enc: &mut SseEncoder, index: u32, delta: Value, finish: Value| {
        let chunk = head(json!([{"index": index, "delta": delta, "finish_reason": finish}]));
        enc.data(&Value::Object(chunk).to_string());
    };
    for c in &stored.choices {
        let m = &c.message;
        emit(
            &mut enc,
            c.index,
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        );
        if let Some(Some(reasoning)) = &m.reasoning_content {
            for p in pieces(reasoning, chunk_chars) {
                emit(
                    &mut enc,
                    c.index,
                    json!({"reasoning_content": p}),
                    Value::Null,
                );
            }
        }
        let text = m.text();
        if !text.is_empty() {
            for p in pieces(&text, chunk_chars) {
                emit(&mut enc, c.index, json!({"content": p}), Value::Null);
            }
        }
        if let Some(calls) = m.tool_calls.as_ref().filter(|t| !t.is_empty()) {
            let indexed: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, call)| {
                    let mut v = serde_json::to_value(call).unwrap_or_default();
                    v["index"] = json!(i);
                    v
                })
                .collect();
            emit(
                &mut enc,
                c.index,
                json!({"tool_calls": indexed}),
                Value::Null,
            );
        }
        let finish = c
            .finish_reason
            .clone()
            .flatten()
            .map_or(Value::Null, Value::String);
        emit(&mut enc, c.index, json!({}), finish);
    }
    let mut usage = head(json!([]));
    usage.insert(
        "usage".into(),
        serde_json::to_value(hit_usage(tokens_saved(stored))).unwrap_or_default(),
    );
    enc.data(&Value::Object(usage).to_string());
    enc.done();
    enc.into_bytes()
}

/// A Higress template with `%s` replaced by the answer text, JSON-escaped without quotes.
pub fn template(template: &str, stored: &ChatResponse) -> Vec<u8> {
    let text = stored.first_text().unwrap_or_default();
    let quoted = Value::String(text.into_owned()).to_string();
    template
        .replacen("%s", &quoted[1..quoted.len() - 1], 1)
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ai_proto::stream::StreamAccumulator;

    fn stored() -> ChatResponse {
        serde_json::from_str(
            r#"{"id":"c1","object":"chat.completion","created":7,"model":"m",
                "choices":[{"index":0,"message":{"role":"assistant","content":"Hello 世界, how are you?",
                "reasoning_content":"greet"},"finish_reason":"stop"}],
                "usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#,
        )
        .unwrap()
    }

    #[test]
    fn json_replay_zeroes_usage_and_reports_cached_tokens() {
        let v: Value = serde_json::from_slice(&json_body(&stored())).unwrap();
        assert_eq!(
            v["choices"][0]["message"]["content"],
            "Hello 世界, how are you?"
        );
        assert_eq!(v["usage"]["total_tokens"], 0);
        assert_eq!(v["usage"]["prompt_tokens"], 0);
        assert_eq!(v["usage"]["cached_tokens"], 8);
    }

    #[test]
    fn sse_replay_folds_back_into_the_stored_answer() {
        for size in [0, 1, 3, 256] {
            let body = sse_body(&stored(), size);
            assert!(body.ends_with(b"data: [DONE]\n\n"));
            let mut acc = StreamAccumulator::new();
            acc.feed_sse(&body).unwrap();
            assert!(acc.is_done());
            let r = acc.finish().unwrap();
            assert_eq!(r.first_text().unwrap(), "Hello 世界, how are you?");
            assert_eq!(
                r.choices[0].message.reasoning_content,
                Some(Some("greet".into()))
            );
            assert_eq!(r.choices[0].finish_reason, Some(Some("stop".into())));
            assert_eq!(r.usage.unwrap().total_tokens, Some(0));
        }
    }

    #[test]
    fn chunk_size_splits_on_characters() {
        assert_eq!(pieces("ab世界c", 2), vec!["ab", "世界", "c"]);
        assert_eq!(pieces("abc", 0), vec!["abc"]);
        let body = String::from_utf8(sse_body(&stored(), 4)).unwrap();
        // role + 2 reasoning + 6 content + finish + usage events + [DONE]
        assert_eq!(body.matches("data: ").count(), 1 + 2 + 6 + 1 + 1 + 1);
    }

    #[test]
    fn tool_calls_replay_with_indices() {
        let r: ChatResponse = serde_json::from_str(
            r#"{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
               {"id":"t1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
        )
        .unwrap();
        let mut acc = StreamAccumulator::new();
        acc.feed_sse(&sse_body(&r, 10)).unwrap();
        let back = acc.finish().unwrap();
        let calls = back.choices[0].message.tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].id.as_deref(), Some("t1"));
    }

    #[test]
    fn templates_escape_the_answer() {
        let mut r = stored();
        r.choices[0].message.content = Some(ai_proto::chat::Content::Text("say \"hi\"\n".into()));
        let out = template(r#"{"content":"%s"}"#, &r);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["content"], "say \"hi\"\n");
    }
}

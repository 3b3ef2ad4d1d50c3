//! Answering from the cache: a stored answer (always a whole `chat.completion`, however it was
//! captured) becomes a JSON body or an SSE stream, whichever the request asked for.
//!
//! `usage` reports zero new tokens; `usage.cached_tokens` carries the total tokens of the
//! original answer (what the hit saved). A `responseTemplate` / `streamResponseTemplate`
//! (Higress ai-cache) replaces the body, with `%s` = the answer text JSON-escaped.

use ai_proto::chat::{ChatResponse, ChatUsage};
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
    let mut sse = ChunkWriter::new(stored);
    for c in &stored.choices {
        let m = &c.message;
        sse.chunk(c.index, br#"{"role":"assistant","content":""}"#, None, None);
        if let Some(Some(reasoning)) = &m.reasoning_content {
            for p in pieces(reasoning, chunk_chars) {
                sse.chunk(c.index, br#"{"reasoning_content":"#, Some(p), None);
            }
        }
        let text = m.text();
        if !text.is_empty() {
            for p in pieces(&text, chunk_chars) {
                sse.chunk(c.index, br#"{"content":"#, Some(p), None);
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
            let delta = json!({"tool_calls": indexed}).to_string();
            sse.chunk(c.index, delta.as_bytes(), None, None);
        }
        let finish = c.finish_reason.as_ref().and_then(Option::as_deref);
        sse.chunk(c.index, b"{}", None, finish);
    }
    sse.usage(&hit_usage(tokens_saved(stored)));
    sse.out.extend_from_slice(b"data: [DONE]\n\n");
    sse.out
}

/// Writes `chat.completion.chunk` events. Every chunk of a replay shares its head (`id`, `object`,
/// `created`, `model`), so that is serialised once and each piece only escapes its own text; this
/// is most of a streamed hit's cost. Compact JSON holds no line break, so an event is one `data:`
/// line.
struct ChunkWriter {
    head: Vec<u8>,
    out: Vec<u8>,
}

impl ChunkWriter {
    fn new(stored: &ChatResponse) -> ChunkWriter {
        let mut head = b"data: {".to_vec();
        if let Some(id) = &stored.id {
            head.extend_from_slice(br#""id":"#);
            push_json(&mut head, id);
            head.push(b',');
        }
        head.extend_from_slice(br#""object":"chat.completion.chunk","#);
        if let Some(created) = stored.created {
            head.extend_from_slice(format!(r#""created":{created},"#).as_bytes());
        }
        if let Some(model) = &stored.model {
            head.extend_from_slice(br#""model":"#);
            push_json(&mut head, model);
            head.push(b',');
        }
        head.extend_from_slice(br#""choices":"#);
        let text = stored
            .choices
            .iter()
            .map(|c| c.message.text().len())
            .sum::<usize>();
        ChunkWriter {
            out: Vec::with_capacity(512 + 2 * text),
            head,
        }
    }

    /// One chunk of choice `index`: `delta` is written as is, followed by `text` as a JSON string
    /// and the closing brace when there is a text; `finish` is the chunk's `finish_reason` (`None`
    /// writes `null`).
    fn chunk(&mut self, index: u32, delta: &[u8], text: Option<&str>, finish: Option<&str>) {
        self.out.extend_from_slice(&self.head);
        self.out
            .extend_from_slice(format!(r#"[{{"index":{index},"delta":"#).as_bytes());
        self.out.extend_from_slice(delta);
        if let Some(text) = text {
            push_json(&mut self.out, text);
            self.out.push(b'}');
        }
        self.out.extend_from_slice(br#","finish_reason":"#);
        match finish {
            Some(reason) => push_json(&mut self.out, reason),
            None => self.out.extend_from_slice(b"null"),
        }
        self.out.extend_from_slice(b"}]}\n\n");
    }

    /// The closing chunk: no choices, the usage.
    fn usage(&mut self, usage: &ChatUsage) {
        self.out.extend_from_slice(&self.head);
        self.out.extend_from_slice(br#"[],"usage":"#);
        push_json(&mut self.out, usage);
        self.out.extend_from_slice(b"}\n\n");
    }
}

fn push_json(out: &mut Vec<u8>, value: &(impl serde::Serialize + ?Sized)) {
    // Writing into a Vec cannot fail, and these types always serialise.
    let _ = serde_json::to_writer(out, value);
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
    fn every_sse_event_is_one_line_of_a_complete_chunk() {
        let mut r = stored();
        r.choices[0].message.content = Some(ai_proto::chat::Content::Text(
            "line 1\nline \"2\"\r\u{0}\t\\ end".into(),
        ));
        let body = String::from_utf8(sse_body(&r, 5)).unwrap();
        let events: Vec<&str> = body.strip_suffix("\n\n").unwrap().split("\n\n").collect();
        let (done, chunks) = events.split_last().unwrap();
        assert_eq!(*done, "data: [DONE]");
        let mut text = String::new();
        for event in chunks {
            let json = event.strip_prefix("data: ").expect("a data line");
            assert!(!json.contains('\n'), "one line per event: {event:?}");
            let v: Value = serde_json::from_str(json).unwrap();
            assert_eq!(
                (&v["id"], &v["object"], &v["created"], &v["model"]),
                (
                    &json!("c1"),
                    &json!("chat.completion.chunk"),
                    &json!(7),
                    &json!("m")
                )
            );
            if let Some(piece) = v["choices"][0]["delta"]["content"].as_str() {
                text.push_str(piece);
            }
        }
        assert_eq!(text, "line 1\nline \"2\"\r\u{0}\t\\ end");
        let last: Value = serde_json::from_str(&chunks.last().unwrap()[6..]).unwrap();
        assert_eq!(last["choices"], json!([]));
        assert_eq!(last["usage"]["cached_tokens"], 8);
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

//! Reading the answer cheaply: the usage of a streamed answer rides on its final events, so only
//! events that carry a non-null `"usage"` (or `"usageMetadata"`) are parsed as JSON. Every event
//! gets one pass over its `:` bytes instead (every `"key": value` pair has one, few other bytes
//! do), which finds the usage member and counts the text to fall back on if no usage ever
//! arrives. When the plugin asked for usage the client did not, the usage event is removed (or,
//! when it also carries choices, its `usage` member is), and the `"usage":null` OpenAI then adds
//! to every chunk is cut out, so the client sees the stream it asked for.

use ai_proto::sse::SseDecoder;
use ai_proto::usage::{extract_usage_from_slice, Usage};
use serde_json::Value;
use std::ops::Range;
use token_estimate::{Counter, Encoding};

/// Largest non-streamed answer kept to read its usage (usage sits at the end; beyond this only
/// the tail is kept).
const MAX_BODY: usize = 4 << 20;
/// Largest SSE event; a stream with bigger ones is passed through unread.
const MAX_EVENT: usize = 1 << 20;

/// Keys of the text fields whose strings are counted when the provider reports no usage, with
/// their opening quote so `"reasoning_content"` is not taken for `"content"`.
const TEXT_KEYS: [&[u8]; 4] = [
    b"\"content",
    b"\"reasoning_content",
    b"\"arguments",
    b"\"text",
];

/// What the pass over one event found.
#[derive(Debug, Default, PartialEq)]
struct Members {
    /// A `usage`/`usageMetadata` member whose value is not `null`.
    usage: bool,
    /// The `"usage":null` member with one of its commas, ready to be cut out.
    null_usage: Option<Range<usize>>,
}

/// Usage and counted text of an answer so far.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub usage: Option<Usage>,
    pub text: Counter,
}

impl Seen {
    fn new(encoding: Encoding) -> Seen {
        Seen {
            usage: None,
            text: Counter::new(encoding),
        }
    }

    fn merge_usage(&mut self, u: Usage) {
        match &mut self.usage {
            Some(have) => have.merge(&u),
            None => self.usage = Some(u),
        }
    }

    /// One pass over the `:` bytes of `json`: counts the string values of text fields (escapes
    /// decoded only when present) and finds the usage member.
    fn scan(&mut self, json: &[u8]) -> Members {
        let mut found = Members::default();
        for colon in memchr::memchr_iter(b':', json) {
            let Some(key) = json[..colon].trim_ascii_end().strip_suffix(b"\"") else {
                continue;
            };
            let value = json[colon + 1..].trim_ascii_start();
            let value_at = json.len() - value.len();
            let usage_key = [&b"\"usage"[..], b"\"usageMetadata"]
                .into_iter()
                .find(|k| key.ends_with(k));
            if let Some(usage_key) = usage_key {
                if !value.starts_with(b"null") {
                    found.usage = true;
                } else if found.null_usage.is_none() {
                    let (start, end) = (key.len() - usage_key.len(), value_at + 4);
                    let before = json[..start].trim_ascii_end();
                    let after = json[end..].trim_ascii_start();
                    found.null_usage = if before.ends_with(b",") {
                        Some(before.len() - 1..end)
                    } else if after.starts_with(b",") {
                        Some(start..json.len() - after.len() + 1)
                    } else {
                        None
                    };
                }
                continue;
            }
            if !value.starts_with(b"\"") || !TEXT_KEYS.iter().any(|k| key.ends_with(k)) {
                continue;
            }
            let from = value_at + 1;
            let Some(len) = string_len(&json[from..]) else {
                continue;
            };
            let raw = &json[from..from + len];
            if memchr::memchr(b'\\', raw).is_some() {
                if let Ok(s) = serde_json::from_slice::<String>(&json[from - 1..from + len + 1]) {
                    self.text.add(s.as_bytes());
                    continue;
                }
            }
            self.text.add(raw);
        }
        found
    }
}

/// Length of a JSON string body up to its closing quote.
fn string_len(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = memchr::memchr2(b'"', b'\\', &s[i..]) {
        if s[i + p] == b'\\' {
            i += p + 2;
            if i > s.len() {
                return None;
            }
        } else {
            return Some(i + p);
        }
    }
    None
}

/// Reads a non-streamed answer as it passes.
#[derive(Debug)]
pub struct BodyScan {
    body: Vec<u8>,
    encoding: Encoding,
}

impl BodyScan {
    pub fn new(encoding: Encoding) -> BodyScan {
        BodyScan {
            body: Vec::new(),
            encoding,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.body.extend_from_slice(chunk);
        if self.body.len() > MAX_BODY {
            let cut = self.body.len() - MAX_BODY;
            self.body.drain(..cut);
        }
    }

    pub fn finish(&self) -> Seen {
        let mut seen = Seen::new(self.encoding);
        if let Ok(Some(u)) = extract_usage_from_slice(&self.body) {
            seen.usage = Some(u);
        } else {
            seen.scan(&self.body);
        }
        seen
    }
}

/// Reads (and, with `strip`, edits) a streamed answer event by event.
#[derive(Debug)]
pub struct StreamScan {
    decoder: SseDecoder,
    strip: bool,
    seen: Seen,
    /// The decoder failed (oversized event): the rest passes through unread.
    broken: bool,
}

impl StreamScan {
    pub fn new(encoding: Encoding, strip: bool) -> StreamScan {
        StreamScan {
            decoder: SseDecoder::with_max_event_size(MAX_EVENT),
            strip,
            seen: Seen::new(encoding),
            broken: false,
        }
    }

    pub fn seen(&self) -> &Seen {
        &self.seen
    }

    /// Takes a chunk. With `strip`, returns what to forward instead (complete events only; a
    /// partial event is held until it completes); otherwise `None` (forward the chunk as is).
    pub fn feed(&mut self, chunk: &[u8], end_of_stream: bool) -> Option<Vec<u8>> {
        if self.broken {
            return None;
        }
        self.decoder.feed(chunk);
        if end_of_stream {
            self.decoder.finish();
        }
        let mut out = self.strip.then(|| Vec::with_capacity(chunk.len()));
        loop {
            let frame = match self.decoder.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => {
                    // Whatever the decoder still holds goes out as received.
                    self.broken = true;
                    if let Some(out) = out.as_mut() {
                        out.extend_from_slice(self.decoder.pending());
                    }
                    break;
                }
            };
            let raw = frame.raw;
            let data = frame
                .event
                .as_ref()
                .map(|e| e.data.as_bytes())
                .unwrap_or_default();
            let found = self.seen.scan(data);
            if !found.usage {
                if let Some(out) = out.as_mut() {
                    push_without(out, raw, data, found.null_usage);
                }
                continue;
            }
            if let Ok(Some(u)) = extract_usage_from_slice(data) {
                self.seen.merge_usage(u);
            }
            if let Some(out) = out.as_mut() {
                if let Some(kept) = without_usage(data) {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(&kept);
                    out.extend_from_slice(b"\n\n");
                }
            }
        }
        out
    }
}

/// The event data without its usage: `None` to drop the event (no choices left to deliver).
fn without_usage(data: &[u8]) -> Option<Vec<u8>> {
    let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(data) else {
        return Some(data.to_vec());
    };
    let has_choices = obj
        .get("choices")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    if !has_choices {
        return None;
    }
    obj.remove("usage");
    serde_json::to_vec(&obj).ok()
}

/// Copies an event, cutting out `cut` (a range of its `data`), when `data` lies inside `raw` (a
/// single `data:` line of valid UTF-8, as providers send them); otherwise copies it as is.
fn push_without(out: &mut Vec<u8>, raw: &[u8], data: &[u8], cut: Option<Range<usize>>) {
    let offset = (data.as_ptr() as usize).wrapping_sub(raw.as_ptr() as usize);
    match cut {
        Some(cut) if offset <= raw.len() && offset + data.len() <= raw.len() => {
            out.extend_from_slice(&raw[..offset + cut.start]);
            out.extend_from_slice(&raw[offset + cut.end..]);
        }
        _ => out.extend_from_slice(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chunk(content: &str) -> String {
        format!(
            "data: {}\n\n",
            json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}], "usage": null})
        )
    }

    fn openai_stream_with_usage() -> String {
        let mut s = chunk("Hello") + &chunk(" world");
        s += &format!(
            "data: {}\n\n",
            json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": null})
        );
        s += &format!(
            "data: {}\n\n",
            json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}})
        );
        s + "data: [DONE]\n\n"
    }

    #[test]
    fn finds_usage_and_strips_it_at_every_split() {
        let stream = openai_stream_with_usage();
        let bytes = stream.as_bytes();
        for cut in 0..=bytes.len() {
            let mut s = StreamScan::new(Encoding::O200k, true);
            let mut out = s.feed(&bytes[..cut], false).unwrap();
            out.extend(s.feed(&bytes[cut..], true).unwrap());
            let u = s.seen().usage.unwrap();
            assert_eq!((u.input(), u.output()), (9, 2));
            let text = String::from_utf8(out).unwrap();
            assert!(!text.contains("usage"), "{text}");
            assert!(text.ends_with("data: [DONE]\n\n"));
            assert_eq!(text.matches("data: ").count(), 4, "{text}");
        }
    }

    #[test]
    fn the_scan_finds_usage_members_wherever_they_sit() {
        let scan = |json: &str| Seen::new(Encoding::O200k).scan(json.as_bytes());
        let cut = |json: &str| {
            let r = scan(json).null_usage.unwrap();
            format!("{}{}", &json[..r.start], &json[r.end..])
        };
        assert_eq!(cut(r#"{"a":1,"usage":null}"#), r#"{"a":1}"#);
        assert_eq!(cut(r#"{"usage":null,"a":1}"#), r#"{"a":1}"#);
        assert_eq!(cut(r#"{"a":1, "usage" : null}"#), r#"{"a":1}"#);
        assert!(scan(r#"{"usage": {"total_tokens": 3}}"#).usage);
        assert!(scan(r#"{"usageMetadata":{"totalTokenCount":3}}"#).usage);
        // Text that merely talks about usage is neither.
        assert_eq!(
            scan(r#"{"content":"the \"usage\":null and \"usage\": 5 fields"}"#),
            Members::default()
        );
        assert_eq!(scan(r#"{"content":"usage: 5"}"#), Members::default());
    }

    #[test]
    fn observing_only_forwards_nothing_new() {
        let mut s = StreamScan::new(Encoding::O200k, false);
        assert!(s
            .feed(openai_stream_with_usage().as_bytes(), true)
            .is_none());
        assert_eq!(s.seen().usage.unwrap().total(), 11);
    }

    #[test]
    fn usage_on_a_chunk_with_choices_keeps_the_choices() {
        let ev = format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
        );
        let mut s = StreamScan::new(Encoding::O200k, true);
        let out = String::from_utf8(s.feed(ev.as_bytes(), true).unwrap()).unwrap();
        assert!(
            out.contains("\"content\":\"x\"") && !out.contains("usage"),
            "{out}"
        );
        assert_eq!(s.seen().usage.unwrap().total(), 2);
    }

    #[test]
    fn without_usage_the_text_is_counted() {
        let mut s = StreamScan::new(Encoding::O200k, false);
        let escaped =
            r#"data: {"choices":[{"delta":{"content":"\u4e2d\u6587"}}]}"#.to_string() + "\n\n";
        let stream = chunk("The quick brown fox ") + &chunk("jumps over the lazy dog.") + &escaped;
        s.feed(stream.as_bytes(), true);
        assert!(s.seen().usage.is_none());
        let n = s.seen().text.tokens();
        assert!((10..=16).contains(&n), "{n} {:?}", s.seen());
    }

    #[test]
    fn anthropic_and_gemini_usage() {
        let mut s = StreamScan::new(Encoding::O200k, false);
        let stream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":20,\"output_tokens\":1}}}\n\n\
                      event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n";
        s.feed(stream.as_bytes(), true);
        let u = s.seen().usage.unwrap();
        assert_eq!((u.input(), u.output()), (20, 15));
        let mut g = StreamScan::new(Encoding::O200k, false);
        g.feed(b"data: {\"usageMetadata\": {\"promptTokenCount\": 3, \"candidatesTokenCount\": 4}}\n\n", true);
        assert_eq!(g.seen().usage.unwrap().total(), 7);
    }

    #[test]
    fn malformed_streams_do_not_panic() {
        for bad in [
            &b"data: {\"usage\": {\"prompt_tokens\": \"x\"\n\n"[..],
            b"data: {\"usage\":",
            b"\xff\xfe\n\n",
            b"data: \"content\":\"\\",
        ] {
            let mut s = StreamScan::new(Encoding::O200k, true);
            let _ = s.feed(bad, true);
        }
    }

    #[test]
    fn body_usage_or_counted_text() {
        let mut b = BodyScan::new(Encoding::O200k);
        b.feed(br#"{"choices":[{"message":{"content":"hi there"}}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#);
        assert_eq!(b.finish().usage.unwrap().total(), 7);
        let mut b = BodyScan::new(Encoding::O200k);
        b.feed(br#"{"choices":[{"message":{"content":"hi there my friend"}}]}"#);
        let seen = b.finish();
        assert!(seen.usage.is_none());
        assert!(seen.text.tokens() >= 3);
    }
}

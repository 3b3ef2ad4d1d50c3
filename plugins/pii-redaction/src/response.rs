//! Restoring placeholders in answers: whole bodies, and SSE streams with a bounded hold-back.

use std::collections::BTreeMap;

use ai_proto::sse::{SseDecoder, SseEncoder, SseEvent};
use serde_json::{Map, Value};

use crate::vault::Restorer;

/// Restores a complete body. JSON bodies are restored string by string (with `arguments`
/// strings as JSON-in-JSON) so an original that needs escaping cannot break the document;
/// anything else is restored as text. `None`: nothing to change.
pub fn restore_body(r: &Restorer, body: &[u8]) -> Option<Vec<u8>> {
    if let Ok(mut v) = serde_json::from_slice::<Value>(body) {
        let mut changed = false;
        restore_value(r, &mut v, false, &mut changed);
        return changed.then(|| serde_json::to_vec(&v).unwrap_or_else(|_| body.to_vec()));
    }
    let text = std::str::from_utf8(body).ok()?;
    match r.restore(text, false) {
        std::borrow::Cow::Owned(s) => Some(s.into_bytes()),
        std::borrow::Cow::Borrowed(_) => None,
    }
}

fn restore_value(r: &Restorer, v: &mut Value, args: bool, changed: &mut bool) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(n) = r.restore(s, args) {
                *s = n;
                *changed = true;
            }
        }
        Value::Array(a) => a
            .iter_mut()
            .for_each(|c| restore_value(r, c, args, changed)),
        Value::Object(o) => {
            for (k, c) in o.iter_mut() {
                restore_value(r, c, k == "arguments", changed);
            }
        }
        _ => {}
    }
}

/// Which text of which choice a window belongs to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Field {
    Content,
    Reasoning,
    ReasoningContent,
    Refusal,
    ToolArgs(u64),
    FunctionArgs,
}

impl Field {
    fn escape(self) -> bool {
        matches!(self, Field::ToolArgs(_) | Field::FunctionArgs)
    }
}

/// A streamed text field outside OpenAI chat chunks.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum OtherField {
    /// Anthropic `content_block_delta` of block `index`: `delta.text`, `delta.thinking` or
    /// `delta.partial_json` (tool input, JSON text).
    Block(u64, &'static str),
    /// Events whose data is plain text rather than JSON, per event name.
    Raw(Option<String>),
}

/// Anthropic delta fields and the delta type a flush event carries them in.
const BLOCK_FIELDS: [(&str, &str); 3] = [
    ("text", "text_delta"),
    ("thinking", "thinking_delta"),
    ("partial_json", "input_json_delta"),
];

impl OtherField {
    fn escape(&self) -> bool {
        matches!(self, OtherField::Block(_, "partial_json"))
    }

    /// The SSE event that delivers held `text` of this field.
    fn flush_event(&self, text: String) -> Vec<u8> {
        let (name, data) = match self {
            OtherField::Block(index, field) => {
                let kind = BLOCK_FIELDS
                    .iter()
                    .find(|(f, _)| f == field)
                    .map_or("text_delta", |(_, k)| *k);
                let data = serde_json::json!({"type": "content_block_delta", "index": index, "delta": {"type": kind, *field: text}});
                (Some("content_block_delta".to_string()), data.to_string())
            }
            OtherField::Raw(name) => (name.clone(), text),
        };
        let mut ev = SseEvent::new(data);
        ev.event = name.map(Into::into);
        let mut enc = SseEncoder::new();
        if enc.event(&ev).is_err() {
            return Vec::new();
        }
        enc.into_bytes()
    }
}

/// SSE restore. Text fields of each choice run through a window that holds back only a tail
/// that could be the start of a placeholder (at most the longest placeholder minus one byte),
/// so tokens flow on as they arrive. The same window serves Anthropic content-block deltas and
/// plain-text events. Events that need no change are forwarded byte-exact, `[DONE]` included.
pub struct StreamRestorer {
    dec: SseDecoder,
    pending: BTreeMap<(u64, Field), String>,
    /// Held text of non-chat streams, flushed before the event that ends its block.
    other: BTreeMap<OtherField, String>,
    /// The last chunk seen, as a template for a flush event (id, model, created...).
    template: Option<Map<String, Value>>,
    max_held: usize,
}

impl Default for StreamRestorer {
    fn default() -> Self {
        StreamRestorer {
            dec: SseDecoder::new(),
            pending: BTreeMap::new(),
            other: BTreeMap::new(),
            template: None,
            max_held: 0,
        }
    }
}

impl StreamRestorer {
    /// Bytes to send downstream for this chunk of upstream bytes.
    pub fn feed(&mut self, r: &Restorer, chunk: &[u8]) -> Vec<u8> {
        self.dec.feed(chunk);
        self.drain(r)
    }

    /// End of stream: the last unterminated event, then whatever is still held.
    pub fn finish(&mut self, r: &Restorer) -> Vec<u8> {
        self.dec.finish();
        let mut out = self.drain(r);
        out.extend(self.flush_event(r));
        out.extend(self.flush_other(r, |_| true));
        // A decoder error leaves undecodable bytes pending: they go out unchanged.
        out.extend_from_slice(self.dec.pending());
        out
    }

    /// Most bytes ever held back at once (for tests and metrics).
    pub fn max_held(&self) -> usize {
        self.max_held
    }

    fn drain(&mut self, r: &Restorer) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let (raw, ev) = match self.dec.next_frame() {
                Ok(Some(f)) => (f.raw.to_vec(), f.event.map(SseEvent::into_owned)),
                Ok(None) => break,
                Err(_) => {
                    // Too large or broken: stop rewriting, forward the rest as it comes.
                    out.extend_from_slice(self.dec.pending());
                    self.dec = SseDecoder::new();
                    break;
                }
            };
            let Some(ev) = ev else {
                out.extend_from_slice(&raw);
                continue;
            };
            if ev.is_done() {
                out.extend(self.flush_event(r));
                out.extend(self.flush_other(r, |_| true));
                out.extend_from_slice(&raw);
                continue;
            }
            let rewritten = match serde_json::from_str::<Value>(&ev.data) {
                Ok(v) => self.rewrite(r, v, &mut out),
                Err(_) => self.rewrite_text(r, ev.event.as_deref().map(str::to_string), &ev.data),
            };
            match rewritten {
                Some(data) => {
                    let mut enc = SseEncoder::new();
                    let mut e2 = SseEvent::new(data);
                    e2.event = ev.event.clone();
                    e2.id = ev.id.clone();
                    e2.retry = ev.retry;
                    if enc.event(&e2).is_ok() {
                        out.extend_from_slice(enc.as_bytes());
                    } else {
                        out.extend_from_slice(&raw);
                    }
                }
                None => out.extend_from_slice(&raw),
            }
        }
        let held: usize = self.pending.values().map(String::len).sum::<usize>()
            + self.other.values().map(String::len).sum::<usize>();
        self.max_held = self.max_held.max(held);
        out
    }

    /// Emits held text of the non-chat fields that `which` selects, one event each.
    fn flush_other(&mut self, r: &Restorer, which: impl Fn(&OtherField) -> bool) -> Vec<u8> {
        let keys: Vec<OtherField> = self.other.keys().filter(|k| which(k)).cloned().collect();
        let mut out = Vec::new();
        for k in keys {
            if let Some(text) = self.other.remove(&k) {
                let text = r.restore(&text, k.escape()).into_owned();
                out.extend(k.flush_event(text));
            }
        }
        out
    }

    /// Plain-text event data through the window, per event name.
    fn rewrite_text(&mut self, r: &Restorer, name: Option<String>, data: &str) -> Option<String> {
        let key = OtherField::Raw(name);
        let out = self.push_other(r, key, data);
        (out != data).then_some(out)
    }

    fn push_other(&mut self, r: &Restorer, key: OtherField, text: &str) -> String {
        let buf = self.other.remove(&key).unwrap_or_default() + text;
        let hold = r.hold_len(&buf);
        let cut = buf.len() - hold;
        let escape = key.escape();
        if hold > 0 {
            self.other.insert(key, buf[cut..].to_string());
        }
        r.restore(&buf[..cut], escape).into_owned()
    }

    /// Anthropic messages stream: deltas through the window; held text goes out (into `out`)
    /// before the event that ends its block or the message.
    fn rewrite_anthropic(
        &mut self,
        r: &Restorer,
        obj: &mut Map<String, Value>,
        out: &mut Vec<u8>,
    ) -> Option<bool> {
        let kind = obj.get("type").and_then(Value::as_str)?;
        let index = obj.get("index").and_then(Value::as_u64).unwrap_or(0);
        match kind {
            "content_block_delta" => {
                let delta = obj.get_mut("delta").and_then(Value::as_object_mut)?;
                let mut changed = false;
                for (field, _) in BLOCK_FIELDS {
                    if let Some(Value::String(s)) = delta.get_mut(field) {
                        let new = self.push_other(r, OtherField::Block(index, field), s);
                        if new != *s {
                            *s = new;
                            changed = true;
                        }
                    }
                }
                Some(changed)
            }
            "content_block_stop" => {
                out.extend(
                    self.flush_other(r, |k| matches!(k, OtherField::Block(i, _) if *i == index)),
                );
                None
            }
            "message_delta" | "message_stop" => {
                out.extend(self.flush_other(r, |k| matches!(k, OtherField::Block(..))));
                None
            }
            _ => None,
        }
    }

    /// New data for an event, or `None` to forward it as received. Events that must be preceded
    /// by held text get it written to `out` first.
    fn rewrite(&mut self, r: &Restorer, mut v: Value, out: &mut Vec<u8>) -> Option<String> {
        let obj = v.as_object_mut()?;
        let Some(Value::Array(choices)) = obj.get_mut("choices") else {
            if let Some(changed) = self.rewrite_anthropic(r, obj, out) {
                return changed.then(|| v.to_string());
            }
            // Another API's event: restore what is complete in it.
            let mut changed = false;
            restore_value(r, &mut v, false, &mut changed);
            return changed.then(|| v.to_string());
        };
        let mut changed = false;
        for ch in choices.iter_mut() {
            let idx = ch.get("index").and_then(Value::as_u64).unwrap_or(0);
            let finished = ch.get("finish_reason").is_some_and(|f| !f.is_null());
            if let Some(delta) = ch.get_mut("delta").and_then(Value::as_object_mut) {
                for (field, slot) in fields(delta) {
                    let out = self.push(r, idx, field, slot);
                    if out != *slot {
                        *slot = out;
                        changed = true;
                    }
                }
            }
            if finished {
                changed |= self.flush_choice_into(r, idx, ch);
            }
        }
        if changed {
            let mut t = obj.clone();
            t.remove("usage");
            self.template = Some(t);
            Some(v.to_string())
        } else {
            self.template = Some(obj.clone());
            None
        }
    }

    fn push(&mut self, r: &Restorer, idx: u64, field: Field, text: &str) -> String {
        let buf = self.pending.remove(&(idx, field)).unwrap_or_default() + text;
        let hold = r.hold_len(&buf);
        let cut = buf.len() - hold;
        if hold > 0 {
            self.pending.insert((idx, field), buf[cut..].to_string());
        }
        r.restore(&buf[..cut], field.escape()).into_owned()
    }

    /// Appends the held text of choice `idx` to its (final) delta.
    fn flush_choice_into(&mut self, r: &Restorer, idx: u64, choice: &mut Value) -> bool {
        let keys: Vec<(u64, Field)> = self
            .pending
            .keys()
            .filter(|k| k.0 == idx)
            .copied()
            .collect();
        if keys.is_empty() {
            return false;
        }
        let Some(ch) = choice.as_object_mut() else {
            return false;
        };
        let delta = ch
            .entry("delta")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(delta) = delta.as_object_mut() else {
            return false;
        };
        for k in keys {
            if let Some(text) = self.pending.remove(&k) {
                append(delta, k.1, &r.restore(&text, k.1.escape()));
            }
        }
        true
    }

    /// One synthetic chunk carrying everything still held (stream ended without finish_reason).
    fn flush_event(&mut self, r: &Restorer) -> Vec<u8> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let mut by_choice: BTreeMap<u64, Map<String, Value>> = BTreeMap::new();
        for ((idx, field), text) in std::mem::take(&mut self.pending) {
            append(
                by_choice.entry(idx).or_default(),
                field,
                &r.restore(&text, field.escape()),
            );
        }
        let mut chunk = self.template.clone().unwrap_or_default();
        chunk.insert(
            "choices".into(),
            Value::Array(
                by_choice
                    .into_iter()
                    .map(
                        |(i, d)| serde_json::json!({"index": i, "delta": d, "finish_reason": null}),
                    )
                    .collect(),
            ),
        );
        let mut enc = SseEncoder::new();
        enc.data(&Value::Object(chunk).to_string());
        enc.into_bytes()
    }
}

/// The text fields of a delta, as (field, text) with mutable access.
fn fields(delta: &mut Map<String, Value>) -> Vec<(Field, &mut String)> {
    let mut out = Vec::new();
    for (k, v) in delta.iter_mut() {
        match (k.as_str(), v) {
            ("content", Value::String(s)) => out.push((Field::Content, s)),
            ("reasoning_content", Value::String(s)) => out.push((Field::ReasoningContent, s)),
            ("reasoning", Value::String(s)) => out.push((Field::Reasoning, s)),
            ("refusal", Value::String(s)) => out.push((Field::Refusal, s)),
            ("tool_calls", Value::Array(calls)) => {
                for (n, c) in calls.iter_mut().enumerate() {
                    let i = c.get("index").and_then(Value::as_u64).unwrap_or(n as u64);
                    if let Some(Value::String(a)) = c.pointer_mut("/function/arguments") {
                        out.push((Field::ToolArgs(i), a));
                    }
                }
            }
            ("function_call", Value::Object(f)) => {
                if let Some(Value::String(a)) = f.get_mut("arguments") {
                    out.push((Field::FunctionArgs, a));
                }
            }
            _ => {}
        }
    }
    out
}

fn append(delta: &mut Map<String, Value>, field: Field, text: &str) {
    let key = match field {
        Field::Content => "content",
        Field::Reasoning => "reasoning",
        Field::ReasoningContent => "reasoning_content",
        Field::Refusal => "refusal",
        Field::ToolArgs(i) => {
            let calls = delta
                .entry("tool_calls")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(calls) = calls {
                let pos = calls
                    .iter()
                    .position(|c| c.get("index").and_then(Value::as_u64) == Some(i));
                match pos.and_then(|p| calls[p].pointer_mut("/function/arguments")) {
                    Some(Value::String(a)) => a.push_str(text),
                    _ => {
                        calls.push(serde_json::json!({"index": i, "function": {"arguments": text}}))
                    }
                }
            }
            return;
        }
        Field::FunctionArgs => {
            let f = delta
                .entry("function_call")
                .or_insert_with(|| serde_json::json!({}));
            if let Some(f) = f.as_object_mut() {
                let a = f
                    .entry("arguments")
                    .or_insert_with(|| Value::String(String::new()));
                if let Value::String(a) = a {
                    a.push_str(text);
                }
            }
            return;
        }
    };
    match delta.get_mut(key) {
        Some(Value::String(s)) => s.push_str(text),
        _ => {
            delta.insert(key.into(), Value::String(text.to_string()));
        }
    }
}

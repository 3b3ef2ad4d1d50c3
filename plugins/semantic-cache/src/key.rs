//! Cache keys of a chat request.
//!
//! * **Fingerprint** (exact layer): SHA-256 over the tenant scope and the canonical JSON of the
//!   request (object keys sorted), minus fields that do not change the answer: `stream`,
//!   `stream_options` (a hit is replayed either way), `user`, `metadata`, `store`.
//! * **Question**: the last `countback` user messages (all with `allQuestions`), joined by
//!   newlines; this is what gets embedded. `None` when one of them is not plain text.
//! * **Partition** (semantic layer): SHA-256 over the scope, the model, every message that is *not*
//!   embedded (system prompt, earlier turns, with their positions) and every answer-changing
//!   parameter (tools, response_format, n, seed, max_tokens, ...; `temperature` only above
//!   `shared_temperature_max`). Vector search only ever looks inside one partition, so the same
//!   question after a different conversation, system prompt or tenant cannot hit.

use std::io::Write;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Request fields that do not change the answer.
const NOT_ANSWER_CHANGING: [&str; 5] = ["stream", "stream_options", "user", "metadata", "store"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// Hex SHA-256 of the effective request.
    pub fingerprint: String,
    /// Hex SHA-256 of everything outside the embedded window.
    pub partition: String,
    /// Text to embed, when the window is plain text.
    pub question: Option<String>,
    /// The request is one user message with string content and nothing else that changes the
    /// answer. Only then is `question` Higress ai-cache's key text, and only then can an ai-cache
    /// entry, which recorded nothing but that text, answer the request.
    pub standalone: bool,
    pub model: String,
    pub stream: bool,
}

/// Key settings of one rule.
#[derive(Clone, Copy, Debug)]
pub struct KeySettings {
    /// Trailing user messages embedded; `None` = all.
    pub countback: Option<usize>,
    pub shared_temperature_max: f64,
}

/// Why a request is not cacheable (it passes through as BYPASS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotCacheable {
    NotJson,
    NotChat,
    NoUserMessage,
}

impl NotCacheable {
    pub fn as_str(self) -> &'static str {
        match self {
            NotCacheable::NotJson => "body is not JSON",
            NotCacheable::NotChat => "not a chat completion request",
            NotCacheable::NoUserMessage => "no user message",
        }
    }
}

/// Keys of a request body.
pub fn derive(body: &[u8], scope: &str, s: KeySettings) -> Result<Keys, NotCacheable> {
    let request: Value = serde_json::from_slice(body).map_err(|_| NotCacheable::NotJson)?;
    let Some(obj) = request.as_object() else {
        return Err(NotCacheable::NotChat);
    };
    let Some(messages) = obj.get("messages").and_then(Value::as_array) else {
        return Err(NotCacheable::NotChat);
    };
    let embedded = embedded_window(messages, s.countback);
    if embedded.is_empty() {
        return Err(NotCacheable::NoUserMessage);
    }
    let question = embedded
        .iter()
        .map(|&i| plain_text(&messages[i]["content"]))
        .collect::<Option<Vec<_>>>()
        .map(|parts| parts.join("\n"));

    let mut fp = Sha256::new();
    fp.update(b"fingerprint/1\n");
    fp.update(scope.as_bytes());
    fp.update(b"\n");
    let mut buf = Vec::with_capacity(body.len() + 64);
    canonical_object(obj, &NOT_ANSWER_CHANGING, &mut buf);
    fp.update(&buf);

    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut pt = Sha256::new();
    pt.update(b"partition/1\n");
    pt.update(scope.as_bytes());
    pt.update(b"\n");
    pt.update(model.as_bytes());
    buf.clear();
    let _ = write!(buf, "\nwindow={:?}\n", s.countback);
    for (i, m) in messages.iter().enumerate() {
        if !embedded.contains(&i) {
            let _ = write!(buf, "{i}:");
            canonical(m, &mut buf);
            buf.push(b'\n');
        }
    }
    pt.update(&buf);
    let mut params: Vec<(&String, &Value)> = obj
        .iter()
        .filter(|(k, _)| {
            k.as_str() != "messages"
                && k.as_str() != "model"
                && !NOT_ANSWER_CHANGING.contains(&k.as_str())
        })
        .filter(|(k, v)| {
            k.as_str() != "temperature" || v.as_f64().is_none_or(|t| t > s.shared_temperature_max)
        })
        .collect();
    params.sort_by(|a, b| a.0.cmp(b.0));
    // ai-cache keys on the last message's content (or every user message joined): with a single
    // string user message all its strategies give that string.
    let standalone = params.is_empty()
        && matches!(messages.as_slice(), [only] if only["role"] == "user" && only["content"].is_string());
    buf.clear();
    for (k, v) in params {
        buf.extend_from_slice(k.as_bytes());
        buf.push(b'=');
        canonical(v, &mut buf);
        buf.push(b'\n');
    }
    pt.update(&buf);

    Ok(Keys {
        fingerprint: hex(&fp.finalize()),
        partition: hex(&pt.finalize()),
        question,
        standalone,
        model,
        stream: obj.get("stream").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// Indices of the embedded user messages, ascending.
fn embedded_window(messages: &[Value], countback: Option<usize>) -> Vec<usize> {
    let mut out: Vec<usize> = messages
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, m)| m["role"].as_str() == Some("user"))
        .map(|(i, _)| i)
        .take(countback.unwrap_or(usize::MAX))
        .collect();
    out.reverse();
    out
}

/// The text of a content that is a string or only text parts.
fn plain_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match (p["type"].as_str(), p["text"].as_str()) {
                (Some("text"), Some(t)) => Some(t),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(|t| t.join("\n")),
        _ => None,
    }
}

/// JSON with object keys sorted at every level: equal requests hash equal whatever the key order.
pub fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => canonical_object(m, &[], out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(x, out);
            }
            out.push(b']');
        }
        // Strings are escaped and numbers printed exactly as `Value::to_string` does.
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

/// [`canonical`] of an object without the keys in `skip` (written in place: no copy of the
/// request is made to drop them).
fn canonical_object(m: &Map<String, Value>, skip: &[&str], out: &mut Vec<u8>) {
    let mut entries: Vec<(&String, &Value)> = m
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut *out, k);
        out.push(b':');
        canonical(v, out);
    }
    out.push(b'}');
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests;

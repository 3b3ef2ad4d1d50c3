//! Request bodies: OpenAI messages of every shape (string, parts, null, tool calls, tool
//! results), other OpenAI-style inputs, configured JSON paths, or the raw body.

use serde_json::Value;

use crate::actions::Report;
use crate::config::{Compiled, Config};
use crate::jsonpath::all_strings;
use crate::vault::Vault;

#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Nothing to change (maybe reported).
    Unchanged,
    Rewritten(Vec<u8>),
    /// A block action fired, naming the detector.
    Blocked(String),
    /// The body could not be inspected; the fail policy decides.
    Uninspectable(&'static str),
}

pub struct Inspected {
    pub outcome: Outcome,
    /// `"stream": true` in the body: block replies must be SSE.
    pub stream: bool,
}

pub fn inspect(
    cfg: &Config,
    c: &Compiled,
    body: &[u8],
    vault: &mut Vault,
    report: &mut Report,
) -> Inspected {
    let engine = &c.engine;
    let mut changed = false;
    let mut redact = |s: &mut String, escape: bool| {
        changed |= engine.redact(s, vault, report, escape);
    };
    if cfg.deny_raw {
        let Ok(text) = std::str::from_utf8(body) else {
            return Inspected {
                outcome: Outcome::Uninspectable("body is not UTF-8 text"),
                stream: false,
            };
        };
        let mut text = text.to_string();
        redact(&mut text, false);
        let stream = sniff_stream(body);
        return finish(changed, report, stream, || text.into_bytes());
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return Inspected {
            outcome: Outcome::Uninspectable("body is not valid JSON"),
            stream: false,
        };
    };
    let stream = v.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if cfg.openai() {
        openai(&mut v, &cfg.roles, c.paths.is_empty(), &mut redact);
    }
    for p in &c.paths {
        p.for_each_string(&mut v, &mut |s| redact(s, false));
    }
    finish(changed, report, stream, || {
        serde_json::to_vec(&v).unwrap_or_default()
    })
}

fn finish(
    changed: bool,
    report: &Report,
    stream: bool,
    body: impl FnOnce() -> Vec<u8>,
) -> Inspected {
    let outcome = if let Some(d) = &report.blocked_by {
        Outcome::Blocked(d.clone())
    } else if changed {
        Outcome::Rewritten(body())
    } else {
        Outcome::Unchanged
    };
    Inspected { outcome, stream }
}

fn sniff_stream(body: &[u8]) -> bool {
    memchr::memmem::find(body, b"\"stream\":true").is_some()
        || memchr::memmem::find(body, b"\"stream\": true").is_some()
}

/// `whole_if_unknown`: a JSON body that is not an OpenAI shape is inspected string by string
/// rather than passed unread (no paths are configured that would say where to look).
fn openai(
    v: &mut Value,
    roles: &[String],
    whole_if_unknown: bool,
    redact: &mut dyn FnMut(&mut String, bool),
) {
    let Some(obj) = v.as_object_mut() else {
        if whole_if_unknown {
            all_strings(v, &mut |s| redact(s, false));
        }
        return;
    };
    let mut known = false;
    if let Some(Value::Array(msgs)) = obj.get_mut("messages") {
        known = true;
        for m in msgs {
            let role = m.get("role").and_then(Value::as_str).unwrap_or("");
            if roles.is_empty() || roles.iter().any(|r| r == role) {
                message(m, redact);
            }
        }
    }
    // Completions `prompt`, Responses/embeddings `input`, Responses `instructions`, Anthropic `system`.
    for key in ["prompt", "input", "instructions", "system"] {
        if let Some(x) = obj.get_mut(key) {
            known = true;
            strings_with_args(x, redact);
        }
    }
    if !known && whole_if_unknown {
        strings_with_args(v, redact);
    }
}

/// One chat message: content (string, parts or null), reasoning, refusal, tool-call arguments.
fn message(m: &mut Value, redact: &mut dyn FnMut(&mut String, bool)) {
    let Some(m) = m.as_object_mut() else { return };
    for key in ["content", "reasoning_content", "reasoning", "refusal"] {
        match m.get_mut(key) {
            Some(Value::String(s)) => redact(s, false),
            Some(Value::Array(parts)) => {
                for p in parts {
                    match p {
                        Value::String(s) => redact(s, false),
                        Value::Object(o) => {
                            // text / input_text / output_text parts; tool_result parts carry nested content.
                            if let Some(Value::String(s)) = o.get_mut("text") {
                                redact(s, false);
                            }
                            if let Some(c) = o.get_mut("content") {
                                strings_with_args(c, redact);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
        for c in calls {
            if let Some(Value::String(a)) = c.pointer_mut("/function/arguments") {
                redact(a, true);
            }
        }
    }
    if let Some(Value::String(a)) = m
        .get_mut("function_call")
        .and_then(|f| f.get_mut("arguments"))
    {
        redact(a, true);
    }
}

/// Every string, with `arguments` strings treated as JSON-in-JSON.
fn strings_with_args(v: &mut Value, redact: &mut dyn FnMut(&mut String, bool)) {
    match v {
        Value::String(s) => redact(s, false),
        Value::Array(a) => a.iter_mut().for_each(|c| strings_with_args(c, redact)),
        Value::Object(o) => {
            for (k, c) in o.iter_mut() {
                match c {
                    Value::String(s) if k == "arguments" => redact(s, true),
                    _ => strings_with_args(c, redact),
                }
            }
        }
        _ => {}
    }
}

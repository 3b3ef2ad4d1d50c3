//! Request bodies: OpenAI messages of every shape (string, parts, null, tool calls, tool
//! results), other OpenAI-style inputs, configured JSON paths, or the raw body.

use serde_json::Value;

use crate::actions::Report;
use crate::config::{Compiled, Config};
use crate::engine::Finding;
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

/// A request body read for inspection, kept between the external detector's call and its answer.
pub struct Parsed {
    body: Body,
    /// `"stream": true` in the body.
    pub stream: bool,
}

enum Body {
    Raw(String),
    Json(Value),
}

/// Reads the body the way the config says (raw text or JSON); the error is the fail-policy reason.
pub fn parse(cfg: &Config, body: &[u8]) -> Result<Parsed, &'static str> {
    if cfg.deny_raw {
        let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8 text")?;
        return Ok(Parsed {
            body: Body::Raw(text.to_string()),
            stream: sniff_stream(body),
        });
    }
    let v = serde_json::from_slice::<Value>(body).map_err(|_| "body is not valid JSON")?;
    let stream = v.get("stream").and_then(Value::as_bool).unwrap_or(false);
    Ok(Parsed {
        body: Body::Json(v),
        stream,
    })
}

impl Parsed {
    /// Calls `f(text, json_in_json)` for every inspected string, always in the same order.
    fn visit(&mut self, cfg: &Config, c: &Compiled, f: &mut dyn FnMut(&mut String, bool)) {
        match &mut self.body {
            Body::Raw(text) => f(text, false),
            Body::Json(v) => {
                if cfg.openai() {
                    openai(v, &cfg.roles, c.paths.is_empty(), f);
                }
                for p in &c.paths {
                    p.for_each_string(v, &mut |s| f(s, false));
                }
            }
        }
    }

    /// Every inspected string, in visiting order (what an external detector is sent).
    pub fn texts(&mut self, cfg: &Config, c: &Compiled) -> Vec<String> {
        let mut out = Vec::new();
        self.visit(cfg, c, &mut |s, _| out.push(s.clone()));
        out
    }

    /// Applies the built-in detectors and, when given, an external detector's findings:
    /// `extra[i]` belongs to `texts[i]` as returned by [`Parsed::texts`]. A string visited twice
    /// (an OpenAI field also named by a JSON path) gets them on its first visit only: by the
    /// second it is no longer the text they were found in.
    pub fn redact(
        mut self,
        cfg: &Config,
        c: &Compiled,
        vault: &mut Vault,
        report: &mut Report,
        extra: Option<(&[String], &[Vec<Finding>])>,
    ) -> Inspected {
        let engine = &c.engine;
        let mut changed = false;
        let mut i = 0;
        self.visit(cfg, c, &mut |s, escape| {
            let found = extra
                .and_then(|(texts, f)| texts.get(i).filter(|t| *t == s).and(f.get(i)))
                .map_or(&[][..], Vec::as_slice);
            i += 1;
            changed |= engine.redact_with(s, found, vault, report, escape);
        });
        let stream = self.stream;
        finish(changed, report, stream, || match self.body {
            Body::Raw(text) => text.into_bytes(),
            Body::Json(v) => serde_json::to_vec(&v).unwrap_or_default(),
        })
    }
}

/// Parses and redacts with the built-in detectors only.
pub fn inspect(
    cfg: &Config,
    c: &Compiled,
    body: &[u8],
    vault: &mut Vault,
    report: &mut Report,
) -> Inspected {
    match parse(cfg, body) {
        Ok(p) => p.redact(cfg, c, vault, report, None),
        Err(reason) => Inspected {
            outcome: Outcome::Uninspectable(reason),
            stream: false,
        },
    }
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
    // One pass over the body for the key, then its value: `"stream" : true` in any spacing.
    memchr::memmem::find_iter(body, b"\"stream\"").any(|at| {
        let ws = |b: &u8| b.is_ascii_whitespace();
        let rest = &body[at + 8..];
        let rest = &rest[rest.iter().take_while(|b| ws(b)).count()..];
        let Some(rest) = rest.strip_prefix(b":") else {
            return false;
        };
        rest[rest.iter().take_while(|b| ws(b)).count()..].starts_with(b"true")
    })
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

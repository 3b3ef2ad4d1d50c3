//! The deterministic answer to a chat request. Everything here is a pure function of the request, so a
//! test (or another crate) can recompute exactly what the mock will say and how many tokens it costs.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::request::{ChatRequest, Message, Tool, ToolChoice};
use crate::tokens;

/// Characters of the last user message echoed in a reply.
pub const ECHO_CHARS: usize = 40;

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// `messages_hash` of the request.
    pub hash: String,
    pub prompt_tokens: usize,
    pub choices: Vec<Choice>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    Text {
        pieces: Vec<String>,
        finish_reason: &'static str,
    },
    ToolCall {
        id: String,
        name: String,
        fragments: Vec<String>,
    },
}

impl Choice {
    /// One token per streamed piece (content deltas, or tool-call argument fragments).
    pub fn completion_tokens(&self) -> usize {
        match self {
            Choice::Text { pieces, .. } => pieces.len(),
            Choice::ToolCall { fragments, .. } => fragments.len(),
        }
    }

    pub fn finish_reason(&self) -> &'static str {
        match self {
            Choice::Text { finish_reason, .. } => finish_reason,
            Choice::ToolCall { .. } => "tool_calls",
        }
    }
}

impl Answer {
    pub fn completion_tokens(&self) -> usize {
        self.choices.iter().map(Choice::completion_tokens).sum()
    }

    /// Pieces of the longest choice: the number of streaming "ticks".
    pub fn max_pieces(&self) -> usize {
        self.choices
            .iter()
            .map(Choice::completion_tokens)
            .max()
            .unwrap_or(0)
    }
}

/// First 8 hex digits of SHA-256 over `role 0x1f text 0x1e` for each message: stable under JSON key
/// order and whitespace changes a gateway may make, different for any change of role or text.
pub fn messages_hash(messages: &[Message]) -> String {
    let mut h = Sha256::new();
    for m in messages {
        h.update(m.role.as_bytes());
        h.update([0x1f]);
        h.update(m.text.as_bytes());
        h.update([0x1e]);
    }
    hex(&h.finalize()[..4])
}

/// The reply for choice `index`: `Mock answer {hash}-{index}: {first 40 chars of the last user message}`.
pub fn reply_text(hash: &str, index: usize, last_user_text: &str) -> String {
    let echo: String = last_user_text.chars().take(ECHO_CHARS).collect();
    format!("Mock answer {hash}-{index}: {echo}")
}

/// `3 + Σ(3 + tokens(message text)) + tokens(tools JSON)`, roughly OpenAI's per-message overhead.
pub fn prompt_tokens(req: &ChatRequest) -> usize {
    3 + req
        .messages
        .iter()
        .map(|m| 3 + tokens::count(&m.text))
        .sum::<usize>()
        + tokens::count(&req.tools_text)
}

/// Which tool (if any) the mock calls: `tool_choice` `none` never; a named function always that one;
/// `required` the first tool whose name occurs in the last user message, else the first tool;
/// `auto` (the default) only a tool whose name occurs in the last user message.
pub fn chosen_tool(req: &ChatRequest) -> Option<&Tool> {
    let mentioned = || {
        req.tools
            .iter()
            .find(|t| req.last_user_text().contains(t.name.as_str()))
    };
    match &req.tool_choice {
        ToolChoice::None => None,
        ToolChoice::Named(name) => req.tools.iter().find(|t| &t.name == name),
        ToolChoice::Required => mentioned().or(req.tools.first()),
        ToolChoice::Auto => mentioned(),
    }
}

/// Arguments built from the tool's JSON schema `properties`, in order: strings get their first `enum`
/// value or the first 20 characters of the last user message, integers 42, numbers 0.5, booleans true,
/// arrays `[]`, objects `{}`, anything else null.
pub fn tool_arguments(tool: &Tool, last_user_text: &str) -> String {
    let mut args = Map::new();
    if let Some(props) = tool.parameters.get("properties").and_then(Value::as_object) {
        for (name, schema) in props {
            let first_enum = schema
                .get("enum")
                .and_then(Value::as_array)
                .and_then(|e| e.first());
            let value = match (schema.get("type").and_then(Value::as_str), first_enum) {
                (Some("string"), Some(e)) => e.clone(),
                (Some("string"), None) => Value::String(last_user_text.chars().take(20).collect()),
                (Some("integer"), _) => Value::from(42),
                (Some("number"), _) => Value::from(0.5),
                (Some("boolean"), _) => Value::Bool(true),
                (Some("array"), _) => Value::Array(Vec::new()),
                (Some("object"), _) => Value::Object(Map::new()),
                _ => Value::Null,
            };
            args.insert(name.clone(), value);
        }
    }
    Value::Object(args).to_string()
}

/// The answer to `req`. `reply_override` (header `x-mock-reply`) replaces every text choice's content.
pub fn build(req: &ChatRequest, reply_override: Option<&str>) -> Answer {
    let hash = messages_hash(&req.messages);
    let tool = chosen_tool(req);
    let choices = (0..req.n)
        .map(|index| match tool {
            Some(tool) => {
                let arguments = tool_arguments(tool, req.last_user_text());
                Choice::ToolCall {
                    id: format!("call_{}", call_id(&hash, &tool.name, index)),
                    name: tool.name.clone(),
                    fragments: tokens::pieces(&arguments)
                        .into_iter()
                        .map(str::to_string)
                        .collect(),
                }
            }
            None => {
                let text = match reply_override {
                    Some(r) => r.to_string(),
                    None => reply_text(&hash, index, req.last_user_text()),
                };
                let mut pieces: Vec<String> = tokens::pieces(&text)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                let finish_reason = match req.max_tokens {
                    Some(max) if pieces.len() > max => {
                        pieces.truncate(max);
                        "length"
                    }
                    _ => "stop",
                };
                Choice::Text {
                    pieces,
                    finish_reason,
                }
            }
        })
        .collect();
    Answer {
        hash,
        prompt_tokens: prompt_tokens(req),
        choices,
    }
}

fn call_id(hash: &str, name: &str, index: usize) -> String {
    let digest = Sha256::digest(format!("{hash}/{name}/{index}").as_bytes());
    hex(&digest[..12])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::parse;

    fn req(json: &str) -> ChatRequest {
        parse(json.as_bytes(), None).unwrap()
    }

    #[test]
    fn hash_depends_on_roles_and_text_only() {
        let a = req(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#);
        let b = req(r#"{ "messages" : [ {"content":"hi","role":"user"} ], "model":"other" }"#);
        let c = req(r#"{"model":"m","messages":[{"role":"user","content":"hi!"}]}"#);
        let d = req(r#"{"model":"m","messages":[{"role":"system","content":"hi"}]}"#);
        assert_eq!(messages_hash(&a.messages), messages_hash(&b.messages));
        assert_ne!(messages_hash(&a.messages), messages_hash(&c.messages));
        assert_ne!(messages_hash(&a.messages), messages_hash(&d.messages));
        assert_eq!(messages_hash(&a.messages).len(), 8);
    }

    #[test]
    fn text_answer_echoes_and_counts_pieces() {
        let r = req(
            r#"{"model":"m","n":2,"messages":[{"role":"user","content":"What is the capital of France? Answer briefly please."}]}"#,
        );
        let a = build(&r, None);
        let Choice::Text {
            pieces,
            finish_reason,
        } = &a.choices[1]
        else {
            panic!("text expected")
        };
        let text = pieces.concat();
        assert_eq!(
            text,
            format!(
                "Mock answer {}-1: What is the capital of France? Answer br",
                a.hash
            )
        );
        assert_eq!(*finish_reason, "stop");
        assert_eq!(
            a.completion_tokens(),
            tokens::count(&text) + tokens::count(&reply_text(&a.hash, 0, r.last_user_text()))
        );
        assert_eq!(a.prompt_tokens, 3 + 3 + tokens::count(&r.messages[0].text));
    }

    #[test]
    fn max_tokens_truncates_with_length() {
        let a = build(
            &req(
                r#"{"model":"m","max_tokens":3,"messages":[{"role":"user","content":"hello there"}]}"#,
            ),
            None,
        );
        assert_eq!(a.choices[0].completion_tokens(), 3);
        assert_eq!(a.choices[0].finish_reason(), "length");
    }

    #[test]
    fn tool_rule() {
        let tools = r#""tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]},"days":{"type":"integer"},"x":{"type":"number"},"ok":{"type":"boolean"}}}}},{"type":"function","function":{"name":"lookup"}}]"#;
        let mk = |choice: &str, text: &str| {
            req(&format!(
                r#"{{"model":"m",{tools}{choice},"messages":[{{"role":"user","content":"{text}"}}]}}"#
            ))
        };
        assert_eq!(chosen_tool(&mk("", "hello")), None);
        assert_eq!(
            chosen_tool(&mk("", "please lookup x")).unwrap().name,
            "lookup"
        );
        assert_eq!(
            chosen_tool(&mk(r#","tool_choice":"required""#, "hello"))
                .unwrap()
                .name,
            "get_weather"
        );
        assert_eq!(chosen_tool(&mk(r#","tool_choice":"none""#, "lookup")), None);
        let named = mk(
            r#","tool_choice":{"type":"function","function":{"name":"lookup"}}"#,
            "get_weather",
        );
        assert_eq!(chosen_tool(&named).unwrap().name, "lookup");
        let r = mk("", "get_weather in Paris");
        let a = build(&r, None);
        let Choice::ToolCall {
            name,
            fragments,
            id,
        } = &a.choices[0]
        else {
            panic!("tool call expected")
        };
        assert_eq!(name, "get_weather");
        assert!(id.starts_with("call_") && id.len() == 29);
        assert_eq!(
            fragments.concat(),
            r#"{"city":"get_weather in Paris","unit":"c","days":42,"x":0.5,"ok":true}"#
        );
        assert_eq!(a.choices[0].finish_reason(), "tool_calls");
    }
}

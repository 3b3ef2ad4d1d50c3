//! Parsing and validating a chat-completion request body. Only what the mock's answers depend on is
//! kept; anything malformed becomes a 400 with an OpenAI error body, never a panic.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// OpenAI accepts up to 128; the mock keeps answers small.
pub const MAX_N: u64 = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub stream: bool,
    pub include_usage: bool,
    pub n: usize,
    pub max_tokens: Option<usize>,
    pub tools: Vec<Tool>,
    pub tool_choice: ToolChoice,
    /// Compact JSON of `tools`, counted into prompt tokens like a provider would.
    pub tools_text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: String,
    /// String content, or the `text` parts of array content joined by newlines.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    Named(String),
}

impl ChatRequest {
    /// Text of the last `user` message, or empty when there is none.
    pub fn last_user_text(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map_or("", |m| m.text.as_str())
    }
}

/// Parses `body`. `default_model` stands in for a missing `model` (Azure puts it in the path).
pub fn parse(body: &[u8], default_model: Option<&str>) -> Result<ChatRequest, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_request(
            format!("We could not parse the JSON body of your request ({e})."),
            None,
        )
    })?;
    let Value::Object(obj) = value else {
        return Err(ApiError::invalid_request(
            "The request body must be a JSON object.",
            None,
        ));
    };
    let model = match (obj.get("model"), default_model) {
        (Some(Value::String(m)), _) if !m.is_empty() => m.clone(),
        (None | Some(Value::Null), Some(d)) => d.to_string(),
        (None | Some(Value::Null), None) => {
            return Err(ApiError::invalid_request(
                "you must provide a model parameter",
                Some("model"),
            ))
        }
        _ => {
            return Err(ApiError::invalid_request(
                "'model' must be a non-empty string",
                Some("model"),
            ))
        }
    };
    let messages = parse_messages(obj.get("messages"))?;
    let stream = opt_bool(&obj, "stream")?.unwrap_or(false);
    let include_usage = match obj.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(o)) => opt_bool(o, "include_usage")?.unwrap_or(false),
        Some(_) => return Err(bad_type("stream_options", "an object")),
    };
    let n = match obj.get("n") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_N).contains(&n) => n as usize,
            _ => {
                return Err(ApiError::invalid_request(
                    format!("'n' must be an integer between 1 and {MAX_N}"),
                    Some("n"),
                ))
            }
        },
    };
    let max_tokens = match obj
        .get("max_completion_tokens")
        .or_else(|| obj.get("max_tokens"))
    {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(m) if m >= 1 => Some(usize::try_from(m).unwrap_or(usize::MAX)),
            _ => return Err(bad_type("max_tokens", "a positive integer")),
        },
    };
    let (tools, tools_text) = parse_tools(obj.get("tools"))?;
    let tool_choice = parse_tool_choice(obj.get("tool_choice"), &tools)?;
    Ok(ChatRequest {
        model,
        messages,
        stream,
        include_usage,
        n,
        max_tokens,
        tools,
        tool_choice,
        tools_text,
    })
}

fn bad_type(param: &str, what: &str) -> ApiError {
    ApiError::invalid_request(format!("'{param}' must be {what}"), Some(param))
}

fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad_type(key, "a boolean")),
    }
}

fn parse_messages(v: Option<&Value>) -> Result<Vec<Message>, ApiError> {
    let Some(Value::Array(items)) = v else {
        return Err(ApiError::invalid_request(
            "'messages' must be a non-empty array",
            Some("messages"),
        ));
    };
    if items.is_empty() {
        return Err(ApiError::invalid_request(
            "'messages' must be a non-empty array",
            Some("messages"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let param = format!("messages[{i}]");
            let Value::Object(m) = item else {
                return Err(ApiError::invalid_request(
                    format!("'{param}' must be an object"),
                    Some(&param),
                ));
            };
            let Some(Value::String(role)) = m.get("role") else {
                return Err(ApiError::invalid_request(
                    format!("'{param}.role' must be a string"),
                    Some(&format!("{param}.role")),
                ));
            };
            let text = content_text(m.get("content")).ok_or_else(|| {
                bad_type(
                    &format!("{param}.content"),
                    "a string, null or an array of parts",
                )
            })?;
            Ok(Message {
                role: role.clone(),
                text,
            })
        })
        .collect()
}

fn content_text(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => Some(String::new()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::new();
            for part in parts {
                let part = part.as_object()?;
                match part.get("text") {
                    Some(Value::String(t)) => texts.push(t.as_str()),
                    Some(_) => return None,
                    // Image/audio parts carry no text the mock could echo.
                    None => {}
                }
            }
            Some(texts.join("\n"))
        }
        Some(_) => None,
    }
}

fn parse_tools(v: Option<&Value>) -> Result<(Vec<Tool>, String), ApiError> {
    let items = match v {
        None | Some(Value::Null) => return Ok((Vec::new(), String::new())),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad_type("tools", "an array")),
    };
    let tools = items
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let function = t.get("function").and_then(Value::as_object);
            let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
            match (t.get("type").and_then(Value::as_str), name) {
                (Some("function"), Some(name)) if !name.is_empty() => Ok(Tool {
                    name: name.to_string(),
                    parameters: function
                        .and_then(|f| f.get("parameters"))
                        .cloned()
                        .unwrap_or(Value::Null),
                }),
                _ => Err(bad_type(
                    &format!("tools[{i}]"),
                    "a function tool with a name",
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let text = serde_json::to_string(items).unwrap_or_default();
    Ok((tools, text))
}

fn parse_tool_choice(v: Option<&Value>, tools: &[Tool]) -> Result<ToolChoice, ApiError> {
    let choice = match v {
        None | Some(Value::Null) => ToolChoice::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => {
                return Err(bad_type(
                    "tool_choice",
                    "\"auto\", \"none\", \"required\" or a function",
                ))
            }
        },
        Some(Value::Object(o)) => match o
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
        {
            Some(name) => ToolChoice::Named(name.to_string()),
            None => return Err(bad_type("tool_choice", "an object with function.name")),
        },
        Some(_) => return Err(bad_type("tool_choice", "a string or an object")),
    };
    match &choice {
        ToolChoice::Required | ToolChoice::Named(_) if tools.is_empty() => {
            Err(ApiError::invalid_request(
                "'tool_choice' is only allowed when 'tools' are specified",
                Some("tool_choice"),
            ))
        }
        ToolChoice::Named(name) if !tools.iter().any(|t| &t.name == name) => {
            Err(ApiError::invalid_request(
                format!("tool_choice names '{name}', which is not in 'tools'"),
                Some("tool_choice"),
            ))
        }
        _ => Ok(choice),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> ApiError {
        parse(body.as_bytes(), None).unwrap_err()
    }

    #[test]
    fn parses_a_full_request() {
        let r = parse(
            br#"{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]}],
                "stream":true,"stream_options":{"include_usage":true},"n":2,"max_tokens":5,
                "tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":"required"}"#,
            None,
        )
        .unwrap();
        assert_eq!(r.model, "m");
        assert_eq!(r.last_user_text(), "a\nb");
        assert!(r.stream && r.include_usage);
        assert_eq!((r.n, r.max_tokens), (2, Some(5)));
        assert_eq!(r.tool_choice, ToolChoice::Required);
        assert_eq!(r.tools[0].name, "f");
    }

    #[test]
    fn missing_model_uses_the_default() {
        let r = parse(
            br#"{"messages":[{"role":"user","content":"x"}]}"#,
            Some("dep"),
        )
        .unwrap();
        assert_eq!(r.model, "dep");
    }

    #[test]
    fn malformed_requests_name_the_bad_param() {
        assert_eq!(err("{").param, None);
        assert_eq!(err("[]").status, 400);
        assert_eq!(
            err(r#"{"messages":[{"role":"user","content":"x"}]}"#)
                .param
                .as_deref(),
            Some("model")
        );
        assert_eq!(
            err(r#"{"model":"m","messages":[]}"#).param.as_deref(),
            Some("messages")
        );
        assert_eq!(
            err(r#"{"model":"m","messages":[1]}"#).param.as_deref(),
            Some("messages[0]")
        );
        assert_eq!(
            err(r#"{"model":"m","messages":[{"content":"x"}]}"#)
                .param
                .as_deref(),
            Some("messages[0].role")
        );
        assert_eq!(
            err(r#"{"model":"m","messages":[{"role":"user","content":5}]}"#)
                .param
                .as_deref(),
            Some("messages[0].content")
        );
        let base = r#""model":"m","messages":[{"role":"user","content":"x"}]"#;
        for (extra, param) in [
            (r#""n":0"#, "n"),
            (r#""n":1.5"#, "n"),
            (r#""stream":"yes""#, "stream"),
            (r#""max_tokens":0"#, "max_tokens"),
            (r#""tools":{}"#, "tools"),
            (r#""tools":[{"type":"function"}]"#, "tools[0]"),
            (r#""tool_choice":"required""#, "tool_choice"),
            (
                r#""tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}"#,
                "tool_choice",
            ),
        ] {
            let e = err(&format!("{{{base},{extra}}}"));
            assert_eq!(
                (e.status, e.param.as_deref()),
                (400, Some(param)),
                "{extra}"
            );
        }
    }
}

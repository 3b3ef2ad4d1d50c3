//! Chat messages, roles and tool calls.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::content::{present_content, Content};
use crate::nullable::{present, Nullable};

/// Author role of a message. Unknown roles are kept verbatim rather than rejected, so a
/// gateway does not break traffic for a provider-specific role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// `system`
    System,
    /// `developer` (o-series replacement for system)
    Developer,
    /// `user`
    User,
    /// `assistant`
    #[default]
    Assistant,
    /// `tool`
    Tool,
    /// `function` (legacy function-calling result)
    Function,
    /// Any other role string.
    Other(String),
}

impl Role {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Function => "function",
            Role::Other(s) => s,
        }
    }

    /// Whether this role carries instructions (`system` or `developer`).
    pub fn is_system(&self) -> bool {
        matches!(self, Role::System | Role::Developer)
    }
}

impl From<&str> for Role {
    fn from(s: &str) -> Self {
        match s {
            "system" => Role::System,
            "developer" => Role::Developer,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            "function" => Role::Function,
            other => Role::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Role;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a role string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Role, E> {
                Ok(Role::from(v))
            }
        }
        d.deserialize_str(V)
    }
}

/// A chat message (request `messages[]`, response `choices[].message`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Message {
    /// Author role.
    pub role: Role,
    /// Content; `Some(Content::Null)` for an explicit `null`.
    #[serde(
        default,
        deserialize_with = "present_content",
        skip_serializing_if = "Option::is_none"
    )]
    pub content: Option<Content>,
    /// Chain-of-thought text (DeepSeek and compatible providers).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub reasoning_content: Nullable<String>,
    /// Refusal text of an assistant message.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub refusal: Nullable<String>,
    /// Participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls requested by the assistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Legacy single function call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Fields this crate does not model, kept in order.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    /// A message with string content.
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: Some(Content::Text(text.into())),
            ..Message::default()
        }
    }

    /// The text of the content (text parts joined with `\n`); empty if there is none.
    pub fn text(&self) -> Cow<'_, str> {
        self.content
            .as_ref()
            .map_or(Cow::Borrowed(""), Content::text)
    }

    /// Every mutable text segment: content text, reasoning, refusal, tool-call and legacy
    /// function-call arguments. Images, audio and files are not touched.
    pub fn text_segments_mut(&mut self) -> impl Iterator<Item = TextSegment<'_>> {
        let mut out = Vec::new();
        push_segments(
            &mut out,
            self.content.as_mut(),
            &mut self.reasoning_content,
            &mut self.refusal,
            self.tool_calls.as_deref_mut(),
            self.function_call.as_mut(),
        );
        out.into_iter()
    }
}

/// What a [`TextSegment`] holds, so a rewriter can treat JSON arguments differently from prose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Message content text.
    Content,
    /// `reasoning_content`.
    Reasoning,
    /// `refusal`.
    Refusal,
    /// `tool_calls[].function.arguments` (a JSON document as a string).
    ToolArguments,
    /// Legacy `function_call.arguments` (a JSON document as a string).
    FunctionArguments,
}

/// A mutable text field inside a message, chunk delta or response.
#[derive(Debug)]
pub struct TextSegment<'a> {
    /// Which field this is.
    pub kind: TextKind,
    /// The text, editable in place.
    pub text: &'a mut String,
}

pub(crate) fn push_segments<'a>(
    out: &mut Vec<TextSegment<'a>>,
    content: Option<&'a mut Content>,
    reasoning: &'a mut Nullable<String>,
    refusal: &'a mut Nullable<String>,
    tool_calls: Option<&'a mut [ToolCall]>,
    function_call: Option<&'a mut FunctionCall>,
) {
    if let Some(c) = content {
        out.extend(c.texts_mut().map(|text| TextSegment {
            kind: TextKind::Content,
            text,
        }));
    }
    if let Some(Some(text)) = reasoning {
        out.push(TextSegment {
            kind: TextKind::Reasoning,
            text,
        });
    }
    if let Some(Some(text)) = refusal {
        out.push(TextSegment {
            kind: TextKind::Refusal,
            text,
        });
    }
    for call in tool_calls.into_iter().flatten() {
        if let Some(text) = call.function.as_mut().and_then(|f| f.arguments.as_mut()) {
            out.push(TextSegment {
                kind: TextKind::ToolArguments,
                text,
            });
        }
    }
    if let Some(text) = function_call.and_then(|f| f.arguments.as_mut()) {
        out.push(TextSegment {
            kind: TextKind::FunctionArguments,
            text,
        });
    }
}

/// A tool call, in a message (complete) or in a chunk delta (partial, with `index`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ToolCall {
    /// Position of the call, used to stitch streamed fragments together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Call ID (`call_...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Tool type, `function` in practice.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The function to call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCall>,
    /// Fields this crate does not model, kept in order.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Function name and JSON arguments (complete or a streamed fragment).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Function name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Arguments as a JSON string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    /// Fields this crate does not model, kept in order.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

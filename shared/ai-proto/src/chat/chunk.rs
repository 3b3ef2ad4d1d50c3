//! Streaming `chat.completion.chunk` objects.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::content::Content;
use super::message::{push_segments, FunctionCall, Role, TextSegment, ToolCall};
use super::response::ChatUsage;
use crate::de::Key;
use crate::error::OpenAiError;
use crate::nullable::Nullable;

/// One `chat.completion.chunk` (the JSON in one SSE `data:` line).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ChatChunk {
    /// Completion ID, the same in every chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `chat.completion.chunk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    /// Model that answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Service tier used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Nullable<String>,
    /// Backend configuration fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Nullable<String>,
    /// Deltas; empty in the final usage chunk and in Azure's `prompt_filter_results` chunk.
    /// Always written, even when absent on input.
    pub choices: Vec<ChunkChoice>,
    /// Usage; OpenAI sends `null` on every chunk but the last when usage was requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Nullable<ChatUsage>,
    /// Fields this crate does not model (`obfuscation`, `prompt_filter_results`, `error`...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatChunk {
    /// The usage, if this chunk carries one.
    pub fn usage(&self) -> Option<&ChatUsage> {
        self.usage.as_ref().and_then(Option::as_ref)
    }

    /// Whether this is the final usage-only chunk.
    pub fn is_usage_only(&self) -> bool {
        self.choices.is_empty() && self.usage().is_some()
    }

    /// The error object, if this "chunk" is an error an upstream sent inside a 200 stream.
    pub fn error(&self) -> Option<OpenAiError> {
        OpenAiError::from_error_value(self.extra.get("error")?)
    }

    /// Every mutable text segment of every delta.
    pub fn text_segments_mut(&mut self) -> impl Iterator<Item = TextSegment<'_>> {
        let mut out = Vec::new();
        for choice in &mut self.choices {
            if let Some(d) = choice.delta.as_mut() {
                push_segments(
                    &mut out,
                    d.content.as_mut(),
                    &mut d.reasoning_content,
                    &mut d.refusal,
                    d.tool_calls.as_deref_mut(),
                    d.function_call.as_mut(),
                );
            }
        }
        out.into_iter()
    }
}

/// One entry of `choices` in a chunk.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ChunkChoice {
    /// Choice index.
    pub index: u32,
    /// What this chunk adds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta>,
    /// Log probabilities of the delta tokens; `Some(Value::Null)` for explicit `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    /// Set on the last chunk of the choice, `null` before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Nullable<String>,
    /// Fields this crate does not model (e.g. Azure `content_filter_results`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChunkChoice {
    /// The finish reason, if set.
    pub fn finish_reason(&self) -> Option<&str> {
        self.finish_reason.as_ref()?.as_deref()
    }
}

/// The incremental part of a chunk choice.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Delta {
    /// Role, usually only in the first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Content fragment; `Some(Content::Null)` for explicit `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Reasoning fragment (DeepSeek and compatible).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Nullable<String>,
    /// Refusal fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Nullable<String>,
    /// Tool-call fragments, stitched by `index`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Legacy function-call fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Delta {
    /// The content text of this fragment.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        self.content
            .as_ref()
            .map_or(std::borrow::Cow::Borrowed(""), Content::text)
    }
}

// Hand-written so that the hot per-chunk path avoids serde's `flatten` buffering (every field
// copied into an intermediate tree first); unknown keys go straight into `extra`. Semantics
// match the derived impls elsewhere: absent fields default, `null` is kept where `Nullable`,
// a repeated key takes the last value.
macro_rules! object_visitor {
    ($ty:ident, $what:literal, |$out:ident, $key:ident, $map:ident| { $($name:literal => $field:expr,)* }) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut $map: A) -> Result<$ty, A::Error> {
                        let mut $out = $ty::default();
                        while let Some($key) = $map.next_key::<Key<'de>>()? {
                            match &*$key.0 {
                                $($name => $field,)*
                                _ => {
                                    let v: Value = $map.next_value()?;
                                    $out.extra.insert($key.0.into_owned(), v);
                                }
                            }
                        }
                        Ok($out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

object_visitor!(ChatChunk, "a chat.completion.chunk object", |out, key, map| {
    "id" => out.id = map.next_value()?,
    "object" => out.object = map.next_value()?,
    "created" => out.created = map.next_value()?,
    "model" => out.model = map.next_value()?,
    "service_tier" => out.service_tier = Some(map.next_value()?),
    "system_fingerprint" => out.system_fingerprint = Some(map.next_value()?),
    "choices" => out.choices = map.next_value()?,
    "usage" => out.usage = Some(map.next_value()?),
});

object_visitor!(ChunkChoice, "a chunk choice object", |out, key, map| {
    "index" => out.index = map.next_value()?,
    "delta" => out.delta = map.next_value()?,
    "logprobs" => out.logprobs = Some(map.next_value()?),
    "finish_reason" => out.finish_reason = Some(map.next_value()?),
});

object_visitor!(Delta, "a delta object", |out, key, map| {
    "role" => out.role = map.next_value()?,
    "content" => out.content = Some(map.next_value()?),
    "reasoning_content" => out.reasoning_content = Some(map.next_value()?),
    "refusal" => out.refusal = Some(map.next_value()?),
    "tool_calls" => out.tool_calls = map.next_value()?,
    "function_call" => out.function_call = map.next_value()?,
});

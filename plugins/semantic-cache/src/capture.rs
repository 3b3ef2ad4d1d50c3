//! Capturing the upstream answer while it streams through (never delaying or changing it), and
//! deciding whether it may be stored: only complete, successful answers are.
//!
//! SSE is folded by `ai_proto::stream::StreamAccumulator`, which handles role-only first chunks,
//! several events per chunk, events split across chunks and `[DONE]` anywhere. Memory is bounded
//! by `max_bytes` for both kinds: past it capture stops (the response goes on untouched).

use ai_proto::chat::ChatResponse;
use ai_proto::sse::SseError;
use ai_proto::stream::{StreamAccumulator, StreamError};

/// What a stored answer must satisfy (besides HTTP 200, checked by the caller).
pub struct StorePolicy<'a> {
    pub finish_reason_ok: &'a dyn Fn(&str) -> bool,
    pub allow_tool_calls: bool,
}

/// Why an answer is not stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotStored {
    TooLarge,
    Malformed(String),
    /// The stream ended without a finish reason (cut off).
    Incomplete,
    FinishReason(String),
    ToolCalls,
    Empty,
}

impl std::fmt::Display for NotStored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotStored::TooLarge => f.write_str("answer exceeds maxResponseBytes"),
            NotStored::Malformed(e) => write!(f, "malformed answer: {e}"),
            NotStored::Incomplete => f.write_str("answer has no finish reason"),
            NotStored::FinishReason(r) => write!(f, "finish reason {r:?} is not stored"),
            NotStored::ToolCalls => f.write_str("answer has tool calls"),
            NotStored::Empty => f.write_str("answer is empty"),
        }
    }
}

/// An answer being captured.
pub enum Capture {
    Json {
        body: Vec<u8>,
        max: usize,
        over: bool,
    },
    Sse(Box<StreamAccumulator>),
}

impl Capture {
    pub fn json(max_bytes: usize) -> Capture {
        Capture::Json {
            body: Vec::new(),
            max: max_bytes,
            over: false,
        }
    }

    pub fn sse(max_bytes: usize) -> Capture {
        Capture::Sse(Box::new(StreamAccumulator::with_limit(max_bytes)))
    }

    /// Adds one body chunk. Errors are sticky and reported by [`Capture::finish`].
    pub fn feed(&mut self, chunk: &[u8]) {
        match self {
            Capture::Json { body, max, over } => {
                if *over || body.len() + chunk.len() > *max {
                    *over = true;
                    *body = Vec::new();
                } else {
                    body.extend_from_slice(chunk);
                }
            }
            Capture::Sse(acc) => {
                let _ = acc.feed_sse(chunk);
            }
        }
    }

    /// Whether capture already gave up (size bound or malformed stream).
    pub fn failed(&self) -> bool {
        match self {
            Capture::Json { over, .. } => *over,
            Capture::Sse(acc) => acc.error().is_some(),
        }
    }

    /// Bytes held for this response.
    pub fn held_bytes(&self) -> usize {
        match self {
            Capture::Json { body, .. } => body.capacity(),
            Capture::Sse(acc) => acc.accumulated_bytes(),
        }
    }

    /// The complete answer, if it may be stored.
    pub fn finish(self, policy: &StorePolicy) -> Result<ChatResponse, NotStored> {
        let response = match self {
            Capture::Json { over: true, .. } => return Err(NotStored::TooLarge),
            Capture::Json { body, .. } => serde_json::from_slice::<ChatResponse>(&body)
                .map_err(|e| NotStored::Malformed(e.to_string()))?,
            Capture::Sse(mut acc) => {
                let _ = acc.finish_sse();
                if matches!(
                    acc.error(),
                    Some(
                        StreamError::Overflow { .. }
                            | StreamError::Sse(SseError::EventTooLarge { .. })
                    )
                ) {
                    return Err(NotStored::TooLarge);
                }
                acc.finish()
                    .map_err(|e| NotStored::Malformed(e.to_string()))?
            }
        };
        check(&response, policy)?;
        Ok(response)
    }
}

/// Whether a complete answer may be stored.
pub fn check(response: &ChatResponse, policy: &StorePolicy) -> Result<(), NotStored> {
    if response.choices.is_empty() {
        return Err(NotStored::Empty);
    }
    for choice in &response.choices {
        let Some(Some(reason)) = &choice.finish_reason else {
            return Err(NotStored::Incomplete);
        };
        if !(policy.finish_reason_ok)(reason) {
            return Err(NotStored::FinishReason(reason.clone()));
        }
        let m = &choice.message;
        let has_tools =
            m.tool_calls.as_ref().is_some_and(|t| !t.is_empty()) || m.function_call.is_some();
        if has_tools && !policy.allow_tool_calls {
            return Err(NotStored::ToolCalls);
        }
        if !has_tools && m.text().trim().is_empty() {
            return Err(NotStored::Empty);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

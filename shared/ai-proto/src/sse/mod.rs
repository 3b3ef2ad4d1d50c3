//! Server-sent events (`text/event-stream`): an incremental decoder and an encoder.
//!
//! [`SseDecoder`] takes `&[u8]` chunks as the proxy delivers them and yields either parsed
//! [`SseEvent`]s (borrowing from its buffer, copying only when several `data:` lines must be
//! joined) or [`SseFrame`]s that also expose the exact raw bytes of each event, so a plugin can
//! forward untouched events byte-for-byte and rewrite only the ones it changes.
//! [`SseEncoder`] writes events back.

mod decoder;
mod encoder;
mod lines;

use std::borrow::Cow;
use std::fmt;

pub use decoder::{SseDecoder, DEFAULT_MAX_EVENT_SIZE};
pub use encoder::SseEncoder;

use lines::Lines;

/// The payload LLM APIs send as the last `data:` to mark the end of a stream.
pub const DONE: &str = "[DONE]";

/// One dispatched event.
///
/// Fields borrow from the decoder where possible; use [`into_owned`](Self::into_owned) to keep
/// an event past the next decoder call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent<'a> {
    /// The `event:` type; `None` means the default type `message`.
    pub event: Option<Cow<'a, str>>,
    /// The `data:` lines joined with `\n`.
    pub data: Cow<'a, str>,
    /// The last event ID in effect when this event was dispatched (persists across events).
    pub id: Option<Cow<'a, str>>,
    /// A valid `retry:` field given in this event's block.
    pub retry: Option<u64>,
}

impl<'a> SseEvent<'a> {
    /// An event of the default type with the given data.
    pub fn new(data: impl Into<Cow<'a, str>>) -> Self {
        SseEvent {
            data: data.into(),
            ..SseEvent::default()
        }
    }

    /// Sets the `event:` type.
    pub fn with_event(mut self, event: impl Into<Cow<'a, str>>) -> Self {
        self.event = Some(event.into());
        self
    }

    /// Sets the `id:` field.
    pub fn with_id(mut self, id: impl Into<Cow<'a, str>>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the `retry:` field.
    pub fn with_retry(mut self, retry: u64) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The event type, `message` when none was given.
    pub fn event_type(&self) -> &str {
        self.event.as_deref().unwrap_or("message")
    }

    /// Whether the data is the `[DONE]` end marker.
    pub fn is_done(&self) -> bool {
        self.data.trim() == DONE
    }

    /// Detaches the event from the decoder buffer.
    pub fn into_owned(self) -> SseEvent<'static> {
        SseEvent {
            event: self.event.map(|e| Cow::Owned(e.into_owned())),
            data: Cow::Owned(self.data.into_owned()),
            id: self.id.map(|e| Cow::Owned(e.into_owned())),
            retry: self.retry,
        }
    }
}

/// A complete block of the stream: the raw bytes up to and including its terminating blank
/// line, and the event it dispatched, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseFrame<'a> {
    /// Exact bytes of this frame as received, for byte-exact forwarding.
    pub raw: &'a [u8],
    body: &'a [u8],
    /// The parsed event; `None` for comment-only blocks, blocks without `data:` and stray
    /// blank lines.
    pub event: Option<SseEvent<'a>>,
}

impl<'a> SseFrame<'a> {
    /// Comment lines of this frame (text after the leading `:`), e.g. keep-alives.
    pub fn comments(&self) -> impl Iterator<Item = Cow<'a, str>> + 'a {
        Lines::new(self.body)
            .filter_map(|line| line.strip_prefix(b":"))
            .map(String::from_utf8_lossy)
    }
}

/// Errors of the SSE codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// An event grew beyond the decoder's configured maximum.
    EventTooLarge {
        /// The configured bound in bytes.
        limit: usize,
        /// Bytes seen when the bound was hit (a lower bound for a still incomplete event).
        size: usize,
    },
    /// The encoder was asked to write a field that cannot be represented on the wire.
    InvalidField {
        /// `event` or `id`.
        field: &'static str,
        /// What made it invalid.
        reason: &'static str,
    },
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::EventTooLarge { limit, size } => write!(
                f,
                "SSE event of at least {size} bytes exceeds the limit of {limit} bytes"
            ),
            SseError::InvalidField { field, reason } => {
                write!(f, "cannot encode SSE `{field}` field: {reason}")
            }
        }
    }
}

impl std::error::Error for SseError {}

#[cfg(test)]
mod tests;

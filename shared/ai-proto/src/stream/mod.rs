//! Folding a streamed answer (`chat.completion.chunk`s) back into one `chat.completion`.
//!
//! Used by plugins that need the whole answer after streaming it through, e.g. to cache it.
//! Memory is bounded: once the accumulated text and metadata exceed the configured limit the
//! accumulator reports [`StreamError::Overflow`] and stops growing, so the caller skips caching
//! while the response itself keeps flowing to the client untouched.

use std::fmt;

mod fold;

use crate::chat::{ChatChunk, ChatResponse};
use crate::error::OpenAiError;
use crate::sse::{SseDecoder, SseError};
use crate::usage::Usage;

use fold::Fold;

/// Default bound on accumulated bytes (4 MiB).
pub const DEFAULT_MAX_ACCUMULATED: usize = 4 << 20;

/// Why accumulation stopped. Errors are sticky: after one, every further call returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamError {
    /// The accumulated answer would exceed the configured limit.
    Overflow {
        /// The limit in bytes.
        limit: usize,
    },
    /// SSE framing failed (event too large).
    Sse(SseError),
    /// A `data:` payload was not a valid chunk; the message says where.
    InvalidChunk(String),
    /// The upstream sent an error object inside the stream.
    Upstream(Box<OpenAiError>),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Overflow { limit } => {
                write!(
                    f,
                    "streamed answer exceeds the accumulation limit of {limit} bytes"
                )
            }
            StreamError::Sse(e) => write!(f, "SSE framing error: {e}"),
            StreamError::InvalidChunk(e) => write!(f, "invalid chat.completion.chunk: {e}"),
            StreamError::Upstream(e) => write!(f, "upstream error in stream: {e}"),
        }
    }
}

impl std::error::Error for StreamError {}

impl From<SseError> for StreamError {
    fn from(e: SseError) -> Self {
        StreamError::Sse(e)
    }
}

/// Accumulates chunks (parsed, as JSON text, or as raw SSE bytes) into a [`ChatResponse`].
#[derive(Debug, Clone)]
pub struct StreamAccumulator {
    decoder: SseDecoder,
    fold: Fold,
}

impl Default for StreamAccumulator {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamAccumulator {
    /// Accumulator with the [`DEFAULT_MAX_ACCUMULATED`] limit.
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_MAX_ACCUMULATED)
    }

    /// Accumulator that overflows once more than `limit` bytes would be held; the same bound
    /// applies to a single SSE event.
    pub fn with_limit(limit: usize) -> Self {
        StreamAccumulator {
            decoder: SseDecoder::with_max_event_size(limit),
            fold: Fold::new(limit),
        }
    }

    /// Feeds raw SSE body bytes as they arrive.
    pub fn feed_sse(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        self.fold.check()?;
        self.decoder.feed(bytes);
        self.drain()
    }

    /// Signals the end of the SSE body; a last event without a blank line is still used.
    pub fn finish_sse(&mut self) -> Result<(), StreamError> {
        self.fold.check()?;
        self.decoder.finish();
        self.drain()
    }

    fn drain(&mut self) -> Result<(), StreamError> {
        loop {
            match self.decoder.next_event() {
                Ok(Some(ev)) => self.fold.push_data(&ev.data)?,
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.fold.fail(e.into())),
            }
        }
    }

    /// Feeds one SSE `data:` payload: `[DONE]`, a chunk, or an error object.
    pub fn push_data(&mut self, data: &str) -> Result<(), StreamError> {
        self.fold.push_data(data)
    }

    /// Feeds one parsed chunk.
    pub fn push_chunk(&mut self, chunk: ChatChunk) -> Result<(), StreamError> {
        self.fold.check()?;
        self.fold.push_chunk(chunk)
    }

    /// Whether `[DONE]` was seen.
    pub fn is_done(&self) -> bool {
        self.fold.done
    }

    /// Whether the size limit was hit.
    pub fn is_overflowed(&self) -> bool {
        matches!(self.fold.error, Some(StreamError::Overflow { .. }))
    }

    /// The first error, if any.
    pub fn error(&self) -> Option<&StreamError> {
        self.fold.error.as_ref()
    }

    /// Number of chunks folded in.
    pub fn chunk_count(&self) -> usize {
        self.fold.chunks
    }

    /// Bytes charged against the limit so far.
    pub fn accumulated_bytes(&self) -> usize {
        self.fold.size
    }

    /// The usage of the final usage chunk, if it arrived.
    pub fn usage(&self) -> Option<Usage> {
        self.fold.usage.as_ref().map(Usage::from)
    }

    /// The answer so far, even if incomplete or failed.
    pub fn snapshot(&self) -> ChatResponse {
        self.fold.build()
    }

    /// The complete answer, or the error that stopped accumulation.
    pub fn finish(self) -> Result<ChatResponse, StreamError> {
        match self.fold.error {
            Some(e) => Err(e),
            None => Ok(self.fold.build()),
        }
    }
}

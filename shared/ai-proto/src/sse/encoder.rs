//! Event-stream encoder.

use memchr::{memchr, memchr2};

use super::lines::Lines;
use super::{SseError, SseEvent, DONE};

/// Writes events into an owned buffer, e.g. to build a replacement body chunk.
///
/// Data is split into one `data:` line per line of the text (CR, LF and CRLF all count, since a
/// bare CR would otherwise end the line on the reader's side); the decoder joins them back with
/// `\n`. `event:` and `id:` values cannot contain line breaks, so those are rejected.
#[derive(Debug, Clone, Default)]
pub struct SseEncoder {
    buf: Vec<u8>,
}

impl SseEncoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty encoder with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        SseEncoder {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// Writes a complete event: `event:`, `id:`, `retry:` when set, the data lines and the
    /// terminating blank line. Nothing is written on error.
    pub fn event(&mut self, event: &SseEvent<'_>) -> Result<&mut Self, SseError> {
        if let Some(name) = &event.event {
            if memchr2(b'\r', b'\n', name.as_bytes()).is_some() {
                return Err(SseError::InvalidField {
                    field: "event",
                    reason: "contains a line break",
                });
            }
        }
        if let Some(id) = &event.id {
            let id = id.as_bytes();
            if memchr2(b'\r', b'\n', id).is_some() || memchr(0, id).is_some() {
                return Err(SseError::InvalidField {
                    field: "id",
                    reason: "contains a line break or NUL",
                });
            }
        }
        if let Some(name) = &event.event {
            self.field("event", name);
        }
        if let Some(id) = &event.id {
            self.field("id", id);
        }
        if let Some(retry) = event.retry {
            self.field("retry", &retry.to_string());
        }
        Ok(self.data(&event.data))
    }

    /// Writes a default-type event carrying `data`.
    pub fn data(&mut self, data: &str) -> &mut Self {
        if data.is_empty() {
            self.buf.extend_from_slice(b"data:\n");
        } else {
            for line in Lines::new(data.as_bytes()) {
                self.field_bytes(b"data", line);
            }
            if matches!(data.as_bytes().last(), Some(b'\n' | b'\r')) {
                // A trailing line break means one more (empty) data line.
                self.buf.extend_from_slice(b"data:\n");
            }
        }
        self.buf.push(b'\n');
        self
    }

    /// Writes a comment block (each line prefixed with `:`), e.g. a keep-alive.
    pub fn comment(&mut self, text: &str) -> &mut Self {
        for line in Lines::new(text.as_bytes()) {
            self.buf.push(b':');
            self.buf.extend_from_slice(line);
            self.buf.push(b'\n');
        }
        if text.is_empty() {
            self.buf.extend_from_slice(b":\n");
        }
        self.buf.push(b'\n');
        self
    }

    /// Writes the `data: [DONE]` end marker event.
    pub fn done(&mut self) -> &mut Self {
        self.data(DONE)
    }

    /// Appends bytes verbatim (e.g. the raw frame of an event forwarded unchanged).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Takes the bytes written so far, leaving the encoder empty for reuse.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn field(&mut self, name: &str, value: &str) {
        self.field_bytes(name.as_bytes(), value.as_bytes());
    }

    fn field_bytes(&mut self, name: &[u8], value: &[u8]) {
        self.buf.extend_from_slice(name);
        // Always a space: a value starting with a space keeps it after the reader strips one.
        self.buf.extend_from_slice(b": ");
        self.buf.extend_from_slice(value);
        self.buf.push(b'\n');
    }
}

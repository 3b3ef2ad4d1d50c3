//! Incremental event-stream decoder.

use std::borrow::Cow;

use memchr::{memchr, memchr2};

use super::lines::Lines;
use super::{SseError, SseEvent, SseFrame};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Default bound on one event (16 MiB): large enough for base64 image deltas that some
/// providers stream, small enough that a stream without blank lines cannot exhaust the VM.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 << 20;

/// Incremental `text/event-stream` decoder following the WHATWG parsing rules.
///
/// Feed network chunks with [`feed`](Self::feed), then drain with
/// [`next_event`](Self::next_event) (parsed events), [`next_frame`](Self::next_frame)
/// (raw bytes plus parsed event) or [`next_raw`](Self::next_raw) (raw bytes only). At end of
/// stream call [`finish`](Self::finish) and drain once more.
///
/// Deviation from the spec, on purpose: an event that is not followed by a blank line when the
/// stream ends is still delivered after `finish()`. Browsers drop it, but an LLM gateway must not
/// lose the last chunk (which often carries usage) because an upstream forgot the final newline.
///
/// Raw frames partition the input: concatenating every frame's `raw` bytes and the unconsumed
/// leftover gives back exactly the bytes fed. Where a CRLF is split across two chunks and the CR
/// ended an event, that event is delivered at once and the LF becomes the first byte of the next
/// frame (parsing skips it), so frame boundaries may differ by that byte between splits while the
/// parsed events never do.
///
/// Errors are sticky: after [`SseError::EventTooLarge`] every call returns the same error and
/// further input is ignored, because the stream position is no longer trustworthy.
#[derive(Debug, Clone)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Start of the first byte not yet handed out in a frame.
    start: usize,
    /// Where parsing of the pending block starts (after a BOM or the LF of a split CRLF).
    parse_from: usize,
    /// Start of the line whose terminator has not been found yet.
    line_start: usize,
    /// First byte not yet searched for a terminator.
    scan: usize,
    /// The last examined byte was a CR at the end of the buffer; an LF next belongs to it.
    cr_pending: bool,
    bom_checked: bool,
    finished: bool,
    max_event_size: usize,
    last_event_id: String,
    retry: Option<u64>,
    failed: Option<SseError>,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Offsets of one complete block inside the decoder buffer.
struct Block {
    start: usize,
    body: usize,
    content_end: usize,
    end: usize,
}

impl SseDecoder {
    /// Decoder with the [`DEFAULT_MAX_EVENT_SIZE`] bound.
    pub fn new() -> Self {
        Self::with_max_event_size(DEFAULT_MAX_EVENT_SIZE)
    }

    /// Decoder that fails with [`SseError::EventTooLarge`] once one event (its lines without the
    /// terminating blank line) exceeds `max` bytes, whether complete or still pending.
    pub fn with_max_event_size(max: usize) -> Self {
        SseDecoder {
            buf: Vec::new(),
            start: 0,
            parse_from: 0,
            line_start: 0,
            scan: 0,
            cr_pending: false,
            bom_checked: false,
            finished: false,
            max_event_size: max,
            last_event_id: String::new(),
            retry: None,
            failed: None,
        }
    }

    /// Decodes a complete stream in one go (events owned), including a final unterminated event.
    pub fn decode_all(bytes: &[u8]) -> Result<Vec<SseEvent<'static>>, SseError> {
        let mut dec = SseDecoder::new();
        dec.feed(bytes);
        dec.finish();
        let mut out = Vec::new();
        while let Some(ev) = dec.next_event()? {
            out.push(ev.into_owned());
        }
        Ok(out)
    }

    /// The configured bound on one event.
    pub fn max_event_size(&self) -> usize {
        self.max_event_size
    }

    /// Appends a network chunk. Ignored after [`finish`](Self::finish) or an error.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.failed.is_some() || self.finished {
            return;
        }
        if self.start > 0 {
            // Only the pending partial event is moved, so this stays cheap per chunk.
            self.buf.drain(..self.start);
            self.parse_from -= self.start;
            self.line_start -= self.start;
            self.scan -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// Marks the end of the stream: bytes left without a terminating blank line become one
    /// last frame.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Bytes received but not yet returned in a frame.
    pub fn pending(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    /// The last event ID buffer (`id:` fields persist across events, as the spec requires).
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The last valid `retry:` value seen.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Next complete raw frame without parsing it. Fastest way to cut a stream into events for
    /// byte-exact forwarding; it does not update [`last_event_id`](Self::last_event_id).
    pub fn next_raw(&mut self) -> Result<Option<&[u8]>, SseError> {
        match self.advance()? {
            Some(b) => Ok(self.buf.get(b.start..b.end)),
            None => Ok(None),
        }
    }

    /// Next frame: its raw bytes and the event it dispatches, if any (blocks holding only
    /// comments, or fields but no `data:`, dispatch nothing).
    pub fn next_frame(&mut self) -> Result<Option<SseFrame<'_>>, SseError> {
        let Some(b) = self.advance()? else {
            return Ok(None);
        };
        let parsed = parse_block(&self.buf, b.body, b.content_end);
        self.apply(&parsed);
        Ok(Some(SseFrame {
            raw: self.buf.get(b.start..b.end).unwrap_or_default(),
            body: self.buf.get(b.body..b.content_end).unwrap_or_default(),
            event: self.event(parsed),
        }))
    }

    /// Next dispatched event, skipping frames that dispatch none.
    pub fn next_event(&mut self) -> Result<Option<SseEvent<'_>>, SseError> {
        loop {
            let Some(b) = self.advance()? else {
                return Ok(None);
            };
            // Offsets, not borrows, so that skipping a frame does not keep the buffer borrowed
            // into the next iteration.
            let parsed = parse_block(&self.buf, b.body, b.content_end);
            self.apply(&parsed);
            if !matches!(parsed.data, DataBuf::None) {
                return Ok(self.event(parsed));
            }
        }
    }

    /// Applies the block's `id:` and `retry:` to the state that outlives events.
    fn apply(&mut self, parsed: &ParsedBlock) {
        if let Some((s, e)) = parsed.id {
            self.last_event_id =
                String::from_utf8_lossy(self.buf.get(s..e).unwrap_or_default()).into_owned();
        }
        if parsed.retry.is_some() {
            self.retry = parsed.retry;
        }
    }

    fn event(&self, parsed: ParsedBlock) -> Option<SseEvent<'_>> {
        let data = match parsed.data {
            DataBuf::None => return None,
            DataBuf::One(s, e) => utf8_lossy(self.buf.get(s..e).unwrap_or_default()),
            DataBuf::Many(v) => Cow::Owned(match String::from_utf8(v) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            }),
        };
        let event = parsed
            .event
            .and_then(|(s, e)| self.buf.get(s..e))
            .filter(|e| !e.is_empty())
            .map(utf8_lossy);
        let id =
            (!self.last_event_id.is_empty()).then_some(Cow::Borrowed(self.last_event_id.as_str()));
        Some(SseEvent {
            event,
            data,
            id,
            retry: parsed.retry,
        })
    }

    fn fail(&mut self, size: usize) -> SseError {
        let err = SseError::EventTooLarge {
            limit: self.max_event_size,
            size,
        };
        self.failed = Some(err.clone());
        self.buf = Vec::new();
        self.start = 0;
        self.parse_from = 0;
        self.line_start = 0;
        self.scan = 0;
        err
    }

    fn advance(&mut self) -> Result<Option<Block>, SseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.find_block_end() {
            Some((content_end, end)) => {
                // Measured without the terminator of the blank line so that a CRLF split into
                // CR | LF gives the same size as an unsplit one.
                let size = content_end.saturating_sub(self.parse_from);
                if size > self.max_event_size {
                    return Err(self.fail(size));
                }
                let block = Block {
                    start: self.start,
                    body: self.parse_from,
                    content_end,
                    end,
                };
                self.start = end;
                self.parse_from = end;
                self.line_start = end;
                self.scan = end;
                Ok(Some(block))
            }
            None => {
                let size = self.buf.len().saturating_sub(self.parse_from);
                if self.bom_checked && size > self.max_event_size {
                    return Err(self.fail(size));
                }
                Ok(None)
            }
        }
    }

    /// Finds the end of the pending block: `(content_end, block_end)`, where `content_end` is
    /// the start of the terminating blank line.
    fn find_block_end(&mut self) -> Option<(usize, usize)> {
        if !self.bom_checked {
            let avail = self.buf.get(self.start..).unwrap_or_default();
            if avail.len() < BOM.len() && BOM.starts_with(avail) && !self.finished {
                return None;
            }
            if avail.starts_with(BOM) {
                self.parse_from = self.start + BOM.len();
                self.line_start = self.parse_from;
                self.scan = self.parse_from;
            }
            self.bom_checked = true;
        }
        loop {
            let rest = self.buf.get(self.scan..).unwrap_or_default();
            let Some(&first) = rest.first() else {
                break;
            };
            if self.cr_pending {
                self.cr_pending = false;
                if first == b'\n' {
                    if self.parse_from == self.scan {
                        self.parse_from += 1;
                    }
                    self.scan += 1;
                    self.line_start = self.scan;
                    continue;
                }
            }
            let Some(i) = memchr2(b'\n', b'\r', rest) else {
                self.scan = self.buf.len();
                break;
            };
            let pos = self.scan + i;
            let mut next = pos + 1;
            if rest.get(i) == Some(&b'\r') {
                match rest.get(i + 1) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.cr_pending = true,
                }
            }
            let empty = pos == self.line_start;
            self.scan = next;
            self.line_start = next;
            if empty {
                return Some((pos, next));
            }
        }
        if self.finished && self.start < self.buf.len() {
            let end = self.buf.len();
            return Some((end, end));
        }
        None
    }
}

/// `String::from_utf8_lossy` with the validator's word-at-a-time fast path first: the lossy
/// decoder walks byte by byte, which made it the largest cost of framing inside a wasm VM.
fn utf8_lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// What a block sets, as offsets into the decoder buffer.
struct ParsedBlock {
    event: Option<(usize, usize)>,
    data: DataBuf,
    id: Option<(usize, usize)>,
    retry: Option<u64>,
}

enum DataBuf {
    None,
    /// A single `data:` line, borrowed from the buffer when the event is built.
    One(usize, usize),
    /// Several lines joined with `\n`.
    Many(Vec<u8>),
}

/// Parses the lines of `buf[from..to]`.
fn parse_block(buf: &[u8], from: usize, to: usize) -> ParsedBlock {
    let mut parsed = ParsedBlock {
        event: None,
        data: DataBuf::None,
        id: None,
        retry: None,
    };
    let body = buf.get(from..to).unwrap_or_default();
    let base = body.as_ptr() as usize;
    for line in Lines::new(body) {
        if line.first() == Some(&b':') {
            continue;
        }
        let (name, value) = match memchr(b':', line) {
            Some(c) => {
                let (name, rest) = line.split_at(c);
                let value = rest.get(1..).unwrap_or_default();
                (name, value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &line[line.len()..]),
        };
        // `value` is a subslice of `buf`, so its position is recoverable without unsafe code.
        let start = from + (value.as_ptr() as usize - base);
        let range = (start, start + value.len());
        match name {
            b"data" => {
                parsed.data = match std::mem::replace(&mut parsed.data, DataBuf::None) {
                    DataBuf::None => DataBuf::One(range.0, range.1),
                    DataBuf::One(s, e) => {
                        let first = buf.get(s..e).unwrap_or_default();
                        let mut v = Vec::with_capacity(first.len() + value.len() + 1);
                        v.extend_from_slice(first);
                        v.push(b'\n');
                        v.extend_from_slice(value);
                        DataBuf::Many(v)
                    }
                    DataBuf::Many(mut v) => {
                        v.push(b'\n');
                        v.extend_from_slice(value);
                        DataBuf::Many(v)
                    }
                }
            }
            b"event" => parsed.event = Some(range),
            b"id" if memchr(0, value).is_none() => parsed.id = Some(range),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // Overlong values are ignored like any other invalid retry.
                if let Some(n) = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    parsed.retry = Some(n);
                }
            }
            _ => {}
        }
    }
    parsed
}

//! Watching an OpenAI SSE stream: is the first data event an answer or an error (before anything
//! is released to the client), did an error event come later, and did the stream complete
//! (`[DONE]` or a `finish_reason`) before it ended.

use ai_proto::sse::SseDecoder;
use serde_json::Value;

/// Events larger than this are not inspected (the stream goes on untouched).
const MAX_EVENT: usize = 256 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum First {
    Answer,
    Error,
}

#[derive(Debug)]
pub struct StreamWatch {
    decoder: SseDecoder,
    pub first: Option<First>,
    pub error_seen: bool,
    pub complete: bool,
    /// The decoder gave up (oversized or malformed stream): stop judging.
    pub blind: bool,
}

impl Default for StreamWatch {
    fn default() -> Self {
        StreamWatch {
            decoder: SseDecoder::with_max_event_size(MAX_EVENT),
            first: None,
            error_seen: false,
            complete: false,
            blind: false,
        }
    }
}

impl StreamWatch {
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.blind {
            return;
        }
        self.decoder.feed(chunk);
        self.drain();
    }

    /// End of stream: a last event without its blank line still counts.
    pub fn finish(&mut self) {
        if self.blind {
            return;
        }
        self.decoder.finish();
        self.drain();
    }

    fn drain(&mut self) {
        loop {
            match self.decoder.next_event() {
                Ok(Some(e)) => {
                    if e.is_done() {
                        self.complete = true;
                        continue;
                    }
                    let is_error = e.event_type() == "error" || data_is_error(&e.data);
                    if is_error {
                        self.error_seen = true;
                    } else if has_finish_reason(&e.data) {
                        self.complete = true;
                    }
                    if self.first.is_none() && (is_error || !e.data.trim().is_empty()) {
                        self.first = Some(if is_error {
                            First::Error
                        } else {
                            First::Answer
                        });
                    }
                }
                Ok(None) => return,
                Err(_) => {
                    self.blind = true;
                    if self.first.is_none() {
                        self.first = Some(First::Answer);
                    }
                    return;
                }
            }
        }
    }
}

fn data_is_error(data: &str) -> bool {
    data.contains("\"error\"")
        && serde_json::from_str::<Value>(data)
            .ok()
            .and_then(|v| v.get("error").cloned())
            .is_some_and(|e| e.is_object() || e.is_string())
}

fn has_finish_reason(data: &str) -> bool {
    data.contains("finish_reason")
        && serde_json::from_str::<Value>(data)
            .ok()
            .and_then(|v| v.get("choices").cloned())
            .and_then(|c| c.as_array().cloned())
            .is_some_and(|c| {
                c.iter()
                    .any(|ch| ch.get("finish_reason").is_some_and(|f| !f.is_null()))
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n";
    const FINISH: &str =
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
    const ERROR: &str =
        "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n";

    fn watch(parts: &[&str], split: usize) -> StreamWatch {
        let all: Vec<u8> = parts.concat().into_bytes();
        let mut w = StreamWatch::default();
        for c in all.chunks(split.max(1)) {
            w.feed(c);
        }
        w.finish();
        w
    }

    #[test]
    fn first_event_answer_or_error_at_any_split() {
        for split in [1, 3, 17, 4096] {
            let w = watch(&[": ping\n\n", ANSWER, FINISH, "data: [DONE]\n\n"], split);
            assert_eq!(w.first, Some(First::Answer));
            assert!(w.complete && !w.error_seen);
            let w = watch(&[ERROR], split);
            assert_eq!(w.first, Some(First::Error));
            assert!(w.error_seen && !w.complete);
        }
        let w = watch(&["event: error\ndata: boom\n\n"], 5);
        assert_eq!(w.first, Some(First::Error));
    }

    #[test]
    fn cut_stream_is_incomplete_and_later_errors_are_seen() {
        let w = watch(&[ANSWER, ANSWER], 7);
        assert_eq!(w.first, Some(First::Answer));
        assert!(!w.complete);
        let w = watch(&[ANSWER, ERROR], 7);
        assert!(w.error_seen && !w.complete);
        let w = watch(&[": only a comment\n\n"], 3);
        assert_eq!(w.first, None);
    }

    #[test]
    fn oversized_event_makes_it_blind_not_failing() {
        let mut w = StreamWatch::default();
        w.feed(&vec![b'x'; MAX_EVENT + 10]);
        assert!(w.blind);
        assert_eq!(w.first, Some(First::Answer));
    }
}

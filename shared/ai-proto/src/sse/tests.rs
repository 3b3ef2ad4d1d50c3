use super::*;

fn decode(chunks: &[&[u8]]) -> Result<Vec<SseEvent<'static>>, SseError> {
    let mut dec = SseDecoder::new();
    let mut out = Vec::new();
    for c in chunks {
        dec.feed(c);
        while let Some(ev) = dec.next_event()? {
            out.push(ev.into_owned());
        }
    }
    dec.finish();
    while let Some(ev) = dec.next_event()? {
        out.push(ev.into_owned());
    }
    Ok(out)
}

fn datas(events: &[SseEvent<'_>]) -> Vec<String> {
    events.iter().map(|e| e.data.to_string()).collect()
}

#[test]
fn all_line_ending_kinds_end_events() {
    let ev = decode(&[b"data: a\n\ndata: b\r\rdata: c\r\n\r\n"]).unwrap();
    assert_eq!(datas(&ev), ["a", "b", "c"]);
}

#[test]
fn crlf_split_across_chunks_is_one_line_end() {
    // Were the LF counted as a second line end, "x" would be dispatched alone after the CR.
    let ev = decode(&[b"data: x\r", b"\ndata: y\r\n\r\n"]).unwrap();
    assert_eq!(datas(&ev), ["x\ny"]);
    // The CR that ends the event arrives alone; the LF after it must not start anything.
    let ev = decode(&[b"data: a\r\n\r", b"\ndata: b\n\n"]).unwrap();
    assert_eq!(datas(&ev), ["a", "b"]);
}

#[test]
fn multiple_data_lines_are_joined_with_lf() {
    let ev = decode(&[b"data: one\ndata:two\ndata:  three\ndata\n\n"]).unwrap();
    assert_eq!(datas(&ev), ["one\ntwo\n three\n"]);
}

#[test]
fn only_one_leading_space_is_removed() {
    let ev = decode(&[b"data:   spaced\n\n"]).unwrap();
    assert_eq!(ev[0].data, "  spaced");
}

#[test]
fn comments_are_ignored_but_visible_in_frames() {
    let mut dec = SseDecoder::new();
    dec.feed(b": keep-alive\n\n:x\ndata: y\n\n");
    let f = dec.next_frame().unwrap().unwrap();
    assert!(f.event.is_none());
    assert_eq!(f.comments().collect::<Vec<_>>(), [" keep-alive"]);
    let f = dec.next_frame().unwrap().unwrap();
    assert_eq!(f.event.as_ref().unwrap().data, "y");
    assert_eq!(f.comments().collect::<Vec<_>>(), ["x"]);
    assert!(dec.next_frame().unwrap().is_none());
}

#[test]
fn event_id_and_retry_fields() {
    let ev = decode(&[
        b"event: delta\nid: 7\nretry: 1500\ndata: a\n\ndata: b\n\nid: x\0y\nretry: 12ms\ndata: c\n\n",
    ])
    .unwrap();
    assert_eq!(ev[0].event.as_deref(), Some("delta"));
    assert_eq!(ev[0].id.as_deref(), Some("7"));
    assert_eq!(ev[0].retry, Some(1500));
    // The id persists, the event type does not.
    assert_eq!(ev[1].event_type(), "message");
    assert_eq!(ev[1].id.as_deref(), Some("7"));
    assert_eq!(ev[1].retry, None);
    // An id with NUL and a non-numeric retry are ignored.
    assert_eq!(ev[2].id.as_deref(), Some("7"));
    assert_eq!(ev[2].retry, None);
}

#[test]
fn empty_id_resets_last_event_id() {
    let ev = decode(&[b"id: 1\ndata: a\n\nid\ndata: b\n\n"]).unwrap();
    assert_eq!(ev[0].id.as_deref(), Some("1"));
    assert_eq!(ev[1].id, None);
}

#[test]
fn bom_is_stripped_only_at_stream_start_even_when_split() {
    let ev = decode(&[b"\xEF", b"\xBB", b"\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\n"]).unwrap();
    // The second BOM is part of a field name, so that field is unknown and ignored.
    assert_eq!(datas(&ev), ["a"]);
}

#[test]
fn unknown_fields_and_field_without_colon() {
    let ev = decode(&[b"foo: bar\ndata\n\nevent\ndata: x\n\n"]).unwrap();
    assert_eq!(datas(&ev), ["", "x"]);
    assert_eq!(ev[1].event, None);
}

#[test]
fn blocks_without_data_dispatch_nothing() {
    let ev = decode(&[b"event: ping\n\n\n\ndata: a\n\n"]).unwrap();
    assert_eq!(datas(&ev), ["a"]);
    assert_eq!(ev[0].event, None);
}

#[test]
fn last_event_without_blank_line_is_delivered_on_finish() {
    let mut dec = SseDecoder::new();
    dec.feed(b"data: first\n\ndata: last");
    assert_eq!(dec.next_event().unwrap().unwrap().data, "first");
    assert!(dec.next_event().unwrap().is_none());
    assert_eq!(dec.pending(), b"data: last");
    dec.finish();
    assert_eq!(dec.next_event().unwrap().unwrap().data, "last");
    assert!(dec.next_event().unwrap().is_none());
}

#[test]
fn events_split_over_many_chunks() {
    let stream = b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n";
    let chunks: Vec<&[u8]> = stream.chunks(3).collect();
    let ev = decode(&chunks).unwrap();
    assert_eq!(datas(&ev), ["{\"a\":1}", "{\"b\":2}", "[DONE]"]);
    assert!(ev[2].is_done());
}

#[test]
fn raw_frames_partition_the_input() {
    let input: &[u8] = b": hi\n\nevent: x\r\ndata: 1\r\n\r\ndata: 2\n\npartial";
    let mut dec = SseDecoder::new();
    let mut raw = Vec::new();
    for c in input.chunks(5) {
        dec.feed(c);
        while let Some(f) = dec.next_raw().unwrap() {
            raw.push(f.to_vec());
        }
    }
    assert_eq!(
        raw,
        [
            &b": hi\n\n"[..],
            b"event: x\r\ndata: 1\r\n\r\n",
            b"data: 2\n\n"
        ]
    );
    assert_eq!(dec.pending(), b"partial");
}

#[test]
fn oversized_event_is_a_clear_sticky_error() {
    let mut dec = SseDecoder::with_max_event_size(16);
    dec.feed(b"data: small\n\ndata: this line is far too long");
    assert_eq!(dec.next_event().unwrap().unwrap().data, "small");
    let err = dec.next_event().unwrap_err();
    assert!(matches!(err, SseError::EventTooLarge { limit: 16, .. }));
    assert!(err.to_string().contains("limit of 16 bytes"));
    dec.feed(b"\n\ndata: ok\n\n");
    assert_eq!(dec.next_event().unwrap_err(), err);
}

#[test]
fn complete_oversized_event_fails_like_a_pending_one() {
    let mut dec = SseDecoder::with_max_event_size(8);
    dec.feed(b"data: 123456789\n\n");
    assert!(dec.next_event().is_err());
}

#[test]
fn invalid_utf8_is_replaced_not_fatal() {
    let ev = decode(&[b"data: a\xFFb\n\n"]).unwrap();
    assert_eq!(ev[0].data, "a\u{FFFD}b");
}

#[test]
fn single_data_line_borrows_from_buffer() {
    let mut dec = SseDecoder::new();
    dec.feed(b"data: zero-copy\n\n");
    let ev = dec.next_event().unwrap().unwrap();
    assert!(matches!(ev.data, Cow::Borrowed(_)));
}

#[test]
fn encoder_output_decodes_to_the_same_event() {
    let event = SseEvent::new("line1\nline2\n")
        .with_event("content_block_delta")
        .with_id("42")
        .with_retry(3000);
    let mut enc = SseEncoder::new();
    enc.event(&event).unwrap().comment("ping").done();
    assert!(enc
        .as_bytes()
        .starts_with(b"event: content_block_delta\nid: 42\nretry: 3000\n"));
    let ev = SseDecoder::decode_all(enc.as_bytes()).unwrap();
    assert_eq!(ev[0], event);
    assert!(ev[1].is_done());
    assert_eq!(ev.len(), 2);
}

#[test]
fn encoder_rejects_line_breaks_in_event_and_id() {
    let mut enc = SseEncoder::new();
    let bad = SseEvent::new("x").with_event("a\nb");
    assert!(matches!(
        enc.event(&bad),
        Err(SseError::InvalidField { field: "event", .. })
    ));
    let bad = SseEvent::new("x").with_id("a\0");
    assert!(enc.event(&bad).is_err());
    assert!(enc.as_bytes().is_empty());
}

#[test]
fn encoder_normalises_cr_in_data() {
    let mut enc = SseEncoder::new();
    enc.data("a\rb\r\nc");
    assert_eq!(enc.as_bytes(), b"data: a\ndata: b\ndata: c\n\n");
}

#[test]
fn split_crlf_after_event_end_moves_lf_into_next_frame() {
    let mut dec = SseDecoder::new();
    dec.feed(b"data: a\r\r");
    let f = dec.next_frame().unwrap().unwrap();
    // Delivered at once rather than waiting to see whether an LF follows.
    assert_eq!(f.raw, b"data: a\r\r");
    assert_eq!(f.event.unwrap().data, "a");
    dec.feed(b"\ndata: b\n\n");
    let f = dec.next_frame().unwrap().unwrap();
    assert_eq!(f.raw, b"\ndata: b\n\n");
    assert_eq!(f.event.unwrap().data, "b");
}

#[test]
fn retry_state_survives_data_less_blocks() {
    let mut dec = SseDecoder::new();
    dec.feed(b"retry: 250\nid: abc\n\ndata: x\n\n");
    let ev = dec.next_event().unwrap().unwrap();
    assert_eq!(ev.data, "x");
    assert_eq!(ev.id.as_deref(), Some("abc"));
    assert_eq!(ev.retry, None);
    assert_eq!(dec.retry(), Some(250));
    assert_eq!(dec.last_event_id(), "abc");
}

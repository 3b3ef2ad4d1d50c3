//! Property tests: the decoder gives the same events for every split of the same bytes, agrees
//! with a naive reference parser written straight from the WHATWG algorithm, and decodes what
//! the encoder writes.

use ai_proto::sse::{SseDecoder, SseEncoder, SseEvent};
use proptest::prelude::*;

/// Decodes `input` fed in pieces cut at `cuts`; returns events and concatenated raw frames.
fn decode_split(input: &[u8], cuts: &[usize]) -> (Vec<SseEvent<'static>>, Vec<u8>) {
    let mut dec = SseDecoder::new();
    let mut events = Vec::new();
    let mut raw = Vec::new();
    let mut prev = 0;
    let mut drain = |dec: &mut SseDecoder| {
        while let Some(f) = dec.next_frame().unwrap() {
            raw.extend_from_slice(f.raw);
            if let Some(e) = f.event {
                events.push(e.into_owned());
            }
        }
    };
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        dec.feed(&input[prev..cut]);
        prev = cut;
        drain(&mut dec);
    }
    dec.finish();
    drain(&mut dec);
    (events, raw)
}

/// Naive WHATWG event-stream interpretation over the whole input (plus the documented
/// deviation: a final unterminated event is dispatched).
/// (event type, data, id, retry) of one dispatched event.
type RefEvent = (Option<String>, String, Option<String>, Option<u64>);

fn reference(input: &[u8]) -> Vec<RefEvent> {
    let text = String::from_utf8_lossy(input);
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    let mut terminated = true;
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut cur));
                terminated = true;
            }
            '\n' => {
                lines.push(std::mem::take(&mut cur));
                terminated = true;
            }
            c => {
                cur.push(c);
                terminated = false;
            }
        }
    }
    if !terminated {
        lines.push(cur);
    }
    lines.push(String::new());
    let (mut data, mut has_data, mut event, mut id, mut retry) =
        (String::new(), false, String::new(), String::new(), None);
    let mut out = Vec::new();
    for line in lines {
        if line.is_empty() {
            if has_data {
                data.pop();
                out.push((
                    (!event.is_empty()).then(|| event.clone()),
                    data.clone(),
                    (!id.is_empty()).then(|| id.clone()),
                    retry,
                ));
            }
            data.clear();
            has_data = false;
            event.clear();
            retry = None;
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (name, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line.as_str(), ""),
        };
        match name {
            "data" => {
                data.push_str(value);
                data.push('\n');
                has_data = true;
            }
            "event" => event = value.to_owned(),
            "id" if !value.contains('\0') => id = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                retry = value.parse().ok().or(retry);
            }
            _ => {}
        }
    }
    out
}

fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"data: ".to_vec()),
        Just(b"data:".to_vec()),
        Just(b"data".to_vec()),
        Just(b"event: ".to_vec()),
        Just(b"id: ".to_vec()),
        Just(b"retry: ".to_vec()),
        Just(b": comment".to_vec()),
        Just(b":".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(b"\r\r".to_vec()),
        Just(b" ".to_vec()),
        Just(b"123".to_vec()),
        Just(b"[DONE]".to_vec()),
        Just(b"{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}".to_vec()),
        Just("é€".as_bytes().to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\xFF".to_vec()),
        prop::collection::vec(any::<u8>(), 0..6),
    ]
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), prop::collection::vec(token(), 0..60)).prop_map(|(bom, tokens)| {
        let mut out = if bom {
            b"\xEF\xBB\xBF".to_vec()
        } else {
            Vec::new()
        };
        for t in tokens {
            out.extend(t);
        }
        out
    })
}

fn stream_and_cuts() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    stream().prop_flat_map(|s| {
        let len = s.len();
        (Just(s), prop::collection::vec(0..=len, 0..12)).prop_map(|(s, mut cuts)| {
            cuts.sort_unstable();
            (s, cuts)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_split_gives_the_same_events((input, cuts) in stream_and_cuts()) {
        let (whole, whole_raw) = decode_split(&input, &[]);
        let (split, split_raw) = decode_split(&input, &cuts);
        prop_assert_eq!(&whole, &split);
        prop_assert_eq!(&whole_raw, &input);
        prop_assert_eq!(&split_raw, &input);
    }

    #[test]
    fn byte_at_a_time_matches_the_reference((input, _) in stream_and_cuts()) {
        let cuts: Vec<usize> = (0..=input.len()).collect();
        let (events, _) = decode_split(&input, &cuts);
        let got: Vec<_> = events
            .into_iter()
            .map(|e| (e.event.map(|c| c.into_owned()), e.data.into_owned(), e.id.map(|c| c.into_owned()), e.retry))
            .collect();
        prop_assert_eq!(got, reference(&input));
    }

    #[test]
    fn encoded_events_decode_back(
        data in "[a-z \\n\\r{}\":,é]{0,40}",
        event in proptest::option::of("[a-z_.]{1,12}"),
        id in proptest::option::of("[a-z0-9-]{1,8}"),
        retry in proptest::option::of(0u64..100_000),
        cut in 0usize..200,
    ) {
        let mut ev = SseEvent::new(data.clone());
        ev.event = event.map(Into::into);
        ev.id = id.map(Into::into);
        ev.retry = retry;
        let mut enc = SseEncoder::new();
        enc.event(&ev).unwrap();
        let bytes = enc.into_bytes();
        let cut = cut.min(bytes.len());
        let (events, _) = decode_split(&bytes, &[cut]);
        let normalised = data.replace("\r\n", "\n").replace('\r', "\n");
        prop_assert_eq!(events.len(), 1);
        prop_assert_eq!(&events[0].data, &normalised);
        prop_assert_eq!(&events[0].event, &ev.event);
        prop_assert_eq!(&events[0].id, &ev.id);
        prop_assert_eq!(events[0].retry, ev.retry);
    }
}

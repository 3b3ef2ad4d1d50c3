//! Any split of the same bytes must decode to the same events (or the same error) as feeding
//! them in one piece, raw frames must partition the input, and nothing may panic.
#![no_main]

use ai_proto::sse::{SseDecoder, SseEvent};
use libfuzzer_sys::fuzz_target;

type Outcome = (Vec<SseEvent<'static>>, Option<String>);

fn run(input: &[u8], cuts: &[usize], max: usize) -> (Outcome, Vec<u8>) {
    let mut dec = SseDecoder::with_max_event_size(max);
    let mut events = Vec::new();
    let mut raw = Vec::new();
    let mut prev = 0;
    let mut error = None;
    let ends = cuts.iter().copied().chain(std::iter::once(input.len()));
    'outer: for cut in ends {
        dec.feed(input.get(prev..cut).unwrap_or_default());
        prev = cut;
        loop {
            match dec.next_frame() {
                Ok(Some(frame)) => {
                    raw.extend_from_slice(frame.raw);
                    if let Some(ev) = frame.event {
                        events.push(ev.into_owned());
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(e.to_string());
                    break 'outer;
                }
            }
        }
    }
    if error.is_none() {
        dec.finish();
        loop {
            match dec.next_frame() {
                Ok(Some(frame)) => {
                    raw.extend_from_slice(frame.raw);
                    if let Some(ev) = frame.event {
                        events.push(ev.into_owned());
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        assert!(dec.pending().is_empty());
    }
    ((events, error), raw)
}

fuzz_target!(|data: &[u8]| {
    // First byte: event size bound; next up to 8 bytes: split points; rest: the stream.
    let Some((&max_byte, rest)) = data.split_first() else {
        return;
    };
    let max = if max_byte == 0 {
        usize::MAX
    } else {
        usize::from(max_byte) * 4
    };
    let ncuts = rest.len().min(8);
    let (cut_bytes, input) = rest.split_at(ncuts);
    let mut cuts: Vec<usize> = cut_bytes
        .iter()
        .map(|&b| {
            if input.is_empty() {
                0
            } else {
                usize::from(b) % (input.len() + 1)
            }
        })
        .collect();
    cuts.sort_unstable();

    let (whole, whole_raw) = run(input, &[], max);
    let (split, split_raw) = run(input, &cuts, max);
    assert_eq!(whole.0, split.0);
    assert_eq!(whole.1.is_some(), split.1.is_some());
    if whole.1.is_none() {
        assert_eq!(whole_raw, input);
        assert_eq!(split_raw, input);
    }
});

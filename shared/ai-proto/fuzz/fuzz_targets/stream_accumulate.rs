//! Chunk parsing, accumulation and usage extraction on arbitrary bytes: never panic, and any
//! body that parses re-serialises to something that parses back to the same value.
#![no_main]

use ai_proto::chat::{ChatChunk, ChatRequest, ChatResponse};
use ai_proto::stream::StreamAccumulator;
use ai_proto::usage::extract_usage_from_slice;
use libfuzzer_sys::fuzz_target;

fn round_trip<T>(data: &[u8])
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        let out = serde_json::to_vec(&v).expect("serialising a parsed value");
        let back: T = serde_json::from_slice(&out).expect("re-parsing our own output");
        assert_eq!(v, back);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    // As raw SSE, in two pieces, with a small limit so overflow paths run too.
    let mut acc = StreamAccumulator::with_limit(1 + usize::from(split) * 16);
    let cut = usize::from(split).min(body.len());
    let _ = acc.feed_sse(&body[..cut]);
    let _ = acc.feed_sse(&body[cut..]);
    let _ = acc.finish_sse();
    let _ = acc.usage();
    let _ = serde_json::to_vec(&acc.snapshot());
    let _ = acc.finish();

    // As one data payload.
    let mut acc = StreamAccumulator::new();
    let _ = acc.push_data(&String::from_utf8_lossy(body));
    if let Ok(resp) = acc.finish() {
        let _ = serde_json::to_vec(&resp);
    }

    let _ = extract_usage_from_slice(body);
    round_trip::<ChatChunk>(body);
    round_trip::<ChatRequest>(body);
    round_trip::<ChatResponse>(body);
});

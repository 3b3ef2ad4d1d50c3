//! Throughput of the streaming hot path on a realistic 1 MiB OpenAI stream fed in 1-4 KiB
//! network chunks: framing only, framing + chunk JSON decoding, and full accumulation.

use std::hint::black_box;
use std::time::Duration;

use ai_proto::chat::ChatChunk;
use ai_proto::sse::SseDecoder;
use ai_proto::stream::StreamAccumulator;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const WORDS: &[&str] = &[
    " the",
    " model",
    " streams",
    " tokens",
    ",",
    " and",
    " each",
    " chunk",
    " carries",
    " a",
    " few",
    " characters",
    ".",
    " Hello",
    " world",
    "!",
    "\\n",
    " of",
    " résumé",
    " 🙂",
];

/// A `chat.completion.chunk` stream as OpenAI sends it, about `target` bytes long.
fn openai_stream(target: usize) -> Vec<u8> {
    let head = r#"{"id":"chatcmpl-BQmVxKp3Xf1cTn2aXwYd8sUe4ZrLo","object":"chat.completion.chunk","created":1745000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":"#;
    let mut out = Vec::with_capacity(target + 1024);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(br#"{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#);
    out.extend_from_slice(b"\n\n");
    let mut i = 0usize;
    while out.len() < target - 600 {
        let content: String = (0..1 + i % 3)
            .map(|k| WORDS[(i * 7 + k) % WORDS.len()])
            .collect();
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(format!(r#"{{"content":"{content}"}},"logprobs":null,"finish_reason":null}}],"usage":null,"obfuscation":"kF3x"}}"#).as_bytes());
        out.extend_from_slice(b"\n\n");
        i += 1;
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(br#"{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#);
    out.extend_from_slice(b"\n\n");
    out.extend_from_slice(br#"data: {"id":"chatcmpl-BQmVxKp3Xf1cTn2aXwYd8sUe4ZrLo","object":"chat.completion.chunk","created":1745000000,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":25,"completion_tokens":9000,"total_tokens":9025}}"#);
    out.extend_from_slice(b"\n\ndata: [DONE]\n\n");
    out
}

/// Cut points of 1-4 KiB, deterministic (LCG) so runs are comparable.
fn network_chunks(len: usize) -> Vec<(usize, usize)> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < len {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let size = 1024 + (state >> 33) as usize % 3073;
        let end = (pos + size).min(len);
        out.push((pos, end));
        pos = end;
    }
    out
}

fn bench(c: &mut Criterion) {
    let stream = openai_stream(1 << 20);
    let cuts = network_chunks(stream.len());
    let mut g = c.benchmark_group("openai_stream_1MiB");
    g.throughput(Throughput::Bytes(stream.len() as u64));

    g.bench_function("memchr_baseline", |b| {
        b.iter(|| memchr::memchr_iter(b'\n', black_box(&stream)).count())
    });

    g.bench_function("frame_raw", |b| {
        b.iter(|| {
            let mut dec = SseDecoder::new();
            let mut n = 0usize;
            for &(s, e) in &cuts {
                dec.feed(&stream[s..e]);
                while let Some(raw) = dec.next_raw().unwrap() {
                    n += raw.len();
                }
            }
            n
        })
    });

    g.bench_function("frame_events", |b| {
        b.iter(|| {
            let mut dec = SseDecoder::new();
            let mut n = 0usize;
            for &(s, e) in &cuts {
                dec.feed(&stream[s..e]);
                while let Some(ev) = dec.next_event().unwrap() {
                    n += ev.data.len();
                }
            }
            n
        })
    });

    g.bench_function("frame_and_decode_chunks", |b| {
        b.iter(|| {
            let mut dec = SseDecoder::new();
            let mut n = 0usize;
            for &(s, e) in &cuts {
                dec.feed(&stream[s..e]);
                while let Some(ev) = dec.next_event().unwrap() {
                    if ev.is_done() {
                        continue;
                    }
                    let chunk: ChatChunk = serde_json::from_str(&ev.data).unwrap();
                    n += chunk.choices.len();
                }
            }
            n
        })
    });

    g.bench_function("accumulate", |b| {
        b.iter(|| {
            let mut acc = StreamAccumulator::new();
            for &(s, e) in &cuts {
                acc.feed_sse(&stream[s..e]).unwrap();
            }
            acc.finish_sse().unwrap();
            acc.finish().unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    // Small samples: the machine is shared and these are throughput figures, not micro-timings.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);

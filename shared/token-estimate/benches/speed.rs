//! Estimator throughput (MB/s) on English, Chinese and code.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let english = "The gateway admits a request against an estimate of its tokens, then settles the \
                   real usage once the provider has answered. Concurrent requests cannot overshoot. "
        .repeat(1000);
    let chinese = "网关在调用之前按照估算的令牌数放行请求，在模型返回之后再按真实用量结算，并发请求不会超限。"
        .repeat(700);
    let code = include_str!("../src/features.rs").repeat(12);
    vec![
        ("english", english.into_bytes()),
        ("chinese", chinese.into_bytes()),
        ("code", code.into_bytes()),
    ]
}

fn speed(c: &mut Criterion) {
    let mut g = c.benchmark_group("estimate");
    for (name, text) in corpus() {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| token_estimate::estimate(std::hint::black_box(&text)))
        });
    }
    g.finish();
}

criterion_group!(benches, speed);
criterion_main!(benches);

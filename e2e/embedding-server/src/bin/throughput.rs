//! Sentences per second of the embedding server, single vs batched, measured in one run:
//!
//!   cargo run --profile native-release -p embedding-server --bin embedding-throughput -- [--n 512]
//!
//! Rows: the model called directly (one sentence per forward pass vs padded passes of 32), and over
//! HTTP (sequential one-sentence requests, 8 concurrent clients whose requests the queue merges, and
//! one request carrying every sentence).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Instant;

use embedding_server::{client, model_dir, Model};

/// `n` distinct sentences of everyday length (8–16 words), built deterministically.
fn sentences(n: usize) -> Vec<String> {
    const OPENERS: [&str; 8] = [
        "How do I",
        "What is the best way to",
        "Can someone explain how to",
        "Why is it hard to",
        "Is it possible to",
        "What should I know before I",
        "Where can I learn to",
        "Which tools help you",
    ];
    const TASKS: [&str; 16] = [
        "reset my router password",
        "learn Rust as a Python developer",
        "cook rice without a rice cooker",
        "prepare for a system design interview",
        "invest a small amount of money safely",
        "train a dog to stop barking at night",
        "write a cover letter for a first job",
        "improve my English pronunciation",
        "back up photos from an old phone",
        "fix a slow laptop running Windows",
        "grow tomatoes on a small balcony",
        "negotiate a higher salary offer",
        "stay focused while working from home",
        "choose a good running shoe",
        "understand the basics of quantum computing",
        "plan a cheap trip to Japan",
    ];
    const TAILS: [&str; 4] = ["", " in 2024", " as a beginner", " without spending much"];
    (0..n)
        .map(|i| {
            // Past 512 the combinations repeat; a case number keeps the sentences distinct.
            let case = if i >= 512 {
                format!(" (case {})", i / 512)
            } else {
                String::new()
            };
            format!(
                "{} {}{}{case}?",
                OPENERS[i % 8],
                TASKS[(i / 8) % 16],
                TAILS[(i / 128) % 4]
            )
        })
        .collect()
}

fn rate(n: usize, start: Instant) -> f64 {
    n as f64 / start.elapsed().as_secs_f64()
}

fn http_concurrent(addr: SocketAddr, texts: &[String], clients: usize) -> std::io::Result<()> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                scope.spawn(move || {
                    texts
                        .iter()
                        .skip(c)
                        .step_by(clients)
                        .try_for_each(|t| client::embed(addr, &[t]).map(drop))
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("client thread"))
    })
}

fn run(n: usize) -> Result<Vec<(&'static str, f64)>, Box<dyn std::error::Error>> {
    let texts = sentences(n);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let model = Model::load(&model_dir::locate()?)?;
    model.embed(&refs[..8])?; // warm-up
    let mut rows = Vec::new();

    let start = Instant::now();
    for t in &refs {
        model.embed(&[t])?;
    }
    rows.push(("model, 1 sentence per forward pass", rate(n, start)));

    let start = Instant::now();
    model.embed(&refs)?;
    rows.push(("model, padded passes of 32 (length-sorted)", rate(n, start)));
    drop(model);

    let server = embedding_server::spawn_default()?;
    let addr = server.addr();
    client::embed(addr, &refs[..8])?; // warm-up

    let start = Instant::now();
    for t in &refs {
        client::embed(addr, &[t])?;
    }
    rows.push(("HTTP, sequential 1-input requests", rate(n, start)));

    let before = server.stats();
    let start = Instant::now();
    http_concurrent(addr, &texts, 8)?;
    rows.push((
        "HTTP, 8 concurrent clients of 1-input requests (queue merges)",
        rate(n, start),
    ));
    let after = server.stats();
    eprintln!(
        "concurrent: {} requests ran in {} merged batches",
        after.requests - before.requests,
        after.batches - before.batches
    );

    let start = Instant::now();
    client::embed(addr, &refs)?;
    rows.push(("HTTP, one request with every input", rate(n, start)));
    Ok(rows)
}

fn main() -> ExitCode {
    let mut n = 512;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--n", Some(v)) if v >= 8 => n = v,
            _ => {
                eprintln!("usage: embedding-throughput [--n SENTENCES (>= 8)]");
                return ExitCode::from(2);
            }
        }
    }
    match run(n) {
        Ok(rows) => {
            let base = rows[0].1;
            println!("| {n} sentences | sentences/s | vs 1 per pass |\n| --- | ---: | ---: |");
            for (what, r) in rows {
                println!("| {what} | {r:.0} | {:.2}x |", r / base);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("embedding-throughput: {e}");
            ExitCode::FAILURE
        }
    }
}

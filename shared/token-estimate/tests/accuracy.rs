//! The estimator against the real tokenizers (tiktoken-rs, ranks embedded, no network) on English
//! (QQP questions, GPTCache sentences, this repo's English docs), Chinese (tests/data/zh.txt and
//! the Chinese READMEs) and code (this repo's Rust sources). Prints the error figures the README
//! quotes and fails if they drift past the documented bounds.
//!
//! `cargo test -p token-estimate --release --test accuracy -- --nocapture` prints the table;
//! `... -- --ignored fit --nocapture` refits the weights (even samples) and prints them.
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};

use tiktoken_rs::CoreBPE;
use token_estimate::{Encoding, Features, Weights};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Line-aligned pieces of about `size` bytes.
fn chunks(text: &str, size: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        cur.push_str(line);
        cur.push('\n');
        if cur.len() >= size {
            out.push(std::mem::take(&mut cur));
        }
    }
    if cur.trim().len() > 20 {
        out.push(cur);
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Shared data files (QQP, GPTCache) live beside the checkout; a missing one is skipped.
fn shared_data(name: &str) -> String {
    for base in [
        workspace().join("../shared/data"),
        PathBuf::from("/work/shared/data"),
    ] {
        let text = read(&base.join(name));
        if !text.is_empty() {
            return text;
        }
    }
    String::new()
}

fn english() -> Vec<String> {
    let mut out = Vec::new();
    for line in shared_data("qqp-dev.jsonl").lines().take(300) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            if let Some(t) = v["text_a"].as_str() {
                out.push(t.to_string());
            }
        }
    }
    if let Ok(serde_json::Value::Array(items)) =
        serde_json::from_str::<serde_json::Value>(&shared_data("gptcache-paraphrase.json"))
    {
        let joined: Vec<String> = items
            .iter()
            .take(400)
            .filter_map(|v| v["origin"].as_str().map(str::to_string))
            .collect();
        out.extend(joined.chunks(8).map(|c| c.join(" ")));
    }
    for doc in [
        "README_EN.md",
        "host/README.md",
        "plugins/pii-redaction/README_EN.md",
    ] {
        let text = read(&workspace().join(doc));
        // Prose paragraphs only; tables and code blocks are measured with code.
        let prose: String = text
            .lines()
            .filter(|l| !l.starts_with('|') && !l.starts_with("```") && !l.starts_with("    "))
            .collect::<Vec<_>>()
            .join("\n");
        out.extend(chunks(&prose, 1200));
    }
    out
}

fn chinese() -> Vec<String> {
    let mut out: Vec<String> = include_str!("data/zh.txt")
        .lines()
        .map(str::to_string)
        .collect();
    let readme = read(&workspace().join("plugins/pii-redaction/README.md"));
    out.extend(
        readme
            .lines()
            .filter(|l| l.chars().filter(|c| *c as u32 >= 0x4e00).count() > 15)
            .map(str::to_string),
    );
    out
}

fn code() -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&workspace().join("shared/ai-proto/src"), &mut files);
    rust_files(&workspace().join("shared/higress-sdk/src"), &mut files);
    let mut out = Vec::new();
    for f in files {
        out.extend(chunks(&read(&f), 1500));
    }
    out.truncate(400);
    out
}

struct Sample {
    features: Features,
    real: u64,
}

fn samples(bpe: &CoreBPE, texts: &[String]) -> Vec<Sample> {
    texts
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| Sample {
            features: Features::count(t.as_bytes()),
            real: bpe.encode_ordinary(t).len() as u64,
        })
        .collect()
}

#[derive(Debug)]
struct Figures {
    n: usize,
    /// Sum of estimates over sum of real counts.
    total_ratio: f64,
    mean_abs: f64,
    p90_abs: f64,
    max_abs: f64,
}

fn measure(weights: &Weights, samples: &[Sample]) -> Figures {
    let mut errs: Vec<f64> = samples
        .iter()
        .map(|s| (weights.apply(&s.features) as f64 - s.real as f64).abs() / s.real.max(1) as f64)
        .collect();
    errs.sort_by(f64::total_cmp);
    let est: u64 = samples.iter().map(|s| weights.apply(&s.features)).sum();
    let real: u64 = samples.iter().map(|s| s.real).sum();
    Figures {
        n: samples.len(),
        total_ratio: est as f64 / real.max(1) as f64,
        mean_abs: errs.iter().sum::<f64>() / errs.len().max(1) as f64,
        p90_abs: errs.get(errs.len() * 9 / 10).copied().unwrap_or(0.0),
        max_abs: errs.last().copied().unwrap_or(0.0),
    }
}

fn reference(encoding: Encoding) -> CoreBPE {
    match encoding {
        Encoding::O200k => tiktoken_rs::o200k_base().expect("o200k ranks"),
        Encoding::Cl100k => tiktoken_rs::cl100k_base().expect("cl100k ranks"),
    }
}

fn corpora() -> [(&'static str, Vec<String>); 3] {
    [
        ("english", english()),
        ("chinese", chinese()),
        ("code", code()),
    ]
}

#[test]
fn error_against_the_real_tokenizers_stays_within_bounds() {
    let corpora = corpora();
    println!("| encoding | corpus | samples | estimate / real (sum) | mean abs error | p90 abs error | max abs error |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for encoding in [Encoding::O200k, Encoding::Cl100k] {
        let bpe = reference(encoding);
        for (name, texts) in &corpora {
            let s = samples(&bpe, texts);
            assert!(s.len() >= 15, "{name}: only {} samples", s.len());
            let f = measure(&encoding.weights(), &s);
            println!(
                "| {encoding:?} | {name} | {} | {:.3} | {:.1}% | {:.1}% | {:.1}% |",
                f.n,
                f.total_ratio,
                f.mean_abs * 100.0,
                f.p90_abs * 100.0,
                f.max_abs * 100.0
            );
            assert!(
                (0.9..=1.1).contains(&f.total_ratio),
                "{encoding:?} {name}: {f:?}"
            );
            assert!(f.p90_abs < 0.25, "{encoding:?} {name}: {f:?}");
        }
    }
}

/// Weighted least squares on the relative error (ridge towards the shipped weights), on the even
/// samples of all corpora; prints the fit and its error on the odd ones.
#[test]
#[ignore]
fn fit() {
    let corpora = corpora();
    for encoding in [Encoding::O200k, Encoding::Cl100k] {
        let bpe = reference(encoding);
        let mut train = Vec::new();
        let mut test = Vec::new();
        for (_, texts) in &corpora {
            for (i, s) in samples(&bpe, texts).into_iter().enumerate() {
                if i % 2 == 0 {
                    train.push(s);
                } else {
                    test.push(s);
                }
            }
        }
        let prior = to_vec(&encoding.weights());
        let mut a = [[0f64; 9]; 9];
        let mut b = [0f64; 9];
        for s in &train {
            let x = s.features.as_array().map(|v| v as f64);
            let w = 1.0 / (s.real.max(1) as f64).powi(2);
            for i in 0..9 {
                for j in 0..9 {
                    a[i][j] += w * x[i] * x[j];
                }
                b[i] += w * x[i] * s.real as f64;
            }
        }
        let lambda = 0.05;
        for i in 0..9 {
            a[i][i] += lambda;
            b[i] += lambda * prior[i];
        }
        let solved = solve(a, b);
        let weights = from_vec(&solved);
        println!("{encoding:?}: {weights:?}");
        println!("  held-out: {:?}", measure(&weights, &test));
        println!("  shipped:  {:?}", measure(&encoding.weights(), &test));
    }
}

fn to_vec(w: &Weights) -> [f64; 9] {
    [
        w.word,
        w.long_word_letter,
        w.digit_group,
        w.punct,
        w.space_run,
        w.newline,
        w.cjk,
        w.other,
        w.wide,
    ]
    .map(|v| v as f64 / 1000.0)
}

fn from_vec(v: &[f64; 9]) -> Weights {
    let m = v.map(|x| (x.max(0.0) * 1000.0).round() as u32);
    Weights {
        word: m[0],
        long_word_letter: m[1],
        digit_group: m[2],
        punct: m[3],
        space_run: m[4],
        newline: m[5],
        cjk: m[6],
        other: m[7],
        wide: m[8],
    }
}

/// Gaussian elimination with partial pivoting.
fn solve(mut a: [[f64; 9]; 9], mut b: [f64; 9]) -> [f64; 9] {
    for col in 0..9 {
        let pivot = (col..9)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap();
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..9 {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (dst, src) in a[row].iter_mut().zip(pivot_row).skip(col) {
                *dst -= f * src;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0f64; 9];
    for row in (0..9).rev() {
        let s: f64 = (row + 1..9).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x
}

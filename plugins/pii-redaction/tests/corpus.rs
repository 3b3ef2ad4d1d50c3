//! Precision and recall of every built-in detector on two labelled corpora, reported
//! separately: tests/data/corpus.txt (built by gen_corpus.py: planted values, invalid-checksum
//! twins and look-alikes) and tests/data/prompts_handwritten.txt (hand-written realistic prompts).
//! Run with `--nocapture` to see the table.

use std::collections::BTreeMap;

use pii_redaction::config::Config;

struct Line {
    text: String,
    labels: Vec<(usize, usize, String)>,
}

fn parse(line: &str) -> Line {
    let mut text = String::new();
    let mut labels = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find('⟦') {
        text.push_str(&rest[..i]);
        let after = &rest[i + '⟦'.len_utf8()..];
        let close = after.find('⟧').expect("unclosed label");
        let (kind, value) = after[..close].split_once('|').expect("kind|value");
        let start = text.len();
        text.push_str(value);
        labels.push((start, text.len(), kind.to_string()));
        rest = &after[close + '⟧'.len_utf8()..];
    }
    text.push_str(rest);
    Line { text, labels }
}

#[derive(Default, Debug)]
struct Score {
    tp: u32,
    fp: u32,
    fn_: u32,
}

/// Scores per detector over a labelled corpus; prints the table and the errors.
fn score(corpus: &str) -> (BTreeMap<String, Score>, Vec<String>) {
    let cfg = Config::default();
    let engine = &cfg.compiled().expect("default config compiles").engine;
    let mut scores: BTreeMap<String, Score> = BTreeMap::new();
    let mut errors = Vec::new();
    for raw in corpus
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let line = parse(raw);
        let found: Vec<(usize, usize, String)> = engine
            .find(&line.text)
            .into_iter()
            .map(|f| (f.start, f.end, engine.rules[f.rule].name.clone()))
            .collect();
        for l in &line.labels {
            let s = scores.entry(l.2.clone()).or_default();
            if found.contains(l) {
                s.tp += 1;
            } else {
                s.fn_ += 1;
                errors.push(format!(
                    "missed {} {:?} in {:?}",
                    l.2,
                    &line.text[l.0..l.1],
                    line.text
                ));
            }
        }
        for f in &found {
            if !line.labels.contains(f) {
                scores.entry(f.2.clone()).or_default().fp += 1;
                errors.push(format!(
                    "false {} {:?} in {:?}",
                    f.2,
                    &line.text[f.0..f.1],
                    line.text
                ));
            }
        }
    }
    println!("| detector | TP | FP | FN | precision | recall |\n|---|---|---|---|---|---|");
    let mut all = Score::default();
    for (k, s) in &scores {
        println!(
            "| {k} | {} | {} | {} | {:.3} | {:.3} |",
            s.tp,
            s.fp,
            s.fn_,
            s.precision(),
            s.recall()
        );
        all.tp += s.tp;
        all.fp += s.fp;
        all.fn_ += s.fn_;
    }
    println!(
        "| **all** | {} | {} | {} | {:.3} | {:.3} |",
        all.tp,
        all.fp,
        all.fn_,
        all.precision(),
        all.recall()
    );
    for e in &errors {
        println!("{e}");
    }
    scores.insert("*all".into(), all);
    (scores, errors)
}

impl Score {
    fn precision(&self) -> f64 {
        f64::from(self.tp) / f64::from((self.tp + self.fp).max(1))
    }
    fn recall(&self) -> f64 {
        f64::from(self.tp) / f64::from((self.tp + self.fn_).max(1))
    }
}

/// The generated corpus (gen_corpus.py): planted values, invalid-checksum twins, look-alikes.
#[test]
fn precision_and_recall_per_detector() {
    let (scores, errors) = score(include_str!("data/corpus.txt"));
    // Every built-in has planted values in the corpus.
    for b in pii_redaction::detect::Builtin::ALL {
        assert!(
            scores.get(b.name()).is_some_and(|s| s.tp + s.fn_ > 0),
            "no labelled {} in the corpus",
            b.name()
        );
    }
    for (k, s) in &scores {
        assert!(
            s.precision() >= 0.95 && s.recall() >= 0.95,
            "{k}: precision {:.3}, recall {:.3}\n{}",
            s.precision(),
            s.recall(),
            errors.join("\n")
        );
    }
}

/// Hand-written prompts (tests/data/prompts_handwritten.txt), scored separately: realistic
/// chats, code and logs, not produced by the generator the detectors were tuned on.
#[test]
fn precision_and_recall_on_handwritten_prompts() {
    let (scores, errors) = score(include_str!("data/prompts_handwritten.txt"));
    let all = &scores["*all"];
    assert!(all.tp + all.fn_ >= 39, "the file labels 39 values");
    assert!(
        all.precision() >= 0.95 && all.recall() >= 0.95,
        "precision {:.3}, recall {:.3}\n{}",
        all.precision(),
        all.recall(),
        errors.join("\n")
    );
}

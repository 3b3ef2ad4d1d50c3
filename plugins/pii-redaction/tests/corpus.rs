//! Precision and recall of every built-in detector on the labelled corpus (tests/data/corpus.txt,
//! built by gen_corpus.py): planted values, invalid-checksum twins and look-alikes.
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

#[test]
fn precision_and_recall_per_detector() {
    let corpus = include_str!("data/corpus.txt");
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
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for (k, s) in &scores {
        let p = f64::from(s.tp) / f64::from((s.tp + s.fp).max(1));
        let r = f64::from(s.tp) / f64::from((s.tp + s.fn_).max(1));
        println!(
            "| {k} | {} | {} | {} | {p:.3} | {r:.3} |",
            s.tp, s.fp, s.fn_
        );
        tp += s.tp;
        fp += s.fp;
        fn_ += s.fn_;
    }
    println!(
        "| **all** | {tp} | {fp} | {fn_} | {:.3} | {:.3} |",
        f64::from(tp) / f64::from(tp + fp),
        f64::from(tp) / f64::from(tp + fn_)
    );
    for e in &errors {
        println!("{e}");
    }
    // Every built-in has planted values in the corpus.
    for b in pii_redaction::detect::Builtin::ALL {
        assert!(
            scores.get(b.name()).is_some_and(|s| s.tp + s.fn_ > 0),
            "no labelled {} in the corpus",
            b.name()
        );
    }
    for (k, s) in &scores {
        let p = f64::from(s.tp) / f64::from((s.tp + s.fp).max(1));
        let r = f64::from(s.tp) / f64::from((s.tp + s.fn_).max(1));
        assert!(
            p >= 0.95 && r >= 0.95,
            "{k}: precision {p:.3}, recall {r:.3}\n{}",
            errors.join("\n")
        );
    }
}

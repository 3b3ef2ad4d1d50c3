//! The workload benchmark: a realistic mix of questions (Quora Question Pairs, dev split) replayed
//! through the full chain and, in the same run, straight to the mock LLM.
//!
//! A request is either a fresh question (the first text of a pair not asked yet) or, with
//! probability `repeat_share`, a return to a question already asked by the same tenant: its exact
//! repeat, or with probability `paraphrase_share` the pair's other text. For pairs labelled
//! duplicates that other text is a paraphrase (a hit is right); for pairs labelled different it is
//! a near miss on the same topic (a hit serves a wrong answer). Once asked, the other text too is
//! an exact repeat when it comes again. The mock's answer quotes the first
//! 40 characters of the question it answered, so every served answer can be traced to its source.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http;

pub mod gateway_process;

/// One QQP pair.
#[derive(Debug, Clone)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub duplicate: bool,
}

/// Reads the QQP dev split (`{"text_a","text_b","label"}` per line).
pub fn load_pairs(path: &std::path::Path) -> Result<Vec<Pair>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).map_err(|e| e.to_string())?;
            Ok(Pair {
                a: v["text_a"].as_str().unwrap_or_default().to_string(),
                b: v["text_b"].as_str().unwrap_or_default().to_string(),
                duplicate: v["label"].as_i64() == Some(1),
            })
        })
        .filter(|p: &Result<Pair, String>| {
            p.as_ref()
                .map_or(true, |p| p.a.len() >= 12 && p.b.len() >= 12)
        })
        .collect()
}

/// What a request is, relative to earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Fresh = 0,
    Repeat = 1,
    /// The other text of a duplicate pair, asked for the first time by this tenant.
    Paraphrase = 2,
    /// The other text of a non-duplicate pair, asked for the first time by this tenant.
    NearMiss = 3,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub question: String,
    pub tenant: usize,
    pub stream: bool,
    pub kind: Kind,
    /// Questions whose answer is a right answer to this one.
    pub acceptable: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Mix {
    pub requests: usize,
    pub repeat_share: f64,
    pub paraphrase_share: f64,
    pub stream_share: f64,
    pub tenants: usize,
    pub seed: u64,
}

/// The request sequence of `mix` over `pairs`. Each fresh question is a new pair, so `pairs` should
/// have at least `mix.requests` pairs; beyond that they are reused from the first (and a "fresh"
/// question may then be one asked before).
pub fn generate(pairs: &[Pair], mix: Mix) -> Vec<Request> {
    // Seeded: the same flags give the same requests.
    let mut rng = fastrand::Rng::with_seed(mix.seed);
    let mut next_pair = 0;
    let mut asked: Vec<(usize, usize)> = Vec::new(); // (pair, tenant)
    let mut partner_asked = std::collections::HashSet::new(); // (pair, tenant)
    let mut out = Vec::with_capacity(mix.requests);
    for _ in 0..mix.requests {
        let stream = rng.f64() < mix.stream_share;
        if !asked.is_empty() && rng.f64() < mix.repeat_share {
            let (p, tenant) = asked[rng.usize(..asked.len())];
            let pair = &pairs[p];
            let (question, kind) = if rng.f64() < mix.paraphrase_share {
                let kind = if !partner_asked.insert((p, tenant)) {
                    Kind::Repeat
                } else if pair.duplicate {
                    Kind::Paraphrase
                } else {
                    Kind::NearMiss
                };
                (pair.b.clone(), kind)
            } else {
                (pair.a.clone(), Kind::Repeat)
            };
            let mut acceptable = vec![question.clone()];
            if pair.duplicate {
                acceptable.push(pair.a.clone());
                acceptable.push(pair.b.clone());
            }
            out.push(Request {
                question,
                tenant,
                stream,
                kind,
                acceptable,
            });
        } else {
            let p = next_pair % pairs.len();
            next_pair += 1;
            let tenant = rng.usize(..mix.tenants.max(1));
            asked.push((p, tenant));
            out.push(Request {
                question: pairs[p].a.clone(),
                tenant,
                stream,
                kind: Kind::Fresh,
                acceptable: vec![pairs[p].a.clone()],
            });
        }
    }
    out
}

/// One answered request.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Position of the request in the replayed sequence.
    pub index: usize,
    pub kind: Kind,
    pub status: u16,
    /// Served from the cache (`x-cache-status: HIT`).
    pub hit: bool,
    /// The answer text, when it quotes none of the request's acceptable questions.
    pub wrong: Option<String>,
    pub tokens: u64,
    pub latency: Duration,
}

fn answer_text(body: &str, stream: bool) -> (String, u64) {
    let mut text = String::new();
    let mut tokens = 0;
    let mut take = |v: &Value| {
        if let Some(t) = v["usage"]["total_tokens"].as_u64() {
            tokens = t;
        }
    };
    if stream {
        for data in body.lines().filter_map(|l| l.strip_prefix("data: ")) {
            if let Ok(v) = serde_json::from_str::<Value>(data) {
                if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
                    text.push_str(t);
                }
                take(&v);
            }
        }
    } else if let Ok(v) = serde_json::from_str::<Value>(body) {
        text = v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        take(&v);
    }
    (text, tokens)
}

/// The first 40 characters of `question` as the mock quotes them.
fn quoted(question: &str) -> String {
    question.chars().take(40).collect()
}

/// Sends `requests` to `base_url` with `concurrency` workers; tenants are `<prefix>-<n>`.
/// `extra_headers` go on every request (e.g. the mock's `x-mock-ttft-ms`).
pub fn replay(
    base_url: &str,
    requests: &[Request],
    concurrency: usize,
    tenant_prefix: &str,
    extra_headers: &[(&str, &str)],
) -> (Vec<Outcome>, Duration) {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(requests.len()));
    let url = format!("{base_url}/v1/chat/completions");
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..concurrency.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(r) = requests.get(i) else { return };
                let mut body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": r.question}]});
                if r.stream {
                    body["stream"] = json!(true);
                    body["stream_options"] = json!({"include_usage": true});
                }
                let tenant = format!("{tenant_prefix}-{}", r.tenant);
                let t0 = Instant::now();
                let mut headers = vec![("x-tenant", tenant.as_str())];
                headers.extend_from_slice(extra_headers);
                let got = http::post(&url, &headers, &body.to_string());
                let latency = t0.elapsed();
                let outcome = match got {
                    Ok(reply) => {
                        let hit = reply.header("x-cache-status") == Some("HIT");
                        let (text, tokens) = answer_text(&reply.body, r.stream);
                        let right = r.acceptable.iter().any(|q| text.contains(&quoted(q)));
                        Outcome {
                            index: i,
                            kind: r.kind,
                            status: reply.status,
                            hit,
                            wrong: (reply.status == 200 && !right).then_some(text),
                            tokens,
                            latency,
                        }
                    }
                    Err(_) => Outcome {
                        index: i,
                        kind: r.kind,
                        status: 0,
                        hit: false,
                        wrong: None,
                        tokens: 0,
                        latency,
                    },
                };
                results.lock().unwrap().push(outcome);
            });
        }
    });
    let elapsed = started.elapsed();
    (results.into_inner().unwrap(), elapsed)
}

/// Percentile (0..=100) of latencies in ms.
pub fn percentile_ms(latencies: &mut [Duration], p: f64) -> f64 {
    if latencies.is_empty() {
        return f64::NAN;
    }
    latencies.sort();
    let i = ((p / 100.0) * (latencies.len() - 1) as f64).round() as usize;
    latencies[i].as_secs_f64() * 1000.0
}

/// Requests of one kind and how the cache served them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCount {
    pub asked: usize,
    pub hits: usize,
    /// Hits whose answer belongs to another question.
    pub wrong: usize,
}

/// Aggregates of one replay. On a path without the cache every answer is a miss.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub requests: usize,
    /// Answers other than 200 (and transport errors).
    pub errors: usize,
    pub hits: usize,
    /// Wrong answers served: cache hits answering another question.
    pub wrong_hits: usize,
    /// The wrong answers served: (request index, answer text), in request order.
    pub wrong_answers: Vec<(usize, String)>,
    /// Per [`Kind`], in the order fresh, repeat, paraphrase, near miss.
    pub by_kind: [KindCount; 4],
    /// Tokens the provider charged (`usage.total_tokens` of the answers it produced, i.e. misses).
    pub upstream_tokens: u64,
    pub hit_p50: f64,
    pub hit_p99: f64,
    pub miss_p50: f64,
    pub miss_p99: f64,
    pub rps: f64,
}

impl Report {
    pub fn kind(&self, kind: Kind) -> KindCount {
        self.by_kind[kind as usize]
    }
}

pub fn report(outcomes: &[Outcome], elapsed: Duration) -> Report {
    let mut hits: Vec<Duration> = outcomes
        .iter()
        .filter(|o| o.hit)
        .map(|o| o.latency)
        .collect();
    let mut misses: Vec<Duration> = outcomes
        .iter()
        .filter(|o| !o.hit && o.status == 200)
        .map(|o| o.latency)
        .collect();
    let mut wrong_answers: Vec<(usize, String)> = outcomes
        .iter()
        .filter(|o| o.hit)
        .filter_map(|o| Some((o.index, o.wrong.clone()?)))
        .collect();
    wrong_answers.sort();
    let mut by_kind = [KindCount::default(); 4];
    for o in outcomes {
        let k = &mut by_kind[o.kind as usize];
        k.asked += 1;
        k.hits += usize::from(o.hit);
        k.wrong += usize::from(o.hit && o.wrong.is_some());
    }
    Report {
        requests: outcomes.len(),
        errors: outcomes.iter().filter(|o| o.status != 200).count(),
        hits: hits.len(),
        wrong_hits: wrong_answers.len(),
        wrong_answers,
        by_kind,
        upstream_tokens: outcomes.iter().filter(|o| !o.hit).map(|o| o.tokens).sum(),
        hit_p50: percentile_ms(&mut hits, 50.0),
        hit_p99: percentile_ms(&mut hits, 99.0),
        miss_p50: percentile_ms(&mut misses, 50.0),
        miss_p99: percentile_ms(&mut misses, 99.0),
        rps: outcomes.len() as f64 / elapsed.as_secs_f64().max(1e-9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs() -> Vec<Pair> {
        (0..2000)
            .map(|i| Pair {
                a: format!("question number {i} about topic {i}?"),
                b: format!("other wording of question {i}?"),
                duplicate: i % 2 == 0,
            })
            .collect()
    }

    #[test]
    fn the_mix_has_the_requested_shares_and_is_reproducible() {
        let mix = Mix {
            requests: 2000,
            repeat_share: 0.5,
            paraphrase_share: 0.5,
            stream_share: 0.25,
            tenants: 3,
            seed: 7,
        };
        let w = generate(&pairs(), mix);
        let fresh = w.iter().filter(|r| r.kind == Kind::Fresh).count() as f64 / 2000.0;
        let streams = w.iter().filter(|r| r.stream).count() as f64 / 2000.0;
        assert!((fresh - 0.5).abs() < 0.05, "fresh share {fresh}");
        assert!((streams - 0.25).abs() < 0.05, "stream share {streams}");
        assert!(w.iter().any(|r| r.kind == Kind::Paraphrase));
        assert!(w.iter().any(|r| r.kind == Kind::NearMiss));
        // A near miss accepts only its own answer; a paraphrase also the original's; each
        // tenant's first ask of a text is fresh, paraphrase or near miss, later ones repeats.
        let mut seen = std::collections::HashSet::new();
        for r in &w {
            match r.kind {
                Kind::NearMiss => assert_eq!(r.acceptable, vec![r.question.clone()]),
                Kind::Paraphrase => assert_eq!(r.acceptable.len(), 3),
                _ => {}
            }
            let first = seen.insert((r.question.clone(), r.tenant));
            assert_eq!(first, r.kind != Kind::Repeat, "{r:?}");
        }
        let again = generate(&pairs(), mix);
        assert!(w
            .iter()
            .zip(&again)
            .all(|(a, b)| a.question == b.question && a.tenant == b.tenant));
    }

    #[test]
    fn an_answer_is_traced_to_the_question_it_quotes() {
        let body = r#"{"choices":[{"message":{"content":"Mock answer 1a2b3c4d-0: question number 3 about topic 3?"}}],"usage":{"total_tokens":21}}"#;
        let (text, tokens) = answer_text(body, false);
        assert_eq!(tokens, 21);
        assert!(text.contains(&quoted("question number 3 about topic 3?")));
        let sse = "data: {\"choices\":[{\"delta\":{\"content\":\"Mock \"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"answer\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"total_tokens\":9}}\n\ndata: [DONE]\n\n";
        assert_eq!(answer_text(sse, true), ("Mock answer".to_string(), 9));
    }

    #[test]
    fn the_report_counts_hits_per_kind_and_only_misses_as_upstream_tokens() {
        let o = |kind, status, hit, wrong: bool, tokens, ms| Outcome {
            index: ms as usize,
            kind,
            status,
            hit,
            wrong: wrong.then(|| "Mock answer 0-0: another question".to_string()),
            tokens,
            latency: Duration::from_millis(ms),
        };
        let outcomes = [
            o(Kind::Fresh, 200, false, false, 30, 50),
            o(Kind::Repeat, 200, true, false, 30, 2),
            o(Kind::NearMiss, 200, true, true, 25, 4),
            o(Kind::Paraphrase, 200, false, false, 28, 60),
            o(Kind::Fresh, 502, false, false, 0, 1),
        ];
        let r = report(&outcomes, Duration::from_secs(1));
        assert_eq!((r.requests, r.errors, r.hits, r.wrong_hits), (5, 1, 2, 1));
        assert_eq!(r.wrong_answers[0].0, 4);
        assert_eq!(r.upstream_tokens, 58);
        assert_eq!(
            r.kind(Kind::NearMiss),
            KindCount {
                asked: 1,
                hits: 1,
                wrong: 1
            }
        );
        assert_eq!(r.kind(Kind::Fresh).asked, 2);
        assert_eq!((r.hit_p50, r.hit_p99), (4.0, 4.0));
        assert_eq!(r.miss_p50, 60.0);
        assert!(report(&[], Duration::from_secs(1)).hit_p50.is_nan());
    }
}

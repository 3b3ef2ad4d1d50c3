//! The pair benchmark: cache every first question (the answer is its pair's index), then ask every
//! second question once at a permissive threshold, with and without verification.

use std::time::Instant;

use crate::data::Pair;
use crate::harness::{Cache, Chat, Outcome, Services, Settings};
use crate::metrics::{Hit, Observation};

/// Below every threshold reported: the lookup then serves its best acceptable candidate, whose
/// similarity decides every stricter threshold (see `metrics`).
pub const PERMISSIVE_THRESHOLD: f32 = 0.0;
/// While filling, only a question the cache already holds word for word (or with a similarity of
/// exactly 1) is served instead of stored.
const FILL_THRESHOLD: f32 = 1.0;

#[derive(Debug, Clone)]
pub struct PairRun {
    pub pairs: usize,
    /// First questions actually stored (a duplicate is served from the cache instead).
    pub stored: usize,
    pub without_verify: Vec<Observation>,
    pub with_verify: Vec<Observation>,
    pub fill_secs: f64,
    pub lookup_secs: f64,
}

/// The consumer every request of a data set comes from.
pub fn consumer(collection: &str) -> String {
    format!("quality-{collection}")
}

/// One data set's settings: its own collection, so data sets never see each other's entries.
pub fn settings(base: &Settings, collection: &str, threshold: f32, verify: bool) -> Settings {
    Settings {
        threshold,
        verify,
        collection: collection.to_string(),
        ..base.clone()
    }
}

pub fn run(
    services: &Services,
    base: &Settings,
    collection: &str,
    pairs: &[Pair],
) -> Result<PairRun, String> {
    let consumer = consumer(collection);
    let start = Instant::now();
    let mut fill = Cache::new(&settings(base, collection, FILL_THRESHOLD, false), services)?;
    let mut stored = 0;
    for (i, p) in pairs.iter().enumerate() {
        if fill.store(&Chat::question(&consumer, &p.cached), &i.to_string())? == Outcome::Miss {
            stored += 1;
        }
    }
    let fill_secs = start.elapsed().as_secs_f64();
    let filled = services.keys()?;

    let start = Instant::now();
    let mut passes = Vec::new();
    for verify in [false, true] {
        let mut cache = Cache::new(
            &settings(base, collection, PERMISSIVE_THRESHOLD, verify),
            services,
        )?;
        passes.push(observe(&mut cache, &consumer, pairs)?);
        services.restore(&filled)?;
    }
    let lookup_secs = start.elapsed().as_secs_f64();
    let with_verify = passes.pop().unwrap_or_default();
    let without_verify = passes.pop().unwrap_or_default();
    Ok(PairRun {
        pairs: pairs.len(),
        stored,
        without_verify,
        with_verify,
        fill_secs,
        lookup_secs,
    })
}

/// Asks every second question and records what was served.
pub fn observe(
    cache: &mut Cache,
    consumer: &str,
    pairs: &[Pair],
) -> Result<Vec<Observation>, String> {
    pairs
        .iter()
        .map(|p| {
            let hit = match cache.ask(&Chat::question(consumer, &p.asked))? {
                Outcome::Miss => None,
                Outcome::Hit { answer, similarity } => {
                    let served: usize = answer.parse().map_err(|_| {
                        format!("served an answer that is no pair index: {answer:?}")
                    })?;
                    let entry = pairs.get(served).ok_or("served an unknown pair index")?;
                    Some(Hit {
                        // Duplicated first questions are stored once: any copy is the pair's own.
                        own_entry: entry.cached == p.cached,
                        similarity,
                    })
                }
            };
            Ok(Observation { same: p.same, hit })
        })
        .collect()
}

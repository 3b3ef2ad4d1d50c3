//! Markdown tables of the results.

use std::fmt::Write;

use crate::metrics::{at_threshold, percent, Observation};
use crate::scenarios::ScenarioResult;

/// Thresholds reported.
pub const THRESHOLDS: [f32; 11] = [
    0.70, 0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.95, 0.96, 0.98,
];

/// GPTCache's published figures for this data set: threshold, hit rate, precision.
pub const GPTCACHE_PUBLISHED: [(f32, f64, f64); 3] = [
    (0.80, 0.997, 0.908),
    (0.90, 0.88, 0.913),
    (0.95, 0.45, 0.944),
];

/// QQP: hit rate on same-labelled pairs, false hits and precision, without and with verification.
pub fn qqp(plain: &[Observation], verified: &[Observation]) -> String {
    let first = at_threshold(plain, 0.0);
    let mut out = format!(
        "{} pairs ({} labelled same, {} different).\n\n\
         | threshold | hit rate (label 1) | false hits | precision | label-0 pairs hit \
         | hit rate, verify | false hits, verify | precision, verify |\n\
         | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        first.same_pairs + first.different_pairs,
        first.same_pairs,
        first.different_pairs
    );
    for t in THRESHOLDS {
        let (p, v) = (at_threshold(plain, t), at_threshold(verified, t));
        let _ = writeln!(
            out,
            "| {t:.2} | {} | {} | {} | {} | {} | {} | {} |",
            percent(p.hit_rate()),
            p.false_hits(),
            percent(p.precision()),
            percent(p.different_hit_rate()),
            percent(v.hit_rate()),
            v.false_hits(),
            percent(v.precision()),
        );
    }
    out
}

/// GPTCache's paraphrase set: any-hit rate and precision next to GPTCache's own figures.
pub fn gptcache(plain: &[Observation], verified: &[Observation]) -> String {
    let mut out = format!(
        "{} pairs, all paraphrases.\n\n\
         | threshold | hit rate | precision | hit rate, verify | precision, verify \
         | GPTCache hit rate | GPTCache precision |\n\
         | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        plain.len()
    );
    for t in THRESHOLDS {
        let (p, v) = (at_threshold(plain, t), at_threshold(verified, t));
        let published = GPTCACHE_PUBLISHED
            .iter()
            .find(|(pt, _, _)| (pt - t).abs() < 1e-6)
            .map_or(("".to_string(), "".to_string()), |(_, h, pr)| {
                (percent(*h), percent(*pr))
            });
        let _ = writeln!(
            out,
            "| {t:.2} | {} | {} | {} | {} | {} | {} |",
            percent(p.any_hit_rate()),
            percent(p.precision()),
            percent(v.any_hit_rate()),
            percent(v.precision()),
            published.0,
            published.1,
        );
    }
    out
}

pub fn scenarios(results: &[ScenarioResult]) -> String {
    let mut out = String::from(
        "| scenario | stored in context A | asked in context B | lookups per context \
         | hits in A (control) | cross-partition hits (B) |\n\
         | --- | --- | --- | ---: | ---: | ---: |\n",
    );
    for r in results {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            r.name, r.context_a, r.context_b, r.asks, r.same_context_hits, r.cross_partition_hits
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Hit;

    #[test]
    fn tables_have_a_row_per_threshold_and_the_published_figures() {
        let o = vec![Observation {
            same: true,
            hit: Some(Hit {
                own_entry: true,
                similarity: 0.91,
            }),
        }];
        let t = gptcache(&o, &o);
        assert_eq!(
            t.lines().filter(|l| l.starts_with("| 0.")).count(),
            THRESHOLDS.len()
        );
        assert!(
            t.contains("| 0.90 | 100.0% | 100.0% | 100.0% | 100.0% | 88.0% | 91.3% |"),
            "{t}"
        );
        assert!(
            t.contains("| 0.92 | 0.0% | 100.0% | 0.0% | 100.0% |  |  |"),
            "{t}"
        );
        let q = qqp(&o, &[]);
        assert!(
            q.starts_with("1 pairs (1 labelled same, 0 different)"),
            "{q}"
        );
        assert!(
            q.contains("| 0.90 | 100.0% | 0 | 100.0% | 0.0% | 0.0% | 0 | 100.0% |"),
            "{q}"
        );
    }
}

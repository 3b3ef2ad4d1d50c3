//! Hit rate and precision per threshold, derived from one pass of lookups at a permissive
//! threshold: the plugin answers with its best acceptable candidate and reports that candidate's
//! similarity, so a stricter threshold `t` would have served the same candidate exactly when its
//! similarity is at least `t`, and missed otherwise (see the crate docs for why this holds with
//! verification too).

/// What one asked question got from the cache at the permissive threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The pair is labelled "same question".
    pub same: bool,
    pub hit: Option<Hit>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The answer served is the one cached for this pair's own first question.
    pub own_entry: bool,
    /// Cosine similarity of the served candidate (1 for exact-layer hits).
    pub similarity: f32,
}

/// Counts at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Row {
    pub threshold: f32,
    /// Pairs labelled same / different.
    pub same_pairs: usize,
    pub different_pairs: usize,
    /// Every hit served.
    pub hits: usize,
    /// Hits on a same-labelled pair's own entry: the only hits that are surely right.
    pub correct: usize,
    /// Hits on a different-labelled pair (on its own entry or any other).
    pub different_hits: usize,
    /// Hits on another pair's entry (any label).
    pub wrong_entry: usize,
}

impl Row {
    /// Share of same-labelled pairs served their own entry.
    pub fn hit_rate(&self) -> f64 {
        ratio(self.correct, self.same_pairs)
    }

    /// Share of all pairs served anything (GPTCache's "hit rate", where every pair is a paraphrase).
    pub fn any_hit_rate(&self) -> f64 {
        ratio(self.hits, self.same_pairs + self.different_pairs)
    }

    /// Hits that are not [`Row::correct`].
    pub fn false_hits(&self) -> usize {
        self.hits - self.correct
    }

    /// Correct hits among all hits (1 when nothing was served).
    pub fn precision(&self) -> f64 {
        if self.hits == 0 {
            1.0
        } else {
            ratio(self.correct, self.hits)
        }
    }

    /// Share of different-labelled pairs that were served something.
    pub fn different_hit_rate(&self) -> f64 {
        ratio(self.different_hits, self.different_pairs)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The counts a lookup at `threshold` would have produced.
pub fn at_threshold(observations: &[Observation], threshold: f32) -> Row {
    let mut row = Row {
        threshold,
        ..Row::default()
    };
    for o in observations {
        if o.same {
            row.same_pairs += 1;
        } else {
            row.different_pairs += 1;
        }
        let Some(hit) = o.hit.filter(|h| h.similarity >= threshold) else {
            continue;
        };
        row.hits += 1;
        match (o.same, hit.own_entry) {
            (true, true) => row.correct += 1,
            (true, false) => row.wrong_entry += 1,
            (false, own) => {
                row.different_hits += 1;
                if !own {
                    row.wrong_entry += 1;
                }
            }
        }
    }
    row
}

pub fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(same: bool, hit: Option<(bool, f32)>) -> Observation {
        Observation {
            same,
            hit: hit.map(|(own_entry, similarity)| Hit {
                own_entry,
                similarity,
            }),
        }
    }

    #[test]
    fn counts_follow_the_threshold() {
        let o = [
            obs(true, Some((true, 0.97))),  // right at every threshold up to 0.97
            obs(true, Some((true, 0.85))),  // right up to 0.85
            obs(true, Some((false, 0.92))), // another entry: a false hit
            obs(true, None),
            obs(false, Some((true, 0.90))), // different question served its partner's answer
            obs(false, None),
        ];
        let r = at_threshold(&o, 0.8);
        assert_eq!((r.same_pairs, r.different_pairs), (4, 2));
        assert_eq!(
            (r.hits, r.correct, r.different_hits, r.wrong_entry),
            (4, 2, 1, 1)
        );
        assert_eq!(r.false_hits(), 2);
        assert_eq!(r.hit_rate(), 0.5);
        assert_eq!(r.precision(), 0.5);
        assert_eq!(r.different_hit_rate(), 0.5);
        assert_eq!(r.any_hit_rate(), 4.0 / 6.0);

        let r = at_threshold(&o, 0.95);
        assert_eq!((r.hits, r.correct, r.false_hits()), (1, 1, 0));
        assert_eq!(r.precision(), 1.0);
        assert_eq!(r.hit_rate(), 0.25);

        let r = at_threshold(&o, 0.99);
        assert_eq!(r.hits, 0);
        assert_eq!(r.precision(), 1.0, "no hits, no false hits");
    }

    #[test]
    fn a_threshold_equal_to_the_similarity_is_a_hit() {
        let r = at_threshold(&[obs(true, Some((true, 0.9)))], 0.9);
        assert_eq!(r.correct, 1);
    }
}

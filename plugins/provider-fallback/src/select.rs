//! Which provider to try next: groups in priority order; inside a group a weighted random
//! order (weight 0 only after the others), so traffic spreads by weight while every provider
//! of the group stays reachable as a fallback of the others.

use crate::config::ProviderGroup;

/// SplitMix64: a small, seedable generator (no host randomness needed).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Flat indices (over all groups' providers, in config order) in the order to try them.
pub fn order(groups: &[ProviderGroup], rng: &mut Rng) -> Vec<usize> {
    let mut out = Vec::new();
    let mut base = 0;
    for group in groups {
        let mut left: Vec<(usize, u64)> = group
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| (base + i, u64::from(p.weight)))
            .collect();
        while !left.is_empty() {
            let total: u64 = left.iter().map(|(_, w)| w).sum();
            let pick = if total == 0 {
                0
            } else {
                let mut r = rng.next_u64() % total;
                left.iter()
                    .position(|(_, w)| {
                        if r < *w {
                            true
                        } else {
                            r -= w;
                            false
                        }
                    })
                    .unwrap_or(0)
            };
            out.push(left.remove(pick).0);
        }
        base += group.providers.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn groups(v: serde_json::Value) -> Vec<ProviderGroup> {
        serde_json::from_value(v).unwrap()
    }

    fn p(name: &str, weight: u32) -> serde_json::Value {
        json!({"name": name, "cluster": format!("outbound|80||{name}.static"), "weight": weight})
    }

    #[test]
    fn groups_keep_priority_and_weights_split_first_picks() {
        let g = groups(json!([{"providers": [p("a", 3), p("b", 1)]}, {"providers": [p("c", 1)]}]));
        let mut rng = Rng::new(7);
        let mut first_a = 0;
        for _ in 0..4000 {
            let o = order(&g, &mut rng);
            assert_eq!(o.len(), 3);
            assert_eq!(o[2], 2, "group 2 always after group 1");
            if o[0] == 0 {
                first_a += 1;
            }
        }
        assert!(
            (2800..3200).contains(&first_a),
            "a first {first_a} of 4000 at weight 3:1"
        );
    }

    #[test]
    fn zero_weight_goes_last_in_its_group() {
        let g = groups(json!([{"providers": [p("standby", 0), p("main", 1)]}]));
        let mut rng = Rng::new(1);
        for _ in 0..100 {
            assert_eq!(order(&g, &mut rng), vec![1, 0]);
        }
        let g = groups(json!([{"providers": [p("x", 0), p("y", 0)]}]));
        assert_eq!(order(&g, &mut rng), vec![0, 1]);
    }
}

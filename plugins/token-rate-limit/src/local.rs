//! The single-gateway store: every counter of a bucket in one shared-data entry, updated with
//! compare-and-swap so that all worker VMs of the gateway see one count. Also the fallback when
//! Redis fails (`failure_mode: open`).

use crate::plan::{Plan, Verdict};
use crate::window::SlidingWindow;

/// Attempts before giving up on a contended entry (each retry re-reads it).
const CAS_ATTEMPTS: usize = 16;

/// Shared data as the store needs it; [`HostShared`] in the plugin, a map in tests.
pub trait Shared {
    /// The value and its CAS token (0 when absent).
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), String>;
    /// `Ok(false)` on a CAS mismatch.
    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<bool, String>;
}

fn entry_key(plan: &Plan) -> String {
    format!("{}:{{{}}}", crate::plan::KEY_PREFIX, plan.bucket)
}

/// One line per counter, in plan order.
fn decode(plan: &Plan, value: Option<&[u8]>) -> Vec<SlidingWindow> {
    let mut lines = value.unwrap_or_default().split(|&b| b == b'\n');
    plan.counters
        .iter()
        .map(|_| SlidingWindow::decode(lines.next().unwrap_or_default()))
        .collect()
}

fn encode(windows: &[SlidingWindow]) -> Vec<u8> {
    windows
        .iter()
        .map(SlidingWindow::encode)
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes()
}

/// Runs `f` on the bucket's windows under CAS; `f` says whether to write.
fn update<T>(
    shared: &dyn Shared,
    plan: &Plan,
    mut f: impl FnMut(&mut [SlidingWindow]) -> (bool, T),
) -> Result<T, String> {
    let key = entry_key(plan);
    for _ in 0..CAS_ATTEMPTS {
        let (value, cas) = shared.get(&key)?;
        let mut windows = decode(plan, value.as_deref());
        let (write, out) = f(&mut windows);
        if !write || shared.set(&key, &encode(&windows), cas)? {
            return Ok(out);
        }
    }
    Err(format!("shared data {key} stayed contended"))
}

/// Checks every counter and charges all of them if all fit.
pub fn reserve(
    shared: &dyn Shared,
    plan: &Plan,
    costs: &[u64],
    now_ms: u64,
) -> Result<Verdict, String> {
    update(shared, plan, |windows| {
        let checks: Vec<_> = plan
            .counters
            .iter()
            .zip(windows.iter())
            .zip(costs)
            .map(|((c, w), cost)| w.check(&c.geometry, now_ms, c.limit.max, *cost))
            .collect();
        let admitted = checks.iter().all(|c| c.fits);
        if admitted {
            for ((c, w), cost) in plan.counters.iter().zip(windows.iter_mut()).zip(costs) {
                w.add(&c.geometry, now_ms, now_ms, *cost as i64);
            }
        }
        let charged = if admitted {
            costs.to_vec()
        } else {
            vec![0; costs.len()]
        };
        (
            admitted,
            Verdict {
                admitted,
                at_ms: now_ms,
                checks,
                charged,
            },
        )
    })
}

/// Corrects the reservation made at `at_ms` by `deltas`.
pub fn settle(
    shared: &dyn Shared,
    plan: &Plan,
    at_ms: u64,
    deltas: &[i64],
    now_ms: u64,
) -> Result<(), String> {
    if deltas.iter().all(|d| *d == 0) {
        return Ok(());
    }
    update(shared, plan, |windows| {
        for ((c, w), d) in plan.counters.iter().zip(windows.iter_mut()).zip(deltas) {
            w.add(&c.geometry, now_ms, at_ms, *d);
        }
        (true, ())
    })
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::config::Config;
    use crate::rules::RequestFacts;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Shared data in memory with Envoy's CAS rules.
    #[derive(Default)]
    pub struct MapShared {
        pub map: RefCell<HashMap<String, (Vec<u8>, u32)>>,
        /// Makes the next `n` writes fail their CAS (another VM got there first).
        pub conflicts: RefCell<usize>,
    }

    impl Shared for MapShared {
        fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), String> {
            Ok(match self.map.borrow().get(key) {
                Some((v, cas)) => (Some(v.clone()), *cas),
                None => (None, 0),
            })
        }

        fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<bool, String> {
            let mut conflicts = self.conflicts.borrow_mut();
            let mut map = self.map.borrow_mut();
            let current = map.get(key).map_or(0, |(_, c)| *c);
            if *conflicts > 0 {
                // Another VM wrote first: the value moved on, so this write's CAS is stale.
                *conflicts -= 1;
                if let Some(entry) = map.get_mut(key) {
                    entry.1 += 1;
                }
                return Ok(false);
            }
            if cas != 0 && cas != current {
                return Ok(false);
            }
            map.insert(key.to_string(), (value.to_vec(), current + 1));
            Ok(true)
        }
    }

    fn plan() -> Plan {
        let c: Config = serde_json::from_value(serde_json::json!({
            "rule_name": "r",
            "global_threshold": {"token_per_minute": 100, "token_per_hour": 150, "request_per_minute": 3}
        }))
        .unwrap();
        let rules = c.rules().unwrap();
        Plan::new(&rules.matching(&RequestFacts::default()).unwrap(), 60)
    }

    #[test]
    fn all_counters_or_none() {
        let s = MapShared::default();
        let p = plan();
        let v = reserve(&s, &p, &p.costs(90, 1), 0).unwrap();
        assert!(v.admitted);
        // 20 more fits the hour but not the minute: nothing is charged.
        let v = reserve(&s, &p, &p.costs(20, 1), 1000).unwrap();
        assert!(!v.admitted);
        assert_eq!(v.checks[0].used, 90);
        assert_eq!(v.retry_after_secs(), 60);
        // After the minute, the hour is the limit: 150 - 90 = 60 left.
        assert!(!reserve(&s, &p, &p.costs(61, 1), 61_000).unwrap().admitted);
        assert!(reserve(&s, &p, &p.costs(60, 1), 61_000).unwrap().admitted);
    }

    #[test]
    fn settling_refunds_and_cas_conflicts_retry() {
        let s = MapShared::default();
        let p = plan();
        let v = reserve(&s, &p, &p.costs(100, 1), 0).unwrap();
        settle(&s, &p, v.at_ms, &p.deltas(-70, 0), 500).unwrap();
        *s.conflicts.borrow_mut() = 3;
        let v = reserve(&s, &p, &p.costs(70, 1), 600).unwrap();
        assert!(v.admitted, "{v:?}");
        assert_eq!(v.checks[0].used, 30);
        *s.conflicts.borrow_mut() = CAS_ATTEMPTS;
        assert!(reserve(&s, &p, &p.costs(1, 1), 61_000).is_err());
    }
}

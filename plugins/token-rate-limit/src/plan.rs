//! One decision's counters (one per limit of the matched bucket), what each costs, and the verdict.
//! The same plan runs in Redis (`lua.rs`) or in shared data (`local.rs`).

use crate::config::{Limit, Unit};
use crate::rules::Bucket;
use crate::window::{Check, Geometry};

/// Prefix of every counter key.
pub const KEY_PREFIX: &str = "token-rate-limit";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// `token-rate-limit:{<bucket>}:tokens:60`; the braces make every key of a bucket one Redis
    /// Cluster hash slot, so one script can touch them all.
    pub key: String,
    pub limit: Limit,
    pub geometry: Geometry,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The bucket id (shared-data key of the local store).
    pub bucket: String,
    pub counters: Vec<Counter>,
}

impl Plan {
    pub fn new(bucket: &Bucket<'_>, slots: u32) -> Plan {
        let counters = bucket
            .limits
            .iter()
            .map(|limit| Counter {
                key: format!(
                    "{KEY_PREFIX}:{{{}}}:{}:{}",
                    bucket.id,
                    match limit.unit {
                        Unit::Tokens => "tokens",
                        Unit::Requests => "requests",
                    },
                    limit.window.seconds
                ),
                limit: *limit,
                geometry: limit.window.geometry(slots),
            })
            .collect();
        Plan {
            bucket: bucket.id.clone(),
            counters,
        }
    }

    /// What each counter is charged: the token cost, or one request.
    pub fn costs(&self, tokens: u64, requests: u64) -> Vec<u64> {
        self.counters
            .iter()
            .map(|c| match c.limit.unit {
                Unit::Tokens => tokens,
                Unit::Requests => requests,
            })
            .collect()
    }

    /// Corrections at settlement.
    pub fn deltas(&self, tokens: i64, requests: i64) -> Vec<i64> {
        self.counters
            .iter()
            .map(|c| match c.limit.unit {
                Unit::Tokens => tokens,
                Unit::Requests => requests,
            })
            .collect()
    }
}

/// The outcome of a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub admitted: bool,
    /// The store's clock at the decision; settlement corrects the slots of this instant.
    pub at_ms: u64,
    /// One per counter, before this request's cost was added.
    pub checks: Vec<Check>,
    /// What this request was charged per counter (0 when rejected).
    pub charged: Vec<u64>,
}

impl Verdict {
    /// Seconds until the request could fit (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        let ms = self
            .checks
            .iter()
            .filter(|c| !c.fits)
            .map(|c| c.retry_after_ms)
            .max()
            .unwrap_or(0);
        ms.div_ceil(1000).max(1)
    }

    /// The tightest counter of `unit` after this request: (limit, remaining, reset ms).
    pub fn tightest(&self, plan: &Plan, unit: Unit) -> Option<(u64, u64, u64)> {
        plan.counters
            .iter()
            .zip(&self.checks)
            .zip(&self.charged)
            .filter(|((c, _), _)| c.limit.unit == unit)
            .map(|((_, check), charged)| {
                let remaining = check.limit.saturating_sub(check.used + charged);
                let reset = if *charged > 0 {
                    check.reset_ms.max(check.retry_after_ms).max(1)
                } else {
                    check.reset_ms
                };
                (check.limit, remaining, reset)
            })
            .min_by_key(|&(_, remaining, _)| remaining)
    }
}

//! One request's attempt chain: who was tried, why each failed, and whether another attempt is
//! allowed (attempt budget, total deadline, `retryOnFailureWithin`). A provider is never tried
//! twice in one chain.

use crate::classify::Failure;

#[derive(Clone, Debug)]
pub struct Attempt {
    /// Provider name (the primary's too).
    pub provider: String,
    pub started_ms: u64,
    pub failure: Option<Failure>,
}

#[derive(Debug)]
pub struct Chain {
    pub started_ms: u64,
    pub deadline_ms: u64,
    pub max_attempts: u32,
    /// Only failures that came within this many ms of their attempt's start are retried (0: any).
    pub retry_within_ms: u64,
    pub attempts: Vec<Attempt>,
    /// Providers skipped without sending (open breaker), for the log.
    pub skipped: Vec<String>,
    /// Fallback providers (flat config indices) in the order to try them.
    order: Vec<usize>,
    next: usize,
}

impl Chain {
    pub fn new(
        now_ms: u64,
        deadline_after_ms: u32,
        max_attempts: u32,
        retry_within_ms: u32,
        order: Vec<usize>,
    ) -> Chain {
        Chain {
            started_ms: now_ms,
            deadline_ms: now_ms.saturating_add(u64::from(deadline_after_ms)),
            max_attempts,
            retry_within_ms: u64::from(retry_within_ms),
            attempts: Vec::new(),
            skipped: Vec::new(),
            order,
            next: 0,
        }
    }

    pub fn begin(&mut self, provider: &str, now_ms: u64) {
        self.attempts.push(Attempt {
            provider: provider.to_string(),
            started_ms: now_ms,
            failure: None,
        });
    }

    /// Marks the current attempt failed.
    pub fn fail(&mut self, failure: Failure) {
        if let Some(a) = self.attempts.last_mut() {
            a.failure = Some(failure);
        }
    }

    pub fn current(&self) -> Option<&Attempt> {
        self.attempts.last()
    }

    /// Whether the chain may start another attempt at `now_ms` after the current one failed.
    pub fn may_retry(&self, now_ms: u64) -> bool {
        if self.attempts.len() as u32 >= self.max_attempts || now_ms >= self.deadline_ms {
            return false;
        }
        match self.attempts.last() {
            Some(a) if self.retry_within_ms > 0 => {
                now_ms.saturating_sub(a.started_ms) <= self.retry_within_ms
            }
            _ => true,
        }
    }

    pub fn remaining_ms(&self, now_ms: u64) -> u64 {
        self.deadline_ms.saturating_sub(now_ms)
    }

    /// The next untried provider that `admit` lets through; refused ones are remembered as
    /// skipped and not offered again.
    pub fn next_provider(&mut self, mut admit: impl FnMut(usize) -> bool) -> Option<usize> {
        while let Some(&idx) = self.order.get(self.next) {
            self.next += 1;
            if admit(idx) {
                return Some(idx);
            }
        }
        None
    }

    /// `provider:reason` for every failed attempt and skipped provider, in order.
    pub fn reasons(&self) -> Vec<String> {
        self.skipped
            .iter()
            .map(|p| format!("{p}:breaker_open"))
            .chain(self.attempts.iter().filter_map(|a| {
                a.failure
                    .as_ref()
                    .map(|f| format!("{}:{}", a.provider, f.label()))
            }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_deadline_and_fast_failures_only() {
        let mut c = Chain::new(1000, 5000, 3, 0, vec![0, 1, 2]);
        c.begin("primary", 1000);
        c.fail(Failure::Status(429));
        assert!(c.may_retry(1100));
        assert!(!c.may_retry(6000), "deadline reached");
        c.begin("a", 1100);
        c.begin("b", 1200);
        assert!(!c.may_retry(1300), "three attempts used");
        let mut slow = Chain::new(0, 60_000, 5, 500, vec![]);
        slow.begin("primary", 0);
        assert!(slow.may_retry(500));
        assert!(!slow.may_retry(501), "a slow failure is not retried");
    }

    #[test]
    fn providers_offered_once_in_order_and_skips_recorded() {
        let mut c = Chain::new(0, 1000, 5, 0, vec![2, 0, 1]);
        let mut offered = vec![];
        assert_eq!(
            c.next_provider(|i| {
                offered.push(i);
                i == 0
            }),
            Some(0)
        );
        assert_eq!(offered, vec![2, 0]);
        assert_eq!(c.next_provider(|_| true), Some(1));
        assert_eq!(c.next_provider(|_| true), None);
        c.skipped.push("x".into());
        c.begin("p", 0);
        c.fail(Failure::Reset);
        assert_eq!(c.reasons(), vec!["x:breaker_open", "p:reset"]);
    }
}

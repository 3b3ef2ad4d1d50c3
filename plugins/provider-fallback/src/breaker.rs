//! Circuit breaker per provider, as plain data with a clock passed in (milliseconds), so every
//! transition is tested natively; `store` keeps it in shared data for all worker VMs.
//!
//! Closed → Open: `failureThreshold` consecutive failures, or that many within `failureWindow`
//! ms, or at once on a failure carrying `Retry-After`. Open → HalfOpen: the first request after
//! the cooldown is admitted as the one probe. HalfOpen → Closed after `successThreshold` probe
//! successes; a failed probe opens it again. A probe that never reports (its VM died) is
//! replaced after another cooldown.

use crate::config::Failover;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

/// What a request may do with this provider now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Allow,
    /// Allowed as the half-open probe; its result decides.
    Probe,
    Deny,
}

impl Admission {
    pub fn allowed(self) -> bool {
        self != Admission::Deny
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breaker {
    pub state: State,
    /// Consecutive failures, or failures in the current window.
    pub failures: u32,
    pub window_start: u64,
    /// Open until this time (cooldown or Retry-After).
    pub open_until: u64,
    /// When the current probe was admitted (HalfOpen).
    pub probe_at: u64,
    pub probe_successes: u32,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            state: State::Closed,
            failures: 0,
            window_start: 0,
            open_until: 0,
            probe_at: 0,
            probe_successes: 0,
        }
    }
}

impl Breaker {
    /// Whether a request may use the provider at `now`; admitting the probe changes the state.
    pub fn admit(&mut self, now: u64, cfg: &Failover) -> (Admission, Option<Transition>) {
        match self.state {
            State::Closed => (Admission::Allow, None),
            State::Open if now < self.open_until => (Admission::Deny, None),
            State::Open => {
                self.state = State::HalfOpen;
                self.probe_at = now;
                self.probe_successes = 0;
                (
                    Admission::Probe,
                    Some(transition(State::Open, State::HalfOpen)),
                )
            }
            State::HalfOpen if now >= self.probe_at.saturating_add(u64::from(cfg.cooldown)) => {
                // The probe never reported back; let another one try.
                self.probe_at = now;
                (Admission::Probe, None)
            }
            State::HalfOpen => (Admission::Deny, None),
        }
    }

    /// Only reads: would a request be let through now (for picking the best candidate)?
    pub fn peek(&self, now: u64, cfg: &Failover) -> Admission {
        self.clone().admit(now, cfg).0
    }

    pub fn on_success(&mut self, cfg: &Failover) -> Option<Transition> {
        match self.state {
            State::Closed => {
                if cfg.failure_window == 0 {
                    self.failures = 0;
                }
                None
            }
            State::HalfOpen => {
                self.probe_successes += 1;
                if self.probe_successes >= cfg.success_threshold {
                    *self = Breaker::default();
                    Some(transition(State::HalfOpen, State::Closed))
                } else {
                    None
                }
            }
            // A request admitted before it opened: no effect.
            State::Open => None,
        }
    }

    /// A failure at `now`; `retry_after_ms` from the provider's answer, already capped.
    pub fn on_failure(
        &mut self,
        now: u64,
        retry_after_ms: Option<u64>,
        cfg: &Failover,
    ) -> Option<Transition> {
        let from = self.state;
        match self.state {
            State::Closed => {
                if cfg.failure_window > 0
                    && now
                        >= self
                            .window_start
                            .saturating_add(u64::from(cfg.failure_window))
                {
                    self.window_start = now;
                    self.failures = 0;
                }
                self.failures += 1;
                if self.failures >= cfg.failure_threshold || retry_after_ms.is_some() {
                    self.open(now, retry_after_ms, cfg);
                }
            }
            State::HalfOpen => self.open(now, retry_after_ms, cfg),
            State::Open => {
                // Keep the longer of the two.
                let until = now.saturating_add(retry_after_ms.unwrap_or(0));
                self.open_until = self.open_until.max(until);
            }
        }
        (from != self.state).then(|| transition(from, self.state))
    }

    fn open(&mut self, now: u64, retry_after_ms: Option<u64>, cfg: &Failover) {
        let cooldown = u64::from(cfg.cooldown).max(retry_after_ms.unwrap_or(0));
        self.state = State::Open;
        self.open_until = now.saturating_add(cooldown);
        self.failures = 0;
        self.probe_successes = 0;
    }

    /// Compact shared-data form: `state failures window_start open_until probe_at successes`.
    pub fn encode(&self) -> String {
        let s = match self.state {
            State::Closed => 'c',
            State::Open => 'o',
            State::HalfOpen => 'h',
        };
        format!(
            "{s} {} {} {} {} {}",
            self.failures, self.window_start, self.open_until, self.probe_at, self.probe_successes
        )
    }

    /// Anything unreadable is a fresh closed breaker (never a reason to fail a request).
    pub fn decode(bytes: &[u8]) -> Breaker {
        Self::try_decode(bytes).unwrap_or_default()
    }

    fn try_decode(bytes: &[u8]) -> Option<Breaker> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut it = text.split(' ');
        let state = match it.next()? {
            "c" => State::Closed,
            "o" => State::Open,
            "h" => State::HalfOpen,
            _ => return None,
        };
        let mut num = || it.next()?.parse::<u64>().ok();
        Some(Breaker {
            state,
            failures: u32::try_from(num()?).ok()?,
            window_start: num()?,
            open_until: num()?,
            probe_at: num()?,
            probe_successes: u32::try_from(num()?).ok()?,
        })
    }
}

fn transition(from: State, to: State) -> Transition {
    Transition { from, to }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: serde_json::Value) -> Failover {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn consecutive_failures_open_and_a_success_resets_the_count() {
        let c = cfg(json!({"failureThreshold": 3, "cooldown": 1000}));
        let mut b = Breaker::default();
        assert_eq!(b.on_failure(10, None, &c), None);
        assert_eq!(b.on_failure(20, None, &c), None);
        b.on_success(&c);
        assert_eq!(b.on_failure(30, None, &c), None);
        assert_eq!(b.on_failure(40, None, &c), None);
        let t = b.on_failure(50, None, &c).unwrap();
        assert_eq!((t.from, t.to), (State::Closed, State::Open));
        assert_eq!(b.admit(1049, &c).0, Admission::Deny);
    }

    #[test]
    fn windowed_failures_open_only_within_the_window() {
        let c = cfg(json!({"failureThreshold": 2, "failureWindow": 100, "cooldown": 500}));
        let mut b = Breaker::default();
        b.on_failure(0, None, &c);
        b.on_success(&c); // windowed: a success does not reset
        assert!(
            b.on_failure(150, None, &c).is_none(),
            "first failure was in an older window"
        );
        let t = b.on_failure(200, None, &c).unwrap();
        assert_eq!(t.to, State::Open);
    }

    #[test]
    fn cooldown_then_one_probe_then_closed_or_reopened() {
        let c = cfg(json!({"failureThreshold": 1, "cooldown": 1000, "successThreshold": 2}));
        let mut b = Breaker::default();
        b.on_failure(0, None, &c);
        assert_eq!(b.admit(999, &c).0, Admission::Deny);
        let (a, t) = b.admit(1000, &c);
        assert_eq!(a, Admission::Probe);
        assert_eq!(t.unwrap().to, State::HalfOpen);
        assert_eq!(b.admit(1001, &c).0, Admission::Deny, "one probe at a time");
        assert_eq!(b.on_success(&c), None, "needs two probe successes");
        // The probe slot frees only after another cooldown.
        assert_eq!(b.admit(2000, &c).0, Admission::Probe);
        assert_eq!(b.on_success(&c).unwrap().to, State::Closed);
        assert_eq!(b.admit(2001, &c).0, Admission::Allow);
        // A failed probe opens it again for a full cooldown.
        b.on_failure(3000, None, &c);
        b.admit(4000, &c);
        assert_eq!(b.on_failure(4001, None, &c).unwrap().to, State::Open);
        assert_eq!(b.admit(5000, &c).0, Admission::Deny);
        assert_eq!(b.admit(5001, &c).0, Admission::Probe);
    }

    #[test]
    fn retry_after_opens_at_once_for_at_least_that_long() {
        let c = cfg(json!({"failureThreshold": 5, "cooldown": 1000}));
        let mut b = Breaker::default();
        assert_eq!(b.on_failure(0, Some(7000), &c).unwrap().to, State::Open);
        assert_eq!(b.admit(6999, &c).0, Admission::Deny);
        assert_eq!(b.admit(7000, &c).0, Admission::Probe);
    }

    #[test]
    fn encode_decode_round_trip_and_garbage_is_closed() {
        let mut b = Breaker::default();
        let c = cfg(json!({"failureThreshold": 1}));
        b.on_failure(123, None, &c);
        assert_eq!(Breaker::decode(b.encode().as_bytes()), b);
        for junk in [
            &b""[..],
            b"x 1 2 3 4 5",
            b"o 1 2",
            b"c -1 0 0 0 0",
            &[0xff, 0x00],
        ] {
            assert_eq!(Breaker::decode(junk), Breaker::default());
        }
        let peeked = b.peek(u64::MAX, &c);
        assert_eq!(peeked, Admission::Probe);
        assert_eq!(b.state, State::Open, "peek does not change the state");
    }
}

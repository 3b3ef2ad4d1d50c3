//! Fault specifications: what a request (header `x-mock-fault`) or a whole instance (`--fault`) should
//! do instead of answering normally. Gateway fallback and retry tests are built on these.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Data events sent before `reset-mid-stream` aborts when no count is given: enough for a client to
/// have seen real content, so "partial stream then reset" is distinguishable from "no stream".
pub const DEFAULT_RESET_AFTER: usize = 2;
/// Data events sent before `error-event` when no count is given (the role chunk).
pub const DEFAULT_ERROR_EVENT_AFTER: usize = 1;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultSpec {
    /// Wait before anything is sent (also applies without an action, to simulate a slow upstream).
    pub delay: Option<Duration>,
    pub action: Option<FaultAction>,
    /// Value of the `Retry-After` header on status faults.
    pub retry_after: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    /// Answer with this status and an OpenAI error body.
    Status(u16),
    /// Close the connection without sending a response.
    ResetBeforeHeaders,
    /// Send `after` data events (streams) or part of the body (non-streaming), then abort.
    ResetMidStream { after: usize },
    /// 200 stream whose event after `after` data events is `data: {"error":{...}}`.
    ErrorEvent { after: usize },
    /// 200 with a body that is not valid JSON.
    InvalidJson,
}

impl FaultSpec {
    pub fn is_noop(&self) -> bool {
        self.delay.is_none() && self.action.is_none()
    }

    /// Short label used in `/mock/stats` `by_kind` counts.
    pub fn kind(&self) -> String {
        match &self.action {
            None if self.delay.is_some() => "fault:delay".into(),
            None => "fault:none".into(),
            Some(FaultAction::Status(code)) => format!("fault:status={code}"),
            Some(FaultAction::ResetBeforeHeaders) => "fault:reset-before-headers".into(),
            Some(FaultAction::ResetMidStream { .. }) => "fault:reset-mid-stream".into(),
            Some(FaultAction::ErrorEvent { .. }) => "fault:error-event".into(),
            Some(FaultAction::InvalidJson) => "fault:invalid-json".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FaultParseError(pub String);

impl fmt::Display for FaultParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid fault spec: {}", self.0)
    }
}

impl std::error::Error for FaultParseError {}

impl FromStr for FaultSpec {
    type Err = FaultParseError;

    /// Comma-separated items: `none`, `status=CODE` (or a bare `CODE`), `delay=MS`, `retry-after=S`,
    /// `reset-before-headers`, `reset-mid-stream[=N]`, `error-event[=N]`, `invalid-json`.
    /// At most one action; `delay` and `retry-after` combine with any.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut spec = FaultSpec::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
                None => (item.to_ascii_lowercase(), None),
            };
            let action = match (key.as_str(), value) {
                ("none", None) => None,
                ("delay", Some(v)) => {
                    spec.delay = Some(Duration::from_millis(parse_num(item, v)?));
                    None
                }
                ("retry-after", Some(v)) if !v.is_empty() => {
                    spec.retry_after = Some(v.to_string());
                    None
                }
                ("status", Some(v)) => Some(FaultAction::Status(parse_status(item, v)?)),
                (code, None) if code.bytes().all(|b| b.is_ascii_digit()) => {
                    Some(FaultAction::Status(parse_status(item, code)?))
                }
                ("reset-before-headers", None) => Some(FaultAction::ResetBeforeHeaders),
                ("reset-mid-stream", v) => Some(FaultAction::ResetMidStream {
                    after: v.map_or(Ok(DEFAULT_RESET_AFTER), |v| parse_num(item, v))?,
                }),
                ("error-event", v) => Some(FaultAction::ErrorEvent {
                    after: v.map_or(Ok(DEFAULT_ERROR_EVENT_AFTER), |v| parse_num(item, v))?,
                }),
                ("invalid-json", None) => Some(FaultAction::InvalidJson),
                _ => return Err(FaultParseError(format!("unknown item `{item}`"))),
            };
            if let Some(action) = action {
                if spec.action.is_some() {
                    return Err(FaultParseError(format!("more than one action (`{item}`)")));
                }
                spec.action = Some(action);
            }
        }
        Ok(spec)
    }
}

fn parse_num<T: FromStr>(item: &str, v: &str) -> Result<T, FaultParseError> {
    v.parse()
        .map_err(|_| FaultParseError(format!("`{item}` needs a non-negative integer")))
}

fn parse_status(item: &str, v: &str) -> Result<u16, FaultParseError> {
    match v.parse::<u16>() {
        Ok(code) if (400..=599).contains(&code) => Ok(code),
        _ => Err(FaultParseError(format!(
            "`{item}`: status must be 400..=599"
        ))),
    }
}

/// Deterministic "does this request fail" sequence for `--fail-ratio`: SplitMix64, so a seed gives the
/// same pass/fail pattern on every machine and after every `/mock/reset`.
#[derive(Debug, Clone)]
pub struct FailSequence {
    seed: u64,
    state: u64,
    ratio: f64,
}

impl FailSequence {
    pub fn new(seed: u64, ratio: f64) -> Self {
        FailSequence {
            seed,
            state: seed,
            ratio,
        }
    }

    pub fn reset(&mut self) {
        self.state = self.seed;
    }

    /// Draws the next value; true means this request gets the instance fault.
    pub fn next_fails(&mut self) -> bool {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        unit < self.ratio
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_item() {
        let s: FaultSpec = "status=429, retry-after=7, delay=20".parse().unwrap();
        assert_eq!(s.action, Some(FaultAction::Status(429)));
        assert_eq!(s.retry_after.as_deref(), Some("7"));
        assert_eq!(s.delay, Some(Duration::from_millis(20)));
        assert_eq!(
            "503".parse::<FaultSpec>().unwrap().action,
            Some(FaultAction::Status(503))
        );
        assert_eq!(
            "reset-mid-stream".parse::<FaultSpec>().unwrap().action,
            Some(FaultAction::ResetMidStream {
                after: DEFAULT_RESET_AFTER
            })
        );
        assert_eq!(
            "reset-mid-stream=5".parse::<FaultSpec>().unwrap().action,
            Some(FaultAction::ResetMidStream { after: 5 })
        );
        assert_eq!(
            "error-event=3".parse::<FaultSpec>().unwrap().action,
            Some(FaultAction::ErrorEvent { after: 3 })
        );
        assert_eq!(
            "Reset-Before-Headers".parse::<FaultSpec>().unwrap().action,
            Some(FaultAction::ResetBeforeHeaders)
        );
        assert_eq!(
            "invalid-json".parse::<FaultSpec>().unwrap().action,
            Some(FaultAction::InvalidJson)
        );
        assert!("none".parse::<FaultSpec>().unwrap().is_noop());
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            "status=200",
            "status=abc",
            "delay=-1",
            "explode",
            "503,429",
            "reset-mid-stream=x",
        ] {
            assert!(bad.parse::<FaultSpec>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn fail_sequence_is_seeded_and_matches_ratio() {
        let mut a = FailSequence::new(42, 0.5);
        let first: Vec<bool> = (0..64).map(|_| a.next_fails()).collect();
        a.reset();
        let again: Vec<bool> = (0..64).map(|_| a.next_fails()).collect();
        assert_eq!(first, again);
        let mut b = FailSequence::new(43, 0.5);
        let other: Vec<bool> = (0..64).map(|_| b.next_fails()).collect();
        assert_ne!(first, other);
        let fails = FailSequence::new(7, 0.25);
        let n = (0..4000).filter({
            let mut f = fails;
            move |_| f.next_fails()
        });
        let n = n.count();
        assert!((800..1200).contains(&n), "{n} of 4000 failed at ratio 0.25");
        assert!((0..100).all({
            let mut f = FailSequence::new(1, 1.0);
            move |_| f.next_fails()
        }));
        assert!(!(0..100).any({
            let mut f = FailSequence::new(1, 0.0);
            move |_| f.next_fails()
        }));
    }
}

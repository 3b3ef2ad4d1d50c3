//! Breakers in proxy-wasm shared data, so every worker VM sees the same state: read, change,
//! write back with the CAS token, retry on a concurrent change. A host error or a lost race
//! never fails a request: the breaker is only advisory.

use higress_sdk::hostcalls::{self, SharedDataError};
use higress_sdk::HostError;

use crate::breaker::{Admission, Breaker, Transition};
use crate::config::Failover;

const KEY_PREFIX: &str = "provider-fallback/breaker/";
const CAS_RETRIES: usize = 8;

pub fn key(provider: &str) -> String {
    format!("{KEY_PREFIX}{provider}")
}

pub fn read(provider: &str) -> Breaker {
    hostcalls::get_shared_data(&key(provider))
        .ok()
        .and_then(|(v, _)| v)
        .map(|v| Breaker::decode(&v))
        .unwrap_or_default()
}

/// Applies `f` atomically; `Err` only on a host error or a race lost `CAS_RETRIES` times.
pub fn update<R>(provider: &str, mut f: impl FnMut(&mut Breaker) -> R) -> Result<R, HostError> {
    let key = key(provider);
    let mut last = None;
    for _ in 0..CAS_RETRIES {
        let (value, cas) = hostcalls::get_shared_data(&key)?;
        let mut b = value.map(|v| Breaker::decode(&v)).unwrap_or_default();
        let before = b.clone();
        let out = f(&mut b);
        if b == before {
            return Ok(out);
        }
        match hostcalls::set_shared_data(&key, Some(b.encode().as_bytes()), cas) {
            Ok(()) => return Ok(out),
            Err(SharedDataError::CasMismatch) => last = Some(out),
            Err(SharedDataError::Host(e)) => return Err(e),
        }
    }
    drop(last);
    Err(HostError::new(
        "proxy_set_shared_data",
        higress_sdk::Status::CasMismatch,
    ))
}

/// Admission for `provider` at `now_ms` (always allowed when breakers are off or unreadable).
pub fn admit(provider: &str, now_ms: u64, cfg: &Failover) -> (Admission, Option<Transition>) {
    if !cfg.enabled {
        return (Admission::Allow, None);
    }
    update(provider, |b| b.admit(now_ms, cfg)).unwrap_or((Admission::Allow, None))
}

pub fn success(provider: &str, cfg: &Failover) -> Option<Transition> {
    if !cfg.enabled {
        return None;
    }
    update(provider, |b| b.on_success(cfg)).ok().flatten()
}

pub fn failure(
    provider: &str,
    now_ms: u64,
    retry_after_ms: Option<u64>,
    cfg: &Failover,
) -> Option<Transition> {
    if !cfg.enabled {
        return None;
    }
    update(provider, |b| b.on_failure(now_ms, retry_after_ms, cfg))
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::State;
    use higress_sdk::testing::install;
    use serde_json::json;

    #[test]
    fn state_survives_in_shared_data_and_cas_races_retry() {
        let _fake = install();
        let cfg: Failover =
            serde_json::from_value(json!({"failureThreshold": 2, "cooldown": 100})).unwrap();
        assert_eq!(admit("p", 0, &cfg).0, Admission::Allow);
        assert!(failure("p", 1, None, &cfg).is_none());
        let t = failure("p", 2, None, &cfg).unwrap();
        assert_eq!(t.to, State::Open);
        assert_eq!(read("p").state, State::Open);
        assert_eq!(admit("p", 50, &cfg).0, Admission::Deny);
        // Someone else changes the value between our read and write: the update retries.
        let mut raced = false;
        let r = update("p", |b| {
            if !raced {
                raced = true;
                hostcalls::set_shared_data(&key("p"), Some(b"c 0 0 0 0 0"), 0).unwrap();
            }
            b.failures += 1;
        });
        assert!(r.is_ok());
        assert_eq!(
            read("p").failures,
            1,
            "applied on top of the concurrent write"
        );
        let off: Failover = serde_json::from_value(json!({"enabled": false})).unwrap();
        assert_eq!(admit("q", 0, &off).0, Admission::Allow);
        assert!(failure("q", 0, Some(5), &off).is_none());
    }
}

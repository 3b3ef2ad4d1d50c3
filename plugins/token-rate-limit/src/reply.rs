//! What clients see: OpenAI's rate-limit headers on every response of a limited route, Higress's
//! `X-TokenRateLimit-Reset`, and the OpenAI-shaped 429 with `Retry-After`.

use ai_proto::error::OpenAiError;

use crate::config::{Config, Unit};
use crate::plan::{Plan, Verdict};

/// A duration the way OpenAI writes it in `x-ratelimit-reset-*`: `20ms`, `12s`, `6m0s`, `1h2m3s`.
pub fn openai_duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms.div_ceil(1000);
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// The rate-limit headers for a verdict (admitted or not).
pub fn limit_headers(plan: &Plan, verdict: &Verdict) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut reset_secs = 0;
    for (unit, names) in [
        (
            Unit::Tokens,
            [
                "x-ratelimit-limit-tokens",
                "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-tokens",
            ],
        ),
        (
            Unit::Requests,
            [
                "x-ratelimit-limit-requests",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests",
            ],
        ),
    ] {
        if let Some((limit, remaining, reset_ms)) = verdict.tightest(plan, unit) {
            out.push((names[0], limit.to_string()));
            out.push((names[1], remaining.to_string()));
            out.push((names[2], openai_duration(reset_ms)));
            if unit == Unit::Tokens {
                reset_secs = reset_ms.div_ceil(1000);
            }
        }
    }
    if !verdict.admitted {
        reset_secs = verdict.retry_after_secs();
    }
    out.push(("x-tokenratelimit-reset", reset_secs.to_string()));
    out
}

/// The rejection: status, headers (rate-limit ones included), body.
pub struct Rejection {
    pub status: u32,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

pub fn rejection(config: &Config, plan: &Plan, verdict: &Verdict) -> Rejection {
    let mut headers = vec![
        ("content-type", "application/json".to_string()),
        ("retry-after", verdict.retry_after_secs().to_string()),
    ];
    headers.extend(limit_headers(plan, verdict));
    Rejection {
        status: u32::from(config.rejected_code()),
        headers,
        body: OpenAiError::rate_limited(config.rejected_msg()).to_body(),
    }
}

/// Redis failed and `failure_mode` is `closed`.
pub fn unavailable() -> Rejection {
    Rejection {
        status: 503,
        headers: vec![("content-type", "application/json".to_string())],
        body: OpenAiError::new("rate limiter unavailable", "server_error")
            .with_code("rate_limiter_unavailable")
            .to_body(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_openai() {
        assert_eq!(openai_duration(20), "20ms");
        assert_eq!(openai_duration(1000), "1s");
        assert_eq!(openai_duration(11_001), "12s");
        assert_eq!(openai_duration(360_000), "6m0s");
        assert_eq!(openai_duration(3_723_000), "1h2m3s");
    }
}

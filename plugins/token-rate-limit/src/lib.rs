//! Token rate limiting for LLM traffic (Higress, default phase, priority 600).
//!
//! Requests are admitted against an estimate (prompt + expected output) before the call and the
//! real usage is settled after it, so concurrent requests cannot overshoot the limit the way a
//! count-after-the-response limiter does. Plain modules do the work and test natively: `config`
//! (incl. Higress ai-token-ratelimit compatibility), `rules` + `ip` (which bucket), `window`
//! (the sliding-window algorithm), `plan` (the counters of one decision), `lua` (Redis), `local`
//! (shared data), `accounting` (estimate and cost), `answer` (usage from bodies and streams),
//! `reply` (headers, 429). `plugin` is the thin proxy-wasm glue.

pub mod accounting;
pub mod answer;
pub mod config;
pub mod ip;
pub mod local;
pub mod lua;
pub mod plan;
pub mod plugin;
pub mod reply;
pub mod rules;
pub mod window;

higress_sdk::plugin!(plugin::TokenRateLimit);

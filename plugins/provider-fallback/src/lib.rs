//! Provider fallback for LLM traffic (Higress, UNSPECIFIED_PHASE, priority 120: after
//! token-rate-limit 600, before ai-proxy 100).
//!
//! Plain modules do the work and test natively: `config`, `status` (anchored failure statuses),
//! `classify` (what counts as a failure), `breaker` (circuit breaker with an injected clock) and
//! `store` (the breaker in shared data with CAS), `select` (priority groups, weights), `chain`
//! (attempt budget and deadline), `rewrite` (the fallback callout), `rechunk` (JSON answer as
//! SSE), `watch` (SSE first event, in-band errors, completion). `plugin` is the glue.

pub mod breaker;
pub mod chain;
pub mod classify;
pub mod config;
pub mod plugin;
pub mod rechunk;
pub mod rewrite;
pub mod select;
pub mod status;
pub mod store;
pub mod watch;

higress_sdk::plugin!(plugin::ProviderFallback);

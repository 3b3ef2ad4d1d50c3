//! PII redaction for LLM traffic (Higress, AUTHN phase, priority 991).
//!
//! Plain modules do the work and test natively: `detect` + `validate` (built-in detectors),
//! `engine` (custom regexes, deny words, overlap resolution, actions), `vault` (per-request
//! placeholders and restore), `request` (what to inspect), `response` (restore, streaming
//! window), `config` (incl. ai-data-masking compatibility), `reply` (block / fail-closed).
//! `plugin` is the thin proxy-wasm glue.

pub mod actions;
pub mod config;
pub mod detect;
pub mod engine;
pub mod external;
pub mod grok;
pub mod jsonpath;
pub mod normalize;
pub mod plugin;
pub mod reply;
pub mod request;
pub mod response;
pub mod validate;
pub mod vault;

higress_sdk::plugin!(plugin::PiiRedaction);

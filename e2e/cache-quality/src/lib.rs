//! Quality benchmark of the semantic-cache plugin, run through the real `.wasm` in the proxy-wasm
//! host with a real Redis (RediSearch) and real all-MiniLM-L6-v2 embeddings:
//!
//! * **QQP** (Quora question pairs, dev split): every first question is cached, every second one
//!   asked; hit rate on same-labelled pairs, false hits (a hit on a different-labelled pair, or on
//!   another pair's entry) and precision, per threshold, without and with `verify`.
//! * **GPTCache's paraphrase set**: hit rate and precision next to GPTCache's published figures.
//! * **Partition safety**: the same question after other turns, system prompts, models or from another
//!   consumer; cross-partition hits must be zero.
//!
//! Each lookup pass runs once, at a permissive threshold: the plugin serves its best acceptable
//! candidate (after verification, among `topK`) and reports its similarity in `x-cache-similarity`,
//! so any stricter threshold `t` serves that same candidate iff its similarity is ≥ `t` (candidates
//! are filtered by threshold and verification independently, best first). `tests/smoke.rs` checks
//! this against a direct run at a fixed threshold. Between passes, the keys a pass wrote (semantic
//! hits back-fill the exact layer) are deleted, so every pass sees the cache as it was filled.

pub mod data;
pub mod harness;
pub mod metrics;
pub mod pairs;
pub mod report;
pub mod scenarios;

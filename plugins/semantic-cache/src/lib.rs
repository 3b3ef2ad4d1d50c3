//! Semantic cache for LLM traffic (Higress, default phase, priority 800).
//!
//! Two layers: an exact fingerprint of the effective request (`key`, `exact`) and vector recall
//! inside a partition of tenant scope + context + parameters (`key`, `embedding`, `vector`), with
//! an optional verification (`verify`) and rerank (`rerank`). `lookup` is the pure state machine,
//! `capture` decides what may be stored, `replay` answers hits as JSON or SSE, `config` accepts
//! Higress ai-cache's fields. `plugin` is the thin proxy-wasm glue.

pub mod backend;
pub mod capture;
pub mod config;
pub mod embedding;
pub mod exact;
pub mod key;
pub mod lookup;
pub mod plugin;
pub mod replay;
pub mod rerank;
pub mod service;
pub mod vector;
pub mod verify;

higress_sdk::plugin!(plugin::SemanticCache);

//! The AI plugin chain (`chain.yaml`: pii-redaction → semantic-cache → token-rate-limit →
//! provider-fallback) run for real in one process: two mock LLMs (primary and fallback provider),
//! Redis with vector search, the local embedding server and `higress-ai-gateway`. Used by the
//! OpenAI SDK client tests (`tests/sdk_clients.rs`), the demo session (`ai-demo`, `make demo`) and
//! the dashboard check (`tests/chain.rs`). `scripts/run-local` renders the same `chain.yaml`.

pub mod chain;
pub mod chart;
pub mod demo;
pub mod http;
pub mod prometheus;
pub mod stack;
pub mod workload;

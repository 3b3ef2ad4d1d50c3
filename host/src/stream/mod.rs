//! HTTP stream processing: per-stream shared data and Envoy's filter manager.

pub mod manager;
pub mod state;

pub use manager::{FilterManager, LocalReply, Received, ReplyPath, WASM_FAIL_STREAM};
pub use state::{StreamInfo, StreamShared, TlsInfo, DEFAULT_BUFFER_LIMIT};

//! A Proxy-Wasm host on wasmtime that runs Higress plugins with Envoy's stream semantics.
//!
//! Layers: [`runtime`] (engine, module cache, deadlines) → [`vm`] (one VM per plugin per thread,
//! host functions) → [`stream`] (Envoy's filter manager over a chain of wasm filters) →
//! [`harness`] (what plugin tests drive). See `SEMANTICS.md` for every behaviour and its source.

pub mod abi;
pub mod build_support;
pub mod callout;
pub mod env;
pub mod harness;
pub mod live;
pub mod pairs;
pub mod plugin;
pub mod pool;
mod properties;
pub mod resp;
pub mod runtime;
pub mod shared;
pub mod stream;
pub mod tiny_wasm;
pub mod vm;
pub mod wasmplugin;

pub use abi::{AbiVersion, LogLevel, Status};
pub use callout::{HttpCallout, HttpCalloutResponse, RecordingUpstreams, RedisCallout, Upstreams};
pub use env::{HostEnv, LogRecord, ManualClock};
pub use harness::{Stream, TestHost};
pub use pairs::HeaderMap;
pub use plugin::{FailStrategy, Phase, Plugin, PluginConfig};
pub use runtime::{Runtime, RuntimeConfig};
pub use stream::{LocalReply, Received, ReplyPath};
pub use vm::{VmError, VmInstance};

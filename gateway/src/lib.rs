//! A local Higress-style AI gateway: an HTTP data plane (hyper) that runs `WasmPlugin` chains on
//! the `proxy-wasm-host` library with Envoy's stream semantics. See README.md.

pub mod accesslog;
pub mod admin;
pub mod body;
pub mod callout;
pub mod config;
pub mod dispatch;
pub mod headers;
pub mod redis;
pub mod registry;
pub mod reload;
pub mod routing;
pub mod server;
pub mod snapshot;
pub mod stats;
pub mod stream;
pub mod upstream;
pub mod worker;

pub use reload::{check, run};

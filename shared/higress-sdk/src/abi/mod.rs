//! The ABI glue, all in one place: exported `proxy_on_*` callbacks, raw imports, guest memory.
//!
//! Natively the exports are ordinary functions, so tests drive them with a fake host installed.

pub mod exports;
#[cfg(target_arch = "wasm32")]
mod imports;
pub mod memory;
#[cfg(target_arch = "wasm32")]
mod wasm_host;

pub use exports::*;
#[cfg(target_arch = "wasm32")]
pub use wasm_host::WasmHost;

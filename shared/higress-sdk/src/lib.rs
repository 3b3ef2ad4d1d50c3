//! Our own guest side of Proxy-Wasm for Higress.
//!
//! Why not the upstream `proxy-wasm` crate: Higress's Envoy speaks ABI **0.2.100**, where a
//! request-header `StopIteration` really holds the headers while the plugin reads the body (0.2.1
//! turns it into StopAll); the upstream crate unwraps host statuses and panics, which kills the
//! VM; and it has no Redis. Here every host call returns a `Result`, and the SDK itself never
//! panics on a host status or on bad input.
//!
//! # Layers
//! * [`plugin`](mod@plugin): [`Plugin`] + [`HttpPlugin`] with rule-matched config ([`config`]) and complete-body
//!   hooks. Register with [`plugin!`]. Most plugins need only this.
//! * [`traits`]: raw [`RootContext`]/[`HttpContext`] returning Higress's richer actions. Register
//!   with [`main!`].
//! * [`hostcalls`], [`properties`], [`ai_log`], [`log`]: typed host calls.
//! * [`http_call`] + [`cluster`]: callouts. [`redis`] + [`resp`]: Redis via Higress host calls.
//! * [`host`]: the [`host::Host`] trait all of the above go through; [`testing::FakeHost`]
//!   implements it in memory so plugin logic and the ABI glue ([`abi`]) run in native tests.
//!
//! # ABI 0.2.100 vs 0.2.1
//! By default the module exports `proxy_abi_version_0_2_100` and loads only in Higress. With the
//! `abi-0-2-1` feature it exports `proxy_abi_version_0_2_1`, imports none of Higress's extensions
//! (Redis calls then fail with `Unimplemented`), and a request-header `StopIteration` with a body
//! following is translated: Content-Length is removed, the headers continue upstream at once, and
//! the body is still buffered. So header changes made after reading the body only take effect under
//! 0.2.100. Response headers behave the same in both (they are never held while the body is read).
//!
//! # Registration
//! [`main!`]/[`plugin!`] emit the `proxy_on_context_create` export, which registers the root factory
//! on its first call; nothing depends on `_initialize` or static constructors having run.

pub mod abi;
pub mod ai_log;
pub mod cluster;
pub mod codec;
pub mod config;
pub mod dispatcher;
pub mod host;
pub mod hostcalls;
pub mod http_call;
pub mod log;
pub mod matcher;
pub mod plugin;
pub mod properties;
pub mod redis;
pub mod resp;
pub mod sha1;
pub mod testing;
pub mod traits;
pub mod types;

pub use config::{ConfigError, PluginConfig, RuleMatcher};
pub use http_call::{HttpCallError, HttpRequest, HttpResponse};
pub use log::Log;
pub use plugin::{HttpPlugin, Plugin, PluginRoot};
pub use redis::{LuaScript, RedisClient, RedisError};
pub use resp::RespValue;
pub use traits::{HttpContext, RootContext};
pub use types::{
    BufferType, DataAction, HeaderAction, HostError, LogLevel, MapType, Status, StreamType,
    TrailerAction,
};

/// Registers a root-context factory `fn(root_context_id) -> Box<dyn RootContext>` by emitting
/// the `proxy_on_context_create` export. Use once, in the plugin's cdylib crate.
///
/// ```ignore
/// higress_sdk::main!(|_id| Box::new(MyRoot::default()));
/// ```
#[macro_export]
macro_rules! main {
    ($factory:expr) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn proxy_on_context_create(context_id: u32, parent_context_id: u32) {
            $crate::abi::on_context_create($factory, context_id, parent_context_id);
        }
    };
}

/// Registers a [`Plugin`] type (rule matching and body buffering included).
///
/// ```ignore
/// higress_sdk::plugin!(MyPlugin);
/// ```
#[macro_export]
macro_rules! plugin {
    ($plugin:ty) => {
        $crate::main!(|_| ::std::boxed::Box::new($crate::PluginRoot::<$plugin>::default()));
    };
}

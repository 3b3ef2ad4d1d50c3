//! What a plugin implements at the ABI level. Most plugins use the higher-level
//! [`crate::plugin`](mod@crate::plugin) layer instead, which implements these for them.

use crate::http_call::{HttpCallError, HttpResponse};
use crate::redis::RedisError;
use crate::resp::RespValue;
use crate::types::{DataAction, HeaderAction, TrailerAction};

/// Per-plugin (per-VM and configuration) context. Created on `proxy_on_context_create(id, 0)`.
pub trait RootContext {
    /// `vm_configuration_size` bytes are in buffer `VmConfiguration`.
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        true
    }
    /// `plugin_configuration_size` bytes are in buffer `PluginConfiguration`. Return `false` to
    /// reject the configuration.
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        true
    }
    fn on_tick(&mut self) {}
    fn on_queue_ready(&mut self, _queue_id: u32) {}
    fn on_foreign_function(&mut self, _function_id: u32, _arguments_size: usize) {}
    /// `None` refuses the stream (the SDK then passes it through untouched).
    fn create_http_context(&mut self, context_id: u32) -> Option<Box<dyn HttpContext>>;
    fn on_http_call_response(
        &mut self,
        _token: u32,
        _response: Result<HttpResponse, HttpCallError>,
    ) {
    }
    fn on_redis_call_response(&mut self, _token: u32, _reply: Result<RespValue, RedisError>) {}
    /// Return `false` to delay shutdown until [`crate::hostcalls::done`] is called.
    fn on_done(&mut self) -> bool {
        true
    }
    fn on_log(&mut self) {}
}

/// Per-HTTP-stream context.
pub trait HttpContext {
    fn on_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> HeaderAction {
        HeaderAction::Continue
    }
    fn on_request_body(&mut self, _body_size: usize, _end_of_stream: bool) -> DataAction {
        DataAction::Continue
    }
    fn on_request_trailers(&mut self, _num_trailers: usize) -> TrailerAction {
        TrailerAction::Continue
    }
    fn on_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> HeaderAction {
        HeaderAction::Continue
    }
    fn on_response_body(&mut self, _body_size: usize, _end_of_stream: bool) -> DataAction {
        DataAction::Continue
    }
    fn on_response_trailers(&mut self, _num_trailers: usize) -> TrailerAction {
        TrailerAction::Continue
    }
    /// Delivered with this stream as the effective context, so header and body calls act on it.
    fn on_http_call_response(
        &mut self,
        _token: u32,
        _response: Result<HttpResponse, HttpCallError>,
    ) {
    }
    fn on_redis_call_response(&mut self, _token: u32, _reply: Result<RespValue, RedisError>) {}
    fn on_log(&mut self) {}
    fn on_done(&mut self) -> bool {
        true
    }
}

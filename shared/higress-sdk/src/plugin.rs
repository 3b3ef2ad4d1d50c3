//! The plugin layer most plugins should use: rule-matched config per request and "complete body"
//! hooks.
//!
//! * `on_configure` parses the config into a [`RuleMatcher`]; a bad config is logged with the field
//!   path and rejected.
//! * Each request gets the config of the first matching rule (else the global one). With no
//!   matching config, the stream passes through and the plugin's HTTP object is never created.
//! * If [`HttpPlugin::buffer_request_body`] is true and a body follows (`!end_of_stream` on the
//!   header callback), the SDK holds the headers (ABI 0.2.100) or lets them go without
//!   Content-Length (ABI 0.2.1), buffers the body and calls
//!   [`HttpPlugin::on_request_body_complete`] once with all of it. Responses work the same way,
//!   except that response headers always go first (no ABI can hold them while reading the body).

use std::marker::PhantomData;
use std::rc::Rc;

use crate::config::{PluginConfig, RuleMatcher};
use crate::hostcalls;
use crate::http_call::{HttpCallError, HttpResponse};
use crate::log::Log;
use crate::properties;
use crate::redis::RedisError;
use crate::resp::RespValue;
use crate::traits::{HttpContext, RootContext};
use crate::types::{DataAction, HeaderAction, HostError, TrailerAction};

/// The plugin as a whole (one per root context). Methods take `&self`: keep mutable state in
/// `Cell`/`RefCell`.
pub trait Plugin: Default + 'static {
    /// Prefix of every log line, e.g. `"ai-cache"`.
    const NAME: &'static str;
    type Config: PluginConfig;
    type Http: HttpPlugin;

    /// Called after the config parsed; e.g. init Redis clients per rule. `false` rejects it.
    fn configure(&self, _rules: &RuleMatcher<Self::Config>) -> bool {
        true
    }

    fn create_http(&self, config: Rc<Self::Config>, context_id: u32) -> Self::Http;

    fn on_tick(&self) {}
    fn on_queue_ready(&self, _queue_id: u32) {}
    fn on_http_call_response(&self, _token: u32, _response: Result<HttpResponse, HttpCallError>) {}
    fn on_redis_call_response(&self, _token: u32, _reply: Result<RespValue, RedisError>) {}
}

/// Per-request behaviour. All hooks have pass-through defaults.
pub trait HttpPlugin: 'static {
    fn on_request_headers(&mut self, _end_of_stream: bool) -> HeaderAction {
        HeaderAction::Continue
    }
    /// Buffer the request body and deliver it whole to `on_request_body_complete`.
    fn buffer_request_body(&self) -> bool {
        false
    }
    /// Raise the per-stream request buffer limit while buffering (bytes).
    fn request_body_limit(&self) -> Option<u32> {
        None
    }
    fn on_request_body_complete(&mut self, _body: &[u8]) -> DataAction {
        DataAction::Continue
    }
    /// Streaming body callback, used when not buffering.
    fn on_request_body(&mut self, _body_size: usize, _end_of_stream: bool) -> DataAction {
        DataAction::Continue
    }
    fn on_request_trailers(&mut self) -> TrailerAction {
        TrailerAction::Continue
    }
    fn on_response_headers(&mut self, _end_of_stream: bool) -> HeaderAction {
        HeaderAction::Continue
    }
    fn buffer_response_body(&self) -> bool {
        false
    }
    fn response_body_limit(&self) -> Option<u32> {
        None
    }
    fn on_response_body_complete(&mut self, _body: &[u8]) -> DataAction {
        DataAction::Continue
    }
    fn on_response_body(&mut self, _body_size: usize, _end_of_stream: bool) -> DataAction {
        DataAction::Continue
    }
    fn on_response_trailers(&mut self) -> TrailerAction {
        TrailerAction::Continue
    }
    fn on_http_call_response(
        &mut self,
        _token: u32,
        _response: Result<HttpResponse, HttpCallError>,
    ) {
    }
    fn on_redis_call_response(&mut self, _token: u32, _reply: Result<RespValue, RedisError>) {}
    fn on_log(&mut self) {}
}

/// Replaces the request body from `on_request_body_complete`. Under ABI 0.2.100 the headers are
/// still held, so Content-Length (if present) is corrected too; under 0.2.1 it was already removed.
pub fn replace_request_body(body: &[u8]) -> Result<(), HostError> {
    hostcalls::replace_request_body(body)?;
    if !cfg!(feature = "abi-0-2-1") {
        if let Ok(Some(_)) = hostcalls::get_request_header("content-length") {
            hostcalls::set_request_header("content-length", Some(&body.len().to_string()))?;
        }
    }
    Ok(())
}

/// Replaces the response body from `on_response_body_complete` (Content-Length was removed when
/// the headers went downstream).
pub fn replace_response_body(body: &[u8]) -> Result<(), HostError> {
    hostcalls::replace_response_body(body)
}

/// The [`RootContext`] that runs a [`Plugin`]. Register it with [`crate::plugin!`].
pub struct PluginRoot<P: Plugin> {
    plugin: Rc<P>,
    rules: Rc<RuleMatcher<P::Config>>,
    configured: bool,
    log: Log,
}

impl<P: Plugin> Default for PluginRoot<P> {
    fn default() -> Self {
        PluginRoot {
            plugin: Rc::new(P::default()),
            rules: Rc::new(RuleMatcher::default()),
            configured: false,
            log: Log::new(P::NAME),
        }
    }
}

impl<P: Plugin> PluginRoot<P> {
    pub fn plugin(&self) -> &Rc<P> {
        &self.plugin
    }
}

impl<P: Plugin> RootContext for PluginRoot<P> {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = match hostcalls::get_plugin_configuration() {
            Ok(b) => b.unwrap_or_default(),
            Err(e) => {
                self.log
                    .error(format_args!("cannot read the plugin configuration: {e}"));
                return false;
            }
        };
        let rules = match RuleMatcher::<P::Config>::parse(&bytes) {
            Ok(r) => r,
            Err(e) => {
                self.log.error(format_args!("invalid configuration: {e}"));
                return false;
            }
        };
        if !self.plugin.configure(&rules) {
            return false;
        }
        self.rules = Rc::new(rules);
        self.configured = true;
        true
    }

    fn on_tick(&mut self) {
        self.plugin.on_tick();
    }

    fn on_queue_ready(&mut self, queue_id: u32) {
        self.plugin.on_queue_ready(queue_id);
    }

    fn create_http_context(&mut self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        if !self.configured {
            return None;
        }
        Some(Box::new(PluginHttp::<P> {
            plugin: self.plugin.clone(),
            rules: self.rules.clone(),
            log: self.log,
            inner: None,
            request: BodyState::default(),
            response: BodyState::default(),
            _marker: PhantomData,
        }))
    }

    fn on_http_call_response(&mut self, token: u32, response: Result<HttpResponse, HttpCallError>) {
        self.plugin.on_http_call_response(token, response);
    }

    fn on_redis_call_response(&mut self, token: u32, reply: Result<RespValue, RedisError>) {
        self.plugin.on_redis_call_response(token, reply);
    }
}

#[derive(Default)]
struct BodyState {
    buffering: bool,
    delivered: bool,
}

struct PluginHttp<P: Plugin> {
    plugin: Rc<P>,
    rules: Rc<RuleMatcher<P::Config>>,
    log: Log,
    /// `None` until the request headers matched a config, and for good if none did.
    inner: Option<P::Http>,
    request: BodyState,
    response: BodyState,
    _marker: PhantomData<P>,
}

impl<P: Plugin> PluginHttp<P> {
    fn deliver_body(&mut self, request: bool, size: usize) -> DataAction {
        let Some(inner) = self.inner.as_mut() else {
            return DataAction::Continue;
        };
        let read = if request {
            hostcalls::get_request_body(0, size)
        } else {
            hostcalls::get_response_body(0, size)
        };
        match read {
            Ok(body) => {
                let body = body.unwrap_or_default();
                if request {
                    self.request.delivered = true;
                    inner.on_request_body_complete(&body)
                } else {
                    self.response.delivered = true;
                    inner.on_response_body_complete(&body)
                }
            }
            Err(e) => {
                self.log
                    .error(format_args!("cannot read the buffered body: {e}"));
                DataAction::Continue
            }
        }
    }
}

/// Stop to read the body if the plugin buffers and a body follows; otherwise the plugin's answer.
fn hold_for_body(action: HeaderAction, buffering: bool) -> HeaderAction {
    if buffering && action == HeaderAction::Continue {
        HeaderAction::StopIteration
    } else {
        action
    }
}

impl<P: Plugin> HttpContext for PluginHttp<P> {
    fn on_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> HeaderAction {
        let config = match self.rules.match_current() {
            Ok(Some(config)) => config,
            Ok(None) => return HeaderAction::Continue,
            Err(e) => {
                self.log.warn(format_args!(
                    "cannot match rules, passing the request through: {e}"
                ));
                return HeaderAction::Continue;
            }
        };
        let context_id = crate::dispatcher::active_context_id();
        let inner = self
            .inner
            .insert(self.plugin.create_http(config, context_id));
        let action = inner.on_request_headers(end_of_stream);
        self.request.buffering = !end_of_stream && inner.buffer_request_body();
        if self.request.buffering {
            if let Some(limit) = inner.request_body_limit() {
                if let Err(e) = properties::set_decoder_buffer_limit(limit) {
                    self.log
                        .warn(format_args!("cannot raise the request buffer limit: {e}"));
                }
            }
        }
        hold_for_body(action, self.request.buffering)
    }

    fn on_request_body(&mut self, body_size: usize, end_of_stream: bool) -> DataAction {
        let Some(inner) = self.inner.as_mut() else {
            return DataAction::Continue;
        };
        if !self.request.buffering || self.request.delivered {
            return inner.on_request_body(body_size, end_of_stream);
        }
        if !end_of_stream {
            return DataAction::StopIterationAndBuffer;
        }
        // While buffering, `body_size` is the total buffered so far.
        self.deliver_body(true, body_size)
    }

    fn on_request_trailers(&mut self, _num_trailers: usize) -> TrailerAction {
        // With trailers the last body chunk never has end_of_stream; the body is complete now.
        if self.request.buffering
            && !self.request.delivered
            && self.deliver_body(true, u32::MAX as usize) != DataAction::Continue
        {
            return TrailerAction::Pause;
        }
        self.inner
            .as_mut()
            .map_or(TrailerAction::Continue, |i| i.on_request_trailers())
    }

    fn on_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> HeaderAction {
        let Some(inner) = self.inner.as_mut() else {
            return HeaderAction::Continue;
        };
        let action = inner.on_response_headers(end_of_stream);
        self.response.buffering = !end_of_stream && inner.buffer_response_body();
        if self.response.buffering {
            if let Some(limit) = inner.response_body_limit() {
                if let Err(e) = properties::set_encoder_buffer_limit(limit) {
                    self.log
                        .warn(format_args!("cannot raise the response buffer limit: {e}"));
                }
            }
        }
        hold_for_body(action, self.response.buffering)
    }

    fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> DataAction {
        let Some(inner) = self.inner.as_mut() else {
            return DataAction::Continue;
        };
        if !self.response.buffering || self.response.delivered {
            return inner.on_response_body(body_size, end_of_stream);
        }
        if !end_of_stream {
            return DataAction::StopIterationAndBuffer;
        }
        self.deliver_body(false, body_size)
    }

    fn on_response_trailers(&mut self, _num_trailers: usize) -> TrailerAction {
        if self.response.buffering
            && !self.response.delivered
            && self.deliver_body(false, u32::MAX as usize) != DataAction::Continue
        {
            return TrailerAction::Pause;
        }
        self.inner
            .as_mut()
            .map_or(TrailerAction::Continue, |i| i.on_response_trailers())
    }

    fn on_http_call_response(&mut self, token: u32, response: Result<HttpResponse, HttpCallError>) {
        if let Some(inner) = self.inner.as_mut() {
            inner.on_http_call_response(token, response);
        }
    }

    fn on_redis_call_response(&mut self, token: u32, reply: Result<RespValue, RedisError>) {
        if let Some(inner) = self.inner.as_mut() {
            inner.on_redis_call_response(token, reply);
        }
    }

    fn on_log(&mut self) {
        if let Some(inner) = self.inner.as_mut() {
            inner.on_log();
        }
    }
}

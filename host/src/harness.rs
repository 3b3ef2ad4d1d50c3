//! Test harness: a host with a chain of plugins (one VM each on this thread), streams driven
//! frame by frame, callouts answered by the test, a manual clock for timers, and access to logs,
//! metrics and filter state.
//!
//! ```no_run
//! use proxy_wasm_host::harness::TestHost;
//! use proxy_wasm_host::PluginConfig;
//! let mut host = TestHost::new();
//! host.add_plugin_file("target/wasm32-wasip1/release/my_plugin.wasm", PluginConfig::new("my-plugin", "{}"))
//!     .unwrap();
//! let mut s = host.stream();
//! s.send_request_headers(&[(":method", "GET"), (":path", "/"), (":authority", "example.com")], true);
//! assert!(s.upstream().headers.is_some());
//! s.send_response_headers(&[(":status", "200")], true);
//! assert_eq!(s.downstream().status(), Some(200));
//! ```

use crate::callout::{HttpCallout, HttpCalloutResponse, RecordingUpstreams, RedisCallout};
use crate::env::{Clock, HostEnv, LogRecord, ManualClock};
use crate::pairs::HeaderMap;
use crate::plugin::{chain_order, Plugin, PluginConfig};
use crate::pool::PluginVm;
use crate::runtime::{LoadError, Runtime};
use crate::shared::MetricValue;
use crate::stream::manager::{FilterManager, LocalReply, Received};
use crate::stream::state::{StreamInfo, StreamShared};
use crate::vm::{CallOutcome, VmError, VmInstance};
use crate::wasmplugin::{self, WasmPluginError};
use std::cell::{RefCell, RefMut};
use std::path::Path;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

/// Errors adding a plugin.
#[derive(Debug)]
pub enum HarnessError {
    Load(LoadError),
    Vm(VmError),
    WasmPlugin(WasmPluginError),
}

impl std::fmt::Display for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HarnessError::Load(e) => write!(f, "{e}"),
            HarnessError::Vm(e) => write!(f, "{e}"),
            HarnessError::WasmPlugin(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for HarnessError {}

/// A host on the current thread with a chain of plugins.
pub struct TestHost {
    pub runtime: Arc<Runtime>,
    pub env: Arc<HostEnv>,
    pub upstreams: Arc<RecordingUpstreams>,
    pub clock: Arc<ManualClock>,
    plugins: Vec<PluginVm>,
    /// Removed plugins whose VMs are not shut down yet.
    draining: Vec<PluginVm>,
    /// Stream info template for new streams (route, cluster, addresses).
    pub info: StreamInfo,
    registry: Rc<Registry>,
}

impl Default for TestHost {
    fn default() -> Self {
        Self::new()
    }
}

impl TestHost {
    /// A host on the process-wide runtime with recording upstreams (every cluster exists) and a
    /// manual clock.
    pub fn new() -> Self {
        let (env, upstreams, clock) = HostEnv::for_tests();
        Self::with_env(Runtime::shared(), env, upstreams, clock)
    }

    /// A host like [`TestHost::new`] whose plugins log at `level` and above (the default is info,
    /// like Envoy's); `proxy_get_log_level` and `get_log_level` report it.
    pub fn with_log_level(level: crate::abi::LogLevel) -> Self {
        let up = Arc::new(RecordingUpstreams::any_cluster());
        let clock = Arc::new(ManualClock::new());
        let mut env = HostEnv::new(up.clone(), clock.clone());
        env.log_level = level;
        Self::with_env(Runtime::shared(), Arc::new(env), up, clock)
    }

    pub fn with_env(
        runtime: Arc<Runtime>,
        env: Arc<HostEnv>,
        upstreams: Arc<RecordingUpstreams>,
        clock: Arc<ManualClock>,
    ) -> Self {
        Self {
            runtime,
            env,
            upstreams,
            clock,
            plugins: Vec::new(),
            draining: Vec::new(),
            info: StreamInfo::default(),
            registry: Rc::new(Registry::default()),
        }
    }

    /// Adds a plugin from wasm bytes; the chain is kept in Higress order (phase, priority, name).
    pub fn add_plugin(
        &mut self,
        wasm: &[u8],
        config: PluginConfig,
    ) -> Result<&mut Self, HarnessError> {
        let plugin = Plugin::new(self.runtime.clone(), wasm, config).map_err(HarnessError::Load)?;
        let vm = PluginVm::new(plugin, self.env.clone()).map_err(HarnessError::Vm)?;
        self.registry
            .vms
            .borrow_mut()
            .push(Rc::downgrade(&vm.current()));
        self.plugins.push(vm);
        let mut order: Vec<Arc<Plugin>> = self.plugins.iter().map(|p| p.plugin.clone()).collect();
        chain_order(&mut order);
        self.plugins.sort_by_key(|p| {
            order
                .iter()
                .position(|o| Arc::ptr_eq(o, &p.plugin))
                .unwrap_or(usize::MAX)
        });
        Ok(self)
    }

    pub fn add_plugin_file(
        &mut self,
        path: impl AsRef<Path>,
        config: PluginConfig,
    ) -> Result<&mut Self, HarnessError> {
        let bytes = std::fs::read(path.as_ref()).map_err(|e| {
            HarnessError::Load(LoadError::Io(format!("{}: {e}", path.as_ref().display())))
        })?;
        self.add_plugin(&bytes, config)
    }

    /// Adds a plugin from a Higress `WasmPlugin` YAML document (spec.url must be `file://`).
    /// Returns `false` when the controller would drop the plugin (everything disabled).
    pub fn add_wasmplugin_yaml(&mut self, yaml: &str) -> Result<bool, HarnessError> {
        let doc = wasmplugin::parse(yaml).map_err(HarnessError::WasmPlugin)?;
        let Some((config, path)) =
            wasmplugin::to_plugin_config(&doc).map_err(HarnessError::WasmPlugin)?
        else {
            return Ok(false);
        };
        self.add_plugin_file(path, config)?;
        Ok(true)
    }

    /// Plugin names in chain order.
    pub fn chain(&self) -> Vec<String> {
        self.plugins
            .iter()
            .map(|p| p.plugin.config.name.clone())
            .collect()
    }

    /// The current VM of plugin `name` (e.g. to check `is_failed`).
    pub fn vm(&self, name: &str) -> Option<Rc<RefCell<VmInstance>>> {
        self.plugins
            .iter()
            .find(|p| p.plugin.config.name == name)
            .map(PluginVm::current)
    }

    /// Removes plugin `name` from the chain (a reload or delete of its WasmPlugin): its VM is shut
    /// down (`proxy_on_done`, then `proxy_on_delete`) once no stream uses it; a root context that
    /// answers false stays alive until it calls `proxy_done`. Returns whether it was present.
    pub fn remove_plugin(&mut self, name: &str) -> bool {
        match self
            .plugins
            .iter()
            .position(|p| p.plugin.config.name == name)
        {
            Some(i) => {
                let mut p = self.plugins.remove(i);
                p.retire();
                if !p.retired().is_empty() {
                    self.draining.push(p);
                }
                true
            }
            None => false,
        }
    }

    /// Shuts down retired VMs that no stream uses any more and forgets finished ones; runs on
    /// every [`TestHost::stream`] too.
    pub fn reap(&mut self) {
        for p in self.plugins.iter_mut().chain(self.draining.iter_mut()) {
            p.reap();
        }
        self.draining.retain(|p| !p.retired().is_empty());
    }

    /// VMs of plugin `name` replaced or removed but still alive (streams on them, or a root
    /// context waiting for `proxy_done`).
    pub fn retired_vms(&self, name: &str) -> Vec<Rc<RefCell<VmInstance>>> {
        self.plugins
            .iter()
            .chain(self.draining.iter())
            .filter(|p| p.plugin.config.name == name)
            .flat_map(|p| p.retired().iter().cloned())
            .collect()
    }

    /// How many times the VM of plugin `name` was rebuilt after failing.
    pub fn rebuilds(&self, name: &str) -> u32 {
        self.plugins
            .iter()
            .find(|p| p.plugin.config.name == name)
            .map_or(0, |p| p.rebuilds)
    }

    /// Starts a stream through the whole chain.
    pub fn stream(&mut self) -> Stream {
        self.reap();
        let mut filters = Vec::new();
        let mut slots = Vec::new();
        for p in &mut self.plugins {
            let (filter, slot, vm) = p.filter_for_stream();
            self.registry.add_vm(&vm);
            filters.push(filter);
            slots.push(slot);
        }
        let mut info = self.info.clone();
        info.start_time_ns = self.clock.realtime_ns();
        let shared = Rc::new(RefCell::new(StreamShared {
            slots,
            info,
            ..StreamShared::default()
        }));
        let fm = Rc::new(RefCell::new(FilterManager::new(filters, shared.clone())));
        self.registry.add_stream(&fm);
        Stream {
            fm,
            shared,
            env: self.env.clone(),
            upstreams: self.upstreams.clone(),
            clock: self.clock.clone(),
            registry: self.registry.clone(),
        }
    }

    /// Removes and returns the plugin log lines recorded so far.
    pub fn take_logs(&self) -> Vec<LogRecord> {
        self.env.take_logs()
    }

    /// Messages of the recorded log lines (without removing them).
    pub fn log_messages(&self) -> Vec<String> {
        self.env
            .logs
            .lock()
            .unwrap()
            .iter()
            .map(|l| l.message.clone())
            .collect()
    }

    pub fn metric(&self, name: &str) -> Option<MetricValue> {
        self.env.metrics.get(name)
    }

    /// Advances the clock: due `proxy_on_tick`s fire on every VM and callouts past their
    /// timeout get a 504; what they ask of streams is routed to the stream owning the context.
    pub fn advance(&mut self, d: Duration) {
        self.registry.advance(&self.clock, &self.upstreams, d);
    }

    /// HTTP callouts dispatched (by any stream or timer) and not answered yet.
    pub fn http_calls(&self) -> Vec<HttpCallout> {
        self.registry.collect(&self.clock, &self.upstreams);
        self.registry
            .http
            .borrow()
            .iter()
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// Answers an HTTP callout; the plugin's reaction reaches whichever stream it targets.
    pub fn respond_http(&self, call: &HttpCallout, resp: HttpCalloutResponse) {
        self.registry
            .deliver_http(call, Some(resp), &self.clock, &self.upstreams);
    }
}

/// Live streams, VMs and unanswered callouts of a host: callout answers and timer callbacks run
/// on a VM's root context and may act on any stream of that VM, so they are routed by context id.
#[derive(Default)]
struct Registry {
    streams: RefCell<Vec<Weak<RefCell<FilterManager>>>>,
    vms: RefCell<Vec<Weak<RefCell<VmInstance>>>>,
    http: RefCell<Vec<(HttpCallout, Option<u64>)>>,
    redis: RefCell<Vec<RedisCallout>>,
}

impl Registry {
    /// Remembers a VM once; forgets dropped ones.
    fn add_vm(&self, vm: &Rc<RefCell<VmInstance>>) {
        let mut vms = self.vms.borrow_mut();
        vms.retain(|w| w.strong_count() > 0);
        if !vms.iter().any(|w| w.as_ptr() == Rc::as_ptr(vm)) {
            vms.push(Rc::downgrade(vm));
        }
    }

    /// Remembers a live stream; forgets finished (dropped) ones.
    fn add_stream(&self, fm: &Rc<RefCell<FilterManager>>) {
        let mut streams = self.streams.borrow_mut();
        streams.retain(|w| w.strong_count() > 0);
        streams.push(Rc::downgrade(fm));
    }

    fn vm(&self, uid: u64) -> Option<Rc<RefCell<VmInstance>>> {
        self.vms
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .find(|vm| vm.borrow().uid() == uid)
    }

    /// Sends each deferred action to the stream whose filter owns its context.
    fn route(&self, vm: &Rc<RefCell<VmInstance>>, outcome: CallOutcome) {
        let streams: Vec<Rc<RefCell<FilterManager>>> = self
            .streams
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for action in outcome.actions {
            let ctx = action.context();
            if let Some(fm) = streams.iter().find(|fm| fm.borrow().owns(vm, ctx)) {
                fm.borrow_mut().apply_outcome(
                    vm,
                    CallOutcome {
                        ret: None,
                        actions: vec![action],
                        stop_next: false,
                    },
                );
            }
        }
    }

    /// Runs pending `proxy_on_queue_ready` on every VM and moves recorded callouts here.
    fn collect(&self, clock: &ManualClock, upstreams: &RecordingUpstreams) {
        let vms: Vec<_> = self.vms.borrow().iter().filter_map(Weak::upgrade).collect();
        for vm in vms {
            let outcomes = vm.borrow_mut().deliver_queue_ready();
            for o in outcomes {
                self.route(&vm, o);
            }
        }
        let now = clock.monotonic_ns();
        for c in upstreams.take_http() {
            let deadline = c.timeout.map(|t| now + t.as_nanos() as u64);
            self.http.borrow_mut().push((c, deadline));
        }
        self.redis.borrow_mut().extend(upstreams.take_redis());
    }

    fn deliver_http(
        &self,
        call: &HttpCallout,
        resp: Option<HttpCalloutResponse>,
        clock: &ManualClock,
        upstreams: &RecordingUpstreams,
    ) {
        self.collect(clock, upstreams);
        self.http
            .borrow_mut()
            .retain(|(c, _)| !(c.vm == call.vm && c.token == call.token));
        if let Some(vm) = self.vm(call.vm) {
            let o = vm.borrow_mut().http_call_response(call.token, resp);
            self.route(&vm, o);
        }
        self.collect(clock, upstreams);
    }

    fn deliver_redis(
        &self,
        call: &RedisCallout,
        status: u32,
        reply: Vec<u8>,
        clock: &ManualClock,
        upstreams: &RecordingUpstreams,
    ) {
        self.collect(clock, upstreams);
        self.redis
            .borrow_mut()
            .retain(|c| !(c.vm == call.vm && c.token == call.token));
        if let Some(vm) = self.vm(call.vm) {
            let o = vm
                .borrow_mut()
                .redis_call_response(call.token, status, reply);
            self.route(&vm, o);
        }
        self.collect(clock, upstreams);
    }

    fn advance(&self, clock: &ManualClock, upstreams: &RecordingUpstreams, d: Duration) {
        clock.advance(d);
        let vms: Vec<_> = self.vms.borrow().iter().filter_map(Weak::upgrade).collect();
        for vm in vms {
            let outcomes = vm.borrow_mut().fire_due_ticks();
            for o in outcomes {
                self.route(&vm, o);
            }
        }
        self.collect(clock, upstreams);
        let now = clock.monotonic_ns();
        let expired: Vec<HttpCallout> = self
            .http
            .borrow()
            .iter()
            .filter(|(_, dl)| dl.is_some_and(|dl| dl <= now))
            .map(|(c, _)| c.clone())
            .collect();
        for c in expired {
            self.deliver_http(&c, Some(timeout_response()), clock, upstreams);
        }
    }
}

/// Envoy's async client answers a timed-out request with a local 504 (same header order as
/// `Utility::prepareLocalReply`).
fn timeout_response() -> HttpCalloutResponse {
    HttpCalloutResponse::new(
        504,
        &[("content-length", "24"), ("content-type", "text/plain")],
        "upstream request timeout",
    )
}

/// One HTTP stream through a [`TestHost`]'s chain.
pub struct Stream {
    fm: Rc<RefCell<FilterManager>>,
    shared: Rc<RefCell<StreamShared>>,
    env: Arc<HostEnv>,
    upstreams: Arc<RecordingUpstreams>,
    clock: Arc<ManualClock>,
    registry: Rc<Registry>,
}

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    HeaderMap::from_pairs(pairs)
}

impl Stream {
    /// Stream info (route, cluster, filter state, limits); set route/cluster before headers.
    pub fn info(&self) -> RefMut<'_, StreamInfo> {
        RefMut::map(self.shared.borrow_mut(), |s| &mut s.info)
    }

    pub fn set_route_name(&mut self, name: &str) -> &mut Self {
        self.info().route_name = name.to_string();
        self
    }

    pub fn set_cluster_name(&mut self, name: &str) -> &mut Self {
        self.info().cluster_name = name.to_string();
        self
    }

    fn step(&mut self, f: impl FnOnce(&mut FilterManager)) -> &mut Self {
        f(&mut self.fm.borrow_mut());
        self.registry.collect(&self.clock, &self.upstreams);
        self
    }

    pub fn send_request_headers(
        &mut self,
        headers: &[(&str, &str)],
        end_stream: bool,
    ) -> &mut Self {
        self.step(|fm| fm.decode_headers(map(headers), end_stream))
    }

    pub fn send_request_body(&mut self, chunk: impl AsRef<[u8]>, end_stream: bool) -> &mut Self {
        let chunk = chunk.as_ref().to_vec();
        self.step(|fm| fm.decode_data(chunk, end_stream))
    }

    /// Sends `body` split into chunks of `chunk_size` bytes, the last one with end_stream.
    pub fn send_request_body_chunked(&mut self, body: &[u8], chunk_size: usize) -> &mut Self {
        self.send_chunked(body, chunk_size, |s, c, eos| {
            s.send_request_body(c, eos);
        })
    }

    /// `send` for each `chunk_size` piece of `body`, end_stream on the last (an empty body is one
    /// empty end_stream chunk, as Envoy delivers it).
    fn send_chunked(
        &mut self,
        body: &[u8],
        chunk_size: usize,
        send: impl Fn(&mut Self, &[u8], bool),
    ) -> &mut Self {
        let chunks: Vec<&[u8]> = body.chunks(chunk_size.max(1)).collect();
        if chunks.is_empty() {
            send(self, b"", true);
            return self;
        }
        for (n, c) in chunks.iter().enumerate() {
            send(self, c, n + 1 == chunks.len());
        }
        self
    }

    pub fn send_request_trailers(&mut self, trailers: &[(&str, &str)]) -> &mut Self {
        self.step(|fm| fm.decode_trailers(map(trailers)))
    }

    pub fn send_response_headers(
        &mut self,
        headers: &[(&str, &str)],
        end_stream: bool,
    ) -> &mut Self {
        self.step(|fm| fm.encode_headers(map(headers), end_stream))
    }

    pub fn send_response_body(&mut self, chunk: impl AsRef<[u8]>, end_stream: bool) -> &mut Self {
        let chunk = chunk.as_ref().to_vec();
        self.step(|fm| fm.encode_data(chunk, end_stream))
    }

    /// Sends `body` split into chunks of `chunk_size` bytes, the last one with end_stream.
    pub fn send_response_body_chunked(&mut self, body: &[u8], chunk_size: usize) -> &mut Self {
        self.send_chunked(body, chunk_size, |s, c, eos| {
            s.send_response_body(c, eos);
        })
    }

    pub fn send_response_trailers(&mut self, trailers: &[(&str, &str)]) -> &mut Self {
        self.step(|fm| fm.encode_trailers(map(trailers)))
    }

    /// What the upstream received so far.
    pub fn upstream(&self) -> Received {
        self.fm.borrow().upstream.clone()
    }

    /// What the client received so far.
    pub fn downstream(&self) -> Received {
        self.fm.borrow().downstream.clone()
    }

    pub fn local_replies(&self) -> Vec<LocalReply> {
        self.fm.borrow().local_replies.clone()
    }

    pub fn reset_reason(&self) -> Option<String> {
        self.fm.borrow().reset.clone()
    }

    /// Whether the upstream may still answer (no local reply or reset took over).
    pub fn upstream_can_respond(&self) -> bool {
        self.fm.borrow().upstream_can_respond()
    }

    /// Filter state written with `set_property(name, ..)` (e.g. `ai_log`), as Envoy stores it
    /// under `wasm.<name>`.
    pub fn filter_state(&self, name: &str) -> Option<Vec<u8>> {
        self.info()
            .filter_state
            .get(&format!("wasm.{name}"))
            .cloned()
    }

    pub fn response_code_details(&self) -> Option<String> {
        self.info().response_code_details.clone()
    }

    /// Flow control engaged on [request, response] because a watermark buffer overflowed.
    pub fn watermark_hit(&self) -> [bool; 2] {
        self.fm.borrow().watermark_hit
    }

    /// HTTP callouts dispatched (by any stream of the host) and not answered yet.
    pub fn http_calls(&mut self) -> Vec<HttpCallout> {
        self.registry.collect(&self.clock, &self.upstreams);
        self.registry
            .http
            .borrow()
            .iter()
            .map(|(c, _)| c.clone())
            .collect()
    }

    pub fn redis_calls(&mut self) -> Vec<RedisCallout> {
        self.registry.collect(&self.clock, &self.upstreams);
        self.registry.redis.borrow().clone()
    }

    /// Answers an HTTP callout.
    pub fn respond_http(&mut self, call: &HttpCallout, resp: HttpCalloutResponse) -> &mut Self {
        self.registry
            .deliver_http(call, Some(resp), &self.clock, &self.upstreams);
        self
    }

    /// Fails an HTTP callout (connection reset): `proxy_on_http_call_response(.., 0, 0, 0)`.
    pub fn fail_http(&mut self, call: &HttpCallout) -> &mut Self {
        self.registry
            .deliver_http(call, None, &self.clock, &self.upstreams);
        self
    }

    /// Times an HTTP callout out: Envoy's async client answers 504 "upstream request timeout".
    pub fn timeout_http(&mut self, call: &HttpCallout) -> &mut Self {
        self.registry
            .deliver_http(call, Some(timeout_response()), &self.clock, &self.upstreams);
        self
    }

    /// Answers a Redis callout with raw RESP bytes (status 0 = Ok).
    pub fn respond_redis(&mut self, call: &RedisCallout, resp: impl Into<Vec<u8>>) -> &mut Self {
        self.registry
            .deliver_redis(call, 0, resp.into(), &self.clock, &self.upstreams);
        self
    }

    /// Fails a Redis callout (network error, empty reply).
    pub fn fail_redis(&mut self, call: &RedisCallout) -> &mut Self {
        self.registry
            .deliver_redis(call, 1, Vec::new(), &self.clock, &self.upstreams);
        self
    }

    /// Advances the fake clock: due timers fire, callouts past their timeout get a 504.
    pub fn advance(&mut self, d: Duration) -> &mut Self {
        self.registry.advance(&self.clock, &self.upstreams, d);
        self
    }

    /// Ends the stream: on_log, on_done, on_delete for every filter. `request.duration` becomes
    /// available (the manual clock's time since the stream started).
    pub fn finish(&mut self) -> &mut Self {
        self.complete_request();
        self.fm.borrow_mut().finish();
        self
    }

    fn complete_request(&self) {
        let mut s = self.shared.borrow_mut();
        if s.info.request_duration_ns.is_none() {
            let now = self.clock.realtime_ns();
            s.info.request_duration_ns = Some(now.saturating_sub(s.info.start_time_ns));
        }
    }

    /// The endpoint a plugin pinned with `proxy_set_upstream_override_host`, for the embedder's
    /// load balancer to honour.
    pub fn upstream_override_host(&self) -> Option<String> {
        self.info().upstream_override_host.clone()
    }

    /// Context id the plugin at chain position `i` got (None if never created).
    pub fn context_of(&self, i: usize) -> Option<u32> {
        self.fm.borrow().context_of(i)
    }

    pub fn env(&self) -> &Arc<HostEnv> {
        &self.env
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.complete_request();
        self.fm.borrow_mut().finish();
    }
}

//! One Proxy-Wasm VM: a wasmtime `Store` + instance living on one thread (like Envoy's per-worker
//! VMs), its lifecycle (cpp-host `WasmBase::initialize`/`start`/`configure`) and the typed calls
//! into `proxy_on_*` exports with the per-call deadline and failure handling.

mod buffers;
mod imports;
mod maps;
mod memory;
pub(crate) mod state;
mod wasi;

use crate::abi::{AbiVersion, LogLevel};
use crate::callout::HttpCalloutResponse;
use crate::env::HostEnv;
use crate::plugin::Plugin;
use crate::stream::state::StreamShared;
pub use state::Action;
use state::{HostState, PluginInfo};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use wasmtime::{Func, Instance, Linker, Store, StoreLimitsBuilder, Val};

/// Why a VM could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmError {
    Link(String),
    /// A trap in `_initialize`/`_start`/`main`/`proxy_on_context_create`/`proxy_on_vm_start`.
    Start(String),
    /// `proxy_on_vm_start` returned false.
    VmStartRejected,
    /// `proxy_on_configure` returned false (Envoy: "Wasm VM failed to configure").
    ConfigureRejected,
}

impl std::fmt::Display for VmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for VmError {}

/// A guest callback.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Callback {
    ContextCreate(u32),
    RequestHeaders(u32, bool),
    RequestBody(u32, bool),
    RequestTrailers(u32),
    ResponseHeaders(u32, bool),
    ResponseBody(u32, bool),
    ResponseTrailers(u32),
    Log,
    Done,
    Delete,
    HttpCallResponse(u32, u32, u32, u32),
    RedisCallResponse(u32, u32, u32),
    Tick,
    QueueReady(u32),
}

impl Callback {
    fn export(&self) -> &'static str {
        match self {
            Callback::ContextCreate(_) => "proxy_on_context_create",
            Callback::RequestHeaders(..) => "proxy_on_request_headers",
            Callback::RequestBody(..) => "proxy_on_request_body",
            Callback::RequestTrailers(_) => "proxy_on_request_trailers",
            Callback::ResponseHeaders(..) => "proxy_on_response_headers",
            Callback::ResponseBody(..) => "proxy_on_response_body",
            Callback::ResponseTrailers(_) => "proxy_on_response_trailers",
            Callback::Log => "proxy_on_log",
            Callback::Done => "proxy_on_done",
            Callback::Delete => "proxy_on_delete",
            Callback::HttpCallResponse(..) => "proxy_on_http_call_response",
            Callback::RedisCallResponse(..) => "proxy_on_redis_call_response",
            Callback::Tick => "proxy_on_tick",
            Callback::QueueReady(_) => "proxy_on_queue_ready",
        }
    }

    fn args(&self, ctx: u32) -> Vec<Val> {
        let i = |v: u32| Val::I32(v as i32);
        let b = |v: bool| Val::I32(v as i32);
        match *self {
            Callback::ContextCreate(parent) => vec![i(ctx), i(parent)],
            Callback::RequestHeaders(n, e) | Callback::ResponseHeaders(n, e) => {
                vec![i(ctx), i(n), b(e)]
            }
            Callback::RequestBody(n, e) | Callback::ResponseBody(n, e) => vec![i(ctx), i(n), b(e)],
            Callback::RequestTrailers(n) | Callback::ResponseTrailers(n) => vec![i(ctx), i(n)],
            Callback::Log | Callback::Done | Callback::Delete | Callback::Tick => vec![i(ctx)],
            Callback::HttpCallResponse(t, h, b2, tr) => vec![i(ctx), i(t), i(h), i(b2), i(tr)],
            Callback::RedisCallResponse(t, s, n) => vec![i(ctx), i(t), i(s), i(n)],
            Callback::QueueReady(t) => vec![i(ctx), i(t)],
        }
    }

    /// What Envoy assumes when the export is missing.
    fn default_result(&self) -> u32 {
        match self {
            Callback::Done => 1,
            _ => 0,
        }
    }
}

/// Result of one guest call.
#[derive(Debug, Default)]
pub struct CallOutcome {
    /// `None` when the VM failed (trap, deadline, memory) during or before this call.
    pub ret: Option<u32>,
    pub actions: Vec<Action>,
    pub stop_next: bool,
}

static NEXT_VM_UID: AtomicU64 = AtomicU64::new(1);

/// Where the root context is in cpp-host's shutdown sequence (`WasmBase::startShutdown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Not shut down: the root context serves streams.
    Running,
    /// `proxy_on_done` returned false: the root waits for the plugin to call `proxy_done`; timers
    /// and callout answers still reach it.
    PendingDone,
    /// `proxy_on_done` returned true (or `proxy_done` was called) and `proxy_on_delete` ran, or the
    /// VM had failed (cpp-host skips both calls on a failed VM).
    Deleted,
}

/// Host environment first, then the plugin's `vmConfig.env`; a later key replaces an earlier one
/// (Envoy merges `key_values` and `host_env_keys` into one map).
fn merged_environment(
    host: &[(String, String)],
    plugin: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in host.iter().chain(plugin) {
        match out.iter_mut().find(|(ok, _)| ok == k) {
            Some(e) => e.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out
}

/// A running VM instance. Not `Send`: it stays on the thread that built it.
pub struct VmInstance {
    store: Store<HostState>,
    exports: HashMap<&'static str, Func>,
    pub(crate) plugin: Arc<Plugin>,
    failed: Option<String>,
    next_context_id: u32,
    next_tick_ns: Option<u64>,
    deadline_ticks: u64,
    /// Wasm instructions (fuel) spent by calls so far, when the runtime counts fuel.
    pub fuel_consumed: u64,
    shutdown: Shutdown,
}

const EXPORTS: [&str; 18] = [
    "proxy_on_context_create",
    "proxy_on_vm_start",
    "proxy_on_configure",
    "proxy_on_request_headers",
    "proxy_on_request_body",
    "proxy_on_request_trailers",
    "proxy_on_response_headers",
    "proxy_on_response_body",
    "proxy_on_response_trailers",
    "proxy_on_log",
    "proxy_on_done",
    "proxy_on_delete",
    "proxy_on_http_call_response",
    "proxy_on_redis_call_response",
    "proxy_on_tick",
    "proxy_on_queue_ready",
    "_initialize",
    "_start",
];

fn linker(engine: &wasmtime::Engine) -> Result<Linker<HostState>, VmError> {
    let mut linker = Linker::new(engine);
    imports::register(&mut linker).map_err(VmError::Link)?;
    wasi::register(&mut linker).map_err(VmError::Link)?;
    Ok(linker)
}

impl VmInstance {
    /// Instantiates the module and runs the lifecycle: `_initialize` (+ `main`) or `_start`, then
    /// `proxy_on_context_create(root, 0)`, `proxy_on_vm_start(root, vm_config_size)` and
    /// `proxy_on_configure(root, config_size)` (cpp-host `WasmBase::start`/`configure`).
    pub fn start(plugin: Arc<Plugin>, env: Arc<HostEnv>) -> Result<Self, VmError> {
        let rt = plugin.runtime.clone();
        let cfg = &plugin.config;
        let env_vars = env.environment.clone();
        let state = HostState {
            limits: StoreLimitsBuilder::new()
                .memory_size(rt.config.max_memory_bytes)
                .build(),
            memory: None,
            alloc: None,
            plugin: PluginInfo {
                name: cfg.name.clone(),
                root_id: cfg.root_id.clone(),
                vm_id: cfg.vm_id.clone(),
                configuration: cfg.configuration.clone(),
                vm_configuration: cfg.vm_configuration.clone(),
            },
            abi: plugin.module.abi,
            env,
            vm_uid: NEXT_VM_UID.fetch_add(1, Ordering::Relaxed),
            root_context_id: 1,
            current_context: 1,
            effective_context: None,
            streams: HashMap::new(),
            configuring: false,
            stop_next_iteration: false,
            actions: Vec::new(),
            http_response: None,
            redis_response: None,
            next_callout: 0,
            tick_period_ms: 0,
            tick_changed: false,
            metric_ids: HashMap::new(),
            next_metric: 0,
            status: (0, String::new()),
            pending_done: false,
            delete_after_call: false,
            need_rebuild: false,
            environment: merged_environment(&env_vars, &cfg.environment),
            queue_ready: Vec::new(),
        };
        let mut store = Store::new(&rt.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        let deadline_ticks = rt.deadline_ticks();
        store.set_epoch_deadline(deadline_ticks);
        if rt.config.consume_fuel {
            store
                .set_fuel(u64::MAX)
                .map_err(|e| VmError::Start(e.to_string()))?;
        }
        let instance_pre = linker(&rt.engine)?
            .instantiate_pre(&plugin.module.module)
            .map_err(|e| VmError::Link(format!("{e:#}")))?;
        let instance: Instance = instance_pre
            .instantiate(&mut store)
            .map_err(|e| VmError::Start(format!("{e:#}")))?;
        let memory = instance.get_memory(&mut store, "memory");
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, "proxy_on_memory_allocate")
            .or_else(|_| instance.get_typed_func::<i32, i32>(&mut store, "malloc"))
            .ok();
        store.data_mut().memory = memory;
        store.data_mut().alloc = alloc;
        let mut exports = HashMap::new();
        for name in EXPORTS {
            if let Some(f) = instance.get_func(&mut store, name) {
                exports.insert(name, f);
            }
        }
        let main = instance.get_func(&mut store, "main");
        let mut vm = Self {
            store,
            exports,
            plugin,
            failed: None,
            next_context_id: 2,
            next_tick_ns: None,
            deadline_ticks,
            fuel_consumed: 0,
            shutdown: Shutdown::Running,
        };
        vm.run_start(main)?;
        Ok(vm)
    }

    fn run_start(&mut self, main: Option<Func>) -> Result<(), VmError> {
        let start = |vm: &mut Self, name: &str, f: Func, args: &[Val]| -> Result<(), VmError> {
            let mut results = vec![Val::I32(0); f.ty(&vm.store).results().len()];
            vm.store.set_epoch_deadline(vm.deadline_ticks);
            f.call(&mut vm.store, args, &mut results)
                .map_err(|e| VmError::Start(format!("{name}: {e:#}")))
        };
        if let Some(init) = self.exports.get("_initialize").copied() {
            start(self, "_initialize", init, &[])?;
            if let Some(main) = main {
                start(self, "main", main, &[Val::I32(0), Val::I32(0)])?;
            }
        } else if let Some(s) = self.exports.get("_start").copied() {
            start(self, "_start", s, &[])?;
        }
        let root = 1;
        let o = self.call(root, Callback::ContextCreate(0));
        o.ret
            .ok_or_else(|| VmError::Start(self.failed.clone().unwrap_or_default()))?;
        let vm_config_len = self.plugin.config.vm_configuration.len() as u32;
        if self.call_bool("proxy_on_vm_start", root, vm_config_len)? == 0 {
            return Err(VmError::VmStartRejected);
        }
        let config_len = self.plugin.config.configuration.len() as u32;
        self.store.data_mut().configuring = true;
        let r = self.call_bool("proxy_on_configure", root, config_len);
        self.store.data_mut().configuring = false;
        if r? == 0 {
            return Err(VmError::ConfigureRejected);
        }
        Ok(())
    }

    fn call_bool(&mut self, name: &'static str, root: u32, size: u32) -> Result<u32, VmError> {
        let Some(f) = self.exports.get(name).copied() else {
            return Ok(1);
        };
        let r = self.invoke(
            name,
            f,
            &[Val::I32(root as i32), Val::I32(size as i32)],
            root,
        );
        r.ok_or_else(|| VmError::Start(self.failed.clone().unwrap_or_default()))
    }

    /// Calls an export with the deadline armed; a trap fails the VM.
    fn invoke(&mut self, name: &str, f: Func, args: &[Val], ctx: u32) -> Option<u32> {
        if self.failed.is_some() {
            return None;
        }
        {
            let h = self.store.data_mut();
            h.current_context = ctx;
            h.effective_context = None;
            h.stop_next_iteration = false;
        }
        self.store.set_epoch_deadline(self.deadline_ticks);
        let fuel_before = self.store.get_fuel().ok();
        let mut results = vec![Val::I32(0); f.ty(&self.store).results().len()];
        let r = f.call(&mut self.store, args, &mut results);
        if let (Some(before), Ok(after)) = (fuel_before, self.store.get_fuel()) {
            self.fuel_consumed += before - after;
        }
        let h = self.store.data_mut();
        if h.tick_changed {
            // `setTimerPeriod`: the first tick is one period after the call that set it.
            h.tick_changed = false;
            let period = h.tick_period_ms;
            let now = h.env.clock.monotonic_ns();
            self.next_tick_ns = (period > 0).then(|| now + period as u64 * 1_000_000);
        }
        match r {
            Ok(()) => Some(results.first().and_then(Val::i32).unwrap_or(0) as u32),
            Err(e) => {
                let msg = format!("Function: {name} failed: {e:#}");
                let h = self.store.data();
                h.env.log(&h.plugin.name, LogLevel::Critical, msg.clone());
                self.failed = Some(msg);
                None
            }
        }
    }

    /// Runs a callback on context `ctx` and collects what the host functions deferred.
    pub(crate) fn call(&mut self, ctx: u32, cb: Callback) -> CallOutcome {
        let name = cb.export();
        let ret = match self.exports.get(name).copied() {
            Some(f) => self.invoke(name, f, &cb.args(ctx), ctx),
            None if self.failed.is_some() => None,
            None => Some(cb.default_result()),
        };
        let h = self.store.data_mut();
        let actions = std::mem::take(&mut h.actions);
        let stop_next = std::mem::take(&mut h.stop_next_iteration);
        if std::mem::take(&mut h.delete_after_call) {
            // cpp-host `WasmBase::done`: the root's `onDelete` runs after the VM call that
            // called `proxy_done` (never from inside it).
            self.shutdown = Shutdown::Deleted;
            let root = self.store.data().root_context_id;
            self.call(root, Callback::Delete);
        }
        CallOutcome {
            ret,
            actions,
            stop_next,
        }
    }

    /// cpp-host `WasmBase::startShutdown` for the root context: `proxy_on_done(root)`; when it
    /// returns true `proxy_on_delete(root)` follows, when false the root stays pending until the
    /// plugin calls `proxy_done`. A failed VM gets neither call (`ContextBase::onDone`/`onDelete`
    /// check `isFailed()`). Calling it again does nothing.
    pub fn shutdown(&mut self) -> Shutdown {
        if self.shutdown != Shutdown::Running {
            return self.shutdown;
        }
        if self.failed.is_some() {
            self.shutdown = Shutdown::Deleted;
            return self.shutdown;
        }
        let root = self.store.data().root_context_id;
        // The root is moved to `pending_done_` only after `onDone` returned false, so a
        // `proxy_done` from inside `proxy_on_done` is NotFound.
        let done = self.call(root, Callback::Done);
        match done.ret {
            Some(0) => {
                self.shutdown = Shutdown::PendingDone;
                self.store.data_mut().pending_done = true;
            }
            _ => {
                self.shutdown = Shutdown::Deleted;
                if self.failed.is_none() {
                    self.call(root, Callback::Delete);
                }
            }
        }
        self.shutdown
    }

    /// Where the root context is in the shutdown sequence.
    pub fn shutdown_state(&self) -> Shutdown {
        self.shutdown
    }

    /// Whether the plugin asked for a rebuild (Higress `wasm_need_rebuild`).
    pub fn needs_rebuild(&self) -> bool {
        self.store.data().need_rebuild
    }

    pub fn is_failed(&self) -> bool {
        self.failed.is_some()
    }

    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    pub fn abi(&self) -> AbiVersion {
        self.plugin.module.abi
    }

    pub fn uid(&self) -> u64 {
        self.store.data().vm_uid
    }

    pub fn env(&self) -> &Arc<HostEnv> {
        &self.store.data().env
    }

    /// Creates a stream context bound to `slot` of `stream` (`proxy_on_context_create(id, root)`).
    pub(crate) fn create_stream_context(
        &mut self,
        stream: Rc<RefCell<StreamShared>>,
        slot: usize,
    ) -> Option<u32> {
        let id = self.next_context_id;
        self.next_context_id += 1;
        self.store.data_mut().streams.insert(id, (stream, slot));
        self.call(id, Callback::ContextCreate(1)).ret.map(|_| id)
    }

    /// Forgets a stream context after `proxy_on_delete`.
    pub(crate) fn release_stream_context(&mut self, id: u32) {
        self.store.data_mut().streams.remove(&id);
    }

    /// Delivers an HTTP callout answer (`onHttpCallSuccess`) or, with `None`, a failure
    /// (`onHttpCallFailure`: zero sizes, status BrokenConnection "reset").
    pub fn http_call_response(
        &mut self,
        token: u32,
        resp: Option<HttpCalloutResponse>,
    ) -> CallOutcome {
        let args = match &resp {
            Some(r) => (
                r.headers.len() as u32,
                r.body.len() as u32,
                r.trailers.len() as u32,
            ),
            None => (0, 0, 0),
        };
        {
            let h = self.store.data_mut();
            h.status = if resp.is_none() {
                (11, "reset".into())
            } else {
                (0, String::new())
            };
            h.http_response = resp;
        }
        let o = self.call(1, Callback::HttpCallResponse(token, args.0, args.1, args.2));
        let h = self.store.data_mut();
        h.http_response = None;
        h.status = (0, String::new());
        o
    }

    /// Delivers a Redis answer (`onRedisCallResponse`); the reply is readable as buffer 9 during
    /// the callback only.
    pub fn redis_call_response(&mut self, token: u32, status: u32, reply: Vec<u8>) -> CallOutcome {
        let size = reply.len() as u32;
        self.store.data_mut().redis_response = Some(reply);
        let o = self.call(1, Callback::RedisCallResponse(token, status, size));
        self.store.data_mut().redis_response = None;
        o
    }

    /// Fires `proxy_on_tick` for every period elapsed up to the clock's current time.
    pub fn fire_due_ticks(&mut self) -> Vec<CallOutcome> {
        let mut out = Vec::new();
        loop {
            let now = self.store.data().env.clock.monotonic_ns();
            let period = self.store.data().tick_period_ms as u64 * 1_000_000;
            match self.next_tick_ns {
                Some(due) if due <= now && period > 0 && self.failed.is_none() => {
                    self.next_tick_ns = Some(due + period);
                    out.push(self.call(1, Callback::Tick));
                }
                _ => return out,
            }
        }
    }

    /// Runs `proxy_on_queue_ready` for tokens enqueued by this VM's own calls.
    pub fn deliver_queue_ready(&mut self) -> Vec<CallOutcome> {
        let tokens = std::mem::take(&mut self.store.data_mut().queue_ready);
        tokens
            .into_iter()
            .map(|t| self.call(1, Callback::QueueReady(t)))
            .collect()
    }

    /// Notifies the VM that `token` has data (cross-VM enqueue).
    pub fn queue_ready(&mut self, token: u32) {
        self.store.data_mut().queue_ready.push(token);
    }
}

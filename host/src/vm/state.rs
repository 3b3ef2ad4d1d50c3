//! The data a VM's wasmtime `Store` carries: which context is running, the per-stream data its
//! host functions may touch, actions deferred until the VM call returns, callout answers valid
//! only during their callback.

use crate::abi::{AbiVersion, Status, StreamType};
use crate::callout::HttpCalloutResponse;
use crate::env::HostEnv;
use crate::shared::MetricKind;
use crate::stream::state::StreamShared;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use wasmtime::{Memory, StoreLimits, TypedFunc};

/// Work a host function asks for that Envoy performs after the VM call returns
/// (`wasm()->addAfterVmCallAction`), so the filter chain is never re-entered from inside the VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    LocalReply {
        context: u32,
        code: u32,
        body: Vec<u8>,
        headers: Vec<(String, String)>,
        grpc_status: i32,
        details: String,
    },
    Continue {
        context: u32,
        stream: StreamType,
    },
    Close {
        context: u32,
        stream: StreamType,
    },
    InjectEncoded {
        context: u32,
        data: Vec<u8>,
        end_stream: bool,
    },
    /// Higress foreign function `inject_encoded_data_to_filter_chain_on_header`: the data follows
    /// the response headers once they leave the calling filter.
    InjectEncodedOnHeader {
        context: u32,
        data: Vec<u8>,
        end_stream: bool,
    },
}

impl Action {
    /// The stream context the action applies to.
    pub fn context(&self) -> u32 {
        match self {
            Action::LocalReply { context, .. }
            | Action::Continue { context, .. }
            | Action::Close { context, .. }
            | Action::InjectEncoded { context, .. }
            | Action::InjectEncodedOnHeader { context, .. } => *context,
        }
    }
}

/// Plugin identity as the host functions need it.
pub(crate) struct PluginInfo {
    pub name: String,
    pub root_id: String,
    pub vm_id: String,
    pub configuration: Vec<u8>,
    pub vm_configuration: Vec<u8>,
}

/// Store data of one VM.
pub(crate) struct HostState {
    pub limits: StoreLimits,
    pub memory: Option<Memory>,
    pub alloc: Option<TypedFunc<i32, i32>>,
    pub plugin: PluginInfo,
    #[allow(dead_code)]
    pub abi: AbiVersion,
    pub env: Arc<HostEnv>,
    pub vm_uid: u64,
    pub root_context_id: u32,
    pub current_context: u32,
    pub effective_context: Option<u32>,
    /// Stream contexts of this VM: stream data and the filter's slot index in it.
    pub streams: HashMap<u32, (Rc<RefCell<StreamShared>>, usize)>,
    /// Buffer 7 is readable only during `proxy_on_configure` (Envoy `temp_plugin_`).
    pub configuring: bool,
    /// Set by `send_local_response`: the callback's return value is ignored (cpp-host
    /// `stopNextIteration`).
    pub stop_next_iteration: bool,
    pub actions: Vec<Action>,
    pub http_response: Option<HttpCalloutResponse>,
    pub redis_response: Option<Vec<u8>>,
    pub next_callout: u32,
    pub tick_period_ms: u32,
    pub tick_changed: bool,
    pub metric_ids: HashMap<u32, (String, MetricKind)>,
    pub next_metric: u32,
    /// Status for `proxy_get_status` (set while an http callout failure is delivered).
    pub status: (u32, String),
    /// Root context's `proxy_on_done` returned false; `proxy_done` completes it.
    pub pending_done: bool,
    /// `proxy_done` was accepted: the root's `proxy_on_delete` runs after the current VM call
    /// (cpp-host `WasmBase::done` defers it with `addAfterVmCallAction`).
    pub delete_after_call: bool,
    /// Higress `set_property("wasm_need_rebuild", "true")`: later streams get a fresh VM.
    pub need_rebuild: bool,
    /// WASI environment of this VM (host environment plus the plugin's `vmConfig.env`).
    pub environment: Vec<(String, String)>,
    pub queue_ready: Vec<u32>,
}

impl HostState {
    /// `contextOrEffectiveContext()`.
    pub fn context(&self) -> u32 {
        self.effective_context.unwrap_or(self.current_context)
    }

    /// The stream (and slot) behind the calling context, `None` for the root context.
    pub fn stream(&self) -> Option<(Rc<RefCell<StreamShared>>, usize)> {
        self.streams.get(&self.context()).cloned()
    }

    pub fn next_token(&mut self, kind: u32) -> u32 {
        // Higress cpp-host encodes the callout type in the low 2 bits (HTTP 0, Redis 3).
        self.next_callout += 1;
        (self.next_callout << 2) | kind
    }
}

/// Error inside a host function: a status for the guest, or a trap that fails the VM.
pub(crate) enum HostError {
    Status(Status),
    Trap(wasmtime::Error),
}

impl From<Status> for HostError {
    fn from(s: Status) -> Self {
        HostError::Status(s)
    }
}

impl From<wasmtime::Error> for HostError {
    fn from(e: wasmtime::Error) -> Self {
        HostError::Trap(e)
    }
}

pub(crate) type HostResult<T = ()> = Result<T, HostError>;

/// Converts a host function result into the i32 status the guest sees (or a trap).
pub(crate) fn finish(r: HostResult) -> wasmtime::Result<i32> {
    match r {
        Ok(()) => Ok(Status::Ok.code()),
        Err(HostError::Status(s)) => Ok(s.code()),
        Err(HostError::Trap(e)) => Err(e),
    }
}

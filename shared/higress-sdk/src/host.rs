//! The seam between plugin logic and the proxy: every host function behind one trait.
//!
//! On wasm32 the installed host is `abi::WasmHost` (the real imports); natively it is
//! whatever a test installs (usually [`crate::testing::FakeHost`]). Without one, every call fails
//! with `Unimplemented` instead of crashing.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::types::{BufferType, LogLevel, MapType, MetricType, Status, StreamType};

pub use crate::codec::Pairs;

/// Host functions at the level of Rust values: serialization and guest memory are handled by the
/// implementation. `Err` carries the raw status; `NotFound` is an error here and turned into `None`
/// by the typed wrappers in [`crate::hostcalls`] where "absent" is a normal answer.
pub trait Host {
    fn log(&self, level: LogLevel, message: &str) -> Result<(), Status>;
    fn get_log_level(&self) -> Result<LogLevel, Status>;
    fn get_current_time_nanoseconds(&self) -> Result<u64, Status>;
    fn set_tick_period_milliseconds(&self, period: u32) -> Result<(), Status>;

    fn get_buffer_bytes(
        &self,
        buffer: BufferType,
        start: usize,
        max_size: usize,
    ) -> Result<Vec<u8>, Status>;
    fn set_buffer_bytes(
        &self,
        buffer: BufferType,
        start: usize,
        size: usize,
        data: &[u8],
    ) -> Result<(), Status>;

    fn get_header_map_pairs(&self, map: MapType) -> Result<Pairs, Status>;
    fn set_header_map_pairs(&self, map: MapType, pairs: &[(&[u8], &[u8])]) -> Result<(), Status>;
    fn get_header_map_value(&self, map: MapType, key: &str) -> Result<Vec<u8>, Status>;
    fn replace_header_map_value(&self, map: MapType, key: &str, value: &[u8])
        -> Result<(), Status>;
    fn add_header_map_value(&self, map: MapType, key: &str, value: &[u8]) -> Result<(), Status>;
    fn remove_header_map_value(&self, map: MapType, key: &str) -> Result<(), Status>;

    fn get_property(&self, path: &[&str]) -> Result<Vec<u8>, Status>;
    fn set_property(&self, path: &[&str], value: &[u8]) -> Result<(), Status>;

    fn get_shared_data(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), Status>;
    fn set_shared_data(&self, key: &str, value: Option<&[u8]>, cas: u32) -> Result<(), Status>;
    fn register_shared_queue(&self, name: &str) -> Result<u32, Status>;
    fn resolve_shared_queue(&self, vm_id: &str, name: &str) -> Result<u32, Status>;
    fn enqueue_shared_queue(&self, queue_id: u32, value: &[u8]) -> Result<(), Status>;
    /// `Err(Empty)` when the queue has nothing.
    fn dequeue_shared_queue(&self, queue_id: u32) -> Result<Vec<u8>, Status>;

    fn continue_stream(&self, stream: StreamType) -> Result<(), Status>;
    fn close_stream(&self, stream: StreamType) -> Result<(), Status>;
    fn send_local_response(
        &self,
        status_code: u32,
        details: &str,
        body: &[u8],
        headers: &[(&str, &[u8])],
        grpc_status: i32,
    ) -> Result<(), Status>;

    fn http_call(
        &self,
        upstream: &str,
        headers: &[(&str, &[u8])],
        body: &[u8],
        trailers: &[(&str, &[u8])],
        timeout_ms: u32,
    ) -> Result<u32, Status>;

    fn set_effective_context(&self, context_id: u32) -> Result<(), Status>;
    fn done(&self) -> Result<(), Status>;
    fn call_foreign_function(&self, name: &str, args: &[u8]) -> Result<Vec<u8>, Status>;

    fn define_metric(&self, kind: MetricType, name: &str) -> Result<u32, Status>;
    fn get_metric(&self, metric_id: u32) -> Result<u64, Status>;
    fn record_metric(&self, metric_id: u32, value: u64) -> Result<(), Status>;
    fn increment_metric(&self, metric_id: u32, offset: i64) -> Result<(), Status>;

    // Higress extensions.
    fn redis_init(
        &self,
        cluster: &str,
        username: &[u8],
        password: &[u8],
        timeout_ms: u32,
    ) -> Result<(), Status>;
    fn redis_call(&self, cluster: &str, query: &[u8]) -> Result<u32, Status>;
    fn inject_encoded_data_to_filter_chain(
        &self,
        body: &[u8],
        end_stream: bool,
    ) -> Result<(), Status>;
    fn get_upstream_hosts(&self) -> Result<Pairs, Status>;
    fn set_upstream_override_host(&self, address: &[u8]) -> Result<(), Status>;
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<dyn Host>>> = const { RefCell::new(None) };
    /// Metric ids by name, one slot per kind, for the host installed now (see [`metric_id`]).
    static METRIC_IDS: RefCell<HashMap<String, [Option<u32>; 3]>> = RefCell::new(HashMap::new());
}

/// Installs the host the SDK talks to on this thread. Tests install a fake; on wasm32 the real host
/// is used when none was installed.
pub fn set_host(host: Rc<dyn Host>) {
    CURRENT.with(|current| *current.borrow_mut() = Some(host));
    METRIC_IDS.with(|ids| ids.borrow_mut().clear());
}

/// The id of a metric, defined on first use. Envoy hands out and keeps a new id for every
/// `proxy_define_metric` call, even for a name it has seen, so a plugin that defined its metrics
/// per request would grow that table without bound; here each name is defined once per VM.
pub(crate) fn metric_id(kind: MetricType, name: &str) -> Result<u32, Status> {
    // Looked up by `&str`: plugins name a metric where they count it, so a hit must not allocate.
    let slot = kind as usize;
    if let Some(id) = METRIC_IDS.with(|ids| ids.borrow().get(name).and_then(|k| k[slot])) {
        return Ok(id);
    }
    let id = host().define_metric(kind, name)?;
    METRIC_IDS.with(|ids| ids.borrow_mut().entry(name.to_string()).or_default()[slot] = Some(id));
    Ok(id)
}

/// The active host. The returned handle is cloned out so that no borrow is held while the host
/// runs (a fake host may call back into the SDK).
pub fn host() -> Rc<dyn Host> {
    if let Some(h) = CURRENT.with(|current| current.borrow().clone()) {
        return h;
    }
    let default = default_host();
    CURRENT.with(|current| *current.borrow_mut() = Some(default.clone()));
    default
}

#[cfg(target_arch = "wasm32")]
fn default_host() -> Rc<dyn Host> {
    Rc::new(crate::abi::WasmHost)
}

#[cfg(not(target_arch = "wasm32"))]
fn default_host() -> Rc<dyn Host> {
    Rc::new(crate::testing::NoHost)
}

//! An in-memory host for native unit tests of plugins (and of this SDK).
//!
//! ```
//! use std::rc::Rc;
//! use higress_sdk::testing::FakeHost;
//! let fake = Rc::new(FakeHost::new());
//! higress_sdk::host::set_host(fake.clone());
//! fake.set_request_headers(&[(":authority", "api.example.com")]);
//! assert_eq!(higress_sdk::hostcalls::get_request_header(":authority").unwrap().as_deref(), Some("api.example.com"));
//! ```
//!
//! It mimics the Envoy behaviour plugins trip over: header maps that are unavailable return
//! `BadArgument`, buffer writes only at 0 or at the end, a second local response is refused,
//! failures can be injected per host function with [`FakeHost::fail`].

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::host::{Host, Pairs};
use crate::types::{BufferType, LogLevel, MapType, MetricType, Status, StreamType};

/// Host used natively when no host was installed: everything is `Unimplemented`.
pub struct NoHost;

macro_rules! unimplemented_host {
    ($($name:ident($($arg:ty),*) -> $ret:ty;)*) => {
        impl Host for NoHost {
            $(fn $name(&self, $(_: $arg),*) -> Result<$ret, Status> { Err(Status::Unimplemented) })*
        }
    };
}

unimplemented_host! {
    log(LogLevel, &str) -> ();
    get_log_level() -> LogLevel;
    get_current_time_nanoseconds() -> u64;
    set_tick_period_milliseconds(u32) -> ();
    get_buffer_bytes(BufferType, usize, usize) -> Vec<u8>;
    set_buffer_bytes(BufferType, usize, usize, &[u8]) -> ();
    get_header_map_pairs(MapType) -> Pairs;
    set_header_map_pairs(MapType, &[(&[u8], &[u8])]) -> ();
    get_header_map_value(MapType, &str) -> Vec<u8>;
    replace_header_map_value(MapType, &str, &[u8]) -> ();
    add_header_map_value(MapType, &str, &[u8]) -> ();
    remove_header_map_value(MapType, &str) -> ();
    get_property(&[&str]) -> Vec<u8>;
    set_property(&[&str], &[u8]) -> ();
    get_shared_data(&str) -> (Option<Vec<u8>>, u32);
    set_shared_data(&str, Option<&[u8]>, u32) -> ();
    register_shared_queue(&str) -> u32;
    resolve_shared_queue(&str, &str) -> u32;
    enqueue_shared_queue(u32, &[u8]) -> ();
    dequeue_shared_queue(u32) -> Vec<u8>;
    continue_stream(StreamType) -> ();
    close_stream(StreamType) -> ();
    send_local_response(u32, &str, &[u8], &[(&str, &[u8])], i32) -> ();
    http_call(&str, &[(&str, &[u8])], &[u8], &[(&str, &[u8])], u32) -> u32;
    set_effective_context(u32) -> ();
    done() -> ();
    call_foreign_function(&str, &[u8]) -> Vec<u8>;
    define_metric(MetricType, &str) -> u32;
    get_metric(u32) -> u64;
    record_metric(u32, u64) -> ();
    increment_metric(u32, i64) -> ();
    redis_init(&str, &[u8], &[u8], u32) -> ();
    redis_call(&str, &[u8]) -> u32;
    inject_encoded_data_to_filter_chain(&[u8], bool) -> ();
    get_upstream_hosts() -> Pairs;
    set_upstream_override_host(&[u8]) -> ();
}

/// A recorded `proxy_http_call`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedHttpCall {
    pub token: u32,
    pub upstream: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u32,
}

impl RecordedHttpCall {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A recorded `proxy_redis_call`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRedisCall {
    pub token: u32,
    pub cluster: String,
    pub query: Vec<u8>,
}

/// A recorded `proxy_send_local_response`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalResponse {
    pub status_code: u32,
    pub details: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub grpc_status: i32,
}

#[derive(Default)]
struct State {
    maps: HashMap<u8, Vec<(String, Vec<u8>)>>,
    buffers: HashMap<u8, Vec<u8>>,
    properties: BTreeMap<Vec<String>, Vec<u8>>,
    logs: Vec<(LogLevel, String)>,
    shared: HashMap<String, (Vec<u8>, u32)>,
    queues: Vec<(String, VecDeque<Vec<u8>>)>,
    metrics: Vec<(MetricType, String, u64)>,
    local_response: Option<LocalResponse>,
    http_calls: Vec<RecordedHttpCall>,
    redis_calls: Vec<RecordedRedisCall>,
    redis_inits: Vec<(String, String, String, u32)>,
    continued: Vec<StreamType>,
    effective: Vec<u32>,
    injected: Vec<(Vec<u8>, bool)>,
    upstream_override: Option<String>,
    calls: Vec<&'static str>,
    failures: HashMap<&'static str, Status>,
}

/// The fake host. Interior mutability so tests keep an `Rc` while the SDK uses it.
pub struct FakeHost {
    state: RefCell<State>,
    log_level: Cell<LogLevel>,
    now_ns: Cell<u64>,
    tick_ms: Cell<Option<u32>>,
    next_token: Cell<u32>,
}

impl Default for FakeHost {
    fn default() -> Self {
        FakeHost::new()
    }
}

fn map_key(map: MapType) -> u8 {
    map as u8
}

impl FakeHost {
    pub fn new() -> FakeHost {
        FakeHost {
            state: RefCell::new(State::default()),
            log_level: Cell::new(LogLevel::Trace),
            now_ns: Cell::new(1_000_000_000),
            tick_ms: Cell::new(None),
            next_token: Cell::new(1),
        }
    }

    /// Makes every later call of host function `call` (its ABI name, e.g. `"proxy_set_property"`)
    /// fail with `status`.
    pub fn fail(&self, call: &'static str, status: Status) {
        self.state.borrow_mut().failures.insert(call, status);
    }

    pub fn clear_failures(&self) {
        self.state.borrow_mut().failures.clear();
    }

    /// Names of the host functions called so far, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.state.borrow().calls.clone()
    }

    fn enter(&self, call: &'static str) -> Result<(), Status> {
        let mut s = self.state.borrow_mut();
        s.calls.push(call);
        match s.failures.get(call) {
            Some(status) => Err(*status),
            None => Ok(()),
        }
    }

    fn set_map(&self, map: MapType, pairs: &[(&str, &str)]) {
        let pairs = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        self.state.borrow_mut().maps.insert(map_key(map), pairs);
    }

    pub fn set_request_headers(&self, pairs: &[(&str, &str)]) {
        self.set_map(MapType::HttpRequestHeaders, pairs);
    }

    pub fn set_response_headers(&self, pairs: &[(&str, &str)]) {
        self.set_map(MapType::HttpResponseHeaders, pairs);
    }

    pub fn set_http_call_response_headers(&self, pairs: &[(&str, &str)]) {
        self.set_map(MapType::HttpCallResponseHeaders, pairs);
    }

    /// Makes a header map unavailable, as Envoy does once headers went on (calls get `BadArgument`).
    pub fn drop_map(&self, map: MapType) {
        self.state.borrow_mut().maps.remove(&map_key(map));
    }

    /// Current content of a header map; `None` if unavailable.
    pub fn map(&self, map: MapType) -> Option<Vec<(String, String)>> {
        self.state.borrow().maps.get(&map_key(map)).map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                .collect()
        })
    }

    pub fn map_value(&self, map: MapType, key: &str) -> Option<String> {
        self.map(map)?
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    pub fn set_buffer(&self, buffer: BufferType, bytes: &[u8]) {
        self.state
            .borrow_mut()
            .buffers
            .insert(buffer as u8, bytes.to_vec());
    }

    pub fn clear_buffer(&self, buffer: BufferType) {
        self.state.borrow_mut().buffers.remove(&(buffer as u8));
    }

    pub fn buffer(&self, buffer: BufferType) -> Option<Vec<u8>> {
        self.state.borrow().buffers.get(&(buffer as u8)).cloned()
    }

    pub fn set_plugin_configuration(&self, json: &str) {
        self.set_buffer(BufferType::PluginConfiguration, json.as_bytes());
    }

    pub fn set_property(&self, path: &[&str], value: &[u8]) {
        let key = path.iter().map(|s| s.to_string()).collect();
        self.state
            .borrow_mut()
            .properties
            .insert(key, value.to_vec());
    }

    pub fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        let key: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.state.borrow().properties.get(&key).cloned()
    }

    pub fn set_route_name(&self, name: &str) {
        self.set_property(&["route_name"], name.as_bytes());
    }

    pub fn set_cluster_name(&self, name: &str) {
        self.set_property(&["cluster_name"], name.as_bytes());
    }

    pub fn set_log_level(&self, level: LogLevel) {
        self.log_level.set(level);
    }

    pub fn set_time_nanoseconds(&self, now: u64) {
        self.now_ns.set(now);
    }

    pub fn tick_period(&self) -> Option<u32> {
        self.tick_ms.get()
    }

    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.state.borrow().logs.clone()
    }

    /// True if some log line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.state
            .borrow()
            .logs
            .iter()
            .any(|(_, m)| m.contains(needle))
    }

    pub fn local_response(&self) -> Option<LocalResponse> {
        self.state.borrow().local_response.clone()
    }

    pub fn http_calls(&self) -> Vec<RecordedHttpCall> {
        self.state.borrow().http_calls.clone()
    }

    pub fn redis_calls(&self) -> Vec<RecordedRedisCall> {
        self.state.borrow().redis_calls.clone()
    }

    /// `(cluster, username, password, timeout_ms)` of each `proxy_redis_init`.
    pub fn redis_inits(&self) -> Vec<(String, String, String, u32)> {
        self.state.borrow().redis_inits.clone()
    }

    pub fn continued(&self) -> Vec<StreamType> {
        self.state.borrow().continued.clone()
    }

    /// Context ids passed to `proxy_set_effective_context`, in order.
    pub fn effective_contexts(&self) -> Vec<u32> {
        self.state.borrow().effective.clone()
    }

    pub fn injected(&self) -> Vec<(Vec<u8>, bool)> {
        self.state.borrow().injected.clone()
    }

    pub fn upstream_override(&self) -> Option<String> {
        self.state.borrow().upstream_override.clone()
    }

    pub fn shared_data(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.state.borrow().shared.get(key).cloned()
    }

    pub fn metric(&self, name: &str) -> Option<u64> {
        self.state
            .borrow()
            .metrics
            .iter()
            .find(|(_, n, _)| n == name)
            .map(|(_, _, v)| *v)
    }

    fn token(&self) -> u32 {
        let t = self.next_token.get();
        self.next_token.set(t + 1);
        t
    }
}

fn owned_pairs(pairs: &[(&str, &[u8])]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

impl Host for FakeHost {
    fn log(&self, level: LogLevel, message: &str) -> Result<(), Status> {
        self.enter("proxy_log")?;
        self.state
            .borrow_mut()
            .logs
            .push((level, message.to_string()));
        Ok(())
    }

    fn get_log_level(&self) -> Result<LogLevel, Status> {
        self.enter("proxy_get_log_level")?;
        Ok(self.log_level.get())
    }

    fn get_current_time_nanoseconds(&self) -> Result<u64, Status> {
        self.enter("proxy_get_current_time_nanoseconds")?;
        Ok(self.now_ns.get())
    }

    fn set_tick_period_milliseconds(&self, period: u32) -> Result<(), Status> {
        self.enter("proxy_set_tick_period_milliseconds")?;
        self.tick_ms.set(Some(period));
        Ok(())
    }

    fn get_buffer_bytes(
        &self,
        buffer: BufferType,
        start: usize,
        max_size: usize,
    ) -> Result<Vec<u8>, Status> {
        self.enter("proxy_get_buffer_bytes")?;
        let s = self.state.borrow();
        let data = s.buffers.get(&(buffer as u8)).ok_or(Status::NotFound)?;
        // Envoy clamps reads instead of failing them.
        let start = start.min(data.len());
        let end = start.saturating_add(max_size).min(data.len());
        Ok(data[start..end].to_vec())
    }

    fn set_buffer_bytes(
        &self,
        buffer: BufferType,
        start: usize,
        size: usize,
        bytes: &[u8],
    ) -> Result<(), Status> {
        self.enter("proxy_set_buffer_bytes")?;
        let mut s = self.state.borrow_mut();
        let data = s.buffers.get_mut(&(buffer as u8)).ok_or(Status::NotFound)?;
        if start == 0 {
            let drain = size.min(data.len());
            data.drain(..drain);
            data.splice(0..0, bytes.iter().copied());
        } else if start >= data.len() {
            data.extend_from_slice(bytes);
        } else {
            return Err(Status::BadArgument);
        }
        Ok(())
    }

    fn get_header_map_pairs(&self, map: MapType) -> Result<Pairs, Status> {
        self.enter("proxy_get_header_map_pairs")?;
        let s = self.state.borrow();
        let pairs = s.maps.get(&map_key(map)).ok_or(Status::BadArgument)?;
        Ok(pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
            .collect())
    }

    fn set_header_map_pairs(&self, map: MapType, pairs: &[(&[u8], &[u8])]) -> Result<(), Status> {
        self.enter("proxy_set_header_map_pairs")?;
        let pairs = pairs
            .iter()
            .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.to_vec()))
            .collect();
        self.state.borrow_mut().maps.insert(map_key(map), pairs);
        Ok(())
    }

    fn get_header_map_value(&self, map: MapType, key: &str) -> Result<Vec<u8>, Status> {
        self.enter("proxy_get_header_map_value")?;
        let s = self.state.borrow();
        let pairs = s.maps.get(&map_key(map)).ok_or(Status::BadArgument)?;
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
            .ok_or(Status::NotFound)
    }

    fn replace_header_map_value(
        &self,
        map: MapType,
        key: &str,
        value: &[u8],
    ) -> Result<(), Status> {
        self.enter("proxy_replace_header_map_value")?;
        let mut s = self.state.borrow_mut();
        let pairs = s.maps.get_mut(&map_key(map)).ok_or(Status::BadArgument)?;
        pairs.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        pairs.push((key.to_ascii_lowercase(), value.to_vec()));
        Ok(())
    }

    fn add_header_map_value(&self, map: MapType, key: &str, value: &[u8]) -> Result<(), Status> {
        self.enter("proxy_add_header_map_value")?;
        let mut s = self.state.borrow_mut();
        let pairs = s.maps.get_mut(&map_key(map)).ok_or(Status::BadArgument)?;
        pairs.push((key.to_ascii_lowercase(), value.to_vec()));
        Ok(())
    }

    fn remove_header_map_value(&self, map: MapType, key: &str) -> Result<(), Status> {
        self.enter("proxy_remove_header_map_value")?;
        let mut s = self.state.borrow_mut();
        let pairs = s.maps.get_mut(&map_key(map)).ok_or(Status::BadArgument)?;
        pairs.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        Ok(())
    }

    fn get_property(&self, path: &[&str]) -> Result<Vec<u8>, Status> {
        self.enter("proxy_get_property")?;
        let key: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.state
            .borrow()
            .properties
            .get(&key)
            .cloned()
            .ok_or(Status::NotFound)
    }

    fn set_property(&self, path: &[&str], value: &[u8]) -> Result<(), Status> {
        self.enter("proxy_set_property")?;
        let key = path.iter().map(|s| s.to_string()).collect();
        self.state
            .borrow_mut()
            .properties
            .insert(key, value.to_vec());
        Ok(())
    }

    fn get_shared_data(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), Status> {
        self.enter("proxy_get_shared_data")?;
        match self.state.borrow().shared.get(key) {
            Some((v, cas)) => Ok((Some(v.clone()), *cas)),
            None => Err(Status::NotFound),
        }
    }

    fn set_shared_data(&self, key: &str, value: Option<&[u8]>, cas: u32) -> Result<(), Status> {
        self.enter("proxy_set_shared_data")?;
        let mut s = self.state.borrow_mut();
        let current = s.shared.get(key).map(|(_, c)| *c).unwrap_or(0);
        if cas != 0 && cas != current {
            return Err(Status::CasMismatch);
        }
        s.shared.insert(
            key.to_string(),
            (value.unwrap_or_default().to_vec(), current + 1),
        );
        Ok(())
    }

    fn register_shared_queue(&self, name: &str) -> Result<u32, Status> {
        self.enter("proxy_register_shared_queue")?;
        let mut s = self.state.borrow_mut();
        if let Some(i) = s.queues.iter().position(|(n, _)| n == name) {
            return Ok(i as u32 + 1);
        }
        s.queues.push((name.to_string(), VecDeque::new()));
        Ok(s.queues.len() as u32)
    }

    fn resolve_shared_queue(&self, _vm_id: &str, name: &str) -> Result<u32, Status> {
        self.enter("proxy_resolve_shared_queue")?;
        let s = self.state.borrow();
        s.queues
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| i as u32 + 1)
            .ok_or(Status::NotFound)
    }

    fn enqueue_shared_queue(&self, queue_id: u32, value: &[u8]) -> Result<(), Status> {
        self.enter("proxy_enqueue_shared_queue")?;
        let mut s = self.state.borrow_mut();
        let q = s
            .queues
            .get_mut((queue_id as usize).wrapping_sub(1))
            .ok_or(Status::NotFound)?;
        q.1.push_back(value.to_vec());
        Ok(())
    }

    fn dequeue_shared_queue(&self, queue_id: u32) -> Result<Vec<u8>, Status> {
        self.enter("proxy_dequeue_shared_queue")?;
        let mut s = self.state.borrow_mut();
        let q = s
            .queues
            .get_mut((queue_id as usize).wrapping_sub(1))
            .ok_or(Status::NotFound)?;
        q.1.pop_front().ok_or(Status::Empty)
    }

    fn continue_stream(&self, stream: StreamType) -> Result<(), Status> {
        self.enter("proxy_continue_stream")?;
        self.state.borrow_mut().continued.push(stream);
        Ok(())
    }

    fn close_stream(&self, _stream: StreamType) -> Result<(), Status> {
        self.enter("proxy_close_stream")
    }

    fn send_local_response(
        &self,
        status_code: u32,
        details: &str,
        body: &[u8],
        headers: &[(&str, &[u8])],
        grpc_status: i32,
    ) -> Result<(), Status> {
        self.enter("proxy_send_local_response")?;
        let mut s = self.state.borrow_mut();
        // Higress holds one local reply per stream and refuses a second.
        if s.local_response.is_some() {
            return Err(Status::BadArgument);
        }
        s.local_response = Some(LocalResponse {
            status_code,
            details: details.to_string(),
            body: body.to_vec(),
            headers: owned_pairs(headers),
            grpc_status,
        });
        Ok(())
    }

    fn http_call(
        &self,
        upstream: &str,
        headers: &[(&str, &[u8])],
        body: &[u8],
        _trailers: &[(&str, &[u8])],
        timeout_ms: u32,
    ) -> Result<u32, Status> {
        self.enter("proxy_http_call")?;
        let headers = owned_pairs(headers);
        // Envoy's checks: the pseudo headers must be there.
        for required in [":method", ":path", ":authority"] {
            if !headers.iter().any(|(k, _)| k == required) {
                return Err(Status::BadArgument);
            }
        }
        let token = self.token();
        self.state.borrow_mut().http_calls.push(RecordedHttpCall {
            token,
            upstream: upstream.to_string(),
            headers,
            body: body.to_vec(),
            timeout_ms,
        });
        Ok(token)
    }

    fn set_effective_context(&self, context_id: u32) -> Result<(), Status> {
        self.enter("proxy_set_effective_context")?;
        self.state.borrow_mut().effective.push(context_id);
        Ok(())
    }

    fn done(&self) -> Result<(), Status> {
        self.enter("proxy_done")
    }

    fn call_foreign_function(&self, _name: &str, _args: &[u8]) -> Result<Vec<u8>, Status> {
        self.enter("proxy_call_foreign_function")?;
        Err(Status::NotFound)
    }

    fn define_metric(&self, kind: MetricType, name: &str) -> Result<u32, Status> {
        self.enter("proxy_define_metric")?;
        let mut s = self.state.borrow_mut();
        if let Some(i) = s.metrics.iter().position(|(_, n, _)| n == name) {
            return Ok(i as u32 + 1);
        }
        s.metrics.push((kind, name.to_string(), 0));
        Ok(s.metrics.len() as u32)
    }

    fn get_metric(&self, metric_id: u32) -> Result<u64, Status> {
        self.enter("proxy_get_metric")?;
        let s = self.state.borrow();
        s.metrics
            .get((metric_id as usize).wrapping_sub(1))
            .map(|m| m.2)
            .ok_or(Status::NotFound)
    }

    fn record_metric(&self, metric_id: u32, value: u64) -> Result<(), Status> {
        self.enter("proxy_record_metric")?;
        let mut s = self.state.borrow_mut();
        let m = s
            .metrics
            .get_mut((metric_id as usize).wrapping_sub(1))
            .ok_or(Status::NotFound)?;
        m.2 = value;
        Ok(())
    }

    fn increment_metric(&self, metric_id: u32, offset: i64) -> Result<(), Status> {
        self.enter("proxy_increment_metric")?;
        let mut s = self.state.borrow_mut();
        let m = s
            .metrics
            .get_mut((metric_id as usize).wrapping_sub(1))
            .ok_or(Status::NotFound)?;
        if m.0 == MetricType::Histogram {
            return Err(Status::BadArgument);
        }
        m.2 = m.2.wrapping_add_signed(offset);
        Ok(())
    }

    fn redis_init(
        &self,
        cluster: &str,
        username: &[u8],
        password: &[u8],
        timeout_ms: u32,
    ) -> Result<(), Status> {
        self.enter("proxy_redis_init")?;
        self.state.borrow_mut().redis_inits.push((
            cluster.to_string(),
            String::from_utf8_lossy(username).into_owned(),
            String::from_utf8_lossy(password).into_owned(),
            timeout_ms,
        ));
        Ok(())
    }

    fn redis_call(&self, cluster: &str, query: &[u8]) -> Result<u32, Status> {
        self.enter("proxy_redis_call")?;
        let token = self.token();
        self.state.borrow_mut().redis_calls.push(RecordedRedisCall {
            token,
            cluster: cluster.to_string(),
            query: query.to_vec(),
        });
        Ok(token)
    }

    fn inject_encoded_data_to_filter_chain(
        &self,
        body: &[u8],
        end_stream: bool,
    ) -> Result<(), Status> {
        self.enter("proxy_inject_encoded_data_to_filter_chain")?;
        self.state
            .borrow_mut()
            .injected
            .push((body.to_vec(), end_stream));
        Ok(())
    }

    fn get_upstream_hosts(&self) -> Result<Pairs, Status> {
        self.enter("proxy_get_upstream_hosts")?;
        Ok(Vec::new())
    }

    fn set_upstream_override_host(&self, address: &[u8]) -> Result<(), Status> {
        self.enter("proxy_set_upstream_override_host")?;
        self.state.borrow_mut().upstream_override =
            Some(String::from_utf8_lossy(address).into_owned());
        Ok(())
    }
}

/// Installs a fresh [`FakeHost`] and clears the SDK's registry on this thread; returns the host.
pub fn install() -> std::rc::Rc<FakeHost> {
    crate::dispatcher::reset();
    let fake = std::rc::Rc::new(FakeHost::new());
    crate::host::set_host(fake.clone());
    fake
}

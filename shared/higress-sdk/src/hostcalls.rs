//! Typed host calls for plugin code. Every function returns a `Result`; "not there" is `Ok(None)`
//! where the ABI uses `NotFound` for it. Nothing here panics on a host status.

use crate::host::host;
use crate::types::{BufferType, HostError, LogLevel, MapType, MetricType, Status, StreamType};

fn err(call: &'static str) -> impl FnOnce(Status) -> HostError {
    move |status| HostError::new(call, status)
}

fn optional<T>(call: &'static str, r: Result<T, Status>) -> Result<Option<T>, HostError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Status::NotFound) => Ok(None),
        Err(s) => Err(HostError::new(call, s)),
    }
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

// ---- logging, time, timers -------------------------------------------------------------------

pub fn log(level: LogLevel, message: &str) -> Result<(), HostError> {
    host().log(level, message).map_err(err("proxy_log"))
}

pub fn get_log_level() -> Result<LogLevel, HostError> {
    host().get_log_level().map_err(err("proxy_get_log_level"))
}

pub fn get_current_time_nanoseconds() -> Result<u64, HostError> {
    host()
        .get_current_time_nanoseconds()
        .map_err(err("proxy_get_current_time_nanoseconds"))
}

/// Calls the root context's `on_tick` every `period_ms` (0 stops the timer). Call it from a root
/// context callback: the host ties the timer to the effective context.
pub fn set_tick_period_milliseconds(period_ms: u32) -> Result<(), HostError> {
    host()
        .set_tick_period_milliseconds(period_ms)
        .map_err(err("proxy_set_tick_period_milliseconds"))
}

// ---- buffers ---------------------------------------------------------------------------------

/// Reads `[start, start+max_size)` of a buffer; `None` if the buffer does not exist now.
pub fn get_buffer(
    buffer: BufferType,
    start: usize,
    max_size: usize,
) -> Result<Option<Vec<u8>>, HostError> {
    optional(
        "proxy_get_buffer_bytes",
        host().get_buffer_bytes(buffer, start, max_size),
    )
}

/// Replaces `size` bytes at `start`. Envoy supports only `start == 0` (replace the first `size`
/// bytes; `usize::MAX`-ish sizes replace everything) and `start >= len` (append).
pub fn set_buffer(
    buffer: BufferType,
    start: usize,
    size: usize,
    data: &[u8],
) -> Result<(), HostError> {
    host()
        .set_buffer_bytes(buffer, start, size, data)
        .map_err(err("proxy_set_buffer_bytes"))
}

/// The whole plugin configuration (`None`/empty when the plugin has none).
pub fn get_plugin_configuration() -> Result<Option<Vec<u8>>, HostError> {
    get_buffer(BufferType::PluginConfiguration, 0, u32::MAX as usize)
}

pub fn get_vm_configuration() -> Result<Option<Vec<u8>>, HostError> {
    get_buffer(BufferType::VmConfiguration, 0, u32::MAX as usize)
}

pub fn get_request_body(start: usize, max_size: usize) -> Result<Option<Vec<u8>>, HostError> {
    get_buffer(BufferType::HttpRequestBody, start, max_size)
}

pub fn get_response_body(start: usize, max_size: usize) -> Result<Option<Vec<u8>>, HostError> {
    get_buffer(BufferType::HttpResponseBody, start, max_size)
}

/// Replaces the whole request body seen by this callback (the buffered body while buffering).
pub fn replace_request_body(body: &[u8]) -> Result<(), HostError> {
    set_buffer(BufferType::HttpRequestBody, 0, i32::MAX as usize, body)
}

pub fn replace_response_body(body: &[u8]) -> Result<(), HostError> {
    set_buffer(BufferType::HttpResponseBody, 0, i32::MAX as usize, body)
}

// ---- header and trailer maps -----------------------------------------------------------------

pub fn get_map(map: MapType) -> Result<Vec<(String, String)>, HostError> {
    let pairs = host()
        .get_header_map_pairs(map)
        .map_err(err("proxy_get_header_map_pairs"))?;
    Ok(pairs
        .into_iter()
        .map(|(k, v)| (lossy(k), lossy(v)))
        .collect())
}

pub fn set_map(map: MapType, pairs: &[(&str, &str)]) -> Result<(), HostError> {
    let raw: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
        .collect();
    host()
        .set_header_map_pairs(map, &raw)
        .map_err(err("proxy_set_header_map_pairs"))
}

pub fn get_map_value(map: MapType, key: &str) -> Result<Option<String>, HostError> {
    Ok(get_map_value_bytes(map, key)?.map(lossy))
}

pub fn get_map_value_bytes(map: MapType, key: &str) -> Result<Option<Vec<u8>>, HostError> {
    optional(
        "proxy_get_header_map_value",
        host().get_header_map_value(map, key),
    )
}

/// Sets (replaces) a value; `None` removes the key.
pub fn set_map_value(map: MapType, key: &str, value: Option<&str>) -> Result<(), HostError> {
    match value {
        Some(v) => host()
            .replace_header_map_value(map, key, v.as_bytes())
            .map_err(err("proxy_replace_header_map_value")),
        None => remove_map_value(map, key),
    }
}

pub fn add_map_value(map: MapType, key: &str, value: &str) -> Result<(), HostError> {
    host()
        .add_header_map_value(map, key, value.as_bytes())
        .map_err(err("proxy_add_header_map_value"))
}

/// Removing an absent key is not an error.
pub fn remove_map_value(map: MapType, key: &str) -> Result<(), HostError> {
    match host().remove_header_map_value(map, key) {
        Ok(()) | Err(Status::NotFound) => Ok(()),
        Err(s) => Err(HostError::new("proxy_remove_header_map_value", s)),
    }
}

pub fn get_request_header(name: &str) -> Result<Option<String>, HostError> {
    get_map_value(MapType::HttpRequestHeaders, name)
}

pub fn set_request_header(name: &str, value: Option<&str>) -> Result<(), HostError> {
    set_map_value(MapType::HttpRequestHeaders, name, value)
}

pub fn add_request_header(name: &str, value: &str) -> Result<(), HostError> {
    add_map_value(MapType::HttpRequestHeaders, name, value)
}

pub fn get_request_headers() -> Result<Vec<(String, String)>, HostError> {
    get_map(MapType::HttpRequestHeaders)
}

pub fn get_response_header(name: &str) -> Result<Option<String>, HostError> {
    get_map_value(MapType::HttpResponseHeaders, name)
}

pub fn set_response_header(name: &str, value: Option<&str>) -> Result<(), HostError> {
    set_map_value(MapType::HttpResponseHeaders, name, value)
}

pub fn add_response_header(name: &str, value: &str) -> Result<(), HostError> {
    add_map_value(MapType::HttpResponseHeaders, name, value)
}

pub fn get_response_headers() -> Result<Vec<(String, String)>, HostError> {
    get_map(MapType::HttpResponseHeaders)
}

// ---- properties ------------------------------------------------------------------------------

/// Raw property bytes; `None` when the host has no such property.
pub fn get_property(path: &[&str]) -> Result<Option<Vec<u8>>, HostError> {
    optional("proxy_get_property", host().get_property(path))
}

pub fn set_property(path: &[&str], value: &[u8]) -> Result<(), HostError> {
    host()
        .set_property(path, value)
        .map_err(err("proxy_set_property"))
}

/// A string property, lossily decoded.
pub fn get_property_string(path: &[&str]) -> Result<Option<String>, HostError> {
    Ok(get_property(path)?.map(lossy))
}

/// An integer property: Envoy encodes ints as 8 little-endian bytes. `None` if absent or not 8 bytes.
pub fn get_property_i64(path: &[&str]) -> Result<Option<i64>, HostError> {
    Ok(get_property(path)?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map(i64::from_le_bytes))
}

// ---- stream control --------------------------------------------------------------------------

pub fn resume_http_request() -> Result<(), HostError> {
    host()
        .continue_stream(StreamType::HttpRequest)
        .map_err(err("proxy_continue_stream"))
}

pub fn resume_http_response() -> Result<(), HostError> {
    host()
        .continue_stream(StreamType::HttpResponse)
        .map_err(err("proxy_continue_stream"))
}

pub fn close_stream(stream: StreamType) -> Result<(), HostError> {
    host()
        .close_stream(stream)
        .map_err(err("proxy_close_stream"))
}

/// Replies locally. The host ignores the callback's return value afterwards; a second call on the
/// same stream is refused (`BadArgument`) by Higress.
pub fn send_local_response(
    status_code: u32,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(), HostError> {
    send_local_response_with_details(status_code, "", headers, body, -1)
}

pub fn send_local_response_with_details(
    status_code: u32,
    details: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    grpc_status: i32,
) -> Result<(), HostError> {
    let raw: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    host()
        .send_local_response(status_code, details, body, &raw, grpc_status)
        .map_err(err("proxy_send_local_response"))
}

pub fn done() -> Result<(), HostError> {
    host().done().map_err(err("proxy_done"))
}

pub fn call_foreign_function(name: &str, args: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
    optional(
        "proxy_call_foreign_function",
        host().call_foreign_function(name, args),
    )
}

// ---- shared data and queues ------------------------------------------------------------------

/// Errors of [`set_shared_data`]: a CAS conflict is distinct so callers can retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SharedDataError {
    CasMismatch,
    Host(HostError),
}

impl std::fmt::Display for SharedDataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SharedDataError::CasMismatch => {
                f.write_str("shared data changed since it was read (CAS mismatch)")
            }
            SharedDataError::Host(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SharedDataError {}

/// The value (if any) and its CAS token. Pass the CAS back to [`set_shared_data`] to update only if
/// nobody changed it meanwhile.
pub fn get_shared_data(key: &str) -> Result<(Option<Vec<u8>>, u32), HostError> {
    match host().get_shared_data(key) {
        Ok(v) => Ok(v),
        Err(Status::NotFound) => Ok((None, 0)),
        Err(s) => Err(HostError::new("proxy_get_shared_data", s)),
    }
}

/// `cas == 0` writes unconditionally.
pub fn set_shared_data(key: &str, value: Option<&[u8]>, cas: u32) -> Result<(), SharedDataError> {
    match host().set_shared_data(key, value, cas) {
        Ok(()) => Ok(()),
        Err(Status::CasMismatch) => Err(SharedDataError::CasMismatch),
        Err(s) => Err(SharedDataError::Host(HostError::new(
            "proxy_set_shared_data",
            s,
        ))),
    }
}

pub fn register_shared_queue(name: &str) -> Result<u32, HostError> {
    host()
        .register_shared_queue(name)
        .map_err(err("proxy_register_shared_queue"))
}

/// `None` if no VM registered the queue.
pub fn resolve_shared_queue(vm_id: &str, name: &str) -> Result<Option<u32>, HostError> {
    optional(
        "proxy_resolve_shared_queue",
        host().resolve_shared_queue(vm_id, name),
    )
}

pub fn enqueue_shared_queue(queue_id: u32, value: &[u8]) -> Result<(), HostError> {
    host()
        .enqueue_shared_queue(queue_id, value)
        .map_err(err("proxy_enqueue_shared_queue"))
}

/// `None` when the queue is empty.
pub fn dequeue_shared_queue(queue_id: u32) -> Result<Option<Vec<u8>>, HostError> {
    match host().dequeue_shared_queue(queue_id) {
        Ok(v) => Ok(Some(v)),
        Err(Status::Empty) => Ok(None),
        Err(s) => Err(HostError::new("proxy_dequeue_shared_queue", s)),
    }
}

// ---- metrics ---------------------------------------------------------------------------------

/// A metric handle. Defining a name again returns the same id without asking the host (see
/// [`crate::host::metric_id`]), so handles may be made where they are used.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Metric {
    pub id: u32,
    pub kind: MetricType,
}

impl Metric {
    pub fn define(kind: MetricType, name: &str) -> Result<Metric, HostError> {
        let id = crate::host::metric_id(kind, name).map_err(err("proxy_define_metric"))?;
        Ok(Metric { id, kind })
    }

    pub fn counter(name: &str) -> Result<Metric, HostError> {
        Metric::define(MetricType::Counter, name)
    }

    pub fn gauge(name: &str) -> Result<Metric, HostError> {
        Metric::define(MetricType::Gauge, name)
    }

    pub fn histogram(name: &str) -> Result<Metric, HostError> {
        Metric::define(MetricType::Histogram, name)
    }

    pub fn increment(&self, offset: i64) -> Result<(), HostError> {
        host()
            .increment_metric(self.id, offset)
            .map_err(err("proxy_increment_metric"))
    }

    pub fn record(&self, value: u64) -> Result<(), HostError> {
        host()
            .record_metric(self.id, value)
            .map_err(err("proxy_record_metric"))
    }

    pub fn get(&self) -> Result<u64, HostError> {
        host().get_metric(self.id).map_err(err("proxy_get_metric"))
    }
}

// ---- Higress extensions ----------------------------------------------------------------------

/// Pushes data into the filter chain after the current filter (use with
/// `DataAction::StopIterationNoBuffer`). Higress only.
pub fn inject_encoded_data_to_filter_chain(body: &[u8], end_stream: bool) -> Result<(), HostError> {
    host()
        .inject_encoded_data_to_filter_chain(body, end_stream)
        .map_err(err("proxy_inject_encoded_data_to_filter_chain"))
}

/// `(address, metrics-or-empty)` of the current upstream cluster's hosts. Higress only.
pub fn get_upstream_hosts() -> Result<Vec<(String, String)>, HostError> {
    let pairs = host()
        .get_upstream_hosts()
        .map_err(err("proxy_get_upstream_hosts"))?;
    Ok(pairs
        .into_iter()
        .map(|(k, v)| (lossy(k), lossy(v)))
        .collect())
}

/// Pins the upstream endpoint (`ip:port`). Higress only.
pub fn set_upstream_override_host(address: &str) -> Result<(), HostError> {
    host()
        .set_upstream_override_host(address.as_bytes())
        .map_err(err("proxy_set_upstream_override_host"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::install;

    #[test]
    fn headers_absent_present_and_unavailable() {
        let fake = install();
        fake.set_request_headers(&[(":authority", "a.com"), ("content-length", "3")]);
        assert_eq!(
            get_request_header(":authority").unwrap().as_deref(),
            Some("a.com")
        );
        assert_eq!(get_request_header("x-missing").unwrap(), None);
        set_request_header("x-new", Some("1")).unwrap();
        add_request_header("x-new", "2").unwrap();
        set_request_header("content-length", None).unwrap();
        remove_map_value(MapType::HttpRequestHeaders, "never-there").unwrap();
        let all = get_request_headers().unwrap();
        assert_eq!(all.iter().filter(|(k, _)| k == "x-new").count(), 2);
        assert!(!all.iter().any(|(k, _)| k == "content-length"));
        // Envoy: header map gone once the headers went on.
        fake.drop_map(MapType::HttpRequestHeaders);
        let e = get_request_header(":authority").unwrap_err();
        assert_eq!(
            e,
            HostError::new("proxy_get_header_map_value", Status::BadArgument)
        );
        assert!(set_request_header("x", Some("y")).is_err());
    }

    #[test]
    fn set_map_replaces_all_pairs() {
        let fake = install();
        fake.set_response_headers(&[("a", "1")]);
        set_map(MapType::HttpResponseHeaders, &[("b", "2"), ("c", "3")]).unwrap();
        assert_eq!(
            get_response_headers().unwrap(),
            vec![("b".into(), "2".into()), ("c".into(), "3".into())]
        );
    }

    #[test]
    fn buffers_follow_envoy_rules() {
        let fake = install();
        assert_eq!(get_request_body(0, 10).unwrap(), None);
        fake.set_buffer(BufferType::HttpRequestBody, b"hello world");
        assert_eq!(get_request_body(6, 100).unwrap().unwrap(), b"world");
        assert_eq!(get_request_body(50, 5).unwrap().unwrap(), b"");
        replace_request_body(b"bye").unwrap();
        set_buffer(BufferType::HttpRequestBody, 3, 0, b"!").unwrap();
        assert_eq!(fake.buffer(BufferType::HttpRequestBody).unwrap(), b"bye!");
        let e = set_buffer(BufferType::HttpRequestBody, 1, 1, b"x").unwrap_err();
        assert_eq!(e.status, Status::BadArgument);
    }

    #[test]
    fn shared_data_cas_mismatch_is_distinct() {
        let _fake = install();
        assert_eq!(get_shared_data("k").unwrap(), (None, 0));
        set_shared_data("k", Some(b"v1"), 0).unwrap();
        let (value, cas) = get_shared_data("k").unwrap();
        assert_eq!(value.as_deref(), Some(&b"v1"[..]));
        set_shared_data("k", Some(b"v2"), cas).unwrap();
        assert_eq!(
            set_shared_data("k", Some(b"v3"), cas),
            Err(SharedDataError::CasMismatch)
        );
        assert_eq!(get_shared_data("k").unwrap().0.as_deref(), Some(&b"v2"[..]));
    }

    #[test]
    fn shared_data_host_error_is_not_cas() {
        let fake = install();
        fake.fail("proxy_set_shared_data", Status::InternalFailure);
        assert!(matches!(
            set_shared_data("k", None, 0),
            Err(SharedDataError::Host(_))
        ));
    }

    #[test]
    fn queues() {
        let _fake = install();
        let id = register_shared_queue("q").unwrap();
        assert_eq!(resolve_shared_queue("vm", "q").unwrap(), Some(id));
        assert_eq!(resolve_shared_queue("vm", "nope").unwrap(), None);
        assert_eq!(dequeue_shared_queue(id).unwrap(), None);
        enqueue_shared_queue(id, b"a").unwrap();
        enqueue_shared_queue(id, b"b").unwrap();
        assert_eq!(dequeue_shared_queue(id).unwrap().unwrap(), b"a");
        assert_eq!(dequeue_shared_queue(id).unwrap().unwrap(), b"b");
        assert!(enqueue_shared_queue(99, b"x").is_err());
    }

    #[test]
    fn metrics() {
        let fake = install();
        let c = Metric::counter("requests").unwrap();
        c.increment(2).unwrap();
        c.increment(3).unwrap();
        assert_eq!(c.get().unwrap(), 5);
        let g = Metric::gauge("inflight").unwrap();
        g.record(7).unwrap();
        assert_eq!(fake.metric("inflight"), Some(7));
        let h = Metric::histogram("latency").unwrap();
        h.record(12).unwrap();
        assert!(h.increment(1).is_err());
    }

    #[test]
    fn a_metric_is_defined_once_per_host_however_often_it_is_named() {
        let defines = |fake: &crate::testing::FakeHost| {
            fake.calls()
                .iter()
                .filter(|c| **c == "proxy_define_metric")
                .count()
        };
        let fake = install();
        let first = Metric::counter("hits").unwrap();
        for _ in 0..3 {
            assert_eq!(Metric::counter("hits").unwrap(), first);
        }
        Metric::gauge("hits").unwrap();
        assert_eq!(defines(&fake), 2, "one per (kind, name)");
        // A new host (a new VM) defines its metrics afresh.
        let fresh = install();
        Metric::counter("hits").unwrap().increment(1).unwrap();
        assert_eq!(defines(&fresh), 1);
        assert_eq!(fresh.metric("hits"), Some(1));
    }

    #[test]
    fn local_response_second_call_is_an_error() {
        let fake = install();
        send_local_response(403, &[("x-reason", "blocked")], b"no").unwrap();
        assert!(send_local_response(500, &[], b"").is_err());
        let r = fake.local_response().unwrap();
        assert_eq!((r.status_code, r.body.as_slice()), (403, &b"no"[..]));
        assert_eq!(
            r.headers,
            vec![("x-reason".to_string(), "blocked".to_string())]
        );
    }

    #[test]
    fn properties_timers_time_and_stream_control() {
        let fake = install();
        fake.set_property(&["response", "code"], &200i64.to_le_bytes());
        assert_eq!(get_property_i64(&["response", "code"]).unwrap(), Some(200));
        fake.set_property(&["weird"], b"abc");
        assert_eq!(get_property_i64(&["weird"]).unwrap(), None);
        set_tick_period_milliseconds(500).unwrap();
        assert_eq!(fake.tick_period(), Some(500));
        fake.set_time_nanoseconds(42);
        assert_eq!(get_current_time_nanoseconds().unwrap(), 42);
        resume_http_request().unwrap();
        resume_http_response().unwrap();
        assert_eq!(
            fake.continued(),
            vec![StreamType::HttpRequest, StreamType::HttpResponse]
        );
        inject_encoded_data_to_filter_chain(b"data: x\n\n", false).unwrap();
        assert_eq!(fake.injected(), vec![(b"data: x\n\n".to_vec(), false)]);
        set_upstream_override_host("10.0.0.1:80").unwrap();
        assert_eq!(fake.upstream_override().as_deref(), Some("10.0.0.1:80"));
    }

    #[test]
    fn without_a_host_everything_is_unimplemented_not_a_crash() {
        crate::host::set_host(std::rc::Rc::new(crate::testing::NoHost));
        assert_eq!(
            get_request_header("x").unwrap_err().status,
            Status::Unimplemented
        );
        assert!(log(LogLevel::Info, "x").is_err());
    }
}

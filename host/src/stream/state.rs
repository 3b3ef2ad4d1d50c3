//! Per-stream data that host functions read and write while a filter's VM call runs: the header
//! maps, the body in flight and the buffered body, stream info (properties, filter state) and, per
//! filter, which of them its context may currently touch (Envoy `Context` pointers
//! `request_headers_`, `request_body_buffer_`, `buffering_request_body_`, ...).

use crate::pairs::HeaderMap;
use std::collections::BTreeMap;

/// Higress listener `per_connection_buffer_limit_bytes` default (helm `connectionBufferLimits`).
pub const DEFAULT_BUFFER_LIMIT: usize = 32 * 1024;

/// Where a filter's body buffer currently points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRef {
    /// The chunk being passed through the chain right now (`request_body_buffer_ = &data`).
    Chunk,
    /// The stream's buffered body (`decodingBuffer()`), while the filter buffers.
    Buffered,
}

/// What one filter's context may touch (Envoy `Context` member pointers).
#[derive(Debug, Clone, Default)]
pub struct FilterSlot {
    pub plugin_name: String,
    pub root_id: String,
    /// `http_request_started_`: decodeHeaders reached this filter.
    pub started: bool,
    pub req_headers: bool,
    pub req_trailers: bool,
    pub resp_headers: bool,
    pub resp_trailers: bool,
    pub req_body: Option<BodyRef>,
    pub resp_body: Option<BodyRef>,
    pub buffering_req: bool,
    pub buffering_resp: bool,
    /// `end_of_stream_` of the current callback.
    pub end_of_stream: bool,
    /// Higress `local_reply_hold_`: a second `send_local_response` is BadArgument.
    pub local_reply_hold: bool,
    /// `stream_failed_` of the CHECK_FAIL macro: the 503 was already sent.
    pub stream_failed: bool,
}

/// Stream info the properties read (Envoy `StreamInfo`).
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub route_name: String,
    pub cluster_name: String,
    pub source_address: String,
    pub destination_address: String,
    pub protocol: String,
    pub response_code: Option<u32>,
    pub response_code_details: Option<String>,
    /// Filter state, keys as Envoy stores them (`wasm.<name>`).
    pub filter_state: BTreeMap<String, Vec<u8>>,
    pub decoder_buffer_limit: usize,
    pub encoder_buffer_limit: usize,
    /// Higress `clear_route_cache` = `off` stops header changes from clearing the route cache.
    pub route_cache_clearing_disabled: bool,
    /// How many times the route cache was cleared (header edits or `proxy_clear_route_cache`).
    pub route_cache_clears: u32,
    /// `request.time`: stream start, nanoseconds since the Unix epoch (`startTime()`).
    pub start_time_ns: u64,
    /// `request.duration`: set when the request completed (`requestComplete()`), else NotFound.
    pub request_duration_ns: Option<u64>,
    /// Body bytes received from the client so far (`bytesReceived()`).
    pub bytes_received: u64,
    /// Body bytes sent to the client so far (`bytesSent()`).
    pub bytes_sent: u64,
    /// `response.flags` (`responseFlags()` bit set).
    pub response_flags: u64,
    /// `connection.id`; `None` = no downstream connection id (NotFound).
    pub connection_id: Option<u64>,
    /// `connection.requested_server_name` (SNI, empty without TLS).
    pub requested_server_name: String,
    /// Downstream TLS; `None` = plaintext (`connection.tls_version` etc. NotFound, `mtls` false).
    pub downstream_tls: Option<TlsInfo>,
    /// The upstream host chosen for the request (`upstream.address`); `None` before one is chosen.
    pub upstream_address: Option<String>,
    /// `upstream.local_address`.
    pub upstream_local_address: Option<String>,
    /// `upstream.transport_failure_reason`.
    pub upstream_transport_failure_reason: String,
    /// Upstream TLS (`upstream.tls_version` etc.).
    pub upstream_tls: Option<TlsInfo>,
    /// Higress `proxy_set_upstream_override_host`: the endpoint the plugin pinned for this stream.
    pub upstream_override_host: Option<String>,
}

/// The TLS facts the `connection.*` / `upstream.*` attributes expose (Envoy `extractSslInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    pub tls_version: String,
    /// Whether the peer presented a certificate (`connection.mtls` when downstream).
    pub peer_certificate_presented: bool,
    pub subject_local_certificate: String,
    pub subject_peer_certificate: String,
    pub dns_san_local_certificate: String,
    pub dns_san_peer_certificate: String,
    pub uri_san_local_certificate: String,
    pub uri_san_peer_certificate: String,
    pub sha256_peer_certificate_digest: String,
}

impl Default for StreamInfo {
    fn default() -> Self {
        Self {
            route_name: String::new(),
            cluster_name: String::new(),
            source_address: "127.0.0.1:50000".into(),
            destination_address: "127.0.0.1:8080".into(),
            protocol: "HTTP/1.1".into(),
            response_code: None,
            response_code_details: None,
            filter_state: BTreeMap::new(),
            decoder_buffer_limit: DEFAULT_BUFFER_LIMIT,
            encoder_buffer_limit: DEFAULT_BUFFER_LIMIT,
            route_cache_clearing_disabled: false,
            route_cache_clears: 0,
            start_time_ns: 0,
            request_duration_ns: None,
            bytes_received: 0,
            bytes_sent: 0,
            response_flags: 0,
            connection_id: Some(1),
            requested_server_name: String::new(),
            downstream_tls: None,
            upstream_address: None,
            upstream_local_address: None,
            upstream_transport_failure_reason: String::new(),
            upstream_tls: None,
            upstream_override_host: None,
        }
    }
}

/// Everything of one stream that host functions can reach.
#[derive(Debug, Default)]
pub struct StreamShared {
    pub request_headers: HeaderMap,
    pub request_trailers: Option<HeaderMap>,
    pub response_headers: Option<HeaderMap>,
    pub response_trailers: Option<HeaderMap>,
    /// The request chunk being passed to a filter (`data` in `decodeData`).
    pub request_chunk: Option<Vec<u8>>,
    pub response_chunk: Option<Vec<u8>>,
    /// `buffered_request_data_` (one per stream, shared by the decoder filters).
    pub buffered_request: Option<Vec<u8>>,
    pub buffered_response: Option<Vec<u8>>,
    pub slots: Vec<FilterSlot>,
    pub info: StreamInfo,
    /// Set while `proxy_on_log` runs: header maps become the read-only access-log maps.
    pub in_log: bool,
}

impl StreamShared {
    /// Header edits clear the route cache unless Higress `clear_route_cache=off` was set
    /// (Envoy `context.cc` `addHeaderMapValue` → `clearRouteCache()`).
    pub fn on_request_headers_changed(&mut self) {
        if !self.info.route_cache_clearing_disabled {
            self.info.route_cache_clears += 1;
        }
    }
}

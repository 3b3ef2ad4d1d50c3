//! Proxy-Wasm ABI constants: status codes, enum values and ABI versions
//! (proxy-wasm/spec `abi-versions/v0.2.1/README.md`; Higress buffer type 9 from the
//! higress-group proxy-wasm-go-sdk `abi_enums.go`).

/// `proxy_result_t` values returned by every host function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    Ok = 0,
    NotFound = 1,
    BadArgument = 2,
    SerializationFailure = 3,
    ParseFailure = 4,
    InvalidMemoryAccess = 6,
    Empty = 7,
    CasMismatch = 8,
    InternalFailure = 10,
    BrokenConnection = 11,
    Unimplemented = 12,
}

impl Status {
    pub fn code(self) -> i32 {
        self as u32 as i32
    }
}

/// Header map types (`proxy_map_type_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapType {
    RequestHeaders,
    RequestTrailers,
    ResponseHeaders,
    ResponseTrailers,
    GrpcReceiveInitialMetadata,
    GrpcReceiveTrailingMetadata,
    HttpCallResponseHeaders,
    HttpCallResponseTrailers,
}

impl MapType {
    /// cpp-host `exports.cc` rejects types above `WasmHeaderMapType::MAX` with BadArgument.
    pub fn from_raw(v: u32) -> Option<Self> {
        Some(match v {
            0 => Self::RequestHeaders,
            1 => Self::RequestTrailers,
            2 => Self::ResponseHeaders,
            3 => Self::ResponseTrailers,
            4 => Self::GrpcReceiveInitialMetadata,
            5 => Self::GrpcReceiveTrailingMetadata,
            6 => Self::HttpCallResponseHeaders,
            7 => Self::HttpCallResponseTrailers,
            _ => return None,
        })
    }
}

/// Buffer types (`proxy_buffer_type_t`, plus Higress RedisCallResponse = 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferType {
    HttpRequestBody,
    HttpResponseBody,
    DownstreamData,
    UpstreamData,
    HttpCallResponseBody,
    GrpcReceiveBuffer,
    VmConfiguration,
    PluginConfiguration,
    CallData,
    RedisCallResponse,
}

impl BufferType {
    pub fn from_raw(v: u32) -> Option<Self> {
        Some(match v {
            0 => Self::HttpRequestBody,
            1 => Self::HttpResponseBody,
            2 => Self::DownstreamData,
            3 => Self::UpstreamData,
            4 => Self::HttpCallResponseBody,
            5 => Self::GrpcReceiveBuffer,
            6 => Self::VmConfiguration,
            7 => Self::PluginConfiguration,
            8 => Self::CallData,
            9 => Self::RedisCallResponse,
            _ => return None,
        })
    }
}

/// Stream types for `proxy_continue_stream` / `proxy_close_stream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    Request,
    Response,
    Downstream,
    Upstream,
}

impl StreamType {
    pub fn from_raw(v: u32) -> Option<Self> {
        Some(match v {
            0 => Self::Request,
            1 => Self::Response,
            2 => Self::Downstream,
            3 => Self::Upstream,
            _ => return None,
        })
    }
}

/// Log levels (`proxy_log_level_t`), trace = 0 .. critical = 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

impl LogLevel {
    pub fn from_raw(v: u32) -> Option<Self> {
        Some(match v {
            0 => Self::Trace,
            1 => Self::Debug,
            2 => Self::Info,
            3 => Self::Warn,
            4 => Self::Error,
            5 => Self::Critical,
            _ => return None,
        })
    }
}

/// ABI version announced by the module's `proxy_abi_version_*` export
/// (cpp-host `src/bytecode_util.cc` `getAbiVersion`; Higress adds 0_2_100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbiVersion {
    V0_2_0,
    V0_2_1,
    /// Higress: request-header StopIteration is a real StopIteration (higress-group cpp-host `wasm.cc`).
    V0_2_100,
}

impl AbiVersion {
    pub fn from_export(name: &str) -> Option<Self> {
        match name {
            "proxy_abi_version_0_2_0" => Some(Self::V0_2_0),
            "proxy_abi_version_0_2_1" => Some(Self::V0_2_1),
            "proxy_abi_version_0_2_100" => Some(Self::V0_2_100),
            _ => None,
        }
    }
}

/// Envoy `Http::FilterHeadersStatus` values that a wasm header callback can map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadersStatus {
    Continue,
    StopIteration,
    StopAllIterationAndBuffer,
    StopAllIterationAndWatermark,
}

/// Envoy `Http::FilterDataStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataStatus {
    Continue,
    StopIterationAndBuffer,
    StopIterationAndWatermark,
    StopIterationNoBuffer,
}

/// Envoy `Http::FilterTrailersStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailersStatus {
    Continue,
    StopIteration,
}

/// cpp-host `ContextBase::convertVmCallResultToFilterHeadersStatus` followed by Envoy's
/// `convertFilterHeadersStatus`: after a local reply (`stopNextIteration`) or for values above 4 the
/// result is StopAllIterationAndWatermark; StopIteration (1) becomes StopAllIterationAndWatermark unless
/// the header callback is bound with real StopIteration (Higress 0.2.100 request headers);
/// ContinueAndEndStream (2) falls into Envoy's `default:` branch, i.e. Continue.
pub fn convert_headers(raw: u32, stop_next: bool, real_stop_iteration: bool) -> HeadersStatus {
    if stop_next || raw > 4 {
        return HeadersStatus::StopAllIterationAndWatermark;
    }
    match raw {
        1 if real_stop_iteration => HeadersStatus::StopIteration,
        1 => HeadersStatus::StopAllIterationAndWatermark,
        3 => HeadersStatus::StopAllIterationAndBuffer,
        4 => HeadersStatus::StopAllIterationAndWatermark,
        _ => HeadersStatus::Continue,
    }
}

/// cpp-host `convertVmCallResultToFilterDataStatus`: values above 3 and any call after a local reply
/// give StopIterationNoBuffer.
pub fn convert_data(raw: u32, stop_next: bool) -> DataStatus {
    if stop_next || raw > 3 {
        return DataStatus::StopIterationNoBuffer;
    }
    match raw {
        0 => DataStatus::Continue,
        1 => DataStatus::StopIterationAndBuffer,
        2 => DataStatus::StopIterationAndWatermark,
        _ => DataStatus::StopIterationNoBuffer,
    }
}

/// cpp-host `convertVmCallResultToFilterTrailersStatus`.
pub fn convert_trailers(raw: u32, stop_next: bool) -> TrailersStatus {
    if stop_next || raw >= 1 {
        TrailersStatus::StopIteration
    } else {
        TrailersStatus::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_status_conversion_follows_cpp_host() {
        assert_eq!(convert_headers(0, false, false), HeadersStatus::Continue);
        assert_eq!(
            convert_headers(1, false, false),
            HeadersStatus::StopAllIterationAndWatermark
        );
        assert_eq!(
            convert_headers(1, false, true),
            HeadersStatus::StopIteration
        );
        assert_eq!(convert_headers(2, false, false), HeadersStatus::Continue);
        assert_eq!(
            convert_headers(3, false, false),
            HeadersStatus::StopAllIterationAndBuffer
        );
        assert_eq!(
            convert_headers(4, false, false),
            HeadersStatus::StopAllIterationAndWatermark
        );
        assert_eq!(
            convert_headers(7, false, true),
            HeadersStatus::StopAllIterationAndWatermark
        );
        assert_eq!(
            convert_headers(0, true, true),
            HeadersStatus::StopAllIterationAndWatermark
        );
    }

    #[test]
    fn data_and_trailer_conversion_follows_cpp_host() {
        assert_eq!(convert_data(0, false), DataStatus::Continue);
        assert_eq!(convert_data(1, false), DataStatus::StopIterationAndBuffer);
        assert_eq!(
            convert_data(2, false),
            DataStatus::StopIterationAndWatermark
        );
        assert_eq!(convert_data(3, false), DataStatus::StopIterationNoBuffer);
        assert_eq!(convert_data(9, false), DataStatus::StopIterationNoBuffer);
        assert_eq!(convert_data(0, true), DataStatus::StopIterationNoBuffer);
        assert_eq!(convert_trailers(0, false), TrailersStatus::Continue);
        assert_eq!(convert_trailers(5, false), TrailersStatus::StopIteration);
        assert_eq!(convert_trailers(0, true), TrailersStatus::StopIteration);
    }
}

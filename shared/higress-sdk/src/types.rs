//! ABI enums and the error type every host call returns.

use std::fmt;

/// A host status (`proxy_status_t`). Unknown codes are kept, not rejected, so a newer host cannot make
/// the SDK fail on a code it has not heard of.
#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum Status {
    Ok,
    NotFound,
    BadArgument,
    SerializationFailure,
    ParseFailure,
    InvalidMemoryAccess,
    Empty,
    CasMismatch,
    InternalFailure,
    Unimplemented,
    Other(u32),
}

impl Status {
    pub fn from_raw(code: u32) -> Status {
        match code {
            0 => Status::Ok,
            1 => Status::NotFound,
            2 => Status::BadArgument,
            3 => Status::SerializationFailure,
            4 => Status::ParseFailure,
            6 => Status::InvalidMemoryAccess,
            7 => Status::Empty,
            8 => Status::CasMismatch,
            10 => Status::InternalFailure,
            12 => Status::Unimplemented,
            other => Status::Other(other),
        }
    }

    pub fn raw(self) -> u32 {
        match self {
            Status::Ok => 0,
            Status::NotFound => 1,
            Status::BadArgument => 2,
            Status::SerializationFailure => 3,
            Status::ParseFailure => 4,
            Status::InvalidMemoryAccess => 6,
            Status::Empty => 7,
            Status::CasMismatch => 8,
            Status::InternalFailure => 10,
            Status::Unimplemented => 12,
            Status::Other(code) => code,
        }
    }

    /// `Ok(())` for [`Status::Ok`], the status itself otherwise.
    pub fn check(self) -> Result<(), Status> {
        if self == Status::Ok {
            Ok(())
        } else {
            Err(self)
        }
    }
}

/// A failed host call: which call, and the status the host gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostError {
    pub call: &'static str,
    pub status: Status,
}

impl HostError {
    pub fn new(call: &'static str, status: Status) -> HostError {
        HostError { call, status }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {:?}", self.call, self.status)
    }
}

impl std::error::Error for HostError {}

#[derive(Copy, Clone, Eq, PartialEq, PartialOrd, Ord, Hash, Debug)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

impl LogLevel {
    pub fn from_raw(raw: u32) -> Option<LogLevel> {
        Some(match raw {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            5 => LogLevel::Critical,
            _ => return None,
        })
    }
}

#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum BufferType {
    HttpRequestBody = 0,
    HttpResponseBody = 1,
    DownstreamData = 2,
    UpstreamData = 3,
    HttpCallResponseBody = 4,
    GrpcReceiveBuffer = 5,
    VmConfiguration = 6,
    PluginConfiguration = 7,
    CallData = 8,
    /// Higress: the RESP reply of a `proxy_redis_call`.
    RedisCallResponse = 9,
}

#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum MapType {
    HttpRequestHeaders = 0,
    HttpRequestTrailers = 1,
    HttpResponseHeaders = 2,
    HttpResponseTrailers = 3,
    GrpcReceiveInitialMetadata = 4,
    GrpcReceiveTrailingMetadata = 5,
    HttpCallResponseHeaders = 6,
    HttpCallResponseTrailers = 7,
}

#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum StreamType {
    HttpRequest = 0,
    HttpResponse = 1,
    Downstream = 2,
    Upstream = 3,
}

#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum MetricType {
    Counter = 0,
    Gauge = 1,
    Histogram = 2,
}

/// What a header callback tells Envoy. `ContinueAndEndStream` (2) exists in the Higress fork but Envoy
/// treats it as `Continue`, so it is deliberately not offered.
#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum HeaderAction {
    Continue = 0,
    /// Hold the headers while body callbacks keep coming. Real only for request headers under ABI
    /// 0.2.100; see the crate docs for what the SDK does under 0.2.1 and for response headers.
    StopIteration = 1,
    StopAllIterationAndBuffer = 3,
    StopAllIterationAndWatermark = 4,
}

#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum DataAction {
    Continue = 0,
    StopIterationAndBuffer = 1,
    StopIterationAndWatermark = 2,
    /// Neither forward nor buffer the chunk; pair with `inject_encoded_data_to_filter_chain`.
    StopIterationNoBuffer = 3,
}

#[derive(Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum TrailerAction {
    Continue = 0,
    Pause = 1,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_including_unknown_codes() {
        for code in 0..20 {
            assert_eq!(Status::from_raw(code).raw(), code);
        }
        assert_eq!(Status::from_raw(8), Status::CasMismatch);
        assert_eq!(Status::from_raw(99), Status::Other(99));
        assert!(Status::Ok.check().is_ok());
        assert_eq!(Status::NotFound.check(), Err(Status::NotFound));
    }

    #[test]
    fn log_level_rejects_out_of_range() {
        assert_eq!(LogLevel::from_raw(3), Some(LogLevel::Warn));
        assert_eq!(LogLevel::from_raw(6), None);
    }
}

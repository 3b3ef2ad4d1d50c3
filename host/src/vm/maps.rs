//! Header map access for host functions, with Envoy's availability rules (`context.cc` `getMap`,
//! `getConstMap`): a map is reachable only while the filter's context holds its pointer; a missing
//! map is BadArgument; in `proxy_on_log` the access-log maps are readable but not writable.

use super::state::{HostResult, HostState};
use crate::abi::{MapType, Status};
use crate::pairs::HeaderMap;
use crate::stream::state::StreamShared;

/// Read access: returns a copy of the map or BadArgument when Envoy's pointer would be null.
pub(crate) fn const_map(h: &HostState, t: MapType) -> HostResult<HeaderMap> {
    match t {
        MapType::HttpCallResponseHeaders => {
            return h
                .http_response
                .as_ref()
                .map(|r| r.headers.clone())
                .ok_or(Status::BadArgument.into())
        }
        MapType::HttpCallResponseTrailers => {
            return h
                .http_response
                .as_ref()
                .map(|r| r.trailers.clone())
                .ok_or(Status::BadArgument.into())
        }
        MapType::GrpcReceiveInitialMetadata | MapType::GrpcReceiveTrailingMetadata => {
            return Err(Status::BadArgument.into())
        }
        _ => {}
    }
    let (stream, slot) = h.stream().ok_or(Status::BadArgument)?;
    let s = stream.borrow();
    let f = &s.slots[slot];
    let found = match t {
        // Envoy prefers `access_log_*` maps during on_log (`getConstMap`).
        MapType::RequestHeaders if s.in_log || f.req_headers => Some(s.request_headers.clone()),
        MapType::RequestTrailers if f.req_trailers => s.request_trailers.clone(),
        MapType::ResponseHeaders if s.in_log || f.resp_headers => s.response_headers.clone(),
        MapType::ResponseTrailers if s.in_log || f.resp_trailers => s.response_trailers.clone(),
        _ => None,
    };
    found.ok_or(Status::BadArgument.into())
}

/// Write access (`getMap`): only the four stream maps, only while the context holds them. Trailers
/// are created on demand from a body callback with end_of_stream (`addDecodedTrailers`).
pub(crate) fn with_map<R>(
    h: &HostState,
    t: MapType,
    mutates: bool,
    f: impl FnOnce(&mut HeaderMap) -> R,
) -> HostResult<R> {
    let (stream, slot) = h.stream().ok_or(Status::BadArgument)?;
    let mut s = stream.borrow_mut();
    let s: &mut StreamShared = &mut s;
    if s.in_log {
        return Err(Status::BadArgument.into());
    }
    let fl = s.slots[slot].clone();
    let r = match t {
        MapType::RequestHeaders if fl.req_headers => {
            let r = f(&mut s.request_headers);
            if mutates {
                s.on_request_headers_changed();
            }
            r
        }
        MapType::RequestTrailers => {
            if !fl.req_trailers
                && s.request_trailers.is_none()
                && fl.req_body.is_some()
                && fl.end_of_stream
            {
                s.request_trailers = Some(HeaderMap::new());
                s.slots[slot].req_trailers = true;
            } else if !fl.req_trailers {
                return Err(Status::BadArgument.into());
            }
            f(s.request_trailers.get_or_insert_with(HeaderMap::new))
        }
        MapType::ResponseHeaders if fl.resp_headers => {
            f(s.response_headers.get_or_insert_with(HeaderMap::new))
        }
        MapType::ResponseTrailers => {
            if !fl.resp_trailers
                && s.response_trailers.is_none()
                && fl.resp_body.is_some()
                && fl.end_of_stream
            {
                s.response_trailers = Some(HeaderMap::new());
                s.slots[slot].resp_trailers = true;
            } else if !fl.resp_trailers {
                return Err(Status::BadArgument.into());
            }
            f(s.response_trailers.get_or_insert_with(HeaderMap::new))
        }
        _ => return Err(Status::BadArgument.into()),
    };
    Ok(r)
}

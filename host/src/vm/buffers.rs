//! Buffer access for host functions (`context.cc` `getBuffer`, `Buffer::copyFrom`; cpp-host
//! `get_buffer_bytes`/`set_buffer_bytes`).

use super::state::{HostResult, HostState};
use crate::abi::{BufferType, Status};
use crate::stream::state::BodyRef;

/// What `getBuffer` resolved to.
pub(crate) enum Target {
    /// A buffer wrapper over a null instance: size 0, reads give nothing, writes BadArgument.
    Empty,
    /// A read-only string buffer (configuration, callout response bodies).
    Const(Vec<u8>),
    ReqChunk,
    ReqBuffered,
    RespChunk,
    RespBuffered,
}

/// `getBuffer`: NotFound only where Envoy returns nullptr (configuration outside on_configure,
/// callout bodies outside their callback); body buffers of a context that does not hold one are
/// empty, not missing.
pub(crate) fn resolve(h: &HostState, t: BufferType) -> HostResult<Target> {
    Ok(match t {
        BufferType::VmConfiguration => Target::Const(h.plugin.vm_configuration.clone()),
        BufferType::PluginConfiguration if h.configuring => {
            Target::Const(h.plugin.configuration.clone())
        }
        BufferType::PluginConfiguration => return Err(Status::NotFound.into()),
        BufferType::HttpCallResponseBody => Target::Const(
            h.http_response
                .as_ref()
                .ok_or(Status::NotFound)?
                .body
                .clone(),
        ),
        BufferType::RedisCallResponse => {
            Target::Const(h.redis_response.clone().ok_or(Status::NotFound)?)
        }
        BufferType::HttpRequestBody | BufferType::HttpResponseBody => {
            let Some((stream, slot)) = h.stream() else {
                return Ok(Target::Empty);
            };
            let s = stream.borrow();
            let f = &s.slots[slot];
            let req = t == BufferType::HttpRequestBody;
            let (buffering, body, chunk_present) = if req {
                (f.buffering_req, f.req_body, s.request_chunk.is_some())
            } else {
                (f.buffering_resp, f.resp_body, s.response_chunk.is_some())
            };
            match (buffering, body) {
                (true, _) | (false, Some(BodyRef::Buffered)) => {
                    if req {
                        Target::ReqBuffered
                    } else {
                        Target::RespBuffered
                    }
                }
                (false, Some(BodyRef::Chunk)) if chunk_present => {
                    if req {
                        Target::ReqChunk
                    } else {
                        Target::RespChunk
                    }
                }
                _ => Target::Empty,
            }
        }
        _ => Target::Empty,
    })
}

/// Runs `f` on the resolved buffer's bytes (mutable for body buffers).
pub(crate) fn with_bytes<R>(
    h: &HostState,
    target: &Target,
    f: impl FnOnce(Option<&mut Vec<u8>>, &[u8]) -> R,
) -> R {
    let stream = h.stream();
    match target {
        Target::Empty => f(None, &[]),
        Target::Const(v) => f(None, v),
        _ => {
            let (stream, _) = stream.expect("body target implies a stream");
            let mut s = stream.borrow_mut();
            let slot = match target {
                Target::ReqChunk => s.request_chunk.get_or_insert_with(Vec::new),
                Target::ReqBuffered => s.buffered_request.get_or_insert_with(Vec::new),
                Target::RespChunk => s.response_chunk.get_or_insert_with(Vec::new),
                _ => s.buffered_response.get_or_insert_with(Vec::new),
            };
            let copy = slot.clone();
            f(Some(slot), &copy)
        }
    }
}

/// `get_buffer_bytes` clamping: overflow is BadArgument, a start past the end reads nothing.
pub(crate) fn slice(data: &[u8], start: u32, len: u32) -> HostResult<Vec<u8>> {
    if start.checked_add(len).is_none() {
        return Err(Status::BadArgument.into());
    }
    let (start, len) = (start as usize, len as usize);
    if start > data.len() {
        return Ok(Vec::new());
    }
    let end = (start + len).min(data.len());
    Ok(data[start..end].to_vec())
}

/// Envoy `Buffer::copyFrom`: start 0 drains `len` (all if larger) then prepends; a start at or past
/// the end appends; anything else (inserting in the middle) is BadArgument.
pub(crate) fn copy_from(buf: &mut Vec<u8>, start: u32, len: u32, data: &[u8]) -> HostResult {
    let (start, len) = (start as usize, len as usize);
    if start == 0 {
        let drain = len.min(buf.len());
        let rest = buf.split_off(drain);
        *buf = data.to_vec();
        buf.extend_from_slice(&rest);
        Ok(())
    } else if start >= buf.len() {
        buf.extend_from_slice(data);
        Ok(())
    } else {
        Err(Status::BadArgument.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(r: HostResult) -> bool {
        r.is_ok()
    }

    #[test]
    fn copy_from_has_envoys_two_edits() {
        let mut b = b"hello world".to_vec();
        assert!(ok(copy_from(&mut b, 0, 5, b"HELLO")));
        assert_eq!(b, b"HELLO world");
        assert!(ok(copy_from(&mut b, 0, 0, b">")));
        assert_eq!(b, b">HELLO world");
        assert!(ok(copy_from(&mut b, 0, u32::MAX, b"all")));
        assert_eq!(b, b"all");
        assert!(ok(copy_from(&mut b, 3, 0, b"!")));
        assert_eq!(b, b"all!");
        assert!(ok(copy_from(&mut b, 99, 0, b"?")));
        assert_eq!(b, b"all!?");
        assert!(matches!(
            copy_from(&mut b, 1, 1, b"x"),
            Err(super::super::state::HostError::Status(Status::BadArgument))
        ));
        assert_eq!(b, b"all!?");
    }

    #[test]
    fn slice_clamps() {
        assert_eq!(slice(b"abc", 1, 10).ok().unwrap(), b"bc");
        assert_eq!(slice(b"abc", 5, 1).ok().unwrap(), b"");
        assert!(slice(b"abc", u32::MAX, 2).is_err());
    }
}

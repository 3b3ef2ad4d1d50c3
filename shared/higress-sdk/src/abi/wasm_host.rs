//! [`Host`] over the real imports. The only place that touches raw pointers of host calls.

use std::ptr::null_mut;

use super::imports as sys;
use super::memory;
use crate::codec::{deserialize_map, serialize_map, serialize_property_path};
use crate::host::{Host, Pairs};
use crate::types::{BufferType, LogLevel, MapType, MetricType, Status, StreamType};

/// The host reached through `env.proxy_*` imports.
pub struct WasmHost;

fn status(raw: u32) -> Result<(), Status> {
    Status::from_raw(raw).check()
}

/// Runs a call that may return host-allocated bytes and takes them back safely.
fn with_returned_bytes(
    call: impl FnOnce(*mut *mut u8, *mut usize) -> u32,
) -> Result<Vec<u8>, Status> {
    let mut ptr: *mut u8 = null_mut();
    let mut len: usize = 0;
    let result = status(call(&mut ptr, &mut len));
    let bytes = match result {
        Ok(()) => memory::take(ptr as usize, len).ok_or(Status::InvalidMemoryAccess),
        Err(e) => Err(e),
    };
    memory::reclaim();
    bytes
}

fn to_pairs(bytes: &[u8]) -> Result<Pairs, Status> {
    deserialize_map(bytes).map_err(|_| Status::SerializationFailure)
}

impl Host for WasmHost {
    fn log(&self, level: LogLevel, message: &str) -> Result<(), Status> {
        status(unsafe { sys::proxy_log(level as u32, message.as_ptr(), message.len()) })
    }

    fn get_log_level(&self) -> Result<LogLevel, Status> {
        let mut raw = 0u32;
        status(unsafe { sys::proxy_get_log_level(&mut raw) })?;
        LogLevel::from_raw(raw).ok_or(Status::Other(raw))
    }

    fn get_current_time_nanoseconds(&self) -> Result<u64, Status> {
        let mut t = 0u64;
        status(unsafe { sys::proxy_get_current_time_nanoseconds(&mut t) })?;
        Ok(t)
    }

    fn set_tick_period_milliseconds(&self, period: u32) -> Result<(), Status> {
        status(unsafe { sys::proxy_set_tick_period_milliseconds(period) })
    }

    fn get_buffer_bytes(
        &self,
        buffer: BufferType,
        start: usize,
        max_size: usize,
    ) -> Result<Vec<u8>, Status> {
        with_returned_bytes(|p, l| unsafe {
            sys::proxy_get_buffer_bytes(buffer as u32, start, max_size, p, l)
        })
    }

    fn set_buffer_bytes(
        &self,
        buffer: BufferType,
        start: usize,
        size: usize,
        data: &[u8],
    ) -> Result<(), Status> {
        status(unsafe {
            sys::proxy_set_buffer_bytes(buffer as u32, start, size, data.as_ptr(), data.len())
        })
    }

    fn get_header_map_pairs(&self, map: MapType) -> Result<Pairs, Status> {
        let bytes = with_returned_bytes(|p, l| unsafe {
            sys::proxy_get_header_map_pairs(map as u32, p, l)
        })?;
        to_pairs(&bytes)
    }

    fn set_header_map_pairs(&self, map: MapType, pairs: &[(&[u8], &[u8])]) -> Result<(), Status> {
        let bytes = serialize_map(pairs);
        status(unsafe { sys::proxy_set_header_map_pairs(map as u32, bytes.as_ptr(), bytes.len()) })
    }

    fn get_header_map_value(&self, map: MapType, key: &str) -> Result<Vec<u8>, Status> {
        with_returned_bytes(|p, l| unsafe {
            sys::proxy_get_header_map_value(map as u32, key.as_ptr(), key.len(), p, l)
        })
    }

    fn replace_header_map_value(
        &self,
        map: MapType,
        key: &str,
        value: &[u8],
    ) -> Result<(), Status> {
        status(unsafe {
            sys::proxy_replace_header_map_value(
                map as u32,
                key.as_ptr(),
                key.len(),
                value.as_ptr(),
                value.len(),
            )
        })
    }

    fn add_header_map_value(&self, map: MapType, key: &str, value: &[u8]) -> Result<(), Status> {
        status(unsafe {
            sys::proxy_add_header_map_value(
                map as u32,
                key.as_ptr(),
                key.len(),
                value.as_ptr(),
                value.len(),
            )
        })
    }

    fn remove_header_map_value(&self, map: MapType, key: &str) -> Result<(), Status> {
        status(unsafe { sys::proxy_remove_header_map_value(map as u32, key.as_ptr(), key.len()) })
    }

    fn get_property(&self, path: &[&str]) -> Result<Vec<u8>, Status> {
        let path = serialize_property_path(path);
        with_returned_bytes(|p, l| unsafe {
            sys::proxy_get_property(path.as_ptr(), path.len(), p, l)
        })
    }

    fn set_property(&self, path: &[&str], value: &[u8]) -> Result<(), Status> {
        let path = serialize_property_path(path);
        status(unsafe {
            sys::proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len())
        })
    }

    fn get_shared_data(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), Status> {
        let mut cas = 0u32;
        let result = with_returned_bytes(|p, l| unsafe {
            sys::proxy_get_shared_data(key.as_ptr(), key.len(), p, l, &mut cas)
        });
        match result {
            Ok(bytes) => Ok((Some(bytes), cas)),
            Err(Status::NotFound) => Ok((None, cas)),
            Err(e) => Err(e),
        }
    }

    fn set_shared_data(&self, key: &str, value: Option<&[u8]>, cas: u32) -> Result<(), Status> {
        let (ptr, len) = value.map_or((std::ptr::null(), 0), |v| (v.as_ptr(), v.len()));
        status(unsafe { sys::proxy_set_shared_data(key.as_ptr(), key.len(), ptr, len, cas) })
    }

    fn register_shared_queue(&self, name: &str) -> Result<u32, Status> {
        let mut id = 0u32;
        status(unsafe { sys::proxy_register_shared_queue(name.as_ptr(), name.len(), &mut id) })?;
        Ok(id)
    }

    fn resolve_shared_queue(&self, vm_id: &str, name: &str) -> Result<u32, Status> {
        let mut id = 0u32;
        status(unsafe {
            sys::proxy_resolve_shared_queue(
                vm_id.as_ptr(),
                vm_id.len(),
                name.as_ptr(),
                name.len(),
                &mut id,
            )
        })?;
        Ok(id)
    }

    fn enqueue_shared_queue(&self, queue_id: u32, value: &[u8]) -> Result<(), Status> {
        status(unsafe { sys::proxy_enqueue_shared_queue(queue_id, value.as_ptr(), value.len()) })
    }

    fn dequeue_shared_queue(&self, queue_id: u32) -> Result<Vec<u8>, Status> {
        with_returned_bytes(|p, l| unsafe { sys::proxy_dequeue_shared_queue(queue_id, p, l) })
    }

    fn continue_stream(&self, stream: StreamType) -> Result<(), Status> {
        status(unsafe { sys::proxy_continue_stream(stream as u32) })
    }

    fn close_stream(&self, stream: StreamType) -> Result<(), Status> {
        status(unsafe { sys::proxy_close_stream(stream as u32) })
    }

    fn send_local_response(
        &self,
        status_code: u32,
        details: &str,
        body: &[u8],
        headers: &[(&str, &[u8])],
        grpc_status: i32,
    ) -> Result<(), Status> {
        let headers = serialize_map(headers);
        status(unsafe {
            sys::proxy_send_local_response(
                status_code,
                details.as_ptr(),
                details.len(),
                body.as_ptr(),
                body.len(),
                headers.as_ptr(),
                headers.len(),
                grpc_status,
            )
        })
    }

    fn http_call(
        &self,
        upstream: &str,
        headers: &[(&str, &[u8])],
        body: &[u8],
        trailers: &[(&str, &[u8])],
        timeout_ms: u32,
    ) -> Result<u32, Status> {
        let headers = serialize_map(headers);
        let trailers = serialize_map(trailers);
        let mut token = 0u32;
        status(unsafe {
            sys::proxy_http_call(
                upstream.as_ptr(),
                upstream.len(),
                headers.as_ptr(),
                headers.len(),
                body.as_ptr(),
                body.len(),
                trailers.as_ptr(),
                trailers.len(),
                timeout_ms,
                &mut token,
            )
        })?;
        Ok(token)
    }

    fn set_effective_context(&self, context_id: u32) -> Result<(), Status> {
        status(unsafe { sys::proxy_set_effective_context(context_id) })
    }

    fn done(&self) -> Result<(), Status> {
        status(unsafe { sys::proxy_done() })
    }

    fn call_foreign_function(&self, name: &str, args: &[u8]) -> Result<Vec<u8>, Status> {
        with_returned_bytes(|p, l| unsafe {
            sys::proxy_call_foreign_function(
                name.as_ptr(),
                name.len(),
                args.as_ptr(),
                args.len(),
                p,
                l,
            )
        })
    }

    fn define_metric(&self, kind: MetricType, name: &str) -> Result<u32, Status> {
        let mut id = 0u32;
        status(unsafe {
            sys::proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id)
        })?;
        Ok(id)
    }

    fn get_metric(&self, metric_id: u32) -> Result<u64, Status> {
        let mut value = 0u64;
        status(unsafe { sys::proxy_get_metric(metric_id, &mut value) })?;
        Ok(value)
    }

    fn record_metric(&self, metric_id: u32, value: u64) -> Result<(), Status> {
        status(unsafe { sys::proxy_record_metric(metric_id, value) })
    }

    fn increment_metric(&self, metric_id: u32, offset: i64) -> Result<(), Status> {
        status(unsafe { sys::proxy_increment_metric(metric_id, offset) })
    }

    #[cfg(not(feature = "abi-0-2-1"))]
    fn redis_init(
        &self,
        cluster: &str,
        username: &[u8],
        password: &[u8],
        timeout_ms: u32,
    ) -> Result<(), Status> {
        status(unsafe {
            sys::proxy_redis_init(
                cluster.as_ptr(),
                cluster.len(),
                username.as_ptr(),
                username.len(),
                password.as_ptr(),
                password.len(),
                timeout_ms,
            )
        })
    }

    #[cfg(not(feature = "abi-0-2-1"))]
    fn redis_call(&self, cluster: &str, query: &[u8]) -> Result<u32, Status> {
        let mut token = 0u32;
        status(unsafe {
            sys::proxy_redis_call(
                cluster.as_ptr(),
                cluster.len(),
                query.as_ptr(),
                query.len(),
                &mut token,
            )
        })?;
        Ok(token)
    }

    #[cfg(not(feature = "abi-0-2-1"))]
    fn inject_encoded_data_to_filter_chain(
        &self,
        body: &[u8],
        end_stream: bool,
    ) -> Result<(), Status> {
        status(unsafe {
            sys::proxy_inject_encoded_data_to_filter_chain(
                body.as_ptr(),
                body.len(),
                end_stream as u32,
            )
        })
    }

    #[cfg(not(feature = "abi-0-2-1"))]
    fn get_upstream_hosts(&self) -> Result<Pairs, Status> {
        let bytes = with_returned_bytes(|p, l| unsafe { sys::proxy_get_upstream_hosts(p, l) })?;
        to_pairs(&bytes)
    }

    #[cfg(not(feature = "abi-0-2-1"))]
    fn set_upstream_override_host(&self, address: &[u8]) -> Result<(), Status> {
        status(unsafe { sys::proxy_set_upstream_override_host(address.as_ptr(), address.len()) })
    }

    // Vanilla Envoy has none of Higress's extensions; importing them would make the module fail to load.
    #[cfg(feature = "abi-0-2-1")]
    fn redis_init(&self, _: &str, _: &[u8], _: &[u8], _: u32) -> Result<(), Status> {
        Err(Status::Unimplemented)
    }

    #[cfg(feature = "abi-0-2-1")]
    fn redis_call(&self, _: &str, _: &[u8]) -> Result<u32, Status> {
        Err(Status::Unimplemented)
    }

    #[cfg(feature = "abi-0-2-1")]
    fn inject_encoded_data_to_filter_chain(&self, _: &[u8], _: bool) -> Result<(), Status> {
        Err(Status::Unimplemented)
    }

    #[cfg(feature = "abi-0-2-1")]
    fn get_upstream_hosts(&self) -> Result<Pairs, Status> {
        Err(Status::Unimplemented)
    }

    #[cfg(feature = "abi-0-2-1")]
    fn set_upstream_override_host(&self, _: &[u8]) -> Result<(), Status> {
        Err(Status::Unimplemented)
    }
}

//! Exported callbacks. Each one converts raw ABI values, finds the context and calls the plugin.
//! Unknown ids get a harmless answer (Continue / true) instead of a trap.

use crate::dispatcher::{self, RootFactory};
use crate::types::{DataAction, HeaderAction, TrailerAction};

/// The ABI version marker the host looks for. Higress's 0.2.100 keeps a request-header
/// StopIteration as a real StopIteration.
#[cfg(not(feature = "abi-0-2-1"))]
#[unsafe(no_mangle)]
pub extern "C" fn proxy_abi_version_0_2_100() {}

#[cfg(feature = "abi-0-2-1")]
#[unsafe(no_mangle)]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    super::memory::allocate(size)
}

/// Body of the `proxy_on_context_create` export that [`crate::main!`] emits in the plugin crate.
/// Registering the factory here, on the first call the host makes, means plugins work whether or
/// not the host ran `_initialize`.
pub fn on_context_create(factory: RootFactory, context_id: u32, parent_context_id: u32) {
    dispatcher::ensure_factory(factory);
    dispatcher::create_context(context_id, parent_context_id);
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_vm_start(context_id: u32, vm_configuration_size: usize) -> u32 {
    dispatcher::with_root(context_id, |r| r.on_vm_start(vm_configuration_size)).unwrap_or(true)
        as u32
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_configure(context_id: u32, plugin_configuration_size: usize) -> u32 {
    // An unknown root means no factory was registered: refusing the config surfaces that.
    dispatcher::with_root(context_id, |r| r.on_configure(plugin_configuration_size))
        .unwrap_or(false) as u32
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_tick(context_id: u32) {
    dispatcher::with_root(context_id, |r| r.on_tick());
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_queue_ready(context_id: u32, queue_id: u32) {
    dispatcher::with_root(context_id, |r| r.on_queue_ready(queue_id));
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_foreign_function(
    context_id: u32,
    function_id: u32,
    arguments_size: usize,
) {
    dispatcher::with_root(context_id, |r| {
        r.on_foreign_function(function_id, arguments_size)
    });
}

/// Headers that must be held while the plugin reads the body. Response headers can never be held
/// that way (the host turns StopIteration into StopAll, which starves the body callbacks), and
/// neither can request headers under ABI 0.2.1: there the SDK lets the headers go without
/// Content-Length (the body may change size) and the plugin buffers the body instead.
fn translate_stop_iteration(
    action: HeaderAction,
    end_of_stream: bool,
    request: bool,
) -> HeaderAction {
    let holds_for_real = request && !cfg!(feature = "abi-0-2-1");
    if action != HeaderAction::StopIteration || end_of_stream || holds_for_real {
        return action;
    }
    let map = if request {
        crate::types::MapType::HttpRequestHeaders
    } else {
        crate::types::MapType::HttpResponseHeaders
    };
    // Best effort: a failure here only leaves a possibly stale Content-Length.
    let _ = crate::host::host().remove_header_map_value(map, "content-length");
    HeaderAction::Continue
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_headers(
    context_id: u32,
    num_headers: usize,
    end_of_stream: u32,
) -> u32 {
    let eos = end_of_stream != 0;
    let action = dispatcher::with_stream(context_id, |c| c.on_request_headers(num_headers, eos))
        .unwrap_or(HeaderAction::Continue);
    translate_stop_iteration(action, eos, true) as u32
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_body(
    context_id: u32,
    body_size: usize,
    end_of_stream: u32,
) -> u32 {
    let eos = end_of_stream != 0;
    dispatcher::with_stream(context_id, |c| c.on_request_body(body_size, eos))
        .unwrap_or(DataAction::Continue) as u32
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_trailers(context_id: u32, num_trailers: usize) -> u32 {
    dispatcher::with_stream(context_id, |c| c.on_request_trailers(num_trailers))
        .unwrap_or(TrailerAction::Continue) as u32
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_headers(
    context_id: u32,
    num_headers: usize,
    end_of_stream: u32,
) -> u32 {
    let eos = end_of_stream != 0;
    let action = dispatcher::with_stream(context_id, |c| c.on_response_headers(num_headers, eos))
        .unwrap_or(HeaderAction::Continue);
    translate_stop_iteration(action, eos, false) as u32
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_body(
    context_id: u32,
    body_size: usize,
    end_of_stream: u32,
) -> u32 {
    let eos = end_of_stream != 0;
    dispatcher::with_stream(context_id, |c| c.on_response_body(body_size, eos))
        .unwrap_or(DataAction::Continue) as u32
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_trailers(context_id: u32, num_trailers: usize) -> u32 {
    dispatcher::with_stream(context_id, |c| c.on_response_trailers(num_trailers))
        .unwrap_or(TrailerAction::Continue) as u32
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_log(context_id: u32) {
    if dispatcher::with_stream(context_id, |c| c.on_log()).is_none() {
        dispatcher::with_root(context_id, |r| r.on_log());
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_done(context_id: u32) -> u32 {
    dispatcher::with_stream(context_id, |c| c.on_done())
        .or_else(|| dispatcher::with_root(context_id, |r| r.on_done()))
        .unwrap_or(true) as u32
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    dispatcher::delete_context(context_id);
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_http_call_response(
    _root_context_id: u32,
    token: u32,
    num_headers: usize,
    body_size: usize,
    num_trailers: usize,
) {
    crate::http_call::deliver_response(token, num_headers, body_size, num_trailers);
}

/// Higress: `proxy_on_redis_call_response(root_context_id, token, status, response_size)`.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_redis_call_response(
    _root_context_id: u32,
    token: u32,
    status: u32,
    response_size: usize,
) {
    crate::redis::deliver_response(token, status, response_size);
}

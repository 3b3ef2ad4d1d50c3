//! Raw host imports (module `env`): every function of Proxy-Wasm ABI 0.2.1 plus Higress's
//! extensions. Only what the SDK actually calls ends up in a plugin's import section, because the
//! linker drops unreferenced imports. The Higress-only ones are left out of `abi-0-2-1` builds so
//! that vanilla Envoy, which lacks them, can still instantiate the module.

#![allow(dead_code)]

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    pub fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    pub fn proxy_get_log_level(return_level: *mut u32) -> u32;
    pub fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    pub fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    pub fn proxy_get_buffer_status(
        buffer: u32,
        return_size: *mut usize,
        return_unused: *mut u32,
    ) -> u32;
    pub fn proxy_get_buffer_bytes(
        buffer: u32,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    pub fn proxy_set_buffer_bytes(
        buffer: u32,
        start: usize,
        size: usize,
        data: *const u8,
        data_size: usize,
    ) -> u32;
    pub fn proxy_get_header_map_size(map: u32, return_size: *mut usize) -> u32;
    pub fn proxy_get_header_map_pairs(
        map: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    pub fn proxy_set_header_map_pairs(map: u32, data: *const u8, size: usize) -> u32;
    pub fn proxy_get_header_map_value(
        map: u32,
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    pub fn proxy_replace_header_map_value(
        map: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    pub fn proxy_add_header_map_value(
        map: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    pub fn proxy_remove_header_map_value(map: u32, key_data: *const u8, key_size: usize) -> u32;
    pub fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    pub fn proxy_set_property(
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    pub fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    pub fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    pub fn proxy_register_shared_queue(
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    pub fn proxy_resolve_shared_queue(
        vm_id_data: *const u8,
        vm_id_size: usize,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    pub fn proxy_enqueue_shared_queue(
        queue_id: u32,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    pub fn proxy_dequeue_shared_queue(
        queue_id: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    pub fn proxy_continue_stream(stream: u32) -> u32;
    pub fn proxy_close_stream(stream: u32) -> u32;
    pub fn proxy_get_status(
        return_code: *mut u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    pub fn proxy_send_local_response(
        status_code: u32,
        details_data: *const u8,
        details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    pub fn proxy_http_call(
        upstream_data: *const u8,
        upstream_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        body_data: *const u8,
        body_size: usize,
        trailers_data: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        return_token: *mut u32,
    ) -> u32;
    pub fn proxy_grpc_call(
        upstream_data: *const u8,
        upstream_size: usize,
        service_data: *const u8,
        service_size: usize,
        method_data: *const u8,
        method_size: usize,
        metadata_data: *const u8,
        metadata_size: usize,
        message_data: *const u8,
        message_size: usize,
        timeout_ms: u32,
        return_token: *mut u32,
    ) -> u32;
    pub fn proxy_grpc_stream(
        upstream_data: *const u8,
        upstream_size: usize,
        service_data: *const u8,
        service_size: usize,
        method_data: *const u8,
        method_size: usize,
        metadata_data: *const u8,
        metadata_size: usize,
        return_token: *mut u32,
    ) -> u32;
    pub fn proxy_grpc_send(
        token: u32,
        message_data: *const u8,
        message_size: usize,
        end_stream: u32,
    ) -> u32;
    pub fn proxy_grpc_cancel(token: u32) -> u32;
    pub fn proxy_grpc_close(token: u32) -> u32;
    pub fn proxy_set_effective_context(context_id: u32) -> u32;
    pub fn proxy_done() -> u32;
    pub fn proxy_call_foreign_function(
        name_data: *const u8,
        name_size: usize,
        args_data: *const u8,
        args_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> u32;
    pub fn proxy_define_metric(
        kind: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    pub fn proxy_get_metric(metric_id: u32, return_value: *mut u64) -> u32;
    pub fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
    pub fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
}

#[cfg(not(feature = "abi-0-2-1"))]
#[link(wasm_import_module = "env")]
unsafe extern "C" {
    pub fn proxy_redis_init(
        cluster_data: *const u8,
        cluster_size: usize,
        username_data: *const u8,
        username_size: usize,
        password_data: *const u8,
        password_size: usize,
        timeout_ms: u32,
    ) -> u32;
    pub fn proxy_redis_call(
        cluster_data: *const u8,
        cluster_size: usize,
        query_data: *const u8,
        query_size: usize,
        return_token: *mut u32,
    ) -> u32;
    pub fn proxy_inject_encoded_data_to_filter_chain(
        body_data: *const u8,
        body_size: usize,
        end_stream: u32,
    ) -> u32;
    pub fn proxy_get_upstream_hosts(return_data: *mut *mut u8, return_size: *mut usize) -> u32;
    pub fn proxy_set_upstream_override_host(address_data: *const u8, address_size: usize) -> u32;
}

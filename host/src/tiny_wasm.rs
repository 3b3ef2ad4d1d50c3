//! Tiny Proxy-Wasm modules assembled byte by byte (WebAssembly binary format, §5), with no
//! toolchain and no SDK: for paths no real plugin takes on purpose (a callback that traps) and for
//! measuring the host alone (the module imports nothing). Used by the host's and the gateway's
//! tests and by the `request` benchmark.

/// The ABI marker the module exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abi {
    V0_2_1,
    V0_2_100,
}

/// Value type and export kinds used below.
const I32: u8 = 0x7f;
const EXPORT_FUNC: u8 = 0x00;
const EXPORT_MEMORY: u8 = 0x02;

/// A plugin that exports `memory`, the ABI marker and every HTTP callback. Each callback returns at
/// once (Continue; `proxy_on_vm_start`, `proxy_on_configure` and `proxy_on_done` return 1), except
/// that `proxy_on_request_headers` executes `unreachable` when `trap_on_request_headers` is set.
pub fn noop_plugin(abi: Abi, trap_on_request_headers: bool) -> Vec<u8> {
    let marker = match abi {
        Abi::V0_2_1 => "proxy_abi_version_0_2_1",
        Abi::V0_2_100 => "proxy_abi_version_0_2_100",
    };
    // (export, param count, returned i32 constant or None for no result, traps)
    let funcs: [(&str, u8, Option<u8>, bool); 14] = [
        (marker, 0, None, false),
        // Never called for this plugin (it asks for no host data); a fixed address.
        ("proxy_on_memory_allocate", 1, Some(16), false),
        ("proxy_on_context_create", 2, None, false),
        ("proxy_on_vm_start", 2, Some(1), false),
        ("proxy_on_configure", 2, Some(1), false),
        (
            "proxy_on_request_headers",
            3,
            Some(0),
            trap_on_request_headers,
        ),
        ("proxy_on_request_body", 3, Some(0), false),
        ("proxy_on_request_trailers", 2, Some(0), false),
        ("proxy_on_response_headers", 3, Some(0), false),
        ("proxy_on_response_body", 3, Some(0), false),
        ("proxy_on_response_trailers", 2, Some(0), false),
        ("proxy_on_log", 1, None, false),
        ("proxy_on_done", 1, Some(1), false),
        ("proxy_on_delete", 1, None, false),
    ];
    // One function type per function keeps the encoder trivial.
    let mut types = Vec::new();
    leb(funcs.len() as u32, &mut types);
    for (_, params, ret, _) in &funcs {
        types.push(0x60);
        leb(u32::from(*params), &mut types);
        types.extend(std::iter::repeat_n(I32, usize::from(*params)));
        match ret {
            Some(_) => types.extend([1, I32]),
            None => types.push(0),
        }
    }
    let mut function_section = Vec::new();
    leb(funcs.len() as u32, &mut function_section);
    for i in 0..funcs.len() {
        leb(i as u32, &mut function_section);
    }
    // One memory of one page, no maximum.
    let memory = vec![1, 0x00, 1];
    let mut exports = Vec::new();
    leb(funcs.len() as u32 + 1, &mut exports);
    name("memory", &mut exports);
    exports.push(EXPORT_MEMORY);
    leb(0, &mut exports);
    for (i, (export, ..)) in funcs.iter().enumerate() {
        name(export, &mut exports);
        exports.push(EXPORT_FUNC);
        leb(i as u32, &mut exports);
    }
    let mut code = Vec::new();
    leb(funcs.len() as u32, &mut code);
    for (_, _, ret, traps) in &funcs {
        let mut body = vec![0]; // no locals
        if *traps {
            body.push(0x00); // unreachable
        } else if let Some(v) = ret {
            // i32.const; the constants used here are below 64, so signed LEB128 is one byte.
            body.extend([0x41, *v]);
        }
        body.push(0x0b); // end
        leb(body.len() as u32, &mut code);
        code.extend(body);
    }
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, types, &mut module);
    section(3, function_section, &mut module);
    section(5, memory, &mut module);
    section(7, exports, &mut module);
    section(10, code, &mut module);
    module
}

fn leb(mut n: u32, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn section(id: u8, body: Vec<u8>, out: &mut Vec<u8>) {
    out.push(id);
    leb(body.len() as u32, out);
    out.extend(body);
}

fn name(s: &str, out: &mut Vec<u8>) {
    leb(s.len() as u32, out);
    out.extend_from_slice(s.as_bytes());
}

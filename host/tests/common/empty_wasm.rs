//! A truly empty Proxy-Wasm plugin, assembled byte by byte (no toolchain, no SDK): it exports
//! `memory`, the `proxy_abi_version_0_2_100` marker and every HTTP callback, and each callback
//! returns at once (Continue; `proxy_on_vm_start`/`proxy_on_configure`/`proxy_on_done` return 1).
//! It imports nothing, so a request through it measures the host alone. Shared by the tests and the
//! `request` benchmark (`#[path]`-included).

/// Value types and the export kinds used below (WebAssembly binary format, §5).
const I32: u8 = 0x7f;
const FUNC: u8 = 0x00;
const MEMORY: u8 = 0x02;

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

/// `(export name, param count, returned i32 constant or None for no result)`.
const FUNCS: &[(&str, u8, Option<u8>)] = &[
    ("proxy_abi_version_0_2_100", 0, None),
    // Never called by the host for this plugin (it asks for no host data); a fixed address.
    ("proxy_on_memory_allocate", 1, Some(16)),
    ("proxy_on_context_create", 2, None),
    ("proxy_on_vm_start", 2, Some(1)),
    ("proxy_on_configure", 2, Some(1)),
    ("proxy_on_request_headers", 3, Some(0)),
    ("proxy_on_request_body", 3, Some(0)),
    ("proxy_on_request_trailers", 2, Some(0)),
    ("proxy_on_response_headers", 3, Some(0)),
    ("proxy_on_response_body", 3, Some(0)),
    ("proxy_on_response_trailers", 2, Some(0)),
    ("proxy_on_log", 1, None),
    ("proxy_on_done", 1, Some(1)),
    ("proxy_on_delete", 1, None),
];

/// The module bytes.
pub fn empty_plugin_wasm() -> Vec<u8> {
    // One function type per function keeps the encoder trivial.
    let mut types = Vec::new();
    leb(FUNCS.len() as u32, &mut types);
    for (_, params, ret) in FUNCS {
        types.push(0x60);
        leb(u32::from(*params), &mut types);
        types.extend(std::iter::repeat_n(I32, *params as usize));
        match ret {
            Some(_) => types.extend([1, I32]),
            None => types.push(0),
        }
    }
    let mut funcs = Vec::new();
    leb(FUNCS.len() as u32, &mut funcs);
    for i in 0..FUNCS.len() {
        leb(i as u32, &mut funcs);
    }
    // One memory of one page, no maximum.
    let memory = vec![1, 0x00, 1];
    let mut exports = Vec::new();
    leb(FUNCS.len() as u32 + 1, &mut exports);
    name("memory", &mut exports);
    exports.push(MEMORY);
    leb(0, &mut exports);
    for (i, (export, _, _)) in FUNCS.iter().enumerate() {
        name(export, &mut exports);
        exports.push(FUNC);
        leb(i as u32, &mut exports);
    }
    let mut code = Vec::new();
    leb(FUNCS.len() as u32, &mut code);
    for (_, _, ret) in FUNCS {
        // No locals; `i32.const n` when there is a result; `end`.
        let body: Vec<u8> = match ret {
            // Signed LEB128: the constants used here are below 64, one byte each.
            Some(v) => vec![0, 0x41, *v, 0x0b],
            None => vec![0, 0x0b],
        };
        leb(body.len() as u32, &mut code);
        code.extend(body);
    }
    let mut m = b"\0asm".to_vec();
    m.extend([1, 0, 0, 0]);
    section(1, types, &mut m);
    section(3, funcs, &mut m);
    section(5, memory, &mut m);
    section(7, exports, &mut m);
    section(10, code, &mut m);
    m
}

//! Tiny Proxy-Wasm modules assembled byte by byte (WebAssembly binary format §5), for paths no
//! real plugin takes on purpose: a plugin whose `proxy_on_request_headers` traps (failStrategy),
//! and a no-op plugin (benchmarks).

const I32: u8 = 0x7f;

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

/// A plugin (ABI 0.2.1) whose request-headers callback traps when `trap` is set, or returns
/// Continue; every other callback returns at once.
pub fn plugin(trap: bool) -> Vec<u8> {
    // (export, params, Some(const) result / None no result, traps)
    let funcs: Vec<(&str, u8, Option<u8>, bool)> = vec![
        ("proxy_abi_version_0_2_1", 0, None, false),
        ("proxy_on_memory_allocate", 1, Some(16), false),
        ("proxy_on_context_create", 2, None, false),
        ("proxy_on_vm_start", 2, Some(1), false),
        ("proxy_on_configure", 2, Some(1), false),
        ("proxy_on_request_headers", 3, Some(0), trap),
        ("proxy_on_request_body", 3, Some(0), false),
        ("proxy_on_response_headers", 3, Some(0), false),
        ("proxy_on_response_body", 3, Some(0), false),
        ("proxy_on_log", 1, None, false),
        ("proxy_on_done", 1, Some(1), false),
        ("proxy_on_delete", 1, None, false),
    ];
    let mut types = Vec::new();
    leb(funcs.len() as u32, &mut types);
    for (_, params, ret, _) in &funcs {
        types.push(0x60);
        leb(u32::from(*params), &mut types);
        types.extend(std::iter::repeat_n(I32, *params as usize));
        match ret {
            Some(_) => types.extend([1, I32]),
            None => types.push(0),
        }
    }
    let mut fsec = Vec::new();
    leb(funcs.len() as u32, &mut fsec);
    for i in 0..funcs.len() {
        leb(i as u32, &mut fsec);
    }
    let memory = vec![1, 0x00, 1];
    let mut exports = Vec::new();
    leb(funcs.len() as u32 + 1, &mut exports);
    name("memory", &mut exports);
    exports.push(0x02);
    leb(0, &mut exports);
    for (i, (export, ..)) in funcs.iter().enumerate() {
        name(export, &mut exports);
        exports.push(0x00);
        leb(i as u32, &mut exports);
    }
    let mut code = Vec::new();
    leb(funcs.len() as u32, &mut code);
    for (_, _, ret, traps) in &funcs {
        let mut body = vec![0]; // no locals
        if *traps {
            body.push(0x00); // unreachable
        } else if let Some(v) = ret {
            body.push(0x41); // i32.const
            leb(u32::from(*v), &mut body);
        }
        body.push(0x0b); // end
        leb(body.len() as u32, &mut code);
        code.extend(body);
    }
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    section(1, types, &mut out);
    section(3, fsec, &mut out);
    section(5, memory, &mut out);
    section(7, exports, &mut out);
    section(10, code, &mut out);
    out
}

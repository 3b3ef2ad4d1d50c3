//! Raw Proxy-Wasm ABI glue: imports from module `env`, exported `proxy_on_*` callbacks, and the
//! script interpreter that turns ops into host calls.

use crate::{parse, parse_pairs, render_pairs, serialize_pairs, Rule};
use std::cell::RefCell;
use std::collections::HashMap;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, ptr: *const u8, len: usize) -> u32;
    fn proxy_get_log_level(out: *mut u32) -> u32;
    fn proxy_get_buffer_bytes(
        t: u32,
        start: usize,
        len: usize,
        p: *mut *mut u8,
        s: *mut usize,
    ) -> u32;
    fn proxy_get_buffer_status(t: u32, len: *mut usize, flags: *mut u32) -> u32;
    fn proxy_set_buffer_bytes(t: u32, start: usize, len: usize, p: *const u8, s: usize) -> u32;
    fn proxy_get_header_map_value(
        m: u32,
        k: *const u8,
        kl: usize,
        v: *mut *mut u8,
        vl: *mut usize,
    ) -> u32;
    fn proxy_add_header_map_value(m: u32, k: *const u8, kl: usize, v: *const u8, vl: usize) -> u32;
    fn proxy_replace_header_map_value(
        m: u32,
        k: *const u8,
        kl: usize,
        v: *const u8,
        vl: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(m: u32, k: *const u8, kl: usize) -> u32;
    fn proxy_get_header_map_pairs(m: u32, p: *mut *mut u8, s: *mut usize) -> u32;
    fn proxy_set_header_map_pairs(m: u32, p: *const u8, s: usize) -> u32;
    fn proxy_get_header_map_size(m: u32, s: *mut usize) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_send_local_response(
        code: u32,
        d: *const u8,
        dl: usize,
        b: *const u8,
        bl: usize,
        h: *const u8,
        hl: usize,
        grpc: i32,
    ) -> u32;
    fn proxy_continue_stream(t: u32) -> u32;
    fn proxy_close_stream(t: u32) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_http_call(
        u: *const u8,
        ul: usize,
        h: *const u8,
        hl: usize,
        b: *const u8,
        bl: usize,
        t: *const u8,
        tl: usize,
        timeout: u32,
        token: *mut u32,
    ) -> u32;
    fn proxy_set_property(p: *const u8, pl: usize, v: *const u8, vl: usize) -> u32;
    fn proxy_get_property(p: *const u8, pl: usize, v: *mut *mut u8, vl: *mut usize) -> u32;
    fn proxy_set_tick_period_milliseconds(ms: u32) -> u32;
    fn proxy_get_shared_data(
        k: *const u8,
        kl: usize,
        v: *mut *mut u8,
        vl: *mut usize,
        cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(k: *const u8, kl: usize, v: *const u8, vl: usize, cas: u32) -> u32;
    fn proxy_register_shared_queue(n: *const u8, nl: usize, token: *mut u32) -> u32;
    fn proxy_resolve_shared_queue(
        v: *const u8,
        vl: usize,
        n: *const u8,
        nl: usize,
        token: *mut u32,
    ) -> u32;
    fn proxy_enqueue_shared_queue(token: u32, p: *const u8, l: usize) -> u32;
    fn proxy_dequeue_shared_queue(token: u32, p: *mut *mut u8, l: *mut usize) -> u32;
    fn proxy_define_metric(t: u32, n: *const u8, nl: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
    fn proxy_record_metric(id: u32, value: u64) -> u32;
    fn proxy_get_metric(id: u32, value: *mut u64) -> u32;
    fn proxy_set_effective_context(id: u32) -> u32;
    fn proxy_done() -> u32;
    fn proxy_get_current_time_nanoseconds(out: *mut u64) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_redis_init(
        c: *const u8,
        cl: usize,
        u: *const u8,
        ul: usize,
        p: *const u8,
        pl: usize,
        timeout: u32,
    ) -> u32;
    fn proxy_redis_call(c: *const u8, cl: usize, q: *const u8, ql: usize, token: *mut u32) -> u32;
    fn proxy_call_foreign_function(
        n: *const u8,
        nl: usize,
        a: *const u8,
        al: usize,
        r: *mut *mut u8,
        rl: *mut usize,
    ) -> u32;
    fn proxy_inject_encoded_data_to_filter_chain(p: *const u8, l: usize, eos: u32) -> u32;
    fn proxy_clear_route_cache() -> u32;
    fn proxy_get_upstream_hosts(p: *mut *mut u8, s: *mut usize) -> u32;
    fn proxy_set_upstream_override_host(p: *const u8, l: usize) -> u32;
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn random_get(buf: *mut u8, len: usize) -> u16;
    fn fd_read(fd: u32, iovs: *const u8, n: usize, nread: *mut usize) -> u16;
}

/// Version marker; the host renames it to test other ABI versions (see the host's test support).
#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_100() {}

#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut v: Vec<u8> = Vec::with_capacity(size.max(1));
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    root_id: u32,
    /// Callout token -> the stream context that dispatched it (what SDKs keep to route responses).
    callouts: HashMap<u32, u32>,
    metrics: HashMap<String, u32>,
    queues: HashMap<String, u32>,
    calls: HashMap<String, u32>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// `#quiet` as the first script line turns off the per-callback trace lines (benchmarks).
static mut QUIET: bool = false;

fn trace(msg: &str) {
    // SAFETY: wasm32 plugins are single-threaded.
    if unsafe { QUIET } {
        return;
    }
    log(msg);
}

fn log(msg: &str) {
    unsafe {
        proxy_log(2, msg.as_ptr(), msg.len());
    }
}

fn take(p: *mut u8, s: usize) -> Vec<u8> {
    if p.is_null() || s == 0 {
        return Vec::new();
    }
    unsafe { Vec::from_raw_parts(p, s, s) }
}

fn hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn num(args: &[String], i: usize) -> u64 {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(0)
}

fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map(String::as_str).unwrap_or("")
}

/// Runs one op, returns (status, value-to-log) or a return value override.
fn run_op(cb: &str, ctx: u32, args: &[String], ret: &mut u32) {
    let name = arg(args, 0);
    let (status, value): (u32, String) = unsafe {
        match name {
            "return" => {
                *ret = num(args, 1) as u32;
                return;
            }
            "log" => {
                let lvl = if args.len() > 2 {
                    num(args, 2) as u32
                } else {
                    2
                };
                (
                    proxy_log(lvl, args[1].as_ptr(), args[1].len()),
                    String::new(),
                )
            }
            "log_level" => {
                let mut l = 0;
                (proxy_get_log_level(&mut l), l.to_string())
            }
            "get_header" => {
                let k = arg(args, 2);
                let (mut p, mut s) = (std::ptr::null_mut(), 0);
                let st = proxy_get_header_map_value(
                    num(args, 1) as u32,
                    k.as_ptr(),
                    k.len(),
                    &mut p,
                    &mut s,
                );
                (st, text(&take(p, s)))
            }
            "add_header" | "replace_header" => {
                let (k, v) = (arg(args, 2), arg(args, 3));
                let f = if name == "add_header" {
                    proxy_add_header_map_value
                } else {
                    proxy_replace_header_map_value
                };
                (
                    f(
                        num(args, 1) as u32,
                        k.as_ptr(),
                        k.len(),
                        v.as_ptr(),
                        v.len(),
                    ),
                    String::new(),
                )
            }
            "remove_header" => {
                let k = arg(args, 2);
                (
                    proxy_remove_header_map_value(num(args, 1) as u32, k.as_ptr(), k.len()),
                    String::new(),
                )
            }
            "get_pairs" => {
                let (mut p, mut s) = (std::ptr::null_mut(), 0);
                let st = proxy_get_header_map_pairs(num(args, 1) as u32, &mut p, &mut s);
                (st, render_pairs(&take(p, s)))
            }
            "set_pairs" => {
                let data = serialize_pairs(&parse_pairs(arg(args, 2)));
                (
                    proxy_set_header_map_pairs(num(args, 1) as u32, data.as_ptr(), data.len()),
                    String::new(),
                )
            }
            "header_size" => {
                let mut s = 0;
                (
                    proxy_get_header_map_size(num(args, 1) as u32, &mut s),
                    s.to_string(),
                )
            }
            "get_body" => {
                let (mut p, mut s) = (std::ptr::null_mut(), 0);
                let len = args
                    .get(3)
                    .map(|_| num(args, 3) as usize)
                    .unwrap_or(usize::MAX >> 1);
                let st = proxy_get_buffer_bytes(
                    num(args, 1) as u32,
                    num(args, 2) as usize,
                    len,
                    &mut p,
                    &mut s,
                );
                (st, text(&take(p, s)))
            }
            "body_status" => {
                let (mut l, mut f) = (0, 0);
                (
                    proxy_get_buffer_status(num(args, 1) as u32, &mut l, &mut f),
                    l.to_string(),
                )
            }
            "set_body" => {
                let d = arg(args, 4);
                let st = proxy_set_buffer_bytes(
                    num(args, 1) as u32,
                    num(args, 2) as usize,
                    num(args, 3) as usize,
                    d.as_ptr(),
                    d.len(),
                );
                (st, String::new())
            }
            "local_reply" => {
                let (body, details) = (arg(args, 2), arg(args, 3));
                let hdrs = serialize_pairs(&parse_pairs(arg(args, 4)));
                let st = proxy_send_local_response(
                    num(args, 1) as u32,
                    details.as_ptr(),
                    details.len(),
                    body.as_ptr(),
                    body.len(),
                    hdrs.as_ptr(),
                    hdrs.len(),
                    -1,
                );
                (st, String::new())
            }
            "continue" => (proxy_continue_stream(num(args, 1) as u32), String::new()),
            "close" => (proxy_close_stream(num(args, 1) as u32), String::new()),
            "http_call" => {
                // http_call cluster path timeout [body]; path `-` leaves :path out
                let (cluster, path, body) = (arg(args, 1), arg(args, 2), arg(args, 4));
                let mut hdrs = vec![(":method".to_string(), "GET".to_string())];
                if path != "-" {
                    hdrs.push((":path".to_string(), path.to_string()));
                }
                hdrs.push((":authority".to_string(), "callout".to_string()));
                let h = serialize_pairs(&hdrs);
                let mut token = 0;
                let st = proxy_http_call(
                    cluster.as_ptr(),
                    cluster.len(),
                    h.as_ptr(),
                    h.len(),
                    body.as_ptr(),
                    body.len(),
                    std::ptr::null(),
                    0,
                    num(args, 3) as u32,
                    &mut token,
                );
                if st == 0 {
                    STATE.with(|s| s.borrow_mut().callouts.insert(token, ctx));
                }
                (st, token.to_string())
            }
            "redis_init" => {
                let (c, u, p) = (arg(args, 1), arg(args, 2), arg(args, 3));
                (
                    proxy_redis_init(
                        c.as_ptr(),
                        c.len(),
                        u.as_ptr(),
                        u.len(),
                        p.as_ptr(),
                        p.len(),
                        num(args, 4) as u32,
                    ),
                    String::new(),
                )
            }
            "redis_call" => {
                let (c, q) = (arg(args, 1), arg(args, 2));
                let mut token = 0;
                let st = proxy_redis_call(c.as_ptr(), c.len(), q.as_ptr(), q.len(), &mut token);
                if st == 0 {
                    STATE.with(|s| s.borrow_mut().callouts.insert(token, ctx));
                }
                (st, token.to_string())
            }
            "set_property" => {
                let (p, v) = (arg(args, 1).replace('.', "\0"), arg(args, 2));
                (
                    proxy_set_property(p.as_ptr(), p.len(), v.as_ptr(), v.len()),
                    String::new(),
                )
            }
            "get_property" => {
                let p = arg(args, 1).replace('.', "\0");
                let (mut vp, mut vl) = (std::ptr::null_mut(), 0);
                let st = proxy_get_property(p.as_ptr(), p.len(), &mut vp, &mut vl);
                let v = take(vp, vl);
                // Integers come back as 8-byte little-endian values (Envoy serializeValue).
                let shown = match args.get(2).map(String::as_str) {
                    Some("int") if v.len() == 8 => {
                        i64::from_le_bytes(v[..8].try_into().unwrap()).to_string()
                    }
                    Some("hex") => hex(&v),
                    _ => text(&v),
                };
                (st, shown)
            }
            "set_tick" => (
                proxy_set_tick_period_milliseconds(num(args, 1) as u32),
                String::new(),
            ),
            "shared_get" => {
                let k = arg(args, 1);
                let (mut p, mut s, mut cas) = (std::ptr::null_mut(), 0, 0);
                let st = proxy_get_shared_data(k.as_ptr(), k.len(), &mut p, &mut s, &mut cas);
                (st, format!("{} cas={cas}", text(&take(p, s))))
            }
            "shared_set" => {
                let (k, v) = (arg(args, 1), arg(args, 2));
                (
                    proxy_set_shared_data(
                        k.as_ptr(),
                        k.len(),
                        v.as_ptr(),
                        v.len(),
                        num(args, 3) as u32,
                    ),
                    String::new(),
                )
            }
            "queue_register" => {
                let n = arg(args, 1);
                let mut t = 0;
                let st = proxy_register_shared_queue(n.as_ptr(), n.len(), &mut t);
                STATE.with(|s| s.borrow_mut().queues.insert(n.to_string(), t));
                (st, String::new())
            }
            "queue_resolve" => {
                let (vm, n) = (arg(args, 1), arg(args, 2));
                let mut t = 0;
                let st =
                    proxy_resolve_shared_queue(vm.as_ptr(), vm.len(), n.as_ptr(), n.len(), &mut t);
                STATE.with(|s| s.borrow_mut().queues.insert(n.to_string(), t));
                (st, String::new())
            }
            "enqueue" => {
                let t =
                    STATE.with(|s| s.borrow().queues.get(arg(args, 1)).copied().unwrap_or(9999));
                let v = arg(args, 2);
                (
                    proxy_enqueue_shared_queue(t, v.as_ptr(), v.len()),
                    String::new(),
                )
            }
            "dequeue" => {
                let t =
                    STATE.with(|s| s.borrow().queues.get(arg(args, 1)).copied().unwrap_or(9999));
                let (mut p, mut s) = (std::ptr::null_mut(), 0);
                let st = proxy_dequeue_shared_queue(t, &mut p, &mut s);
                (st, text(&take(p, s)))
            }
            "metric_define" => {
                let n = arg(args, 2);
                let mut id = 0;
                let st = proxy_define_metric(num(args, 1) as u32, n.as_ptr(), n.len(), &mut id);
                STATE.with(|s| s.borrow_mut().metrics.insert(n.to_string(), id));
                (st, String::new())
            }
            "metric_inc" | "metric_record" | "metric_get" => {
                let id = STATE.with(|s| {
                    s.borrow()
                        .metrics
                        .get(arg(args, 1))
                        .copied()
                        .unwrap_or(12345)
                });
                match name {
                    "metric_inc" => (
                        proxy_increment_metric(id, arg(args, 2).parse().unwrap_or(0)),
                        String::new(),
                    ),
                    "metric_record" => (proxy_record_metric(id, num(args, 2)), String::new()),
                    _ => {
                        let mut v = 0;
                        (proxy_get_metric(id, &mut v), v.to_string())
                    }
                }
            }
            "effective" => (
                proxy_set_effective_context(num(args, 1) as u32),
                String::new(),
            ),
            "done" => (proxy_done(), String::new()),
            "time" => {
                let mut t = 0;
                (proxy_get_current_time_nanoseconds(&mut t), t.to_string())
            }
            "foreign" => {
                let (n, a) = (arg(args, 1), arg(args, 2));
                let (mut p, mut s) = (std::ptr::null_mut(), 0);
                let st = proxy_call_foreign_function(
                    n.as_ptr(),
                    n.len(),
                    a.as_ptr(),
                    a.len(),
                    &mut p,
                    &mut s,
                );
                let v = take(p, s);
                if arg(args, 3) == "hex" {
                    (st, hex(&v))
                } else {
                    (st, text(&v))
                }
            }
            "upstream_hosts" => {
                let (mut p, mut s) = (std::ptr::null_mut(), 0);
                let st = proxy_get_upstream_hosts(&mut p, &mut s);
                (st, render_pairs(&take(p, s)))
            }
            "override_host" => {
                let a = arg(args, 1);
                (
                    proxy_set_upstream_override_host(a.as_ptr(), a.len()),
                    String::new(),
                )
            }
            "env" => (
                0,
                std::env::var(arg(args, 1)).unwrap_or_else(|_| "-".into()),
            ),
            "inject" => {
                let d = arg(args, 1);
                (
                    proxy_inject_encoded_data_to_filter_chain(
                        d.as_ptr(),
                        d.len(),
                        num(args, 2) as u32,
                    ),
                    String::new(),
                )
            }
            "clear_route_cache" => (proxy_clear_route_cache(), String::new()),
            "stdout" => {
                println!("{}", arg(args, 1));
                (0, String::new())
            }
            "stderr" => {
                eprintln!("{}", arg(args, 1));
                (0, String::new())
            }
            "random" => {
                let mut b = [0u8; 16];
                (
                    random_get(b.as_mut_ptr(), 16) as u32,
                    (b.iter().any(|x| *x != 0)).to_string(),
                )
            }
            "fd_read" => {
                let mut n = 0;
                (
                    fd_read(0, std::ptr::null(), 0, &mut n) as u32,
                    String::new(),
                )
            }
            "now" => {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                (0, t.to_string())
            }
            "env_count" => (0, std::env::vars().count().to_string()),
            "grow_mib" => {
                let v = vec![1u8; (num(args, 1) as usize) << 20];
                (0, std::hint::black_box(v).len().to_string())
            }
            "trap" => core::arch::wasm32::unreachable(),
            "spin" => {
                let mut i: u64 = 0;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            "exit" => std::process::exit(3),
            other => {
                let m = format!("{cb}: unknown op {other}");
                log(&m);
                return;
            }
        }
    };
    let mut line = format!("{cb}: {name} -> {status}");
    if !value.is_empty() {
        line.push(' ');
        line.push_str(&value);
    }
    log(&line);
}

/// Runs the rules for `cb`; `eos` selects `.eos`/`.more` rules. Returns the callback's result.
fn run(cb: &str, ctx: u32, eos: Option<bool>, default: u32) -> u32 {
    let count = STATE.with(|s| {
        let mut s = s.borrow_mut();
        let c = s.calls.entry(cb.to_string()).or_insert(0);
        *c += 1;
        *c
    });
    let rules: Vec<Rule> = STATE.with(|s| {
        s.borrow()
            .rules
            .iter()
            .filter(|r| r.callback == cb || r.callback == format!("{cb}#{count}"))
            .filter(|r| r.qualifier.is_none() || r.qualifier == eos)
            .cloned()
            .collect()
    });
    let mut ret = default;
    for rule in rules {
        for op in &rule.ops {
            run_op(cb, ctx, op, &mut ret);
        }
    }
    ret
}

fn read_buffer(t: u32, size: usize) -> Vec<u8> {
    let (mut p, mut s) = (std::ptr::null_mut(), 0);
    unsafe {
        proxy_get_buffer_bytes(t, 0, size, &mut p, &mut s);
    }
    take(p, s)
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(ctx: u32, parent: u32) {
    if parent == 0 {
        STATE.with(|s| s.borrow_mut().root_id = ctx);
    }
    trace(&format!("context_create {ctx} {parent}"));
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(root: u32, size: usize) -> u32 {
    let vm_config = text(&read_buffer(6, size));
    log(&format!("vm_start size={size} config={vm_config}"));
    run("vm_start", root, None, 1)
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(root: u32, size: usize) -> u32 {
    let script = text(&read_buffer(7, size));
    STATE.with(|s| s.borrow_mut().rules = parse(&script));
    // SAFETY: wasm32 plugins are single-threaded.
    unsafe { QUIET = script.starts_with("#quiet") };
    log(&format!("configure size={size}"));
    if script.starts_with('{') {
        // JSON configurations (e.g. built from a WasmPlugin document) are echoed for the test.
        log(&format!("config {script}"));
    }
    run("configure", root, None, 1)
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(ctx: u32, n: u32, eos: u32) -> u32 {
    trace(&format!("request_headers n={n} eos={eos}"));
    run("request_headers", ctx, Some(eos != 0), 0)
}

#[no_mangle]
pub extern "C" fn proxy_on_request_body(ctx: u32, size: u32, eos: u32) -> u32 {
    trace(&format!("request_body size={size} eos={eos}"));
    run("request_body", ctx, Some(eos != 0), 0)
}

#[no_mangle]
pub extern "C" fn proxy_on_request_trailers(ctx: u32, n: u32) -> u32 {
    trace(&format!("request_trailers n={n}"));
    run("request_trailers", ctx, None, 0)
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(ctx: u32, n: u32, eos: u32) -> u32 {
    trace(&format!("response_headers n={n} eos={eos}"));
    run("response_headers", ctx, Some(eos != 0), 0)
}

#[no_mangle]
pub extern "C" fn proxy_on_response_body(ctx: u32, size: u32, eos: u32) -> u32 {
    trace(&format!("response_body size={size} eos={eos}"));
    run("response_body", ctx, Some(eos != 0), 0)
}

#[no_mangle]
pub extern "C" fn proxy_on_response_trailers(ctx: u32, n: u32) -> u32 {
    trace(&format!("response_trailers n={n}"));
    run("response_trailers", ctx, None, 0)
}

#[no_mangle]
pub extern "C" fn proxy_on_log(ctx: u32) {
    trace("log");
    run("log", ctx, None, 0);
}

#[no_mangle]
pub extern "C" fn proxy_on_done(ctx: u32) -> u32 {
    trace("done");
    run("done", ctx, None, 1)
}

#[no_mangle]
pub extern "C" fn proxy_on_delete(ctx: u32) {
    trace("delete");
    run("delete", ctx, None, 0);
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(root: u32) {
    log("tick");
    run("tick", root, None, 0);
}

#[no_mangle]
pub extern "C" fn proxy_on_queue_ready(root: u32, token: u32) {
    log(&format!("queue_ready {token}"));
    run("queue_ready", root, None, 0);
}

/// Routes a callout answer back to the stream that made the call, as SDKs do.
fn enter_caller(token: u32) -> u32 {
    let caller = STATE
        .with(|s| s.borrow_mut().callouts.remove(&token))
        .unwrap_or(0);
    if caller != 0 {
        let st = unsafe { proxy_set_effective_context(caller) };
        log(&format!("effective {caller} -> {st}"));
    }
    caller
}

#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(_root: u32, token: u32, nh: u32, body: u32, nt: u32) {
    log(&format!(
        "http_call_response token={token} headers={nh} body={body} trailers={nt}"
    ));
    let caller = enter_caller(token);
    run("http_call_response", caller, None, 0);
}

#[no_mangle]
pub extern "C" fn proxy_on_redis_call_response(_root: u32, token: u32, status: u32, size: u32) {
    log(&format!(
        "redis_call_response token={token} status={status} size={size}"
    ));
    let caller = enter_caller(token);
    run("redis_call_response", caller, None, 0);
}

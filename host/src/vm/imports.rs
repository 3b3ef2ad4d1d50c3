//! The `env` host functions (cpp-host `src/exports.cc`, Envoy `context.cc`, Higress extensions
//! from higress-group cpp-host `exports.h`). Each returns the status Envoy returns.

use super::buffers::{self, Target};
use super::maps;
use super::memory::{alloc_copy, copy_out, read, read_str, set_u32, set_u64};
use super::state::{finish, Action, HostError, HostResult, HostState};
use crate::abi::{BufferType, LogLevel, MapType, Status, StreamType};
use crate::callout::{HttpCallout, RedisCallout, RedisInit};
use crate::pairs::{deserialize, serialize, HeaderMap};
use crate::properties::{self, PluginProps};
use crate::shared::{MetricKind, MetricValue};
use std::time::Duration;
use wasmtime::{Caller, Linker};

type C<'a> = Caller<'a, HostState>;

fn map_type(t: i32) -> HostResult<MapType> {
    MapType::from_raw(t as u32).ok_or(Status::BadArgument.into())
}

fn buffer_type(t: i32) -> HostResult<BufferType> {
    BufferType::from_raw(t as u32).ok_or(Status::BadArgument.into())
}

fn log(c: &mut C<'_>, level: i32, ptr: i32, len: i32) -> HostResult {
    let level = LogLevel::from_raw(level as u32).ok_or(Status::BadArgument)?;
    let msg = read_str(c, ptr, len)?;
    let h = c.data();
    h.env.log(&h.plugin.name, level, msg);
    Ok(())
}

fn get_header(c: &mut C<'_>, t: i32, kp: i32, kl: i32, vpp: i32, vsp: i32) -> HostResult {
    let t = map_type(t)?;
    let key = read_str(c, kp, kl)?;
    let map = maps::const_map(c.data(), t)?;
    let v = map.get(&key).ok_or(Status::NotFound)?.as_bytes().to_vec();
    copy_out(c, &v, vpp, vsp)
}

fn edit_header(
    c: &mut C<'_>,
    t: i32,
    kp: i32,
    kl: i32,
    v: Option<(i32, i32)>,
    op: u8,
) -> HostResult {
    let t = map_type(t)?;
    let key = read_str(c, kp, kl)?;
    let value = match v {
        Some((p, l)) => read_str(c, p, l)?,
        None => String::new(),
    };
    maps::with_map(c.data(), t, true, |m| match op {
        b'a' => m.add(&key, &value),
        b'r' => m.replace(&key, &value),
        _ => m.remove(&key),
    })
}

fn get_pairs(c: &mut C<'_>, t: i32, pp: i32, sp: i32) -> HostResult {
    let t = map_type(t)?;
    // Envoy `getHeaderMapPairs` is Ok with no pairs when the map is unavailable.
    let pairs = maps::const_map(c.data(), t)
        .map(|m| m.0)
        .unwrap_or_default();
    let bytes = if pairs.is_empty() {
        Vec::new()
    } else {
        serialize(&pairs)
    };
    copy_out(c, &bytes, pp, sp)
}

fn set_pairs(c: &mut C<'_>, t: i32, p: i32, l: i32) -> HostResult {
    let t = map_type(t)?;
    let pairs = deserialize(&read(c, p, l)?);
    maps::with_map(c.data(), t, true, |m| *m = HeaderMap::from_pairs(&pairs))
}

fn header_size(c: &mut C<'_>, t: i32, out: i32) -> HostResult {
    let t = map_type(t)?;
    let size = maps::with_map(c.data(), t, false, |m| m.byte_size())?;
    set_u32(c, out, size as u32)
}

fn get_buffer(c: &mut C<'_>, t: i32, start: i32, len: i32, pp: i32, sp: i32) -> HostResult {
    let t = buffer_type(t)?;
    let target = buffers::resolve(c.data(), t)?;
    let bytes = buffers::with_bytes(c.data(), &target, |_, data| {
        buffers::slice(data, start as u32, len as u32)
    })?;
    copy_out(c, &bytes, pp, sp)
}

fn buffer_status(c: &mut C<'_>, t: i32, lp: i32, fp: i32) -> HostResult {
    let t = buffer_type(t)?;
    let target = buffers::resolve(c.data(), t)?;
    let len = buffers::with_bytes(c.data(), &target, |_, data| data.len());
    set_u32(c, lp, len as u32)?;
    set_u32(c, fp, 0)
}

fn set_buffer(c: &mut C<'_>, t: i32, start: i32, len: i32, dp: i32, dl: i32) -> HostResult {
    let t = buffer_type(t)?;
    let target = buffers::resolve(c.data(), t)?;
    let data = read(c, dp, dl)?;
    if matches!(target, Target::Empty | Target::Const(_)) {
        return Err(Status::BadArgument.into());
    }
    buffers::with_bytes(c.data(), &target, |buf, _| {
        buffers::copy_from(buf.expect("mutable body"), start as u32, len as u32, &data)
    })
}

#[allow(clippy::too_many_arguments)]
fn local_response(
    c: &mut C<'_>,
    code: i32,
    dp: i32,
    dl: i32,
    bp: i32,
    bl: i32,
    hp: i32,
    hl: i32,
    grpc: i32,
) -> HostResult {
    let details = read_str(c, dp, dl)?;
    let body = read(c, bp, bl)?;
    let headers = deserialize(&read(c, hp, hl)?);
    let h = c.data_mut();
    let context = h.context();
    if let Some((stream, slot)) = h.stream() {
        let mut s = stream.borrow_mut();
        // Higress `local_reply_hold_`: only the first local reply of a filter is accepted.
        if s.slots[slot].local_reply_hold {
            return Err(Status::BadArgument.into());
        }
        s.slots[slot].local_reply_hold = true;
        h.actions.push(Action::LocalReply {
            context,
            code: code as u32,
            body,
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            grpc_status: grpc,
            details: local_reply_details(&h.plugin.name, &details),
        });
    }
    h.stop_next_iteration = true;
    Ok(())
}

/// Envoy replaces whitespace in details (`StringUtil::replaceAllEmptySpace`); Higress then
/// reports `via_wasm::<plugin>[::<details>]` (higress-group envoy `context.cc`
/// `sendLocalResponse`, `#if defined(HIGRESS)`).
fn local_reply_details(plugin: &str, details: &str) -> String {
    let details = details.replace(char::is_whitespace, "_");
    if details.is_empty() {
        format!("via_wasm::{plugin}")
    } else {
        format!("via_wasm::{plugin}::{details}")
    }
}

fn continue_stream(c: &mut C<'_>, t: i32) -> HostResult {
    let st = StreamType::from_raw(t as u32).ok_or(Status::BadArgument)?;
    if !matches!(st, StreamType::Request | StreamType::Response) {
        return Err(Status::BadArgument.into());
    }
    let h = c.data_mut();
    let context = h.context();
    if let Some((stream, slot)) = h.stream() {
        h.actions.push(Action::Continue {
            context,
            stream: st,
        });
        // Envoy `Context::continueStream` drops the request pointers whatever the stream type.
        let mut s = stream.borrow_mut();
        let f = &mut s.slots[slot];
        f.req_headers = false;
        f.req_body = None;
        f.req_trailers = false;
    }
    Ok(())
}

fn close_stream(c: &mut C<'_>, t: i32) -> HostResult {
    let st = StreamType::from_raw(t as u32).ok_or(Status::BadArgument)?;
    let h = c.data_mut();
    let context = h.context();
    if h.stream().is_some() && matches!(st, StreamType::Request | StreamType::Response) {
        h.actions.push(Action::Close {
            context,
            stream: st,
        });
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn http_call(
    c: &mut C<'_>,
    up: i32,
    ul: i32,
    hp: i32,
    hl: i32,
    bp: i32,
    bl: i32,
    tp: i32,
    tl: i32,
    timeout: i32,
    token_ptr: i32,
) -> HostResult {
    let cluster = read_str(c, up, ul)?;
    let body = read(c, bp, bl)?;
    let mut headers = HeaderMap::from_pairs(&deserialize(&read(c, hp, hl)?));
    let trailers = HeaderMap::from_pairs(&deserialize(&read(c, tp, tl)?));
    set_u32(c, token_ptr, 0)?;
    if timeout < 0 {
        return Err(Status::BadArgument.into());
    }
    let h = c.data_mut();
    if !h.env.upstreams.has_cluster(&cluster) {
        return Err(Status::BadArgument.into());
    }
    if headers.get(":path").is_none()
        || headers.get(":method").is_none()
        || headers.get(":authority").is_none()
    {
        return Err(Status::BadArgument.into());
    }
    if !body.is_empty() {
        headers.replace("content-length", &body.len().to_string());
    }
    let token = h.next_token(0);
    let call = HttpCallout {
        vm: h.vm_uid,
        plugin: h.plugin.name.clone(),
        token,
        cluster,
        headers,
        body,
        trailers,
        timeout: (timeout > 0).then(|| Duration::from_millis(timeout as u64)),
    };
    h.env.upstreams.http_call(call);
    set_u32(c, token_ptr, token)
}

fn strip_query(cluster: &str) -> (String, Vec<(String, String)>) {
    match cluster.split_once('?') {
        Some((name, q)) => (
            name.to_string(),
            q.split('&')
                .filter(|s| !s.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k.to_string(), v.to_string())
                })
                .collect(),
        ),
        None => (cluster.to_string(), Vec::new()),
    }
}

#[allow(clippy::too_many_arguments)]
fn redis_init(
    c: &mut C<'_>,
    cp: i32,
    cl: i32,
    up: i32,
    ul: i32,
    pp: i32,
    pl: i32,
    timeout: i32,
) -> HostResult {
    let (cluster, params) = strip_query(&read_str(c, cp, cl)?);
    let username = read_str(c, up, ul)?;
    let password = read_str(c, pp, pl)?;
    let h = c.data();
    if !h.env.upstreams.has_cluster(&cluster) {
        return Err(Status::BadArgument.into());
    }
    h.env.upstreams.redis_init(RedisInit {
        cluster,
        params,
        username,
        password,
        timeout: Duration::from_millis(timeout as u32 as u64),
    });
    Ok(())
}

fn redis_call(c: &mut C<'_>, cp: i32, cl: i32, qp: i32, ql: i32, token_ptr: i32) -> HostResult {
    let (cluster, _) = strip_query(&read_str(c, cp, cl)?);
    let query = read(c, qp, ql)?;
    let h = c.data_mut();
    if !h.env.upstreams.has_cluster(&cluster) {
        return Err(Status::BadArgument.into());
    }
    let token = h.next_token(3);
    let call = RedisCallout {
        vm: h.vm_uid,
        plugin: h.plugin.name.clone(),
        token,
        cluster,
        query,
    };
    h.env.upstreams.redis_call(call);
    set_u32(c, token_ptr, token)
}

fn get_property(c: &mut C<'_>, pp: i32, pl: i32, vpp: i32, vsp: i32) -> HostResult {
    let path = read(c, pp, pl)?;
    let memory_bytes = c
        .data()
        .memory
        .map(|m| m.data_size(&*c) as u64)
        .unwrap_or(0);
    let h = c.data();
    let props = PluginProps {
        name: &h.plugin.name,
        root_id: &h.plugin.root_id,
        vm_id: &h.plugin.vm_id,
        memory_bytes,
        node_id: &h.env.node_id,
        node_cluster: &h.env.node_cluster,
    };
    let stream = h.stream();
    let value = match &stream {
        Some((s, slot)) => properties::get(&props, Some((&s.borrow(), *slot)), &path),
        None => properties::get(&props, None, &path),
    }?;
    copy_out(c, &value, vpp, vsp)
}

fn set_property(c: &mut C<'_>, pp: i32, pl: i32, vp: i32, vl: i32) -> HostResult {
    let path = read(c, pp, pl)?;
    let value = read(c, vp, vl)?;
    match c.data().stream() {
        Some((s, _)) => properties::set(Some(&mut s.borrow_mut()), &path, &value),
        None => properties::set(None, &path, &value),
    }?;
    // Higress: `wasm_need_rebuild` = `true` marks the VM for a rebuild (later streams get a new
    // VM, streams already on it keep it).
    if path == b"wasm_need_rebuild" && value == b"true" {
        c.data_mut().need_rebuild = true;
    }
    Ok(())
}

fn get_shared(c: &mut C<'_>, kp: i32, kl: i32, vpp: i32, vsp: i32, casp: i32) -> HostResult {
    let key = read_str(c, kp, kl)?;
    let h = c.data();
    let (value, cas) = h.env.shared_data.get(&h.plugin.vm_id, &key)?;
    copy_out(c, &value, vpp, vsp)?;
    set_u32(c, casp, cas)
}

fn set_shared(c: &mut C<'_>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32) -> HostResult {
    let key = read_str(c, kp, kl)?;
    let value = read(c, vp, vl)?;
    let h = c.data();
    h.env
        .shared_data
        .set(&h.plugin.vm_id, &key, &value, cas as u32)?;
    Ok(())
}

fn register_queue(c: &mut C<'_>, np: i32, nl: i32, tp: i32) -> HostResult {
    let name = read_str(c, np, nl)?;
    let h = c.data();
    let token = h
        .env
        .queues
        .register(&h.plugin.vm_id, &name, (h.vm_uid, h.root_context_id));
    set_u32(c, tp, token)
}

fn resolve_queue(c: &mut C<'_>, vp: i32, vl: i32, np: i32, nl: i32, tp: i32) -> HostResult {
    let vm_id = read_str(c, vp, vl)?;
    let name = read_str(c, np, nl)?;
    let token = c.data().env.queues.resolve(&vm_id, &name)?;
    set_u32(c, tp, token)
}

fn enqueue(c: &mut C<'_>, token: i32, dp: i32, dl: i32) -> HostResult {
    let data = read(c, dp, dl)?;
    let h = c.data_mut();
    let (owner_vm, _) = h.env.queues.enqueue(token as u32, &data)?;
    // `onQueueReady` is posted to the owner's thread; for our own VM it runs after this call.
    if owner_vm == h.vm_uid {
        h.queue_ready.push(token as u32);
    }
    Ok(())
}

fn dequeue(c: &mut C<'_>, token: i32, dpp: i32, dsp: i32) -> HostResult {
    let data = c.data().env.queues.dequeue(token as u32)?;
    copy_out(c, &data, dpp, dsp)
}

fn metric_kind(id: u32) -> Option<MetricKind> {
    match id & 3 {
        0 => Some(MetricKind::Counter),
        1 => Some(MetricKind::Gauge),
        2 => Some(MetricKind::Histogram),
        _ => None,
    }
}

fn define_metric(c: &mut C<'_>, t: i32, np: i32, nl: i32, idp: i32) -> HostResult {
    let name = read_str(c, np, nl)?;
    let kind = metric_kind(t as u32)
        .filter(|_| (0..=2).contains(&t))
        .ok_or(Status::BadArgument)?;
    let h = c.data_mut();
    // Envoy ids: type in the low 2 bits, incremented by 4 (`kMetricIdIncrement`).
    let id = (h.next_metric << 2) | t as u32;
    h.next_metric += 1;
    h.env.metrics.define(&name, kind);
    h.metric_ids.insert(id, (name, kind));
    set_u32(c, idp, id)
}

fn metric(c: &C<'_>, id: i32) -> HostResult<(String, MetricKind)> {
    let id = id as u32;
    metric_kind(id).ok_or(Status::BadArgument)?;
    c.data()
        .metric_ids
        .get(&id)
        .cloned()
        .ok_or(Status::NotFound.into())
}

fn increment_metric(c: &mut C<'_>, id: i32, offset: i64) -> HostResult {
    if metric_kind(id as u32) == Some(MetricKind::Histogram) {
        return Err(Status::BadArgument.into());
    }
    let (name, kind) = metric(c, id)?;
    if kind == MetricKind::Counter && offset <= 0 {
        return Err(Status::BadArgument.into());
    }
    c.data().env.metrics.update(&name, |v| match v {
        MetricValue::Counter(n) => *n += offset as u64,
        MetricValue::Gauge(g) => *g += offset,
        MetricValue::Histogram(_) => {}
    });
    Ok(())
}

fn record_metric(c: &mut C<'_>, id: i32, value: i64) -> HostResult {
    let (name, _) = metric(c, id)?;
    c.data().env.metrics.update(&name, |v| match v {
        MetricValue::Counter(n) => *n += value as u64,
        MetricValue::Gauge(g) => *g = value,
        MetricValue::Histogram(h) => h.push(value as u64),
    });
    Ok(())
}

fn get_metric(c: &mut C<'_>, id: i32, out: i32) -> HostResult {
    if metric_kind(id as u32) == Some(MetricKind::Histogram) {
        return Err(Status::BadArgument.into());
    }
    let (name, _) = metric(c, id)?;
    let v = match c.data().env.metrics.get(&name) {
        Some(MetricValue::Counter(n)) => n,
        Some(MetricValue::Gauge(g)) => g as u64,
        _ => return Err(Status::BadArgument.into()),
    };
    set_u64(c, out, v)
}

fn set_effective_context(c: &mut C<'_>, id: i32) -> HostResult {
    let h = c.data_mut();
    let id = id as u32;
    if id != h.root_context_id && !h.streams.contains_key(&id) {
        return Err(Status::BadArgument.into());
    }
    h.effective_context = Some(id);
    Ok(())
}

/// Decodes Higress `InjectEncodedDataToFilterChainArguments { string body = 1; bool endstream = 2; }`
/// (wasm-go `pkg/protos/inject_encoded_data.proto`); unknown fields are skipped like protobuf does.
pub(crate) fn decode_inject_arguments(buf: &[u8]) -> Option<(Vec<u8>, bool)> {
    fn varint(buf: &[u8], p: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *buf.get(*p)?;
            *p += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let (mut body, mut eos, mut p) = (Vec::new(), false, 0);
    while p < buf.len() {
        let key = varint(buf, &mut p)?;
        match (key >> 3, key & 7) {
            (_, 0) => {
                let v = varint(buf, &mut p)?;
                if key >> 3 == 2 {
                    eos = v != 0;
                }
            }
            (_, 1) => p = p.checked_add(8).filter(|e| *e <= buf.len())?,
            (_, 5) => p = p.checked_add(4).filter(|e| *e <= buf.len())?,
            (field, 2) => {
                let len = usize::try_from(varint(buf, &mut p)?).ok()?;
                let end = p.checked_add(len).filter(|e| *e <= buf.len())?;
                if field == 1 {
                    body = buf[p..end].to_vec();
                }
                p = end;
            }
            _ => return None,
        }
    }
    Some((body, eos))
}

/// Foreign functions the Higress Envoy registers and the Go SDK (wasm-go) calls.
fn builtin_foreign(c: &mut C<'_>, name: &str, args: &[u8]) -> Option<Result<Vec<u8>, Status>> {
    Some(match name {
        // wasm-go `log_wrapper.go` reads a 4-byte little-endian level (trace 0 .. critical 5).
        "get_log_level" => Ok((c.data().env.log_level as u32).to_le_bytes().to_vec()),
        // wasm-go `plugin_wrapper.go`: 8-byte little-endian u64; process-wide, the smallest
        // value set by any plugin wins.
        "set_global_max_requests_per_io_cycle" => match <[u8; 8]>::try_from(args) {
            Ok(b) => {
                let v = u64::from_le_bytes(b);
                let cell = &c.data().env.max_requests_per_io_cycle;
                let _ = cell.fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |cur| (cur == 0 || v < cur).then_some(v),
                );
                Ok(Vec::new())
            }
            Err(_) => Err(Status::BadArgument),
        },
        "inject_encoded_data_to_filter_chain_on_header" => {
            let Some((data, end_stream)) = decode_inject_arguments(args) else {
                return Some(Err(Status::BadArgument));
            };
            let h = c.data_mut();
            let context = h.context();
            if h.stream().is_none() {
                return Some(Err(Status::NotFound));
            }
            h.actions.push(Action::InjectEncodedOnHeader {
                context,
                data,
                end_stream,
            });
            Ok(Vec::new())
        }
        _ => return None,
    })
}

fn foreign(c: &mut C<'_>, np: i32, nl: i32, ap: i32, al: i32, rpp: i32, rsp: i32) -> HostResult {
    let name = read_str(c, np, nl)?;
    let args = read(c, ap, al)?;
    // Functions the embedder registers win over the built-in Higress ones.
    let registered = c.data().env.foreign_functions.get(&name).cloned();
    let result = match registered {
        Some(f) => f(&args)?,
        None => builtin_foreign(c, &name, &args).ok_or(Status::NotFound)??,
    };
    let ptr = if rpp != 0 && !result.is_empty() {
        alloc_copy(c, &result)?
    } else {
        0
    };
    if rpp != 0 {
        set_u32(c, rpp, ptr as u32)?;
    }
    if rsp != 0 {
        set_u32(c, rsp, result.len() as u32)?;
    }
    Ok(())
}

fn inject_encoded(c: &mut C<'_>, p: i32, l: i32, eos: i32) -> HostResult {
    let data = read(c, p, l)?;
    let h = c.data_mut();
    let context = h.context();
    if h.stream().is_none() {
        return Err(Status::NotFound.into());
    }
    h.actions.push(Action::InjectEncoded {
        context,
        data,
        end_stream: eos != 0,
    });
    Ok(())
}

/// Higress `proxy_get_upstream_hosts`: serialized pairs `[address, metrics-or-""]` of the calling
/// stream's cluster, from the embedder ([`crate::Upstreams::upstream_hosts`]). NotFound without a
/// stream, a cluster name or a host list; an empty list is Ok with no bytes (cpp-host
/// `get_upstream_hosts`).
fn upstream_hosts(c: &mut C<'_>, pp: i32, sp: i32) -> HostResult {
    let cluster = match c.data().stream() {
        Some((s, _)) => s.borrow().info.cluster_name.clone(),
        None => return Err(Status::NotFound.into()),
    };
    if cluster.is_empty() {
        return Err(Status::NotFound.into());
    }
    let hosts = c
        .data()
        .env
        .upstreams
        .upstream_hosts(&cluster)
        .ok_or(Status::NotFound)?;
    let bytes = if hosts.is_empty() {
        Vec::new()
    } else {
        serialize(&hosts)
    };
    copy_out(c, &bytes, pp, sp)
}

/// Higress `proxy_set_upstream_override_host`: recorded on the calling stream for the embedder
/// (Envoy `decoder_callbacks_->setUpstreamOverrideHost`); always Ok like cpp-host, which ignores
/// the context's answer.
fn upstream_override_host(c: &mut C<'_>, p: i32, l: i32) -> HostResult {
    let host = read_str(c, p, l)?;
    if let Some((s, _)) = c.data().stream() {
        s.borrow_mut().info.upstream_override_host = Some(host);
    }
    Ok(())
}

fn clear_route_cache(c: &mut C<'_>) -> HostResult {
    if let Some((s, _)) = c.data().stream() {
        s.borrow_mut().info.route_cache_clears += 1;
    }
    Ok(())
}

fn get_status(c: &mut C<'_>, codep: i32, pp: i32, sp: i32) -> HostResult {
    let (code, msg) = c.data().status.clone();
    set_u32(c, codep, code)?;
    copy_out(c, msg.as_bytes(), pp, sp)
}

macro_rules! wrap {
    ($linker:ident, $name:literal, |$c:ident $(, $a:ident : $t:ty)*| $body:expr) => {
        $linker
            .func_wrap("env", $name, |mut $c: Caller<'_, HostState>, $($a: $t),*| -> wasmtime::Result<i32> {
                let r: HostResult = $body;
                let _ = &mut $c;
                finish(r)
            })
            .map_err(|e| e.to_string())?;
    };
}

/// Defines every `env` import this host answers.
pub(crate) fn register(linker: &mut Linker<HostState>) -> Result<(), String> {
    wrap!(linker, "proxy_log", |c, l: i32, p: i32, n: i32| log(
        &mut c, l, p, n
    ));
    wrap!(linker, "proxy_get_log_level", |c, out: i32| {
        let lvl = c.data().env.log_level as u32;
        set_u32(&mut c, out, lvl)
    });
    wrap!(
        linker,
        "proxy_get_header_map_value",
        |c, t: i32, kp: i32, kl: i32, vp: i32, vs: i32| get_header(&mut c, t, kp, kl, vp, vs)
    );
    wrap!(
        linker,
        "proxy_add_header_map_value",
        |c, t: i32, kp: i32, kl: i32, vp: i32, vl: i32| edit_header(
            &mut c,
            t,
            kp,
            kl,
            Some((vp, vl)),
            b'a'
        )
    );
    wrap!(
        linker,
        "proxy_replace_header_map_value",
        |c, t: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
            edit_header(&mut c, t, kp, kl, Some((vp, vl)), b'r')
        }
    );
    wrap!(
        linker,
        "proxy_remove_header_map_value",
        |c, t: i32, kp: i32, kl: i32| edit_header(&mut c, t, kp, kl, None, b'x')
    );
    wrap!(
        linker,
        "proxy_get_header_map_pairs",
        |c, t: i32, pp: i32, sp: i32| get_pairs(&mut c, t, pp, sp)
    );
    wrap!(
        linker,
        "proxy_set_header_map_pairs",
        |c, t: i32, p: i32, l: i32| set_pairs(&mut c, t, p, l)
    );
    wrap!(
        linker,
        "proxy_get_header_map_size",
        |c, t: i32, out: i32| header_size(&mut c, t, out)
    );
    wrap!(
        linker,
        "proxy_get_buffer_bytes",
        |c, t: i32, s: i32, l: i32, pp: i32, sp: i32| get_buffer(&mut c, t, s, l, pp, sp)
    );
    wrap!(
        linker,
        "proxy_get_buffer_status",
        |c, t: i32, lp: i32, fp: i32| buffer_status(&mut c, t, lp, fp)
    );
    wrap!(
        linker,
        "proxy_set_buffer_bytes",
        |c, t: i32, s: i32, l: i32, dp: i32, dl: i32| set_buffer(&mut c, t, s, l, dp, dl)
    );
    wrap!(
        linker,
        "proxy_send_local_response",
        |c, code: i32, dp: i32, dl: i32, bp: i32, bl: i32, hp: i32, hl: i32, g: i32| local_response(
            &mut c, code, dp, dl, bp, bl, hp, hl, g
        )
    );
    wrap!(
        linker,
        "proxy_continue_stream",
        |c, t: i32| continue_stream(&mut c, t)
    );
    wrap!(linker, "proxy_close_stream", |c, t: i32| close_stream(
        &mut c, t
    ));
    wrap!(
        linker,
        "proxy_http_call",
        |c,
         up: i32,
         ul: i32,
         hp: i32,
         hl: i32,
         bp: i32,
         bl: i32,
         tp: i32,
         tl: i32,
         to: i32,
         tk: i32| http_call(&mut c, up, ul, hp, hl, bp, bl, tp, tl, to, tk)
    );
    wrap!(
        linker,
        "proxy_redis_init",
        |c, cp: i32, cl: i32, up: i32, ul: i32, pp: i32, pl: i32, to: i32| {
            redis_init(&mut c, cp, cl, up, ul, pp, pl, to)
        }
    );
    wrap!(
        linker,
        "proxy_redis_call",
        |c, cp: i32, cl: i32, qp: i32, ql: i32, tk: i32| redis_call(&mut c, cp, cl, qp, ql, tk)
    );
    wrap!(
        linker,
        "proxy_get_property",
        |c, pp: i32, pl: i32, vp: i32, vs: i32| get_property(&mut c, pp, pl, vp, vs)
    );
    wrap!(
        linker,
        "proxy_set_property",
        |c, pp: i32, pl: i32, vp: i32, vl: i32| set_property(&mut c, pp, pl, vp, vl)
    );
    wrap!(
        linker,
        "proxy_set_tick_period_milliseconds",
        |c, ms: i32| {
            let h = c.data_mut();
            h.tick_period_ms = ms as u32;
            h.tick_changed = true;
            Ok(())
        }
    );
    wrap!(
        linker,
        "proxy_get_current_time_nanoseconds",
        |c, out: i32| {
            let now = c.data().env.clock.realtime_ns();
            set_u64(&mut c, out, now)
        }
    );
    wrap!(
        linker,
        "proxy_get_shared_data",
        |c, kp: i32, kl: i32, vp: i32, vs: i32, cp: i32| get_shared(&mut c, kp, kl, vp, vs, cp)
    );
    wrap!(
        linker,
        "proxy_set_shared_data",
        |c, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| set_shared(&mut c, kp, kl, vp, vl, cas)
    );
    wrap!(
        linker,
        "proxy_register_shared_queue",
        |c, np: i32, nl: i32, tp: i32| register_queue(&mut c, np, nl, tp)
    );
    wrap!(
        linker,
        "proxy_resolve_shared_queue",
        |c, vp: i32, vl: i32, np: i32, nl: i32, tp: i32| {
            resolve_queue(&mut c, vp, vl, np, nl, tp)
        }
    );
    wrap!(
        linker,
        "proxy_enqueue_shared_queue",
        |c, t: i32, dp: i32, dl: i32| enqueue(&mut c, t, dp, dl)
    );
    wrap!(
        linker,
        "proxy_dequeue_shared_queue",
        |c, t: i32, dp: i32, ds: i32| dequeue(&mut c, t, dp, ds)
    );
    wrap!(
        linker,
        "proxy_define_metric",
        |c, t: i32, np: i32, nl: i32, idp: i32| define_metric(&mut c, t, np, nl, idp)
    );
    wrap!(linker, "proxy_increment_metric", |c, id: i32, off: i64| {
        increment_metric(&mut c, id, off)
    });
    wrap!(linker, "proxy_record_metric", |c, id: i32, v: i64| {
        record_metric(&mut c, id, v)
    });
    wrap!(linker, "proxy_get_metric", |c, id: i32, out: i32| {
        get_metric(&mut c, id, out)
    });
    wrap!(linker, "proxy_set_effective_context", |c, id: i32| {
        set_effective_context(&mut c, id)
    });
    wrap!(linker, "proxy_done", |c| {
        let h = c.data_mut();
        if h.pending_done {
            h.pending_done = false;
            h.delete_after_call = true;
            Ok(())
        } else {
            Err(HostError::Status(Status::NotFound))
        }
    });
    wrap!(
        linker,
        "proxy_call_foreign_function",
        |c, np: i32, nl: i32, ap: i32, al: i32, rp: i32, rs: i32| {
            foreign(&mut c, np, nl, ap, al, rp, rs)
        }
    );
    wrap!(
        linker,
        "proxy_inject_encoded_data_to_filter_chain",
        |c, p: i32, l: i32, e: i32| inject_encoded(&mut c, p, l, e)
    );
    wrap!(linker, "proxy_clear_route_cache", |c| clear_route_cache(
        &mut c
    ));
    wrap!(
        linker,
        "proxy_get_status",
        |c, cp: i32, pp: i32, sp: i32| get_status(&mut c, cp, pp, sp)
    );
    wrap!(linker, "proxy_get_upstream_hosts", |c, pp: i32, sp: i32| {
        upstream_hosts(&mut c, pp, sp)
    });
    wrap!(
        linker,
        "proxy_set_upstream_override_host",
        |c, p: i32, l: i32| upstream_override_host(&mut c, p, l)
    );
    // gRPC callouts are not implemented by this host.
    wrap!(
        linker,
        "proxy_grpc_call",
        |c,
         _a: i32,
         _b: i32,
         _d: i32,
         _e: i32,
         _f: i32,
         _g: i32,
         _h: i32,
         _i: i32,
         _j: i32,
         _k: i32,
         _l: i32,
         _m: i32| Err(HostError::Status(Status::Unimplemented))
    );
    wrap!(
        linker,
        "proxy_grpc_stream",
        |c, _a: i32, _b: i32, _d: i32, _e: i32, _f: i32, _g: i32, _h: i32, _i: i32, _j: i32| Err(
            HostError::Status(Status::Unimplemented)
        )
    );
    wrap!(
        linker,
        "proxy_grpc_send",
        |c, _a: i32, _b: i32, _d: i32, _e: i32| Err(HostError::Status(Status::Unimplemented))
    );
    wrap!(linker, "proxy_grpc_cancel", |c, _a: i32| Err(
        HostError::Status(Status::Unimplemented)
    ));
    wrap!(linker, "proxy_grpc_close", |c, _a: i32| Err(
        HostError::Status(Status::Unimplemented)
    ));
    Ok(())
}

//! `proxy_get_property` / `proxy_set_property` (Envoy `context.cc` `Context::getProperty`,
//! `findValue`, `setProperty`; Higress additions `route_name` fallback and the special set paths).
//! Strings are returned raw, integers as 8-byte little-endian, maps as serialized pairs.

use crate::abi::Status;
use crate::pairs::{serialize, HeaderMap};
use crate::stream::state::{StreamShared, TlsInfo};

/// Identity of the calling plugin, for `plugin_*` properties.
pub(crate) struct PluginProps<'a> {
    pub name: &'a str,
    pub root_id: &'a str,
    pub vm_id: &'a str,
    pub memory_bytes: u64,
    pub node_id: &'a str,
    pub node_cluster: &'a str,
}

/// A protobuf length-delimited string field (wire type 2).
fn proto_string(out: &mut Vec<u8>, field: u32, v: &str) {
    if v.is_empty() {
        return;
    }
    let mut varint = |mut n: u64| loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    };
    varint(u64::from(field << 3 | 2));
    varint(v.len() as u64);
    out.extend_from_slice(v.as_bytes());
}

/// `node`: Envoy serializes the `config.core.v3.Node` message with `SerializeToString`; we carry
/// `id` (field 1) and `cluster` (field 2) only.
fn node(plugin: &PluginProps<'_>) -> Result<Vec<u8>, Status> {
    if plugin.node_id.is_empty() && plugin.node_cluster.is_empty() {
        return Err(Status::NotFound);
    }
    let mut out = Vec::new();
    proto_string(&mut out, 1, plugin.node_id);
    proto_string(&mut out, 2, plugin.node_cluster);
    Ok(out)
}

fn port_of(addr: &str) -> Option<Vec<u8>> {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse::<i64>().ok())
        .map(int)
}

/// Envoy `extractSslInfo`: the TLS attributes shared by `connection.*` and `upstream.*`.
fn tls_field(tls: &TlsInfo, key: &str) -> Option<Vec<u8>> {
    let v = match key {
        "tls_version" => &tls.tls_version,
        "subject_local_certificate" => &tls.subject_local_certificate,
        "subject_peer_certificate" => &tls.subject_peer_certificate,
        "dns_san_local_certificate" => &tls.dns_san_local_certificate,
        "dns_san_peer_certificate" => &tls.dns_san_peer_certificate,
        "uri_san_local_certificate" => &tls.uri_san_local_certificate,
        "uri_san_peer_certificate" => &tls.uri_san_peer_certificate,
        "sha256_peer_certificate_digest" => &tls.sha256_peer_certificate_digest,
        _ => return None,
    };
    Some(v.as_bytes().to_vec())
}

fn int(v: i64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

fn header_value(map: &HeaderMap, key: &str) -> Option<Vec<u8>> {
    let all = map.get_all(key);
    (!all.is_empty()).then(|| all.join(",").into_bytes())
}

/// Resolves a `\0`-separated property path. `stream` is `None` for root contexts (no stream info).
pub(crate) fn get(
    plugin: &PluginProps<'_>,
    stream: Option<(&StreamShared, usize)>,
    path: &[u8],
) -> Result<Vec<u8>, Status> {
    let path = String::from_utf8_lossy(path);
    let parts: Vec<&str> = path.split('\0').collect();
    let top = parts[0];
    let rest = &parts[1..];
    match top {
        "plugin_name" => return Ok(plugin.name.as_bytes().to_vec()),
        "plugin_root_id" => return Ok(plugin.root_id.as_bytes().to_vec()),
        "plugin_vm_id" => return Ok(plugin.vm_id.as_bytes().to_vec()),
        "plugin_vm_memory" => return Ok(plugin.memory_bytes.to_le_bytes().to_vec()),
        // `findValue` NODE uses the root's local info, so it needs no stream.
        "node" if rest.is_empty() => return node(plugin),
        _ => {}
    }
    let (s, slot) = stream.ok_or(Status::NotFound)?;
    let f = &s.slots[slot];
    let one = |v: Option<Vec<u8>>| v.ok_or(Status::NotFound);
    match top {
        "route_name" => Ok(s.info.route_name.as_bytes().to_vec()),
        "cluster_name" if !s.info.cluster_name.is_empty() => {
            Ok(s.info.cluster_name.as_bytes().to_vec())
        }
        "request" => {
            // RequestWrapper is built from `request_headers_ ?: access_log_request_headers_`: header
            // derived fields exist only while the context holds the request headers or in on_log.
            let key = rest.first().copied().ok_or(Status::NotFound)?;
            let held = f.req_headers || s.in_log;
            // Envoy `RequestWrapper`: these come from stream info before the header check.
            match key {
                "protocol" => return Ok(s.info.protocol.as_bytes().to_vec()),
                "time" => return Ok(int(s.info.start_time_ns as i64)),
                "duration" => return one(s.info.request_duration_ns.map(|d| int(d as i64))),
                "size" => {
                    // content-length when the headers are held and carry one, else bytesReceived.
                    let cl = held
                        .then(|| s.request_headers.get("content-length"))
                        .flatten()
                        .map(|v| v.trim().parse::<i64>());
                    return match cl {
                        Some(Ok(n)) => Ok(int(n)),
                        Some(Err(_)) => Err(Status::NotFound),
                        None => Ok(int(s.info.bytes_received as i64)),
                    };
                }
                "total_size" => {
                    let headers = if held {
                        s.request_headers.byte_size()
                    } else {
                        0
                    };
                    return Ok(int((s.info.bytes_received as usize + headers) as i64));
                }
                _ => {}
            }
            if !held {
                return Err(Status::NotFound);
            }
            let h = &s.request_headers;
            match key {
                "path" => one(header_value(h, ":path")),
                "url_path" => one(h
                    .get(":path")
                    .map(|p| p.split('?').next().unwrap_or("").as_bytes().to_vec())),
                "query" => one(h.get(":path").map(|p| {
                    p.split_once('?')
                        .map(|x| x.1)
                        .unwrap_or("")
                        .as_bytes()
                        .to_vec()
                })),
                "host" => one(header_value(h, ":authority")),
                "scheme" => one(header_value(h, ":scheme")),
                "method" => one(header_value(h, ":method")),
                "id" => one(header_value(h, "x-request-id")),
                "useragent" => one(header_value(h, "user-agent")),
                "referer" => one(header_value(h, "referer")),
                "headers" => match rest.get(1) {
                    Some(name) => one(header_value(h, name)),
                    None => Ok(serialize(&h.0)),
                },
                _ => Err(Status::NotFound),
            }
        }
        "response" => {
            let key = rest.first().copied().ok_or(Status::NotFound)?;
            let headers = (f.resp_headers || s.in_log)
                .then_some(s.response_headers.as_ref())
                .flatten();
            let trailers = (f.resp_trailers || s.in_log)
                .then_some(s.response_trailers.as_ref())
                .flatten();
            match key {
                "size" => Ok(int(s.info.bytes_sent as i64)),
                "total_size" => Ok(int((s.info.bytes_sent as usize
                    + headers.map_or(0, HeaderMap::byte_size)
                    + trailers.map_or(0, HeaderMap::byte_size))
                    as i64)),
                "flags" => Ok(int(s.info.response_flags as i64)),
                "code" => one(s.info.response_code.map(|c| int(c as i64))),
                "code_details" => one(s.info.response_code_details.clone().map(String::into_bytes)),
                "headers" | "trailers" => {
                    let visible = if key == "headers" { headers } else { trailers };
                    let map = visible.ok_or(Status::NotFound)?;
                    match rest.get(1) {
                        Some(name) => one(header_value(map, name)),
                        None => Ok(serialize(&map.0)),
                    }
                }
                _ => Err(Status::NotFound),
            }
        }
        "source" | "destination" => {
            let addr = if top == "source" {
                &s.info.source_address
            } else {
                &s.info.destination_address
            };
            match rest.first().copied() {
                Some("address") => Ok(addr.as_bytes().to_vec()),
                Some("port") => one(port_of(addr)),
                _ => Err(Status::NotFound),
            }
        }
        "connection" => {
            let key = rest.first().copied().ok_or(Status::NotFound)?;
            let tls = s.info.downstream_tls.as_ref();
            match key {
                // CelValue bool: one byte.
                "mtls" => Ok(vec![u8::from(
                    tls.is_some_and(|t| t.peer_certificate_presented),
                )]),
                "requested_server_name" => Ok(s.info.requested_server_name.as_bytes().to_vec()),
                // Uint64: 8 bytes little-endian.
                "id" => one(s.info.connection_id.map(|id| id.to_le_bytes().to_vec())),
                _ => one(tls.and_then(|t| tls_field(t, key))),
            }
        }
        "upstream" => {
            let key = rest.first().copied().ok_or(Status::NotFound)?;
            // `UpstreamWrapper`: nothing before an upstream host was chosen (`upstreamInfo()`).
            let addr = s.info.upstream_address.as_ref().ok_or(Status::NotFound)?;
            match key {
                "address" => Ok(addr.as_bytes().to_vec()),
                "port" => one(port_of(addr)),
                "local_address" => one(s
                    .info
                    .upstream_local_address
                    .as_ref()
                    .map(|a| a.as_bytes().to_vec())),
                "transport_failure_reason" => {
                    Ok(s.info.upstream_transport_failure_reason.as_bytes().to_vec())
                }
                _ => one(s.info.upstream_tls.as_ref().and_then(|t| tls_field(t, key))),
            }
        }
        // Messages Envoy serializes as protobuf (`config.core.v3.Metadata`); not modelled.
        "route_metadata" | "cluster_metadata" | "upstream_host_metadata" | "listener_metadata" => {
            Err(Status::NotFound)
        }
        // Unknown names fall back to filter state `wasm.<name>` written by set_property.
        name => {
            if !rest.is_empty() {
                return Err(Status::NotFound);
            }
            s.info
                .filter_state
                .get(&format!("wasm.{name}"))
                .cloned()
                .ok_or(Status::NotFound)
        }
    }
}

/// `setProperty`: stores filter state `wasm.<path>`; Higress special paths also act on the stream.
pub(crate) fn set(
    stream: Option<&mut StreamShared>,
    path: &[u8],
    value: &[u8],
) -> Result<(), Status> {
    let s = stream.ok_or(Status::NotFound)?;
    let path = String::from_utf8_lossy(path).into_owned();
    let text = String::from_utf8_lossy(value);
    match path.as_str() {
        "set_decoder_buffer_limit" => {
            let v: u32 = text.trim().parse().map_err(|_| Status::BadArgument)?;
            s.info.decoder_buffer_limit = v as usize;
        }
        "set_encoder_buffer_limit" => {
            let v: u32 = text.trim().parse().map_err(|_| Status::BadArgument)?;
            s.info.encoder_buffer_limit = v as usize;
        }
        "clear_route_cache" => s.info.route_cache_clearing_disabled = text == "off",
        p if p.starts_with("trace_span_tag.") => return Ok(()),
        _ => {}
    }
    s.info
        .filter_state
        .insert(format!("wasm.{path}"), value.to_vec());
    Ok(())
}

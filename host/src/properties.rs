//! `proxy_get_property` / `proxy_set_property` (Envoy `context.cc` `Context::getProperty`,
//! `findValue`, `setProperty`; Higress additions `route_name` fallback and the special set paths).
//! Strings are returned raw, integers as 8-byte little-endian, maps as serialized pairs.

use crate::abi::Status;
use crate::pairs::{serialize, HeaderMap};
use crate::stream::state::StreamShared;

/// Identity of the calling plugin, for `plugin_*` properties.
pub(crate) struct PluginProps<'a> {
    pub name: &'a str,
    pub root_id: &'a str,
    pub vm_id: &'a str,
    pub memory_bytes: u64,
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
            if key == "protocol" {
                return Ok(s.info.protocol.as_bytes().to_vec());
            }
            if !(f.req_headers || s.in_log) {
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
            match key {
                "code" => one(s.info.response_code.map(|c| int(c as i64))),
                "code_details" => one(s.info.response_code_details.clone().map(String::into_bytes)),
                "headers" | "trailers" => {
                    let visible = if key == "headers" {
                        (f.resp_headers || s.in_log)
                            .then_some(s.response_headers.as_ref())
                            .flatten()
                    } else {
                        (f.resp_trailers || s.in_log)
                            .then_some(s.response_trailers.as_ref())
                            .flatten()
                    };
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
                Some("port") => addr
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.parse::<i64>().ok())
                    .map(int)
                    .ok_or(Status::NotFound),
                _ => Err(Status::NotFound),
            }
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

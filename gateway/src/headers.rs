//! Conversions between hyper's `http` types and the host's header maps (Envoy's header map with
//! `:method`, `:path`, `:authority`, `:scheme`, `:status` pseudo-headers).

use http::header::{HeaderName, HeaderValue};
use proxy_wasm_host::HeaderMap;

/// Connection-specific headers Envoy's codecs never forward (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "http2-settings",
    "host",
];

pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.contains(&name)
}

/// Request headers as Envoy's codec hands them to the filter chain: pseudo-headers first
/// (`Host` becomes `:authority`), then the regular headers in arrival order.
pub fn from_request(parts: &http::request::Parts) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.add(":method", parts.method.as_str());
    h.add(
        ":path",
        parts.uri.path_and_query().map_or("/", |p| p.as_str()),
    );
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            parts
                .headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default();
    h.add(":authority", &authority);
    h.add(":scheme", parts.uri.scheme_str().unwrap_or("http"));
    for (k, v) in &parts.headers {
        if is_hop_by_hop(k.as_str()) {
            continue;
        }
        h.add(k.as_str(), &String::from_utf8_lossy(v.as_bytes()));
    }
    h
}

/// Regular headers from a host map into an `http` map; pseudo-headers, hop-by-hop headers and
/// names or values `http` refuses are left out.
pub fn to_http(h: &HeaderMap) -> http::HeaderMap {
    let mut out = http::HeaderMap::new();
    for (k, v) in &h.0 {
        if k.starts_with(':') || is_hop_by_hop(k) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            out.append(name, value);
        }
    }
    out
}

/// Response headers from upstream into a host map: `:status` first.
pub fn from_response(parts: &http::response::Parts) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.add(":status", parts.status.as_str());
    for (k, v) in &parts.headers {
        if is_hop_by_hop(k.as_str()) {
            continue;
        }
        h.add(k.as_str(), &String::from_utf8_lossy(v.as_bytes()));
    }
    h
}

/// Trailers either way.
pub fn from_http(h: &http::HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in h {
        out.add(k.as_str(), &String::from_utf8_lossy(v.as_bytes()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_gets_pseudo_headers_and_loses_hop_by_hop() {
        let req = http::Request::builder()
            .uri("/v1/chat?x=1")
            .method("POST")
            .header("host", "api.local:8080")
            .header("connection", "keep-alive")
            .header("x-a", "1")
            .body(())
            .unwrap();
        let (parts, _) = req.into_parts();
        let h = from_request(&parts);
        assert_eq!(
            h.0[..4],
            HeaderMap::from_pairs(&[
                (":method", "POST"),
                (":path", "/v1/chat?x=1"),
                (":authority", "api.local:8080"),
                (":scheme", "http"),
            ])
            .0[..]
        );
        assert_eq!(h.get("x-a"), Some("1"));
        assert_eq!(h.get("connection"), None);
        assert_eq!(h.get("host"), None);
        let back = to_http(&h);
        assert_eq!(back.len(), 1);
        assert_eq!(back["x-a"], "1");
    }
}

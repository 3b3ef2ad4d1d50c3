//! HTTP callouts to named clusters. `dispatch` returns a token; the answer arrives in the calling
//! context's `on_http_call_response(token, result)` with that context made effective. A call the
//! host gives up on (reset, connect failure: it calls back with zero headers) is an `Err`, never a
//! fake response.

use crate::dispatcher::{self, CalloutKind, Pending};
use crate::host::host;
use crate::types::{BufferType, HostError, MapType, Status};

/// A callout response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpCallError {
    /// The URL has no path or no host and no explicit authority was given.
    BadUrl(String),
    /// The host called back with no headers: reset, connection failure or the like.
    Failed,
    /// A response without a valid `:status`.
    NoStatus,
    Host(HostError),
}

impl std::fmt::Display for HttpCallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpCallError::BadUrl(why) => write!(f, "bad callout URL: {why}"),
            HttpCallError::Failed => f.write_str("callout failed (no response)"),
            HttpCallError::NoStatus => f.write_str("callout response has no valid :status"),
            HttpCallError::Host(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for HttpCallError {}

/// A callout to build and [`dispatch`](HttpRequest::dispatch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// 0 means no timeout (Envoy's reading).
    pub timeout_ms: u32,
    /// `:authority` to use when the URL has no host (e.g. a path-only URL).
    pub authority: Option<String>,
}

impl HttpRequest {
    pub fn new(method: &str, url: &str) -> HttpRequest {
        HttpRequest {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: 5000,
            authority: None,
        }
    }

    pub fn get(url: &str) -> HttpRequest {
        HttpRequest::new("GET", url)
    }

    pub fn post(url: &str, body: impl Into<Vec<u8>>) -> HttpRequest {
        HttpRequest::new("POST", url).body(body)
    }

    pub fn header(mut self, name: &str, value: &str) -> HttpRequest {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> HttpRequest {
        self.body = body.into();
        self
    }

    pub fn timeout_ms(mut self, timeout_ms: u32) -> HttpRequest {
        self.timeout_ms = timeout_ms;
        self
    }

    pub fn authority(mut self, authority: &str) -> HttpRequest {
        self.authority = Some(authority.to_string());
        self
    }

    /// The header list sent to the host: pseudo headers from the URL first, then the user's
    /// (user-provided pseudo headers win over derived ones, by not being duplicated).
    pub fn wire_headers(&self) -> Result<Vec<(String, String)>, HttpCallError> {
        let (url_authority, path) = split_url(&self.url)?;
        let authority = url_authority
            .map(str::to_string)
            .or_else(|| self.authority.clone())
            .ok_or_else(|| {
                HttpCallError::BadUrl(format!(
                    "{:?} has no host and no authority was set",
                    self.url
                ))
            })?;
        let mut out = Vec::with_capacity(self.headers.len() + 3);
        let user_has = |name: &str| {
            self.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        for (name, value) in [
            (":method", self.method.clone()),
            (":path", path),
            (":authority", authority),
        ] {
            if !user_has(name) {
                out.push((name.to_string(), value));
            }
        }
        out.extend(self.headers.iter().cloned());
        Ok(out)
    }

    /// Sends the callout to `cluster` (see [`crate::cluster`]); returns the token.
    pub fn dispatch(&self, cluster: &str) -> Result<u32, HttpCallError> {
        let headers = self.wire_headers()?;
        let raw: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        let token = host()
            .http_call(cluster, &raw, &self.body, &[], self.timeout_ms)
            .map_err(|s| HttpCallError::Host(HostError::new("proxy_http_call", s)))?;
        let context_id = dispatcher::active_context_id();
        dispatcher::register_callout(
            token,
            Pending {
                context_id,
                user_token: token,
                kind: CalloutKind::Http,
            },
        );
        Ok(token)
    }
}

/// Splits `scheme://authority/path?query` or `/path?query` into (authority, path-and-query).
fn split_url(url: &str) -> Result<(Option<&str>, String), HttpCallError> {
    if url.starts_with('/') {
        return Ok((None, url.to_string()));
    }
    let rest = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| HttpCallError::BadUrl(format!("{url:?} is neither absolute nor a path")))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // Userinfo is never sent as :authority.
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if authority.is_empty() {
        return Err(HttpCallError::BadUrl(format!("{url:?} has an empty host")));
    }
    let tail = &rest[end..];
    let tail = tail.split('#').next().unwrap_or("");
    let path = if tail.starts_with('?') || tail.is_empty() {
        format!("/{tail}")
    } else {
        tail.to_string()
    };
    Ok((Some(authority), path))
}

/// Entry point of `proxy_on_http_call_response`.
pub(crate) fn deliver_response(
    token: u32,
    num_headers: usize,
    body_size: usize,
    _num_trailers: usize,
) {
    let Some(pending) = dispatcher::take_callout(token) else {
        return;
    };
    let ctx = pending.context_id;
    if !dispatcher::is_stream(ctx) && !dispatcher::is_root(ctx) {
        return;
    }
    let _ = host().set_effective_context(ctx);
    let result = read_response(num_headers, body_size);
    if dispatcher::is_stream(ctx) {
        dispatcher::with_stream(ctx, |c| c.on_http_call_response(pending.user_token, result));
    } else {
        dispatcher::with_root(ctx, |r| r.on_http_call_response(pending.user_token, result));
    }
}

fn read_response(num_headers: usize, body_size: usize) -> Result<HttpResponse, HttpCallError> {
    if num_headers == 0 {
        return Err(HttpCallError::Failed);
    }
    let host = host();
    let pairs = host
        .get_header_map_pairs(MapType::HttpCallResponseHeaders)
        .map_err(|s| HttpCallError::Host(HostError::new("proxy_get_header_map_pairs", s)))?;
    let headers: Vec<(String, String)> = pairs
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    let status = headers
        .iter()
        .find(|(k, _)| k == ":status")
        .and_then(|(_, v)| v.trim().parse::<u16>().ok())
        .ok_or(HttpCallError::NoStatus)?;
    let body = match host.get_buffer_bytes(BufferType::HttpCallResponseBody, 0, body_size) {
        Ok(b) => b,
        Err(Status::NotFound) => Vec::new(),
        Err(s) => {
            return Err(HttpCallError::Host(HostError::new(
                "proxy_get_buffer_bytes",
                s,
            )))
        }
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(h: &'a [(String, String)], k: &str) -> &'a str {
        h.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap()
    }

    #[test]
    fn pseudo_headers_come_from_the_url() {
        let h = HttpRequest::post(
            "https://user:pw@api.example.com:8443/v1/chat?x=1#frag",
            "{}",
        )
        .wire_headers()
        .unwrap();
        assert_eq!(header(&h, ":method"), "POST");
        assert_eq!(header(&h, ":authority"), "api.example.com:8443");
        assert_eq!(header(&h, ":path"), "/v1/chat?x=1");
        let h = HttpRequest::get("http://host?q").wire_headers().unwrap();
        assert_eq!(header(&h, ":path"), "/?q");
        let h = HttpRequest::get("http://host").wire_headers().unwrap();
        assert_eq!(header(&h, ":path"), "/");
    }

    #[test]
    fn path_only_url_needs_an_authority() {
        assert!(matches!(
            HttpRequest::get("/x").wire_headers(),
            Err(HttpCallError::BadUrl(_))
        ));
        let h = HttpRequest::get("/x")
            .authority("llm.local")
            .wire_headers()
            .unwrap();
        assert_eq!(header(&h, ":authority"), "llm.local");
        assert!(matches!(
            HttpRequest::get("ftp:/x").wire_headers(),
            Err(HttpCallError::BadUrl(_))
        ));
        assert!(matches!(
            HttpRequest::get("http:///x").wire_headers(),
            Err(HttpCallError::BadUrl(_))
        ));
    }

    #[test]
    fn user_pseudo_headers_are_not_duplicated() {
        let h = HttpRequest::get("http://a/b")
            .header(":authority", "override")
            .wire_headers()
            .unwrap();
        assert_eq!(h.iter().filter(|(k, _)| k == ":authority").count(), 1);
        assert_eq!(header(&h, ":authority"), "override");
    }
}

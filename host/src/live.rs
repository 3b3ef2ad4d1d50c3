//! Live backends for harness tests: a [`Stream`]'s pending Redis and HTTP callouts are answered by
//! real servers (a real Redis, a real embedding server…) instead of canned replies, so a plugin's
//! Lua scripts, RediSearch queries or HTTP request bodies are checked by the real thing.
//!
//! Calls are made synchronously, one at a time, in the order the plugin dispatched them; the fake
//! clock does not move while a call is in flight, so callout timeouts never fire here (tests of
//! time budgets use `timeout_http`/`advance` instead). Redis queries are forwarded as the raw RESP
//! the plugin built; one reply is cut from the socket with [`crate::resp::frame_len`].

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::callout::{HttpCallout, HttpCalloutResponse};
use crate::harness::Stream;
use crate::pairs::HeaderMap;
use crate::resp::frame_len;

const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Which real server answers which cluster.
#[derive(Default)]
pub struct LiveBackends {
    redis: HashMap<String, RedisBackend>,
    http: HashMap<String, SocketAddr>,
}

struct RedisBackend {
    addr: SocketAddr,
    conn: Option<(TcpStream, Vec<u8>)>,
}

#[derive(Debug)]
pub enum LiveError {
    /// The plugin called a cluster no backend was registered for.
    UnknownCluster { kind: &'static str, cluster: String },
    /// Address resolution failed when registering a backend.
    Address(String),
}

impl fmt::Display for LiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownCluster { kind, cluster } => {
                write!(
                    f,
                    "{kind} callout to cluster {cluster:?}, which has no live backend"
                )
            }
            Self::Address(a) => write!(f, "cannot resolve {a}"),
        }
    }
}

impl std::error::Error for LiveError {}

fn resolve(addr: impl ToSocketAddrs + fmt::Debug) -> SocketAddr {
    match addr.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        _ => panic!("{}", LiveError::Address(format!("{addr:?}"))),
    }
}

impl LiveBackends {
    pub fn new() -> Self {
        Self::default()
    }

    /// Redis callouts to `cluster` go to the Redis server at `addr` (one connection, kept open).
    pub fn redis(mut self, cluster: &str, addr: impl ToSocketAddrs + fmt::Debug) -> Self {
        let addr = resolve(addr);
        self.redis
            .insert(cluster.to_string(), RedisBackend { addr, conn: None });
        self
    }

    /// HTTP callouts to `cluster` go to the HTTP/1.1 server at `addr`.
    pub fn http(mut self, cluster: &str, addr: impl ToSocketAddrs + fmt::Debug) -> Self {
        self.http.insert(cluster.to_string(), resolve(addr));
        self
    }

    fn redis_roundtrip(
        &mut self,
        cluster: &str,
        query: &[u8],
    ) -> Result<io::Result<Vec<u8>>, LiveError> {
        let backend = self
            .redis
            .get_mut(cluster)
            .ok_or_else(|| LiveError::UnknownCluster {
                kind: "redis",
                cluster: cluster.to_string(),
            })?;
        let result = backend.roundtrip(query);
        if result.is_err() {
            // Like the gateway's pool: a connection that failed is not reused.
            backend.conn = None;
        }
        Ok(result)
    }
}

impl RedisBackend {
    fn roundtrip(&mut self, query: &[u8]) -> io::Result<Vec<u8>> {
        if self.conn.is_none() {
            let sock = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)?;
            sock.set_read_timeout(Some(IO_TIMEOUT))?;
            self.conn = Some((sock, Vec::new()));
        }
        let (sock, buf) = self.conn.as_mut().expect("connected above");
        sock.write_all(query)?;
        loop {
            match frame_len(buf) {
                Ok(Some(n)) => return Ok(buf.drain(..n).collect()),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = sock.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// One HTTP/1.1 exchange (`Connection: close`), with the callout's pseudo-headers turned into the
/// request line and `Host`.
fn http_exchange(addr: SocketAddr, call: &HttpCallout) -> io::Result<HttpCalloutResponse> {
    let method = call.headers.get(":method").unwrap_or("GET");
    let path = call.headers.get(":path").unwrap_or("/");
    let authority = call.headers.get(":authority").unwrap_or("localhost");
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n");
    for (k, v) in &call.headers.0 {
        let skip = k.starts_with(':')
            || ["host", "connection", "content-length", "transfer-encoding"]
                .contains(&k.to_ascii_lowercase().as_str());
        if !skip {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    req.push_str(&format!("content-length: {}\r\n\r\n", call.body.len()));
    let mut sock = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    sock.set_read_timeout(Some(IO_TIMEOUT))?;
    sock.write_all(req.as_bytes())?;
    sock.write_all(&call.body)?;
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn parse_response(raw: &[u8]) -> io::Result<HttpCalloutResponse> {
    let head_end = memfind(raw, b"\r\n\r\n").ok_or_else(|| invalid("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| invalid("non-UTF-8 head"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .ok_or_else(|| invalid("no status line"))?;
    let mut headers = HeaderMap::new();
    headers.add(":status", status);
    let mut chunked = false;
    for line in lines {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| invalid("bad header line"))?;
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
            continue;
        }
        headers.add(&k, v);
    }
    let rest = &raw[head_end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(HttpCalloutResponse {
        headers,
        body,
        trailers: HeaderMap::new(),
    })
}

fn dechunk(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let eol = memfind(rest, b"\r\n").ok_or_else(|| invalid("truncated chunk size"))?;
        let size = std::str::from_utf8(&rest[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .ok_or_else(|| invalid("bad chunk size"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or_else(|| invalid("truncated chunk"))?;
        body.extend_from_slice(chunk);
        rest = rest
            .get(size + 2..)
            .ok_or_else(|| invalid("truncated chunk end"))?;
    }
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Stream {
    /// Answers every pending Redis and HTTP callout (of any stream of the host) from `live`,
    /// including callouts the plugin makes while handling those answers, until none is pending.
    /// A network error reaches the plugin as a failed callout, the way Envoy reports it. Returns
    /// how many callouts were answered.
    pub fn serve_live(&mut self, live: &mut LiveBackends) -> Result<usize, LiveError> {
        let mut answered = 0;
        loop {
            if let Some(call) = self.redis_calls().into_iter().next() {
                match live.redis_roundtrip(&call.cluster, &call.query)? {
                    Ok(reply) => self.respond_redis(&call, reply),
                    Err(_) => self.fail_redis(&call),
                };
            } else if let Some(call) = self.http_calls().into_iter().next() {
                let addr =
                    *live
                        .http
                        .get(&call.cluster)
                        .ok_or_else(|| LiveError::UnknownCluster {
                            kind: "http",
                            cluster: call.cluster.clone(),
                        })?;
                match http_exchange(addr, &call) {
                    Ok(resp) => self.respond_http(&call, resp),
                    Err(_) => self.fail_http(&call),
                };
            } else {
                return Ok(answered);
            }
            answered += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let r = parse_response(b"HTTP/1.1 201 Created\r\nContent-Type: a/b\r\n\r\nhello").unwrap();
        assert_eq!(r.headers.get(":status"), Some("201"));
        assert_eq!(r.headers.get("content-type"), Some("a/b"));
        assert_eq!(r.body, b"hello");
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"hello world");
        assert_eq!(r.headers.get("transfer-encoding"), None);
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
                .is_err()
        );
        assert!(parse_response(b"garbage").is_err());
    }
}

//! A minimal blocking HTTP/1.1 client for this server (one request per connection), for tests,
//! the throughput binary and benchmarks that must not pull in an async runtime.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> io::Result<Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{e}: {}", String::from_utf8_lossy(&self.body)),
            )
        })
    }
}

pub fn post(addr: SocketAddr, path: &str, body: &[u8]) -> io::Result<Reply> {
    request(addr, "POST", path, body)
}

pub fn get(addr: SocketAddr, path: &str) -> io::Result<Reply> {
    request(addr, "GET", path, b"")
}

/// Unit-length embeddings of `texts` through `POST /v1/embeddings`.
pub fn embed(addr: SocketAddr, texts: &[&str]) -> io::Result<Vec<Vec<f32>>> {
    let body = serde_json::json!({ "input": texts }).to_string();
    let reply = post(addr, "/v1/embeddings", body.as_bytes())?;
    let value = reply.json()?;
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {value}", reply.status),
        )
    };
    if reply.status != 200 {
        return Err(bad());
    }
    value["data"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|d| {
            d["embedding"]
                .as_array()
                .and_then(|v| v.iter().map(|x| x.as_f64().map(|x| x as f32)).collect())
                .ok_or_else(bad)
        })
        .collect()
}

fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_nodelay(true)?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse(&raw)
}

/// Status and body of a complete `connection: close` response with a fixed-length body.
fn parse(raw: &[u8]) -> io::Result<Reply> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of response head"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| invalid("non-UTF-8 head"))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(invalid(
            "chunked responses are not supported by this client",
        ));
    }
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("no status code"))?;
    Ok(Reply {
        status,
        body: raw[end + 4..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_status_and_body() {
        let reply = parse(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((reply.status, reply.body.as_slice()), (400, &b"{}"[..]));
        assert!(parse(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n").is_err());
    }
}

//! A small real HTTP client (hyper) for the integration tests, recording when each body frame
//! arrived and whether the body ended in an error.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpStream;

pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `f` with a hard time bound so a hung server fails the test instead of hanging CI.
pub async fn bounded<F: Future<Output = T>, T>(f: F) -> T {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("test exceeded its time bound")
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    /// Time from sending the request to the response head.
    pub head_after: Duration,
    /// Each data frame and when it arrived (from sending the request).
    pub frames: Vec<(Duration, Bytes)>,
    /// Set when the body ended in an error (connection reset / stream reset) instead of cleanly.
    pub body_error: Option<String>,
}

impl Reply {
    pub fn body(&self) -> Vec<u8> {
        self.frames
            .iter()
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body()).expect("utf-8 body")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body()).expect("JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `data:` payloads of an SSE body, checking the exact `data: ...\n\n` framing on the way.
    pub fn sse_data(&self) -> Vec<String> {
        let text = self.text();
        assert!(
            text.ends_with("\n\n") || text.is_empty(),
            "SSE body must end with a blank line: {text:?}"
        );
        text.split_terminator("\n\n")
            .map(|event| {
                assert!(
                    !event.contains('\n'),
                    "one line per event expected: {event:?}"
                );
                event
                    .strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("event without `data: `: {event:?}"))
                    .to_string()
            })
            .collect()
    }

    /// SSE payloads parsed as JSON, without the final `[DONE]`.
    pub fn chunks(&self) -> Vec<Value> {
        self.sse_data()
            .iter()
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).expect("JSON chunk"))
            .collect()
    }
}

pub struct Client {
    addr: SocketAddr,
    h2: bool,
}

impl Client {
    pub fn http1(addr: SocketAddr) -> Self {
        Client { addr, h2: false }
    }

    pub fn h2c(addr: SocketAddr) -> Self {
        Client { addr, h2: true }
    }

    pub async fn get(&self, path: &str) -> Result<Reply, String> {
        self.send("GET", path, &[], "").await
    }

    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Reply, String> {
        self.send("POST", path, headers, body).await
    }

    pub async fn chat(&self, headers: &[(&str, &str)], body: &Value) -> Result<Reply, String> {
        self.post("/v1/chat/completions", headers, &body.to_string())
            .await
    }

    /// A chat POST with one header whose value is raw bytes (e.g. non-ASCII obs-text).
    pub async fn send_bytes_header(
        &self,
        name: &str,
        value: &[u8],
        body: &str,
    ) -> Result<Reply, String> {
        let value = hyper::header::HeaderValue::from_bytes(value).map_err(|e| e.to_string())?;
        self.send_with("POST", "/v1/chat/completions", &[(name, value)], body)
            .await
    }

    /// One request on a fresh connection. `Err` means no response head arrived.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Reply, String> {
        let headers = headers
            .iter()
            .map(|(k, v)| {
                Ok((
                    *k,
                    hyper::header::HeaderValue::from_str(v).map_err(|e| e.to_string())?,
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        self.send_with(method, path, &headers, body).await
    }

    async fn send_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, hyper::header::HeaderValue)],
        body: &str,
    ) -> Result<Reply, String> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| e.to_string())?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        if !body.is_empty() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, v.clone());
        }
        let req = req
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        let start = Instant::now();
        let response = if self.h2 {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            sender.send_request(req).await
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            sender.send_request(req).await
        }
        .map_err(|e| e.to_string())?;
        let head_after = start.elapsed();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = response.into_body();
        let mut frames = Vec::new();
        let mut body_error = None;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        frames.push((start.elapsed(), data));
                    }
                }
                Err(e) => {
                    body_error = Some(e.to_string());
                    break;
                }
            }
        }
        Ok(Reply {
            status,
            headers,
            head_after,
            frames,
            body_error,
        })
    }
}

pub fn user(text: &str) -> Value {
    serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
}

pub fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().expect("object").clone() {
        base[k] = v;
    }
    base
}

/// Asserts an OpenAI error body and returns its `error` object.
pub fn openai_error(reply: &Reply, status: u16) -> Value {
    assert_eq!(
        reply.status,
        status,
        "body: {}",
        String::from_utf8_lossy(&reply.body())
    );
    assert!(reply
        .header("content-type")
        .unwrap_or("")
        .starts_with("application/json"));
    let e = reply.json()["error"].clone();
    for key in ["message", "type", "param", "code"] {
        assert!(e.get(key).is_some(), "error body lacks `{key}`: {e}");
    }
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(e["type"].is_string());
    e
}

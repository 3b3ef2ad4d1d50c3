//! End-to-end support: a scriptable test upstream (hyper, its own thread), a tiny in-test RESP
//! server, the gateway as a real child process on ephemeral ports, and HTTP clients.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

/// Upper bound for anything a test waits for.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

pub fn tempdir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "gw-test-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).expect("tempdir");
    d
}

// ---------------------------------------------------------------- test upstream

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub version: http::Version,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

#[derive(Default)]
pub struct UpstreamState {
    pub seen: Mutex<Vec<Seen>>,
    /// `/sse` sends its first event, then waits for this before sending the rest.
    pub release: Notify,
    pub sse_finished: AtomicBool,
}

pub struct Upstream {
    pub addr: SocketAddr,
    pub state: Arc<UpstreamState>,
}

impl Upstream {
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn seen_path(&self, prefix: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path.starts_with(prefix))
            .collect()
    }
}

/// The SSE events `/sse` sends (the first one before waiting for `release`).
pub const SSE_EVENTS: [&str; 4] = [
    "data: {\"id\":\"1\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
    "data: {\"id\":\"1\",\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n",
    ": keep-alive comment\n\n",
    "data: [DONE]\n\n",
];

pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

type UpBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn full(b: impl Into<Bytes>) -> UpBody {
    Full::new(b.into()).map_err(|e| match e {}).boxed()
}

async fn upstream_handle(
    state: Arc<UpstreamState>,
    req: http::Request<Incoming>,
) -> Result<http::Response<UpBody>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let seen = Seen {
        version: parts.version,
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string()),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.to_vec(),
    };
    state.seen.lock().unwrap().push(seen.clone());
    let path = parts.uri.path();
    let resp = match path {
        "/sse" | "/v1/sse" => {
            let (tx, body) = higress_ai_gateway::body::ChanBody::channel();
            let st = state.clone();
            tokio::spawn(async move {
                let _ = tx
                    .send(Ok(http_body::Frame::data(Bytes::from(SSE_EVENTS[0]))))
                    .await;
                st.release.notified().await;
                for e in &SSE_EVENTS[1..] {
                    let _ = tx.send(Ok(http_body::Frame::data(Bytes::from(*e)))).await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                st.sse_finished.store(true, Ordering::SeqCst);
            });
            let body = body.boxed();
            http::Response::builder()
                .header("content-type", "text/event-stream")
                .body(body)
                .unwrap()
        }
        "/reset-mid" => {
            // One event, then the upstream connection dies mid-body.
            let (tx, body) = higress_ai_gateway::body::ChanBody::channel();
            tokio::spawn(async move {
                let _ = tx
                    .send(Ok(http_body::Frame::data(Bytes::from(SSE_EVENTS[0]))))
                    .await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = tx.send(Err(std::io::Error::other("upstream dies"))).await;
            });
            http::Response::builder()
                .header("content-type", "text/event-stream")
                .body(body.boxed())
                .unwrap()
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            http::Response::new(full("late"))
        }
        "/auth" => {
            let orig = seen.header_values("x-original-path").join(",");
            if orig.contains("deny") {
                http::Response::builder()
                    .status(403)
                    .body(full("no"))
                    .unwrap()
            } else {
                http::Response::builder()
                    .header("x-user", "alice")
                    .body(full("ok"))
                    .unwrap()
            }
        }
        _ => {
            let n: usize = seen
                .header_values("x-respond-bytes")
                .first()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let body = if n > 0 {
                pattern(n)
            } else {
                format!("echo {} {} bytes", seen.path, seen.body.len()).into_bytes()
            };
            http::Response::builder()
                .header("x-upstream", "test")
                .body(full(body))
                .unwrap()
        }
    };
    Ok(resp)
}

/// Starts the test upstream (HTTP/1.1) on its own thread.
pub fn start_upstream() -> Upstream {
    let state = Arc::new(UpstreamState::default());
    let (tx, rx) = mpsc::channel();
    let st = state.clone();
    std::thread::spawn(move || {
        let rt = rt();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            loop {
                let Ok((sock, _)) = l.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| upstream_handle(st.clone(), req));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
    });
    let addr = rx.recv_timeout(WAIT).expect("upstream address");
    Upstream { addr, state }
}

// ---------------------------------------------------------------- in-test RESP server

/// A tiny RESP server over real TCP (not Redis): AUTH, SELECT, EVALSHA (→ NOSCRIPT), EVAL and
/// INCR count per key; records every command.
pub struct RespServer {
    pub addr: SocketAddr,
    pub commands: Arc<Mutex<Vec<Vec<String>>>>,
}

fn parse_command(buf: &[u8]) -> Option<(Vec<String>, usize)> {
    fn line(buf: &[u8], at: usize) -> Option<(String, usize)> {
        let p = buf[at..].windows(2).position(|w| w == b"\r\n")?;
        Some((
            String::from_utf8_lossy(&buf[at..at + p]).into_owned(),
            at + p + 2,
        ))
    }
    let (head, mut pos) = line(buf, 0)?;
    let n: usize = head.strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::new();
    for _ in 0..n {
        let (len, p) = line(buf, pos)?;
        let len: usize = len.strip_prefix('$')?.parse().ok()?;
        if buf.len() < p + len + 2 {
            return None;
        }
        args.push(String::from_utf8_lossy(&buf[p..p + len]).into_owned());
        pos = p + len + 2;
    }
    Some((args, pos))
}

pub fn start_resp_server(password: &str) -> RespServer {
    let commands = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let cmds = commands.clone();
    let password = password.to_string();
    std::thread::spawn(move || {
        rt().block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            let counters = Arc::new(Mutex::new(std::collections::HashMap::<String, i64>::new()));
            loop {
                let Ok((mut sock, _)) = l.accept().await else {
                    continue;
                };
                let (cmds, counters, password) = (cmds.clone(), counters.clone(), password.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut authed = password.is_empty();
                    loop {
                        while let Some((args, used)) = parse_command(&buf) {
                            buf.drain(..used);
                            cmds.lock().unwrap().push(args.clone());
                            let cmd = args
                                .first()
                                .map(|s| s.to_ascii_uppercase())
                                .unwrap_or_default();
                            let reply = match cmd.as_str() {
                                "AUTH" if args.last() == Some(&password) => {
                                    authed = true;
                                    "+OK\r\n".to_string()
                                }
                                "AUTH" => "-WRONGPASS invalid password\r\n".to_string(),
                                _ if !authed => "-NOAUTH Authentication required.\r\n".to_string(),
                                "SELECT" => "+OK\r\n".to_string(),
                                "EVALSHA" => {
                                    "-NOSCRIPT No matching script. Please use EVAL.\r\n".to_string()
                                }
                                "EVAL" | "INCR" => {
                                    let key = if cmd == "EVAL" {
                                        args.get(3)
                                    } else {
                                        args.get(1)
                                    };
                                    let key = key.cloned().unwrap_or_default();
                                    let mut c = counters.lock().unwrap();
                                    let n = c.entry(key).or_insert(0);
                                    *n += 1;
                                    format!(":{n}\r\n")
                                }
                                _ => "-ERR unknown command\r\n".to_string(),
                            };
                            if sock.write_all(reply.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        let mut chunk = [0u8; 4096];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
    });
    let addr = rx.recv_timeout(WAIT).expect("resp address");
    RespServer { addr, commands }
}

// ---------------------------------------------------------------- gateway process

pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub config: PathBuf,
    pub stderr: Arc<Mutex<Vec<String>>>,
    pub stdout: Arc<Mutex<Vec<String>>>,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_higress-ai-gateway")
}

/// The module cache every gateway of a test binary shares.
pub fn module_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache")
}

/// Compiles the plugins of `yaml` into the gateways' module cache (`--check`): a debug-build
/// wasmtime can take longer than `Gateway::start`'s wait to compile them on a loaded machine.
pub fn warm_module_cache(yaml: &str) {
    let dir = tempdir("warm");
    std::fs::write(dir.join("gateway.yaml"), yaml).unwrap();
    let out = Command::new(binary())
        .arg("--check")
        .arg("--config")
        .arg(dir.join("gateway.yaml"))
        .env("PROXY_WASM_HOST_CACHE", module_cache())
        .output()
        .expect("gateway --check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json_field(line: &str, msg: &str) -> Option<SocketAddr> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["msg"] != msg {
        return None;
    }
    v["address"].as_str()?.parse().ok()
}

impl Gateway {
    /// Writes `yaml` as `gateway.yaml` in `dir` and starts the gateway on it; waits until it
    /// listens (and its admin port, if configured, answers `/ready` 200).
    pub fn start_in(dir: &Path, yaml: &str) -> Result<Gateway, String> {
        let config = dir.join("gateway.yaml");
        std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
        let mut child = Command::new(binary())
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("PROXY_WASM_HOST_CACHE", module_cache())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let (e, o) = (child.stderr.take().unwrap(), child.stdout.take().unwrap());
        let se = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(e).lines().map_while(Result::ok) {
                se.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let so = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(o).lines().map_while(Result::ok) {
                so.lock().unwrap().push(line);
            }
        });
        let wants_admin = yaml.contains("admin:");
        let (mut addr, mut admin) = (None, None);
        let deadline = Instant::now() + WAIT;
        while addr.is_none() || (wants_admin && admin.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    addr = addr.or_else(|| json_field(&line, "listening"));
                    admin = admin.or_else(|| json_field(&line, "admin listening"));
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "gateway did not start:\n{}",
                        stderr.lock().unwrap().join("\n")
                    ));
                }
            }
        }
        let gw = Gateway {
            child,
            addr: addr.unwrap(),
            admin,
            config,
            stderr,
            stdout,
        };
        if let Some(a) = gw.admin {
            let deadline = Instant::now() + WAIT;
            loop {
                let r = rt().block_on(get(&format!("http://{a}/ready")));
                if r.as_ref().is_ok_and(|(s, _, _)| *s == 200) {
                    break;
                }
                if Instant::now() > deadline {
                    return Err("admin never ready".into());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(gw)
    }

    pub fn start(yaml: &str) -> Gateway {
        let dir = tempdir("gw");
        Self::start_in(&dir, yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stderr line containing `needle`.
    pub fn wait_stderr(&self, needle: &str) -> Option<String> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(l) = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return Some(l.clone());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Access-log lines (JSON), waiting until at least `n` were written.
    pub fn access_logs(&self, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let lines: Vec<serde_json::Value> = self
                .stdout
                .lock()
                .unwrap()
                .iter()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if lines.len() >= n || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gateway config: listener and admin on ephemeral ports, one cluster per `(name, addr)`,
/// routes as given (YAML list items), plus extra documents.
pub fn config(clusters: &[(&str, SocketAddr)], routes: &str, extra_docs: &str) -> String {
    let mut c = String::from(
        "apiVersion: gateway.higress.io/v1alpha1\nkind: Gateway\nspec:\n  workers: 2\n  listeners:\n  - {name: main, address: 127.0.0.1, port: 0}\n  admin: {address: 127.0.0.1, port: 0}\n  clusters:\n",
    );
    for (name, addr) in clusters {
        c.push_str(&format!(
            "  - name: \"{name}\"\n    addresses: [\"{addr}\"]\n    connectTimeout: 1s\n"
        ));
    }
    c.push_str("  routes:\n");
    c.push_str(routes);
    c.push_str(extra_docs);
    c
}

pub const LLM: &str = "outbound|80||llm.static";

/// One catch-all route to [`LLM`].
pub fn simple_routes() -> String {
    format!("  - name: ai-route-llm\n    cluster: \"{LLM}\"\n")
}

/// A `WasmPlugin` document.
pub fn wasmplugin(name: &str, wasm: &Path, priority: i64, fail: &str, config: &str) -> String {
    format!(
        "---\napiVersion: extensions.higress.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: {name}\n  namespace: higress-system\nspec:\n  url: file://{}\n  priority: {priority}\n  failStrategy: {fail}\n  defaultConfig: {config}\n",
        wasm.display()
    )
}

/// An SDK example plugin built for wasm32-wasip1 (once per test process).
pub fn sdk_example(name: &str) -> PathBuf {
    proxy_wasm_host::build_support::build_wasm_example(&workspace_dir(), "higress-sdk", name, &[])
        .unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------- clients

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub fn h2c_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(HttpConnector::new())
}

/// (status, headers, body).
pub type Got = (u16, http::HeaderMap, Vec<u8>);

pub async fn send(
    c: &Client<HttpConnector, Full<Bytes>>,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Got, String> {
    let mut b = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(WAIT, c.request(req))
        .await
        .map_err(|_| "timeout".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    let (parts, body) = resp.into_parts();
    let body = tokio::time::timeout(WAIT, body.collect())
        .await
        .map_err(|_| "body timeout".to_string())?
        .map_err(|e| format!("{e:?}"))?
        .to_bytes();
    Ok((parts.status.as_u16(), parts.headers, body.to_vec()))
}

pub async fn get(url: &str) -> Result<Got, String> {
    send(&client(), "GET", url, &[], Vec::new()).await
}

/// Appends data frames of `body` to `got` until it holds at least `len` bytes (a streamed answer's
/// first event, read while the upstream still holds the rest).
pub async fn read_at_least(body: &mut Incoming, got: &mut Vec<u8>, len: usize) {
    while got.len() < len {
        let f = tokio::time::timeout(WAIT, body.frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        got.extend_from_slice(&f.into_data().unwrap());
    }
}

/// Appends the remaining data frames of `body` to `got`, up to its end.
pub async fn read_rest(body: &mut Incoming, got: &mut Vec<u8>) {
    while let Some(f) = tokio::time::timeout(WAIT, body.frame()).await.unwrap() {
        if let Ok(d) = f.unwrap().into_data() {
            got.extend_from_slice(&d);
        }
    }
}

//! One HTTP stream through the plugin chain and the router, driven by events: client body
//! frames, the upstream's response, callout answers (which wake the stream through its
//! `Notify`) and the route timeout. Whatever the filter manager lets through is forwarded at
//! once, so an SSE event reaches the client when the upstream sends it unless a plugin holds it.
//!
//! Envoy behaviours copied (router filter, `source/common/router/router.cc`):
//! - the route is matched before the chain and re-matched when it leaves the chain if a plugin
//!   changed request headers and did not set `clear_route_cache` off (`clearRouteCache`);
//! - no route: 404 with details `route_not_found`, sent through the encoder filters;
//! - connect failure / reset before headers: 503 `upstream_reset_before_response_started{..}`;
//! - route timeout (from the end of the request): 504 `upstream_response_timeout` with body
//!   "upstream request timeout", or a reset if the response already started;
//! - an upstream reset after the response started resets the downstream stream.

use crate::accesslog::{self, Entry};
use crate::body::{ChanBody, FrameResult};
use crate::config::RouteRt;
use crate::headers;
use crate::routing;
use crate::stats::Stats;
use crate::upstream::Failure;
use crate::worker::{Generation, Worker};
use bytes::Bytes;
use http_body::{Body as _, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use proxy_wasm_host::stream::{FilterManager, StreamShared};
use proxy_wasm_host::HeaderMap;
use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};
use tokio::sync::{mpsc, oneshot, Notify};

type Resp = Result<http::Response<ChanBody>, io::Error>;

/// hyper service entry: the stream runs as its own task so that the response body keeps
/// streaming after the response head was handed to hyper.
pub async fn serve(
    w: Rc<Worker>,
    req: http::Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Resp {
    let (tx, rx) = oneshot::channel();
    tokio::task::spawn_local(drive(w, req, tx, peer, local));
    rx.await
        .unwrap_or_else(|_| Err(io::Error::other("stream reset before response headers")))
}

/// Envoy generates `x-request-id` when the client sent none (UUID v4 format).
fn request_id() -> String {
    let mut a = std::collections::hash_map::RandomState::new().build_hasher();
    a.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    let x = a.finish();
    let y = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        x >> 32,
        (x >> 16) & 0xffff,
        x & 0xfff,
        (y >> 48) & 0x3fff | 0x8000,
        y & 0xffff_ffff_ffff
    )
}

/// The upstream request runs as its own task: hyper's client only sends the request (and reads
/// the request body channel) while its response future is polled, and the stream task may be
/// busy awaiting body backpressure at that time.
struct Pending(
    tokio::task::JoinHandle<Result<http::Response<Incoming>, hyper_util::client::legacy::Error>>,
);

impl Drop for Pending {
    fn drop(&mut self) {
        // Dropping the upstream request resets it (Envoy resets the upstream stream).
        self.0.abort();
    }
}

enum Up {
    Idle,
    Waiting(Pending),
    Body(Incoming),
    Done,
}

enum Ev {
    Woken,
    Req(Option<Result<Frame<Bytes>, hyper::Error>>),
    Head(Result<http::Response<Incoming>, hyper_util::client::legacy::Error>),
    /// `Err(None)`: the request task vanished.
    UpFrame(Option<Result<Frame<Bytes>, Option<hyper::Error>>>),
    Timeout,
    ClientGone,
}

struct Driver {
    w: Rc<Worker>,
    gen: Rc<Generation>,
    fm: Rc<RefCell<FilterManager>>,
    shared: Rc<RefCell<StreamShared>>,
    notify: Rc<Notify>,
    route: Option<RouteRt>,
    req_body: Option<Incoming>,
    up: Up,
    up_tx: Option<mpsc::Sender<FrameResult>>,
    up_req_done: bool,
    deadline: Option<tokio::time::Instant>,
    resp_tx: Option<oneshot::Sender<Resp>>,
    down_tx: Option<mpsc::Sender<FrameResult>>,
    done: bool,
    log: Entry,
}

async fn drive(
    w: Rc<Worker>,
    req: http::Request<Incoming>,
    resp_tx: oneshot::Sender<Resp>,
    peer: SocketAddr,
    local: SocketAddr,
) {
    let started = Instant::now();
    let stats = w.process.stats.clone();
    Stats::inc(&stats.downstream_rq_total);
    stats.downstream_rq_active.fetch_add(1, Ordering::Relaxed);
    let gen = w.current();
    let (parts, body) = req.into_parts();
    let mut h = headers::from_request(&parts);
    // The connection manager adds these before any filter runs.
    if h.get("x-request-id").is_none() {
        h.add("x-request-id", &request_id());
    }
    h.replace("x-forwarded-proto", "http");
    let protocol = match parts.version {
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let route = routing::find(&gen.snap.config.routes, &h).cloned();
    let (filters, slots) = w.chain(&gen);
    let limit = gen.snap.config.buffer_limit;
    let mut info = proxy_wasm_host::stream::StreamInfo {
        source_address: peer.to_string(),
        destination_address: local.to_string(),
        protocol: protocol.into(),
        decoder_buffer_limit: limit,
        encoder_buffer_limit: limit,
        ..Default::default()
    };
    if let Some(r) = &route {
        info.route_name = r.name.clone();
        info.cluster_name = r.cluster.clone();
    }
    let shared = Rc::new(RefCell::new(StreamShared {
        slots,
        info,
        ..StreamShared::default()
    }));
    let fm = Rc::new(RefCell::new(FilterManager::new(filters, shared.clone())));
    let notify = Rc::new(Notify::new());
    w.registry.add_stream(&fm, &notify);
    let log = Entry {
        start_time: accesslog::rfc3339(SystemTime::now()),
        method: h.get(":method").unwrap_or("").into(),
        path: h.get(":path").unwrap_or("").into(),
        authority: h.get(":authority").unwrap_or("").into(),
        protocol: protocol.into(),
        request_id: h.get("x-request-id").unwrap_or("").into(),
        user_agent: h.get("user-agent").unwrap_or("").into(),
        downstream_remote_address: peer.to_string(),
        downstream_local_address: local.to_string(),
        ..Entry::default()
    };
    let end = body.is_end_stream();
    let mut d = Driver {
        w: w.clone(),
        gen,
        fm: fm.clone(),
        shared: shared.clone(),
        notify,
        route,
        req_body: (!end).then_some(body),
        up: Up::Idle,
        up_tx: None,
        up_req_done: false,
        deadline: None,
        resp_tx: Some(resp_tx),
        down_tx: None,
        done: false,
        log,
    };
    fm.borrow_mut().decode_headers(h, end);
    d.run().await;
    // Envoy: on_log for every filter, then the access log line.
    fm.borrow_mut().finish();
    d.write_log(started);
    stats.downstream_rq_active.fetch_sub(1, Ordering::Relaxed);
}

async fn up_event(up: &mut Up) -> Ev {
    match up {
        Up::Waiting(p) => match (&mut p.0).await {
            Ok(r) => Ev::Head(r),
            // The task cannot panic or be aborted while we hold it; treat it as a reset.
            Err(_) => Ev::UpFrame(Some(Err(None))),
        },
        Up::Body(b) => Ev::UpFrame(b.frame().await.map(|r| r.map_err(Some))),
        _ => std::future::pending().await,
    }
}

async fn req_event(b: &mut Option<Incoming>) -> Ev {
    match b {
        Some(b) => Ev::Req(b.frame().await),
        None => std::future::pending().await,
    }
}

async fn sleep_opt(t: Option<tokio::time::Instant>) -> Ev {
    match t {
        Some(t) => {
            tokio::time::sleep_until(t).await;
            Ev::Timeout
        }
        None => std::future::pending().await,
    }
}

/// Resolves when the client is no longer interested in the response.
async fn client_gone(
    resp: &mut Option<oneshot::Sender<Resp>>,
    down: &Option<mpsc::Sender<FrameResult>>,
) -> Ev {
    match (resp, down) {
        (Some(r), _) => r.closed().await,
        (None, Some(d)) => d.closed().await,
        _ => std::future::pending().await,
    }
    Ev::ClientGone
}

impl Driver {
    async fn run(&mut self) {
        loop {
            self.flush().await;
            if self.done {
                return;
            }
            let ev = tokio::select! {
                _ = self.notify.notified() => Ev::Woken,
                ev = req_event(&mut self.req_body) => ev,
                ev = up_event(&mut self.up) => ev,
                ev = sleep_opt(self.deadline) => ev,
                ev = client_gone(&mut self.resp_tx, &self.down_tx) => ev,
            };
            self.handle(ev);
        }
    }

    fn handle(&mut self, ev: Ev) {
        let stats = self.w.process.stats.clone();
        match ev {
            Ev::Woken => {}
            Ev::Req(Some(Ok(frame))) => {
                let end = self.req_body.as_ref().is_none_or(|b| b.is_end_stream());
                match frame.into_data() {
                    Ok(data) => {
                        self.log.bytes_received += data.len() as u64;
                        if end {
                            self.req_body = None;
                        }
                        self.fm.borrow_mut().decode_data(data.to_vec(), end);
                    }
                    Err(frame) => {
                        self.req_body = None;
                        if let Ok(t) = frame.into_trailers() {
                            self.fm.borrow_mut().decode_trailers(headers::from_http(&t));
                        }
                    }
                }
            }
            Ev::Req(None) => {
                self.req_body = None;
                self.fm.borrow_mut().decode_data(Vec::new(), true);
            }
            Ev::Req(Some(Err(_))) => {
                // Downstream reset while sending the body: nothing left to answer.
                self.req_body = None;
                self.abort("downstream_remote_disconnect");
            }
            Ev::Head(Ok(resp)) => {
                let (parts, body) = resp.into_parts();
                let end = body.is_end_stream();
                self.up = if end { Up::Done } else { Up::Body(body) };
                if end {
                    self.deadline = None;
                }
                self.fm
                    .borrow_mut()
                    .encode_headers(headers::from_response(&parts), end);
            }
            Ev::Head(Err(e)) => {
                let f = Failure::classify(&e);
                if matches!(f, Failure::ConnectionFailure | Failure::ConnectionTimeout) {
                    Stats::inc(&stats.upstream_cx_connect_fail);
                } else {
                    Stats::inc(&stats.upstream_rq_reset);
                }
                self.cancel_upstream();
                self.fm.borrow_mut().send_router_local_reply(
                    503,
                    f.body().into_bytes(),
                    &f.details(),
                );
            }
            Ev::UpFrame(Some(Ok(frame))) => {
                let end = matches!(&self.up, Up::Body(b) if b.is_end_stream());
                match frame.into_data() {
                    Ok(data) => {
                        if end {
                            self.up = Up::Done;
                            self.deadline = None;
                        }
                        self.fm.borrow_mut().encode_data(data.to_vec(), end);
                    }
                    Err(frame) => {
                        self.up = Up::Done;
                        self.deadline = None;
                        if let Ok(t) = frame.into_trailers() {
                            self.fm.borrow_mut().encode_trailers(headers::from_http(&t));
                        }
                    }
                }
            }
            Ev::UpFrame(None) => {
                self.up = Up::Done;
                self.deadline = None;
                self.fm.borrow_mut().encode_data(Vec::new(), true);
            }
            Ev::UpFrame(Some(Err(_))) => {
                Stats::inc(&stats.upstream_rq_reset);
                self.cancel_upstream();
                self.upstream_failed_after_headers(
                    "upstream_reset_after_response_started{connection_termination}",
                );
            }
            Ev::Timeout => {
                Stats::inc(&stats.upstream_rq_timeout);
                self.cancel_upstream();
                self.upstream_failed_after_headers("upstream_response_timeout");
            }
            Ev::ClientGone => self.abort("downstream_remote_disconnect"),
        }
    }

    /// A failure once the upstream answered or timed out: a 504/503 local reply while the
    /// client has not seen response headers, a reset otherwise.
    fn upstream_failed_after_headers(&mut self, details: &str) {
        if self.resp_tx.is_some() {
            let (code, body) = if details == "upstream_response_timeout" {
                (504, "upstream request timeout")
            } else {
                (503, "upstream connect error or disconnect/reset before headers. reset reason: connection termination")
            };
            self.fm
                .borrow_mut()
                .send_router_local_reply(code, body.as_bytes().to_vec(), details);
        } else {
            self.shared.borrow_mut().info.response_code_details = Some(details.into());
            self.abort(details);
        }
    }

    fn cancel_upstream(&mut self) {
        self.up = Up::Done;
        self.up_tx = None;
        self.deadline = None;
    }

    /// Resets the downstream stream (hyper: RST_STREAM on HTTP/2, connection close on HTTP/1).
    fn abort(&mut self, details: &str) {
        {
            let mut s = self.shared.borrow_mut();
            if s.info.response_code_details.is_none() {
                s.info.response_code_details = Some(details.into());
            }
        }
        self.cancel_upstream();
        if let Some(tx) = self.resp_tx.take() {
            let _ = tx.send(Err(io::Error::other(details.to_string())));
        }
        if let Some(tx) = self.down_tx.take() {
            let _ = tx.try_send(Err(io::Error::other(details.to_string())));
        }
        self.done = true;
    }

    /// Forwards what left the filter chain in either direction.
    async fn flush(&mut self) {
        if self.done {
            return;
        }
        if matches!(self.up, Up::Idle) {
            let h = self.fm.borrow_mut().upstream.headers.take();
            if let Some(h) = h {
                self.start_upstream(h);
            }
        }
        self.flush_upstream().await;
        self.flush_downstream().await;
        if self.fm.borrow().reset.is_some() && !self.done {
            self.abort("wasm_fail_stream");
        }
    }

    /// Router `decodeHeaders`: pick the route (again, if the cache was cleared) and the cluster,
    /// and send the request.
    fn start_upstream(&mut self, mut h: HeaderMap) {
        // The host counts clears: header edits only while `clear_route_cache` is on, and every
        // explicit `proxy_clear_route_cache`.
        let cleared = self.shared.borrow().info.route_cache_clears > 0;
        if cleared {
            self.route = routing::find(&self.gen.snap.config.routes, &h).cloned();
            let mut s = self.shared.borrow_mut();
            s.info.route_name = self
                .route
                .as_ref()
                .map(|r| r.name.clone())
                .unwrap_or_default();
            s.info.cluster_name = self
                .route
                .as_ref()
                .map(|r| r.cluster.clone())
                .unwrap_or_default();
        }
        let stats = self.w.process.stats.clone();
        let Some(route) = self.route.clone() else {
            Stats::inc(&stats.route_not_found);
            self.up = Up::Done;
            self.fm
                .borrow_mut()
                .send_router_local_reply(404, Vec::new(), "route_not_found");
            return;
        };
        let Some(client) = self.gen.clients.get(&route.cluster).cloned() else {
            // Validation makes routes point at known clusters; keep Envoy's answer anyway.
            self.up = Up::Done;
            self.fm
                .borrow_mut()
                .send_router_local_reply(503, Vec::new(), "cluster_not_found");
            return;
        };
        let body = {
            let fm = self.fm.borrow();
            if fm.upstream.end_stream
                && fm.upstream.frames.is_empty()
                && fm.upstream.trailers.is_none()
            {
                ChanBody::empty()
            } else {
                let (tx, body) = ChanBody::channel();
                self.up_tx = Some(tx);
                body
            }
        };
        for header in &route.request_headers_to_add {
            header.apply(&mut h);
        }
        Stats::inc(&stats.upstream_rq_total);
        match client.send(&h, body) {
            Ok((fut, host)) => {
                self.log.upstream_host = host;
                self.up = Up::Waiting(Pending(tokio::spawn(fut)));
            }
            Err(e) => {
                self.up = Up::Done;
                self.up_tx = None;
                let f = Failure::ConnectionFailure;
                eprintln!(
                    "{}",
                    serde_json::json!({"level": "warn", "msg": "cannot build upstream request", "error": e})
                );
                self.fm.borrow_mut().send_router_local_reply(
                    503,
                    f.body().into_bytes(),
                    &f.details(),
                );
            }
        }
    }

    async fn flush_upstream(&mut self) {
        let (frames, trailers, end) = {
            let mut fm = self.fm.borrow_mut();
            (
                std::mem::take(&mut fm.upstream.frames),
                fm.upstream.trailers.take(),
                fm.upstream.end_stream,
            )
        };
        let started = !matches!(self.up, Up::Idle);
        if let Some(tx) = &self.up_tx {
            for (data, _) in frames {
                if !data.is_empty() && tx.send(Ok(Frame::data(Bytes::from(data)))).await.is_err() {
                    break;
                }
            }
            if let Some(t) = trailers {
                let _ = tx.send(Ok(Frame::trailers(headers::to_http(&t)))).await;
            }
        }
        if end && started && !self.up_req_done {
            self.up_req_done = true;
            self.up_tx = None;
            // Envoy starts the route timeout when the request is complete (`onRequestComplete`).
            if matches!(self.up, Up::Waiting(_) | Up::Body(_)) {
                if let Some(t) = self.route.as_ref().and_then(|r| r.timeout) {
                    self.deadline = Some(tokio::time::Instant::now() + t);
                }
            }
        }
    }

    async fn flush_downstream(&mut self) {
        if self.resp_tx.is_some() {
            let head = {
                let mut fm = self.fm.borrow_mut();
                fm.downstream.headers.take().map(|h| {
                    let bodyless = fm.downstream.end_stream
                        && fm.downstream.frames.iter().all(|(d, _)| d.is_empty())
                        && fm.downstream.trailers.is_none();
                    (h, bodyless)
                })
            };
            if let Some((h, bodyless)) = head {
                let status = h
                    .get(":status")
                    .and_then(|s| s.parse::<u16>().ok())
                    .and_then(|s| http::StatusCode::from_u16(s).ok())
                    .unwrap_or(http::StatusCode::BAD_GATEWAY);
                self.log.response_code = u32::from(status.as_u16());
                self.w.process.stats.record_code(u32::from(status.as_u16()));
                let body = if bodyless {
                    self.done = true;
                    ChanBody::empty()
                } else {
                    let (tx, body) = ChanBody::channel();
                    self.down_tx = Some(tx);
                    body
                };
                let mut resp = http::Response::new(body);
                *resp.status_mut() = status;
                *resp.headers_mut() = headers::to_http(&h);
                if let Some(tx) = self.resp_tx.take() {
                    if tx.send(Ok(resp)).is_err() {
                        self.abort("downstream_remote_disconnect");
                        return;
                    }
                }
            }
        }
        let (frames, trailers, end) = {
            let mut fm = self.fm.borrow_mut();
            (
                std::mem::take(&mut fm.downstream.frames),
                fm.downstream.trailers.take(),
                fm.downstream.end_stream,
            )
        };
        if let Some(tx) = &self.down_tx {
            for (data, _) in frames {
                if data.is_empty() {
                    continue;
                }
                self.log.bytes_sent += data.len() as u64;
                if tx.send(Ok(Frame::data(Bytes::from(data)))).await.is_err() {
                    self.abort("downstream_remote_disconnect");
                    return;
                }
            }
            if let Some(t) = trailers {
                let _ = tx.send(Ok(Frame::trailers(headers::to_http(&t)))).await;
            }
            if end {
                self.down_tx = None;
                self.done = true;
            }
        }
    }

    fn write_log(&mut self, started: Instant) {
        let s = self.shared.borrow();
        let mut e = std::mem::take(&mut self.log);
        // The code the client saw (0 when the stream was reset before response headers).
        e.response_code_details = s.info.response_code_details.clone().unwrap_or_default();
        e.route_name = s.info.route_name.clone();
        e.upstream_cluster = s.info.cluster_name.clone();
        e.duration_ms = started.elapsed().as_millis() as u64;
        e.ai_log = s
            .info
            .filter_state
            .get("wasm.ai_log")
            .map(|v| accesslog::ai_log_text(v));
        self.w.process.access_log.write(&e);
    }
}

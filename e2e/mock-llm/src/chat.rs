//! The chat-completion handler: validation, fault selection, latency, and the normal, streamed or
//! deliberately broken answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::{HeaderMap, Response, StatusCode};
use serde_json::Value;
use tokio::time::{sleep, sleep_until, Instant};

use crate::answer::{self, Answer, Choice};
use crate::body::{self, full, Aborted, MockBody};
use crate::config::parse_tps;
use crate::error::ApiError;
use crate::fault::{FaultAction, FaultSpec};
use crate::request;
use crate::response::{completion_json, stream_events, Latency, Meta, StreamEvent};
use crate::routes::{error_response, json_response};
use crate::state::State;

/// Request headers understood by the mock.
pub const FAULT_HEADER: &str = "x-mock-fault";
pub const RETRY_AFTER_HEADER: &str = "x-mock-retry-after";
pub const TTFT_HEADER: &str = "x-mock-ttft-ms";
pub const TPS_HEADER: &str = "x-mock-tps";
pub const REPLY_HEADER: &str = "x-mock-reply";

/// Default `Retry-After` of a 429 fault, like providers that always send one.
const DEFAULT_429_RETRY_AFTER: &str = "1";

#[derive(Debug, Clone, PartialEq)]
pub enum Flavor {
    OpenAi,
    /// Azure OpenAI: the model is the deployment in the path unless the body names one.
    Azure {
        deployment: String,
    },
    /// DashScope (Qwen) compatible mode: OpenAI wire format under `/compatible-mode/v1`.
    DashScope,
}

pub async fn handle(
    state: &State,
    flavor: Flavor,
    headers: &HeaderMap,
    body: &Bytes,
    seq: u64,
) -> Result<Response<MockBody>, Aborted> {
    let reject = |err: ApiError| {
        state.count_kind("bad_request");
        Ok(error_response(&err))
    };
    let default_model = match &flavor {
        Flavor::Azure { deployment } => Some(deployment.as_str()),
        _ => None,
    };
    let req = match request::parse(body, default_model) {
        Ok(req) => req,
        Err(e) => return reject(e),
    };
    if state.config.strict_models && !state.config.models.contains(&req.model) {
        state.count_kind("not_found");
        let e = ApiError::not_found(format!("The model `{}` does not exist.", req.model))
            .with_code("model_not_found");
        return Ok(error_response(&ApiError {
            param: Some("model".into()),
            ..e
        }));
    }
    for name in [
        FAULT_HEADER,
        RETRY_AFTER_HEADER,
        TTFT_HEADER,
        TPS_HEADER,
        REPLY_HEADER,
    ] {
        if headers.get(name).is_some_and(|v| v.to_str().is_err()) {
            return reject(ApiError::invalid_request(
                format!("{name} must be visible ASCII"),
                None,
            ));
        }
    }
    let latency = match request_latency(state, headers) {
        Ok(l) => l,
        Err(e) => return reject(e),
    };
    // Validation is done before drawing from the fail sequence, so a 400 never consumes a draw.
    let header = |name: &str| header_str(headers, name);
    let fault = match header(FAULT_HEADER).map(str::parse::<FaultSpec>) {
        Some(Ok(spec)) => Some(spec),
        Some(Err(e)) => {
            return reject(ApiError::invalid_request(
                format!("{FAULT_HEADER}: {e}"),
                None,
            ))
        }
        None => state.draw_instance_fault(),
    }
    .filter(|f| !f.is_noop());
    state.count_model(&req.model);
    if let Some(delay) = fault.as_ref().and_then(|f| f.delay) {
        sleep(delay).await;
    }
    let action = fault.as_ref().and_then(|f| f.action.clone());
    if let Some(f) = &fault {
        state.count_kind(&f.kind());
    }
    let answer = answer::build(&req, header(REPLY_HEADER));
    let meta = Meta {
        id: format!("chatcmpl-mock{seq:06}{}", answer.hash),
        created: unix_now(),
        model: req.model.clone(),
    };
    match action {
        Some(FaultAction::Status(code)) => {
            let mut r = error_response(&ApiError::for_status(code));
            let retry_after = header(RETRY_AFTER_HEADER)
                .map(str::to_string)
                .or_else(|| fault.as_ref().and_then(|f| f.retry_after.clone()))
                .or_else(|| (code == 429).then(|| DEFAULT_429_RETRY_AFTER.to_string()));
            if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                r.headers_mut().insert(RETRY_AFTER, v);
            }
            return Ok(r);
        }
        Some(FaultAction::ResetBeforeHeaders) => return Err(Aborted("reset-before-headers fault")),
        Some(FaultAction::InvalidJson) => return Ok(invalid_json(&meta, req.stream)),
        _ => {}
    }
    if fault.is_none() {
        state.count_kind(if req.stream { "stream" } else { "non_stream" });
    }
    if answer
        .choices
        .iter()
        .any(|c| matches!(c, Choice::ToolCall { .. }))
    {
        state.count_kind("tool_calls");
    }
    if req.stream {
        let mut events = stream_events(&meta, &answer, req.include_usage, latency);
        let tail = match action {
            Some(FaultAction::ResetMidStream { after }) => {
                events.truncate(after.min(events.len() - 1));
                Tail::Abort
            }
            Some(FaultAction::ErrorEvent { after }) => {
                let at = events
                    .get(after.min(events.len() - 1))
                    .map_or(Duration::ZERO, |e| e.at);
                events.truncate(after.min(events.len() - 1));
                events.push(StreamEvent {
                    at,
                    data: error_event().to_string(),
                });
                Tail::End
            }
            _ => Tail::End,
        };
        Ok(stream_response(events, tail))
    } else {
        non_stream_response(&meta, &answer, latency, action).await
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn request_latency(state: &State, headers: &HeaderMap) -> Result<Latency, ApiError> {
    let ttft = match header_str(headers, TTFT_HEADER) {
        None => state.config.ttft,
        Some(v) => Duration::from_millis(v.trim().parse().map_err(|_| {
            ApiError::invalid_request(format!("{TTFT_HEADER} must be milliseconds"), None)
        })?),
    };
    let tps = match header_str(headers, TPS_HEADER) {
        None => state.config.tps,
        Some(v) => parse_tps(v).ok_or_else(|| {
            ApiError::invalid_request(
                format!("{TPS_HEADER} must be 0 or a rate in 0.001..=1e9"),
                None,
            )
        })?,
    };
    Ok(Latency::from_tps(ttft, tps))
}

enum Tail {
    End,
    Abort,
}

fn stream_response(events: Vec<StreamEvent>, tail: Tail) -> Response<MockBody> {
    let (tx, body) = body::channel();
    let start = Instant::now();
    tokio::spawn(async move {
        for event in events {
            sleep_until(start + event.at).await;
            if tx.send(Ok(Bytes::from(event.frame()))).await.is_err() {
                return;
            }
        }
        if let Tail::Abort = tail {
            abort_after_flush(tx).await;
        }
    });
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn non_stream_response(
    meta: &Meta,
    answer: &Answer,
    latency: Latency,
    action: Option<FaultAction>,
) -> Result<Response<MockBody>, Aborted> {
    // A non-streamed answer is ready when its last token would have been streamed.
    sleep(latency.tick_at(answer.max_pieces().saturating_sub(1))).await;
    let json = completion_json(meta, answer);
    match action {
        Some(FaultAction::ErrorEvent { .. }) => Ok(json_response(StatusCode::OK, &error_event())),
        Some(FaultAction::ResetMidStream { .. }) => {
            let text = json.to_string();
            let (tx, body) = body::channel();
            let half = Bytes::from(text.as_bytes()[..text.len() / 2].to_vec());
            tokio::spawn(async move {
                if tx.send(Ok(half)).await.is_ok() {
                    abort_after_flush(tx).await;
                }
            });
            let mut r = Response::new(body);
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
            Ok(r)
        }
        _ => Ok(json_response(StatusCode::OK, &json)),
    }
}

/// How long the sent data gets to reach the socket before the abort. hyper drops frames it has
/// buffered but not yet written when a body errors, so an immediate abort would hide the data
/// that a "reset after N chunks" fault promises to deliver.
const FLUSH_GRACE: Duration = Duration::from_millis(30);

async fn abort_after_flush(tx: tokio::sync::mpsc::Sender<Result<Bytes, Aborted>>) {
    while tx.capacity() < tx.max_capacity() && !tx.is_closed() {
        sleep(Duration::from_millis(2)).await;
    }
    sleep(FLUSH_GRACE).await;
    let _ = tx.send(Err(Aborted("reset-mid-stream fault"))).await;
}

/// The error event OpenAI sends inside a 200 stream when generation fails midway.
fn error_event() -> Value {
    ApiError {
        status: 500,
        message: "The server had an error while processing your request (mock error event).".into(),
        kind: "server_error",
        param: None,
        code: Some("mock_error_event".into()),
    }
    .body()
}

fn invalid_json(meta: &Meta, stream: bool) -> Response<MockBody> {
    let mut r = if stream {
        let broken = format!(
            "data: {{\"id\":\"{}\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"trunc\n\ndata: [DONE]\n\n",
            meta.id
        );
        let mut r = Response::new(full(broken));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        r
    } else {
        let broken = format!(
            "{{\"id\":\"{}\",\"object\":\"chat.completion\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"trunc",
            meta.id
        );
        let mut r = Response::new(full(broken));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    };
    *r.status_mut() = StatusCode::OK;
    r
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

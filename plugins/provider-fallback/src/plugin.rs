//! Proxy-wasm glue.
//!
//! Request: if the primary's breaker is open, hold the request, buffer its body and go straight
//! to the first admitted fallback provider by callout (nothing is sent upstream); otherwise let
//! the request stream upstream and keep a bounded copy of the body.
//!
//! Response from the primary. Envoy turns a response-header `StopIteration` into
//! `StopAllIterationAndWatermark` (no body callbacks until resumed), so there are two cases:
//! * a failure visible in the headers (status, gateway 503/504 in `response.code_details`):
//!   hold the headers (StopAll) and call the next provider; its answer goes out with
//!   `send_local_response`, which Envoy sends straight to the client because the upstream's
//!   headers never left (`sendDirectLocalReply`); with nothing left to try, resume the held
//!   error (as ai-proxy's `retryOnFailure` does);
//! * a 200 whose body decides (JSON error object, first SSE event is an error, empty stream):
//!   the headers go on (without Content-Length), the body is buffered until judged; on a
//!   failure the buffered body is replaced by the next provider's answer (re-chunked for SSE)
//!   and the response resumed (as ai-security-guard replaces answers); with no body byte
//!   buffered yet (a stream past `firstByteTimeout` after its headers) the answer is injected
//!   with end of stream instead (Higress `inject_encoded_data_to_filter_chain`).
//!
//! `primary.firstByteTimeout` is checked by a root tick timer; it acts for the stream with the
//! stream made the effective context, and the callouts it starts answer on the root, which
//! hands them to the stream's exchange (`Timers`).
//!
//! Once stream bytes went out, a failure can no longer be hidden: a stream that ends without
//! completing gets an OpenAI error event before its end, and counts against the provider.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use ai_proto::error::OpenAiError;
use higress_sdk::host::host;
use higress_sdk::hostcalls::{self, Metric};
use higress_sdk::types::BufferType;
use higress_sdk::{
    ai_log, properties, DataAction, HeaderAction, HttpCallError, HttpPlugin, HttpResponse, Log,
    Plugin, RuleMatcher,
};
use serde_json::{json, Map, Value};

use crate::breaker::{Admission, Transition};
use crate::chain::Chain;
use crate::classify::{self, Failure};
use crate::config::{Config, Provider};
use crate::select::{self, Rng};
use crate::watch::{First, StreamWatch};
use crate::{rechunk, rewrite, store};

const LOG: Log = Log::new("provider-fallback");

/// How often the root checks first-byte deadlines (only when a rule sets one).
const FIRST_BYTE_TICK_MS: u32 = 20;

#[derive(Default)]
pub struct ProviderFallback {
    requests: Cell<u64>,
    timers: Rc<Timers>,
}

impl Plugin for ProviderFallback {
    const NAME: &'static str = "provider-fallback";
    type Config = Config;
    type Http = FallbackHttp;

    fn configure(&self, rules: &RuleMatcher<Config>) -> bool {
        let watches_first_byte = rules
            .global()
            .into_iter()
            .chain(rules.rules().iter().map(|r| &r.config))
            .any(|c| c.primary.first_byte_timeout > 0);
        if watches_first_byte {
            if let Err(e) = hostcalls::set_tick_period_milliseconds(FIRST_BYTE_TICK_MS) {
                LOG.error(format_args!("cannot start the first-byte timer: {e}"));
                return false;
            }
        }
        true
    }

    fn create_http(&self, config: Rc<Config>, context_id: u32) -> FallbackHttp {
        let seq = self.requests.get();
        self.requests.set(seq.wrapping_add(1));
        FallbackHttp {
            exchange: Rc::new(RefCell::new(Exchange {
                config,
                seq,
                context_id,
                active: false,
                bypass: false,
                primary: String::new(),
                request_id: None,
                body: Vec::new(),
                body_kept: true,
                request: None,
                wants_stream: false,
                include_usage: false,
                chain: None,
                response: Response::Waiting,
                pending: None,
                first_byte_deadline: None,
                late_answer: false,
                concluded: false,
            })),
            timers: self.timers.clone(),
            watched: false,
        }
    }

    /// First-byte deadlines: runs on the root context, acting for each expired stream with it
    /// made the effective context (so its callouts answer here, see `on_http_call_response`).
    fn on_tick(&self) {
        let now = now_ms();
        let due: Vec<Rc<RefCell<Exchange>>> = {
            let mut streams = self.timers.streams.borrow_mut();
            let mut due = Vec::new();
            streams.retain(|w| match w.upgrade() {
                Some(ex) if ex.borrow().first_byte_due(now) => {
                    due.push(ex);
                    false
                }
                Some(ex) => ex.borrow().first_byte_deadline.is_some(),
                None => false,
            });
            due
        };
        for ex in due {
            let ctx = ex.borrow().context_id;
            if host().set_effective_context(ctx).is_err() {
                continue;
            }
            ex.borrow_mut().first_byte_timeout();
            self.adopt_callout(&ex);
        }
    }

    /// Answers of callouts started by `on_tick` (they belong to the root context).
    fn on_http_call_response(&self, token: u32, response: Result<HttpResponse, HttpCallError>) {
        let ex = {
            let mut callouts = self.timers.callouts.borrow_mut();
            let Some(i) = callouts.iter().position(|(t, _)| *t == token) else {
                return;
            };
            callouts.swap_remove(i).1.upgrade()
        };
        let Some(ex) = ex else { return };
        let ctx = ex.borrow().context_id;
        if host().set_effective_context(ctx).is_err() {
            return;
        }
        ex.borrow_mut().on_http_call_response(token, response);
        self.adopt_callout(&ex);
    }
}

impl ProviderFallback {
    /// A callout the exchange just started from the root context answers on the root.
    fn adopt_callout(&self, ex: &Rc<RefCell<Exchange>>) {
        if let Some((token, _)) = ex.borrow().pending {
            self.timers
                .callouts
                .borrow_mut()
                .push((token, Rc::downgrade(ex)));
        }
    }
}

/// Streams with a first-byte deadline, and the callouts their timeouts started, shared between
/// the root context (timer, callout answers) and the streams.
#[derive(Default)]
struct Timers {
    streams: RefCell<Vec<Weak<RefCell<Exchange>>>>,
    callouts: RefCell<Vec<(u32, Weak<RefCell<Exchange>>)>>,
}

/// The SDK's per-request object: the exchange, shared with the root's first-byte timer.
pub struct FallbackHttp {
    exchange: Rc<RefCell<Exchange>>,
    timers: Rc<Timers>,
    watched: bool,
}

impl FallbackHttp {
    /// Once the request went upstream, let the timer watch for the primary's first byte.
    fn watch_first_byte(&mut self) {
        if !self.watched && self.exchange.borrow().first_byte_deadline.is_some() {
            self.watched = true;
            self.timers
                .streams
                .borrow_mut()
                .push(Rc::downgrade(&self.exchange));
        }
    }
}

impl HttpPlugin for FallbackHttp {
    fn on_request_headers(&mut self, end_of_stream: bool) -> HeaderAction {
        self.exchange.borrow_mut().on_request_headers(end_of_stream)
    }

    fn buffer_request_body(&self) -> bool {
        self.exchange.borrow().buffer_request_body()
    }

    fn request_body_limit(&self) -> Option<u32> {
        self.exchange.borrow().request_body_limit()
    }

    fn on_request_body_complete(&mut self, body: &[u8]) -> DataAction {
        let action = self.exchange.borrow_mut().on_request_body_complete(body);
        self.watch_first_byte();
        action
    }

    fn on_request_body(&mut self, body_size: usize, end_of_stream: bool) -> DataAction {
        let action = self
            .exchange
            .borrow_mut()
            .on_request_body(body_size, end_of_stream);
        self.watch_first_byte();
        action
    }

    fn on_response_headers(&mut self, end_of_stream: bool) -> HeaderAction {
        self.exchange
            .borrow_mut()
            .on_response_headers(end_of_stream)
    }

    fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> DataAction {
        self.exchange
            .borrow_mut()
            .on_response_body(body_size, end_of_stream)
    }

    fn on_http_call_response(&mut self, token: u32, response: Result<HttpResponse, HttpCallError>) {
        self.exchange
            .borrow_mut()
            .on_http_call_response(token, response)
    }

    fn on_log(&mut self) {
        self.exchange.borrow_mut().on_log()
    }
}

/// Where the response stands.
enum Response {
    Waiting,
    /// The primary failed in its headers; they are held (StopAll) while callouts run.
    HeldHeaders,
    /// The primary missed its first-byte deadline; a fallback runs, and headers that still come
    /// are held like `HeldHeaders`.
    Abandoned,
    /// A 200 JSON answer: headers went on, the body is buffered until judged.
    JudgingJson,
    /// A 200 stream: headers went on, the body is buffered until its first data event;
    /// `fed` bytes of the buffer were watched.
    JudgingSse {
        watch: Box<StreamWatch>,
        fed: usize,
    },
    /// A 200 body turned out to be a failure: kept buffered while callouts run, then replaced
    /// (as SSE when the headers said `text/event-stream`). `buffered`: some of it is in the
    /// buffer; if not (a stream that sent headers only), the answer is injected instead.
    Replacing {
        sse: bool,
        buffered: bool,
    },
    /// The body was replaced and resumed: later upstream bytes are dropped.
    Replaced,
    /// The answer was injected with end of stream: later upstream bytes are dropped and stopped.
    Injected,
    /// Released to the client; watched for a failure after the first byte.
    Streaming(Box<StreamWatch>),
    Finished,
}

pub struct Exchange {
    config: Rc<Config>,
    seq: u64,
    context_id: u32,
    /// This request takes part (a POST with a body).
    active: bool,
    /// The primary was skipped (breaker open): the request is held, never sent upstream.
    bypass: bool,
    primary: String,
    request_id: Option<String>,
    body: Vec<u8>,
    /// False once the body outgrew `maxRequestBodyBytes` (then no fallback is possible).
    body_kept: bool,
    request: Option<Map<String, Value>>,
    wants_stream: bool,
    include_usage: bool,
    chain: Option<Chain>,
    response: Response,
    /// The callout in flight: token and flat provider index.
    pending: Option<(u32, usize)>,
    /// When the primary must have sent its first byte (`primary.firstByteTimeout`).
    first_byte_deadline: Option<u64>,
    /// The primary answered 2xx after its first-byte deadline (held; used if all else fails).
    late_answer: bool,
    concluded: bool,
}

fn now_ms() -> u64 {
    hostcalls::get_current_time_nanoseconds().unwrap_or(0) / 1_000_000
}

fn count(name: &str) {
    if let Err(e) = Metric::counter(name).and_then(|m| m.increment(1)) {
        LOG.debug(format_args!("metric {name}: {e}"));
    }
}

fn report_transition(provider: &str, t: Option<Transition>) {
    if let Some(t) = t {
        LOG.info(format_args!(
            "breaker {provider}: {} -> {}",
            t.from.as_str(),
            t.to.as_str()
        ));
        count(&format!(
            "provider_fallback.breaker.{provider}.{}",
            t.to.as_str()
        ));
    }
}

/// The headers saying who answered and after how many attempts.
fn served_headers<'a>(
    config: &'a Config,
    provider: &'a str,
    attempts: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut h = Vec::new();
    if !config.provider_header.is_empty() {
        h.push((config.provider_header.as_str(), provider));
    }
    if !config.attempts_header.is_empty() {
        h.push((config.attempts_header.as_str(), attempts));
    }
    h
}

fn header_u16(name: &str) -> Option<u16> {
    hostcalls::get_response_header(name)
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok())
}

impl Exchange {
    fn provider(&self, idx: usize) -> Option<&Provider> {
        self.config.providers().nth(idx)
    }

    /// A fallback needs the whole body as JSON and somewhere to send it.
    fn can_resend(&self) -> bool {
        self.config.retry_on_failure.enabled
            && self.body_kept
            && self.request.is_some()
            && self.config.providers().next().is_some()
    }

    fn new_chain(&mut self) {
        let mut rng = Rng::new(
            self.seq
                ^ hostcalls::get_current_time_nanoseconds().unwrap_or(0)
                ^ (u64::from(self.context_id) << 32),
        );
        let r = &self.config.retry_on_failure;
        self.chain = Some(Chain::new(
            now_ms(),
            r.retry_timeout,
            self.config.max_attempts(),
            r.retry_on_failure_within,
            select::order(&self.config.provider_groups, &mut rng),
        ));
    }

    fn parse_request(&mut self) {
        if !self.body_kept {
            return;
        }
        if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&self.body) {
            // Only chat completions are resent: other APIs (embeddings, images ...) on the same
            // route would not mean the same thing at a provider's chat endpoint.
            if !o.get("messages").is_some_and(Value::is_array) {
                return;
            }
            self.wants_stream = o.get("stream").and_then(Value::as_bool) == Some(true);
            self.include_usage = o
                .get("stream_options")
                .and_then(|s| s.get("include_usage"))
                .and_then(Value::as_bool)
                == Some(true);
            self.request = Some(o);
        }
    }

    /// Counts a failure of the current attempt against its provider's breaker.
    fn attempt_failed(&mut self, failure: Failure, retry_after: Option<&str>) {
        let r = &self.config.retry_on_failure;
        let retry_after_ms = if r.honor_retry_after {
            classify::retry_after_ms(retry_after, r.max_retry_after)
        } else {
            None
        };
        let Some(chain) = self.chain.as_mut() else {
            return;
        };
        let provider = chain
            .current()
            .map(|a| a.provider.clone())
            .unwrap_or_default();
        LOG.debug(format_args!("{provider} failed: {}", failure.label()));
        count(&format!("provider_fallback.failure.{}", failure.kind()));
        count(&format!("provider_fallback.provider.{provider}.failure"));
        chain.fail(failure);
        let t = store::failure(&provider, now_ms(), retry_after_ms, &self.config.failover);
        report_transition(&provider, t);
    }

    fn attempt_succeeded(&mut self) {
        let Some(provider) = self
            .chain
            .as_ref()
            .and_then(|c| c.current())
            .map(|a| a.provider.clone())
        else {
            return;
        };
        count(&format!("provider_fallback.provider.{provider}.success"));
        let t = store::success(&provider, &self.config.failover);
        report_transition(&provider, t);
    }

    /// Starts the next fallback callout if the chain allows one; false when none was started.
    fn try_next(&mut self) -> bool {
        if !self.can_resend() {
            return false;
        }
        let config = self.config.clone();
        let Some(request) = self.request.as_ref() else {
            return false;
        };
        let Some(chain) = self.chain.as_mut() else {
            return false;
        };
        loop {
            let now = now_ms();
            if !chain.may_retry(now) {
                return false;
            }
            let mut skipped = Vec::new();
            let next = chain.next_provider(|idx| {
                let Some(p) = config.providers().nth(idx) else {
                    return false;
                };
                let (admission, t) = store::admit(&p.name, now, &config.failover);
                report_transition(&p.name, t);
                if admission == Admission::Deny {
                    skipped.push(p.name.clone());
                }
                admission.allowed()
            });
            chain.skipped.extend(skipped);
            let Some(idx) = next else {
                return false;
            };
            let Some(p) = config.providers().nth(idx) else {
                return false;
            };
            let timeout = chain
                .remaining_ms(now)
                .min(u64::from(p.timeout))
                .clamp(1, u64::from(u32::MAX)) as u32;
            chain.begin(&p.name, now);
            count("provider_fallback.attempts");
            let call = rewrite::callout(p, request, self.seq, timeout, self.request_id.as_deref());
            match call.dispatch(&p.cluster_name()) {
                Ok(token) => {
                    self.pending = Some((token, idx));
                    return true;
                }
                Err(e) => {
                    LOG.warn(format_args!("cannot call {}: {e}", p.name));
                    chain.fail(Failure::Reset);
                    count("provider_fallback.failure.reset");
                }
            }
        }
    }

    /// The request went to the primary: its first byte is due within `firstByteTimeout`.
    fn start_first_byte_clock(&mut self) {
        let ttfb = self.config.primary.first_byte_timeout;
        if ttfb > 0 && self.active && !self.bypass && self.can_resend() {
            self.first_byte_deadline = Some(now_ms().saturating_add(u64::from(ttfb)));
        }
    }

    /// Nothing of the answer arrived by the deadline (no headers, or a stream without data).
    fn first_byte_due(&self, now: u64) -> bool {
        self.first_byte_deadline.is_some_and(|d| now >= d) && self.awaiting_first_byte()
    }

    fn awaiting_first_byte(&self) -> bool {
        match &self.response {
            Response::Waiting => true,
            Response::JudgingSse { watch, .. } => watch.first.is_none(),
            _ => false,
        }
    }

    /// The first-byte deadline passed: count it and start the fallback; the primary's answer is
    /// then ignored (held if it still comes). Without a fallback to try, keep waiting for it.
    fn first_byte_timeout(&mut self) {
        self.first_byte_deadline = None;
        if !self.awaiting_first_byte() || !self.can_resend() {
            return;
        }
        let waiting = matches!(self.response, Response::Waiting);
        let fed_any = matches!(self.response, Response::JudgingSse { fed, .. } if fed > 0);
        self.attempt_failed(Failure::FirstByteTimeout, None);
        if self.try_next() {
            self.response = if waiting {
                Response::Abandoned
            } else {
                Response::Replacing {
                    sse: true,
                    buffered: fed_any,
                }
            };
            let _ = properties::set_encoder_buffer_limit(self.config.max_response_body_bytes);
        }
    }

    fn attempts(&self) -> usize {
        self.chain.as_ref().map_or(0, |c| c.attempts.len())
    }

    /// Writes the outcome to `ai_log` once.
    fn conclude(&mut self, served_by: Option<&str>) {
        if self.concluded || !self.active {
            return;
        }
        self.concluded = true;
        let Some(chain) = self.chain.as_ref() else {
            return;
        };
        let reasons = chain.reasons();
        if served_by.is_some_and(|p| p != self.primary) {
            count("provider_fallback.fallback_served");
        }
        if served_by.is_none() {
            count("provider_fallback.exhausted");
        }
        let mut entries = vec![
            ("fallback_attempts", json!(chain.attempts.len())),
            ("fallback_provider", json!(served_by)),
        ];
        if !reasons.is_empty() {
            entries.push(("fallback_reasons", json!(reasons)));
        }
        if let Err(e) = ai_log::write(&entries) {
            LOG.debug(format_args!("cannot write ai_log: {e}"));
        }
    }

    /// Gives the client `body`: replacing a held 200 body, or as a local reply (straight to the
    /// client when upstream headers are held, through the chain when nothing came back yet).
    fn deliver(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        let result = match self.response {
            Response::Replacing { buffered: true, .. } => {
                self.response = Response::Replaced;
                higress_sdk::plugin::replace_response_body(body)
                    .and_then(|()| hostcalls::resume_http_response())
            }
            Response::Replacing {
                buffered: false, ..
            } => {
                // Headers left but no body byte came: nothing to replace, so send it on.
                self.response = Response::Injected;
                hostcalls::inject_encoded_data_to_filter_chain(body, true)
            }
            _ => {
                self.response = Response::Finished;
                hostcalls::send_local_response(u32::from(status), headers, body)
            }
        };
        if let Err(e) = result {
            LOG.error(format_args!("cannot deliver the answer: {e}"));
        }
    }

    /// Whether the client will read SSE: the headers that already left say so, else the request.
    fn client_reads_sse(&self) -> bool {
        match self.response {
            Response::Replacing { sse, .. } => sse,
            _ => self.wants_stream,
        }
    }

    /// Sends a fallback provider's answer to the client.
    fn serve(&mut self, provider: String, response: HttpResponse, answer: Value) {
        let config = self.config.clone();
        let (content_type, body) = if self.client_reads_sse() {
            (
                "text/event-stream",
                rechunk::to_sse(&answer, self.include_usage),
            )
        } else {
            ("application/json", response.body)
        };
        let attempts = self.attempts().to_string();
        let mut headers = vec![("content-type", content_type)];
        headers.extend(served_headers(&config, &provider, &attempts));
        self.deliver(200, &headers, &body);
        self.conclude(Some(&provider));
    }

    /// Every allowed attempt failed: the last provider error, else the primary's held error,
    /// else a 503 naming the reasons.
    fn give_up(&mut self, last: Option<(String, HttpResponse)>) {
        let config = self.config.clone();
        let attempts = self.attempts().to_string();
        let reasons = self.chain.as_ref().map(Chain::reasons).unwrap_or_default();
        LOG.info(format_args!("all attempts failed: {}", reasons.join(", ")));
        let late_answer = self.late_answer && matches!(self.response, Response::HeldHeaders);
        let primary = self.primary.clone();
        self.conclude(late_answer.then_some(primary.as_str()));
        let primary_held = matches!(
            self.response,
            Response::HeldHeaders | Response::Replacing { .. }
        );
        if late_answer || (last.is_none() && primary_held) {
            // The primary's own (late) answer or error is the best one left.
            self.response = Response::Finished;
            if let Err(e) = hostcalls::resume_http_response() {
                LOG.error(format_args!("cannot resume the response: {e}"));
            }
            return;
        }
        match last {
            Some((provider, r)) => {
                let body = if self.client_reads_sse() {
                    OpenAiError::from_body(&r.body)
                        .unwrap_or_else(|_| {
                            OpenAiError::new(
                                format!("provider {provider} failed with status {}", r.status),
                                "server_error",
                            )
                        })
                        .to_sse_event()
                } else {
                    r.body.clone()
                };
                let mut headers: Vec<(&str, &str)> = r
                    .headers
                    .iter()
                    .filter(|(k, _)| {
                        k.eq_ignore_ascii_case("content-type")
                            || k.eq_ignore_ascii_case("retry-after")
                    })
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                headers.extend(served_headers(&config, &provider, &attempts));
                self.deliver(r.status, &headers, &body);
            }
            None => {
                let err = OpenAiError::new(
                    format!("no provider could answer: {}", reasons.join(", ")),
                    "server_error",
                )
                .with_code("all_providers_failed");
                let mut headers = vec![("content-type", "application/json")];
                headers.extend(served_headers(&config, "none", &attempts));
                let body = if self.client_reads_sse() {
                    err.to_sse_event()
                } else {
                    err.to_body()
                };
                self.deliver(503, &headers, &body);
            }
        }
    }

    /// The current attempt of the primary failed before anything reached the client; true when
    /// a fallback callout started (then `holding` is the state to wait in).
    fn primary_failed(
        &mut self,
        failure: Failure,
        retry_after: Option<&str>,
        holding: Response,
    ) -> bool {
        self.attempt_failed(failure, retry_after);
        if self.try_next() {
            self.response = holding;
            if let Err(e) =
                properties::set_encoder_buffer_limit(self.config.max_response_body_bytes)
            {
                LOG.debug(format_args!("cannot raise the response buffer limit: {e}"));
            }
            return true;
        }
        self.response = Response::Finished;
        self.conclude(None);
        false
    }

    /// Feeds a released stream's chunk; an error event after bytes went out counts against the
    /// provider (it reaches the client as it is).
    fn stream_chunk(&mut self, watch: &mut StreamWatch, chunk: &[u8], eos: bool) {
        let had_error = watch.error_seen;
        watch.feed(chunk);
        if eos {
            watch.finish();
        }
        if watch.error_seen && !had_error {
            self.attempt_failed(Failure::MidStream("error_event"), None);
        }
    }

    /// A released stream ended; `size` is where to append to the current body buffer.
    fn stream_end(&mut self, watch: &StreamWatch, size: usize) {
        if !watch.complete && !watch.error_seen && !watch.blind {
            // A clean end without `[DONE]` or a finish_reason would look like a complete answer.
            let event = OpenAiError::new(
                "the provider's stream ended before the answer was complete",
                "server_error",
            )
            .with_code("stream_incomplete")
            .to_sse_event();
            if let Err(e) = hostcalls::set_buffer(BufferType::HttpResponseBody, size, 0, &event) {
                LOG.warn(format_args!("cannot append the error event: {e}"));
            }
            self.attempt_failed(Failure::MidStream("cut"), None);
        } else if !watch.error_seen {
            self.attempt_succeeded();
        }
        self.response = Response::Finished;
        let primary = self.primary.clone();
        self.conclude(Some(&primary));
    }

    /// A judged 200 body is a failure: keep it buffered while the fallback runs.
    fn body_failed(&mut self, failure: Failure, sse: bool) -> DataAction {
        let holding = Response::Replacing {
            sse,
            buffered: true,
        };
        if self.primary_failed(failure, None, holding) {
            DataAction::StopIterationAndBuffer
        } else {
            DataAction::Continue
        }
    }
}

impl HttpPlugin for Exchange {
    fn on_request_headers(&mut self, end_of_stream: bool) -> HeaderAction {
        let method = hostcalls::get_request_header(":method").ok().flatten();
        if end_of_stream || method.as_deref() != Some("POST") {
            return HeaderAction::Continue;
        }
        self.active = true;
        self.request_id = hostcalls::get_request_header("x-request-id").ok().flatten();
        self.primary = self
            .config
            .primary
            .name
            .clone()
            .or_else(|| properties::cluster_name().ok().flatten())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "primary".into());
        self.new_chain();
        let now = now_ms();
        let (admission, t) = store::admit(&self.primary, now, &self.config.failover);
        report_transition(&self.primary, t);
        if admission == Admission::Deny
            && self.config.retry_on_failure.enabled
            && self.config.providers().next().is_some()
        {
            // Held and buffered (see buffer_request_body); the fallback starts with the body.
            self.bypass = true;
            if let Some(c) = self.chain.as_mut() {
                c.skipped.push(self.primary.clone());
            }
            return HeaderAction::Continue;
        }
        if let Some(c) = self.chain.as_mut() {
            c.begin(&self.primary, now);
        }
        count("provider_fallback.attempts");
        HeaderAction::Continue
    }

    fn buffer_request_body(&self) -> bool {
        self.bypass
    }

    fn request_body_limit(&self) -> Option<u32> {
        Some(self.config.max_request_body_bytes)
    }

    fn on_request_body_complete(&mut self, body: &[u8]) -> DataAction {
        self.body = body.to_vec();
        self.parse_request();
        if self.try_next() {
            return DataAction::StopIterationAndBuffer;
        }
        // Nothing else admitted either: the primary is the best left.
        LOG.info("no fallback provider admitted; sending to the primary despite its breaker");
        self.bypass = false;
        let now = now_ms();
        if let Some(c) = self.chain.as_mut() {
            c.skipped.retain(|p| *p != self.primary);
            c.begin(&self.primary, now);
        }
        self.start_first_byte_clock();
        DataAction::Continue
    }

    fn on_request_body(&mut self, body_size: usize, end_of_stream: bool) -> DataAction {
        if !self.active {
            return DataAction::Continue;
        }
        if self.body_kept {
            let limit = self.config.max_request_body_bytes as usize;
            if self.body.len() + body_size > limit {
                self.body_kept = false;
                self.body = Vec::new();
            } else if let Ok(Some(chunk)) = hostcalls::get_request_body(0, body_size) {
                self.body.extend_from_slice(&chunk);
            }
        }
        if end_of_stream {
            self.parse_request();
            self.start_first_byte_clock();
        }
        DataAction::Continue
    }

    fn on_response_headers(&mut self, end_of_stream: bool) -> HeaderAction {
        if matches!(self.response, Response::Abandoned) {
            // Too late: the fallback decides; this answer is only the last resort.
            self.late_answer = (200..300).contains(&header_u16(":status").unwrap_or(0));
            self.response = Response::HeldHeaders;
            return HeaderAction::StopAllIterationAndWatermark;
        }
        if !self.active || self.bypass || !matches!(self.response, Response::Waiting) {
            return HeaderAction::Continue;
        }
        let status = header_u16(":status").unwrap_or(0);
        let details = hostcalls::get_property_string(&["response", "code_details"])
            .ok()
            .flatten();
        let retry_after = hostcalls::get_response_header("retry-after").ok().flatten();
        if let Some(failure) = classify::upstream_headers(
            status,
            details.as_deref(),
            &self.config.retry_on_failure,
            self.config.statuses(),
        ) {
            // Envoy would turn StopIteration into this anyway; say what happens.
            return if self.primary_failed(failure, retry_after.as_deref(), Response::HeldHeaders) {
                HeaderAction::StopAllIterationAndWatermark
            } else {
                HeaderAction::Continue
            };
        }
        if !(200..300).contains(&status) {
            // Neither success nor a configured failure (e.g. the client's own 400).
            self.response = Response::Finished;
            return HeaderAction::Continue;
        }
        let content_type = hostcalls::get_response_header("content-type")
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let r = &self.config.retry_on_failure;
        let sse = content_type.contains("text/event-stream");
        let judge = !end_of_stream
            && self.can_resend()
            && if sse {
                r.on_stream_error_event
            } else {
                r.on_error_body && content_type.contains("json")
            };
        if judge {
            // The body may be replaced by another provider's answer of another length; who
            // answered is then only known after these headers left (see ai_log).
            let _ = hostcalls::set_response_header("content-length", None);
            let _ = properties::set_encoder_buffer_limit(self.config.max_response_body_bytes);
            self.response = if sse {
                Response::JudgingSse {
                    watch: Box::default(),
                    fed: 0,
                }
            } else {
                Response::JudgingJson
            };
            return HeaderAction::Continue;
        }
        let attempts = self.attempts().to_string();
        let primary = self.primary.clone();
        let config = self.config.clone();
        for (k, v) in served_headers(&config, &primary, &attempts) {
            let _ = hostcalls::set_response_header(k, Some(v));
        }
        if sse && !end_of_stream {
            self.response = Response::Streaming(Box::default());
            return HeaderAction::Continue;
        }
        self.attempt_succeeded();
        self.response = Response::Finished;
        self.conclude(Some(&primary));
        HeaderAction::Continue
    }

    fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> DataAction {
        let max = self.config.max_response_body_bytes as usize;
        match std::mem::replace(&mut self.response, Response::Finished) {
            Response::JudgingJson => {
                if !end_of_stream && body_size <= max {
                    self.response = Response::JudgingJson;
                    return DataAction::StopIterationAndBuffer;
                }
                let body = hostcalls::get_response_body(0, body_size)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                if end_of_stream && classify::is_error_body(&body) {
                    return self.body_failed(Failure::ErrorBody, false);
                }
                self.attempt_succeeded();
                let primary = self.primary.clone();
                self.conclude(Some(&primary));
                DataAction::Continue
            }
            Response::JudgingSse { mut watch, fed } => {
                if body_size > fed {
                    if let Ok(Some(chunk)) = hostcalls::get_response_body(fed, body_size - fed) {
                        watch.feed(&chunk);
                    }
                }
                if end_of_stream {
                    watch.finish();
                }
                match watch.first {
                    Some(First::Error) => self.body_failed(Failure::StreamErrorEvent, true),
                    None if end_of_stream => self.body_failed(Failure::EmptyStream, true),
                    None if body_size <= max => {
                        self.response = Response::JudgingSse {
                            watch,
                            fed: body_size,
                        };
                        DataAction::StopIterationAndBuffer
                    }
                    _ => {
                        // An answer started (or too much to hold): release everything so far.
                        if watch.error_seen {
                            self.attempt_failed(Failure::MidStream("error_event"), None);
                        }
                        if end_of_stream {
                            self.stream_end(&watch, body_size);
                        } else {
                            self.response = Response::Streaming(watch);
                        }
                        DataAction::Continue
                    }
                }
            }
            Response::Replacing { sse, .. } => {
                // More of the failed body while the fallback runs: it is replaced whole later.
                self.response = Response::Replacing {
                    sse,
                    buffered: true,
                };
                DataAction::StopIterationAndBuffer
            }
            Response::Injected => {
                self.response = Response::Injected;
                let _ = hostcalls::set_buffer(BufferType::HttpResponseBody, 0, body_size, &[]);
                DataAction::StopIterationNoBuffer
            }
            Response::Replaced => {
                // The failed upstream is still sending: the client already has its answer.
                self.response = Response::Replaced;
                if let Err(e) =
                    hostcalls::set_buffer(BufferType::HttpResponseBody, 0, body_size, &[])
                {
                    LOG.warn(format_args!("cannot drop the failed provider's bytes: {e}"));
                }
                DataAction::Continue
            }
            Response::Streaming(mut watch) => {
                let chunk = hostcalls::get_response_body(0, body_size)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                self.stream_chunk(&mut watch, &chunk, end_of_stream);
                if end_of_stream {
                    self.stream_end(&watch, body_size);
                } else {
                    self.response = Response::Streaming(watch);
                }
                DataAction::Continue
            }
            other => {
                self.response = other;
                DataAction::Continue
            }
        }
    }

    fn on_http_call_response(&mut self, token: u32, result: Result<HttpResponse, HttpCallError>) {
        let Some((expected, idx)) = self.pending else {
            return;
        };
        if expected != token {
            return;
        }
        self.pending = None;
        let Some(name) = self.provider(idx).map(|p| p.name.clone()) else {
            return;
        };
        match classify::callout(
            &result,
            &self.config.retry_on_failure,
            self.config.statuses(),
        ) {
            Ok(answer) => {
                self.attempt_succeeded();
                if let Ok(response) = result {
                    self.serve(name, response, answer);
                }
            }
            Err(failure) => {
                let retry_after = result
                    .as_ref()
                    .ok()
                    .and_then(|r| r.header("retry-after"))
                    .map(str::to_string);
                self.attempt_failed(failure, retry_after.as_deref());
                if self.try_next() {
                    return;
                }
                self.give_up(result.ok().map(|r| (name, r)));
            }
        }
    }

    fn on_log(&mut self) {
        if let Response::Streaming(_) | Response::JudgingSse { .. } = self.response {
            // The stream ended without end_of_stream: reset after bytes went out.
            self.attempt_failed(Failure::MidStream("reset"), None);
            self.response = Response::Finished;
            let primary = self.primary.clone();
            self.conclude(Some(&primary));
        }
        self.conclude(None);
    }
}

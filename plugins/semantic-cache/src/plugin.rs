//! Proxy-Wasm glue: decide bypass on the request headers, run the [`Lookup`] over callouts while
//! the request waits (never longer than `lookupTimeout`: a root tick resumes overdue requests),
//! answer hits locally, and capture/store answers of misses.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use higress_sdk::hostcalls::{self, Metric};
use higress_sdk::{
    ai_log, dispatcher, host, properties, DataAction, HeaderAction, HttpCallError, HttpPlugin,
    HttpResponse, Log, Plugin, RedisError, RespValue, RuleMatcher,
};
use serde_json::json;

use crate::backend::{Call, Reply};
use crate::capture::{Capture, StorePolicy};
use crate::config::Config;
use crate::key::{self, KeySettings};
use crate::lookup::{self, Layer, Lookup, Next};
use crate::replay;

const LOG: Log = Log::new("semantic-cache");
pub const SKIP_HEADER: &str = "x-higress-skip-ai-cache";
pub const STATUS_HEADER: &str = "x-cache-status";
pub const SIMILARITY_HEADER: &str = "x-cache-similarity";
const CONSUMER_HEADER: &str = "x-mse-consumer";

/// State shared by the root context and the requests of one VM.
#[derive(Default)]
pub struct Shared {
    /// Requests waiting for a lookup: context id → deadline (monotonic ns).
    deadlines: RefCell<BTreeMap<u32, u64>>,
    /// Requests resumed by the tick because their budget ran out.
    timed_out: RefCell<BTreeSet<u32>>,
    /// Redis upstreams already initialised (`proxy_redis_init` once per VM and upstream).
    redis_ready: RefCell<BTreeSet<String>>,
    /// Vector-store inserts waiting for the reply to their previous call: token → the rest.
    inserts: RefCell<HashMap<u32, InsertChain>>,
}

/// At most this many insert chains wait at once; more stores are dropped (counted as errors).
const MAX_PENDING_INSERTS: usize = 1024;

/// A vector store's insert calls, sent one at a time on the root context: a later call may
/// depend on an earlier one having completed (create the collection, then upsert).
struct InsertChain {
    config: Rc<Config>,
    /// The call whose reply is awaited.
    sent: Call,
    /// The calls still to send, in order.
    rest: std::vec::IntoIter<Call>,
}

#[derive(Default)]
pub struct SemanticCache {
    shared: Rc<Shared>,
}

fn now_ns() -> u64 {
    hostcalls::get_current_time_nanoseconds().unwrap_or(0)
}

impl Plugin for SemanticCache {
    const NAME: &'static str = "semantic-cache";
    type Config = Config;
    type Http = CacheHttp;

    fn configure(&self, rules: &RuleMatcher<Config>) -> bool {
        let configs = rules
            .global()
            .into_iter()
            .chain(rules.rules().iter().map(|r| &r.config));
        let mut tick_ms = u32::MAX;
        for c in configs {
            if let Some(exact) = c.built().and_then(|b| b.exact.as_ref()) {
                self.shared.init_redis(&exact.client);
            }
            // The budget is enforced within one tick: a tenth of it, at most 50 ms.
            tick_ms = tick_ms.min((c.lookup_timeout_ms() / 10).clamp(1, 50));
        }
        if tick_ms != u32::MAX {
            if let Err(e) = hostcalls::set_tick_period_milliseconds(tick_ms) {
                LOG.warn(format_args!("no lookup budget timer: {e}"));
            }
        }
        true
    }

    fn create_http(&self, config: Rc<Config>, context_id: u32) -> CacheHttp {
        CacheHttp {
            config,
            shared: self.shared.clone(),
            context_id,
            status: Status::None,
            scope: String::new(),
            lookup: None,
            pending: None,
            paused: false,
            started_ns: 0,
            deadline_ns: 0,
            capture: None,
        }
    }

    /// Resumes every request whose lookup budget ran out (they go upstream as ERROR, fail-open).
    fn on_tick(&self) {
        let now = now_ns();
        let due: Vec<u32> = self
            .shared
            .deadlines
            .borrow()
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(c, _)| *c)
            .collect();
        for ctx in due {
            self.shared.deadlines.borrow_mut().remove(&ctx);
            self.shared.timed_out.borrow_mut().insert(ctx);
            if host::host().set_effective_context(ctx).is_err() {
                continue;
            }
            self.shared.count("semantic_cache.timeouts", 1);
            if let Err(e) = hostcalls::resume_http_request() {
                LOG.debug(format_args!("cannot resume a timed-out lookup: {e}"));
            }
        }
    }

    fn on_http_call_response(&self, token: u32, response: Result<HttpResponse, HttpCallError>) {
        self.shared.on_insert_reply(token, reply_of_http(response));
    }

    fn on_redis_call_response(&self, token: u32, reply: Result<RespValue, RedisError>) {
        self.shared.on_insert_reply(token, reply_of_redis(reply));
    }
}

impl Shared {
    // Metric handles come from the SDK, which defines each name once per VM.
    fn count(&self, name: &'static str, n: u64) {
        if let Err(e) = Metric::counter(name).and_then(|m| m.increment(n as i64)) {
            LOG.debug(format_args!("metric {name}: {e}"));
        }
    }

    fn record(&self, name: &'static str, value: u64) {
        if let Err(e) = Metric::histogram(name).and_then(|m| m.record(value)) {
            LOG.debug(format_args!("metric {name}: {e}"));
        }
    }

    fn init_redis(&self, client: &higress_sdk::RedisClient) {
        let upstream = client.upstream();
        if self.redis_ready.borrow().contains(&upstream) {
            return;
        }
        match client.init() {
            Ok(()) => {
                self.redis_ready.borrow_mut().insert(upstream);
            }
            Err(e) => LOG.warn(format_args!("redis {upstream} not initialised: {e}")),
        }
    }

    /// Sends the next call of an insert chain (on the root context, so the reply arrives even
    /// after the request ended); `Err` when it could not be sent.
    fn send_insert(
        &self,
        config: Rc<Config>,
        mut rest: std::vec::IntoIter<Call>,
    ) -> Result<(), String> {
        let Some(sent) = rest.next() else {
            self.count("semantic_cache.stores", 1);
            return Ok(());
        };
        if self.inserts.borrow().len() >= MAX_PENDING_INSERTS {
            return Err(format!(
                "{MAX_PENDING_INSERTS} vector inserts already pending"
            ));
        }
        let token = dispatcher::as_root(|| self.dispatch(&sent, None))?;
        let chain = InsertChain { config, sent, rest };
        self.inserts.borrow_mut().insert(token, chain);
        Ok(())
    }

    /// A reply to an insert call: checked by the store; the next call follows only on success.
    fn on_insert_reply(&self, token: u32, reply: Result<Reply, String>) {
        let Some(chain) = self.inserts.borrow_mut().remove(&token) else {
            return;
        };
        let Some(semantic) = chain.config.built().and_then(|b| b.semantic.as_ref()) else {
            return;
        };
        let checked = reply.and_then(|r| {
            semantic
                .store
                .check_insert(&chain.sent, r)
                .map_err(|e| e.to_string())
        });
        if let Err(e) = checked.and_then(|()| self.send_insert(chain.config.clone(), chain.rest)) {
            LOG.warn(format_args!("vector insert failed, entry not stored: {e}"));
            self.count("semantic_cache.store_errors", 1);
        }
    }

    /// Sends a backend call; HTTP timeouts are cut to `budget_ms` when given.
    fn dispatch(&self, call: &Call, budget_ms: Option<u32>) -> Result<u32, String> {
        match call {
            Call::Redis { client, args } => {
                self.init_redis(client);
                client.command(args).map_err(|e| e.to_string())
            }
            Call::Http { cluster, request } => {
                let mut request = request.clone();
                if let Some(b) = budget_ms {
                    request.timeout_ms = match request.timeout_ms {
                        0 => b,
                        t => t.min(b),
                    };
                }
                request.dispatch(cluster).map_err(|e| e.to_string())
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Not handled (no config).
    None,
    Bypass,
    Lookup,
    Hit,
    Miss,
    Error,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Hit => "HIT",
            Status::Miss | Status::Lookup => "MISS",
            Status::Bypass | Status::None => "BYPASS",
            Status::Error => "ERROR",
        }
    }
}

pub struct CacheHttp {
    config: Rc<Config>,
    shared: Rc<Shared>,
    context_id: u32,
    status: Status,
    scope: String,
    lookup: Option<Lookup>,
    /// Token of the call the lookup waits for.
    pending: Option<u32>,
    /// The request is held (a callback must resume it).
    paused: bool,
    started_ns: u64,
    deadline_ns: u64,
    capture: Option<Capture>,
}

fn header(name: &str) -> Option<String> {
    hostcalls::get_request_header(name).ok().flatten()
}

impl CacheHttp {
    fn bypass(&mut self, why: &str) {
        LOG.debug(format_args!("bypass: {why}"));
        self.status = Status::Bypass;
        self.shared.count("semantic_cache.bypasses", 1);
    }

    fn skipped_by_request_headers(&self) -> Option<&'static str> {
        if header(SKIP_HEADER).is_some_and(|v| v.eq_ignore_ascii_case("on")) {
            return Some("x-higress-skip-ai-cache: on");
        }
        if self.config.honor_cache_control {
            let cc = header("cache-control")
                .unwrap_or_default()
                .to_ascii_lowercase();
            if cc.contains("no-cache") || cc.contains("no-store") {
                return Some("client Cache-Control");
            }
        }
        let skip = &self.config.skip;
        if !skip.routes.is_empty() {
            let route = properties::route_name().ok().flatten().unwrap_or_default();
            if skip.routes.contains(&route) {
                return Some("route skipped");
            }
        }
        if !skip.consumers.is_empty() {
            let consumer = header(CONSUMER_HEADER).unwrap_or_default();
            if skip.consumers.contains(&consumer) {
                return Some("consumer skipped");
            }
        }
        let json = header("content-type").is_some_and(|c| c.contains("json"));
        (!json).then_some("not a JSON request")
    }

    fn scope(&self) -> String {
        let scope = &self.config.scope;
        match scope.from.as_str() {
            "header" => format!("header:{}", header(&scope.header).unwrap_or_default()),
            "route" => format!(
                "route:{}",
                properties::route_name().ok().flatten().unwrap_or_default()
            ),
            "global" => "global".into(),
            _ => format!("consumer:{}", header(CONSUMER_HEADER).unwrap_or_default()),
        }
    }

    fn budget_left_ms(&self) -> u32 {
        let left = self.deadline_ns.saturating_sub(now_ns()) / 1_000_000;
        left.clamp(1, u32::MAX as u64) as u32
    }

    /// Acts on the lookup's next step; returns whether the request must stay held.
    fn advance(&mut self, next: Next) -> bool {
        match next {
            Next::Call(call) => match self.shared.dispatch(&call, Some(self.budget_left_ms())) {
                Ok(token) => {
                    self.pending = Some(token);
                    true
                }
                Err(e) => self.failed(&e),
            },
            Next::Hit {
                answer,
                layer,
                similarity,
                backfill,
            } => {
                if let Some(call) = backfill {
                    let _ = self.shared.dispatch(&call, None);
                }
                self.hit(&answer, layer, similarity);
                true
            }
            Next::Miss => {
                self.finish_lookup(Status::Miss);
                false
            }
            Next::Failed(e) => self.failed(&e.to_string()),
        }
    }

    fn finish_lookup(&mut self, status: Status) {
        self.status = status;
        self.pending = None;
        self.shared.deadlines.borrow_mut().remove(&self.context_id);
        let ms = now_ns().saturating_sub(self.started_ns) / 1_000_000;
        self.shared.record("semantic_cache.lookup_ms", ms);
        let name = match status {
            Status::Miss => "semantic_cache.misses",
            Status::Error => "semantic_cache.errors",
            Status::Hit => "semantic_cache.hits",
            _ => return,
        };
        self.shared.count(name, 1);
    }

    /// A backend failed: fail open (forward, status ERROR) or closed (503).
    fn failed(&mut self, why: &str) -> bool {
        LOG.warn(format_args!("lookup failed: {why}"));
        self.finish_lookup(Status::Error);
        if self.config.fail_open() {
            return false;
        }
        self.log(None, 0);
        let body = ai_proto::error::OpenAiError::new("semantic cache unavailable", "server_error")
            .to_body();
        let _ = hostcalls::send_local_response(
            503,
            &[
                ("content-type", "application/json"),
                (STATUS_HEADER, Status::Error.as_str()),
            ],
            &body,
        );
        true
    }

    fn hit(&mut self, answer: &ai_proto::chat::ChatResponse, layer: Layer, similarity: f32) {
        self.finish_lookup(Status::Hit);
        self.shared.count(layer.hits_metric(), 1);
        let saved = replay::tokens_saved(answer);
        self.shared.count("semantic_cache.tokens_saved", saved);
        let stream = self.lookup.as_ref().is_some_and(|l| l.keys().stream);
        let b = self.config.built();
        let (content_type, body) = match (stream, b) {
            (true, Some(b)) if b.stream_response_template.is_some() => (
                "text/event-stream; charset=utf-8",
                replay::template(
                    b.stream_response_template.as_deref().unwrap_or_default(),
                    answer,
                ),
            ),
            (true, _) => (
                "text/event-stream; charset=utf-8",
                replay::sse_body(answer, self.config.replay_chunk_size()),
            ),
            (false, Some(b)) if b.response_template.is_some() => (
                "application/json; charset=utf-8",
                replay::template(b.response_template.as_deref().unwrap_or_default(), answer),
            ),
            (false, _) => ("application/json; charset=utf-8", replay::json_body(answer)),
        };
        self.log(Some((layer, similarity)), saved);
        let sim = format!("{similarity:.4}");
        let mut headers = vec![("content-type", content_type)];
        if self.config.status_headers() {
            headers.push((STATUS_HEADER, "HIT"));
            headers.push((SIMILARITY_HEADER, &sim));
        }
        if let Err(e) =
            hostcalls::send_local_response_with_details(200, "ai-cache.hit", &headers, &body, -1)
        {
            LOG.error(format_args!("cannot answer from the cache: {e}"));
        }
    }

    fn log(&self, hit: Option<(Layer, f32)>, saved: u64) {
        let mut entry = vec![(
            "cache_status",
            json!(self.status.as_str().to_ascii_lowercase()),
        )];
        if let Some((layer, sim)) = hit {
            entry.push(("cache_layer", json!(layer.as_str())));
            entry.push(("cache_similarity", json!(sim)));
            entry.push(("cache_tokens_saved", json!(saved)));
        } else if let Some(best) = self.lookup.as_ref().and_then(|l| l.best_similarity) {
            entry.push(("cache_similarity", json!(best)));
        }
        if let Err(e) = ai_log::write(&entry) {
            LOG.debug(format_args!("cannot write ai_log: {e}"));
        }
    }

    /// Whether the tick already resumed this request (its budget ran out).
    fn is_timed_out(&self) -> bool {
        self.shared.timed_out.borrow().contains(&self.context_id)
    }

    /// A callout answered (or failed) while the lookup waits.
    fn on_reply(&mut self, token: u32, reply: Result<Reply, String>) {
        if self.pending != Some(token) || self.is_timed_out() {
            return;
        }
        self.pending = None;
        let Some(b) = self.config.built() else { return };
        let next = match (reply, self.lookup.as_mut()) {
            (Ok(r), Some(l)) => l.on_reply(b, r),
            (Err(e), _) => Next::Failed(crate::backend::BackendError(e)),
            (Ok(_), None) => Next::Miss,
        };
        let held = self.advance(next);
        if !held && self.paused {
            self.paused = false;
            if let Err(e) = hostcalls::resume_http_request() {
                LOG.warn(format_args!("cannot resume the request: {e}"));
            }
        }
    }
}

fn reply_of_redis(reply: Result<RespValue, RedisError>) -> Result<Reply, String> {
    reply.map(Reply::Redis).map_err(|e| e.to_string())
}

fn reply_of_http(response: Result<HttpResponse, HttpCallError>) -> Result<Reply, String> {
    response.map(Reply::Http).map_err(|e| e.to_string())
}

impl HttpPlugin for CacheHttp {
    fn on_request_headers(&mut self, end_of_stream: bool) -> HeaderAction {
        if self.config.built().is_none() || self.config.is_disabled() {
            return HeaderAction::Continue;
        }
        if end_of_stream {
            self.bypass("no request body");
            return HeaderAction::Continue;
        }
        if let Some(why) = self.skipped_by_request_headers() {
            self.bypass(why);
            return HeaderAction::Continue;
        }
        self.scope = self.scope();
        self.status = Status::Lookup;
        // The answer is captured for storing: ask the upstream not to compress it.
        if let Err(e) = hostcalls::set_request_header("accept-encoding", None) {
            LOG.debug(format_args!("cannot remove accept-encoding: {e}"));
        }
        HeaderAction::Continue
    }

    fn buffer_request_body(&self) -> bool {
        self.status == Status::Lookup
    }

    fn on_request_body_complete(&mut self, body: &[u8]) -> DataAction {
        let Some(b) = self.config.built() else {
            return DataAction::Continue;
        };
        let settings = KeySettings {
            countback: b.countback,
            shared_temperature_max: self.config.shared_temperature_max(),
        };
        let keys = match key::derive(body, &self.scope, settings) {
            Ok(k) => k,
            Err(why) => {
                self.bypass(why.as_str());
                return DataAction::Continue;
            }
        };
        if self.config.skip.models.contains(&keys.model) {
            self.bypass("model skipped");
            return DataAction::Continue;
        }
        self.started_ns = now_ns();
        self.deadline_ns = self.started_ns + u64::from(self.config.lookup_timeout_ms()) * 1_000_000;
        let (lookup, next) = Lookup::start(b, keys);
        self.lookup = Some(lookup);
        if self.advance(next) {
            if self.status == Status::Lookup {
                self.paused = true;
                self.shared
                    .deadlines
                    .borrow_mut()
                    .insert(self.context_id, self.deadline_ns);
            }
            return DataAction::StopIterationAndBuffer;
        }
        DataAction::Continue
    }

    fn on_response_headers(&mut self, _end_of_stream: bool) -> HeaderAction {
        match self.status {
            Status::None | Status::Hit => return HeaderAction::Continue,
            // The tick resumed the request: the budget ran out.
            Status::Lookup if self.is_timed_out() => self.finish_lookup(Status::Error),
            _ => {}
        }
        if self.status != Status::Error || self.config.fail_open() {
            if self.config.status_headers() {
                let _ = hostcalls::set_response_header(STATUS_HEADER, Some(self.status.as_str()));
            }
            self.log(None, 0);
        }
        if self.status != Status::Miss && self.status != Status::Error {
            return HeaderAction::Continue;
        }
        let status = hostcalls::get_response_header(":status").ok().flatten();
        let encoded = hostcalls::get_response_header("content-encoding")
            .ok()
            .flatten()
            .is_some_and(|e| !e.eq_ignore_ascii_case("identity"));
        if status.as_deref() != Some("200") || encoded {
            return HeaderAction::Continue;
        }
        let sse = hostcalls::get_response_header("content-type")
            .ok()
            .flatten()
            .is_some_and(|c| c.contains("text/event-stream"));
        let max = self.config.max_response_bytes();
        self.capture = Some(if sse {
            Capture::sse(max)
        } else {
            Capture::json(max)
        });
        HeaderAction::Continue
    }

    fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> DataAction {
        let Some(capture) = self.capture.as_mut() else {
            return DataAction::Continue;
        };
        if body_size > 0 {
            match hostcalls::get_response_body(0, body_size) {
                Ok(chunk) => capture.feed(&chunk.unwrap_or_default()),
                Err(e) => {
                    LOG.debug(format_args!("cannot read the answer: {e}"));
                    self.capture = None;
                    return DataAction::Continue;
                }
            }
        }
        if capture.failed() {
            // Past maxResponseBytes or malformed: free what was held while the rest streams on.
            LOG.debug("answer not stored: capture stopped (size bound or malformed stream)");
            self.shared.count("semantic_cache.not_stored", 1);
            self.capture = None;
            return DataAction::Continue;
        }
        if end_of_stream {
            self.store();
        }
        DataAction::Continue
    }

    fn on_http_call_response(&mut self, token: u32, response: Result<HttpResponse, HttpCallError>) {
        self.on_reply(token, reply_of_http(response));
    }

    fn on_redis_call_response(&mut self, token: u32, reply: Result<RespValue, RedisError>) {
        self.on_reply(token, reply_of_redis(reply));
    }

    fn on_log(&mut self) {
        self.shared.deadlines.borrow_mut().remove(&self.context_id);
        self.shared.timed_out.borrow_mut().remove(&self.context_id);
    }
}

impl CacheHttp {
    /// Stores the captured answer if it is complete and successful.
    fn store(&mut self) {
        let (Some(capture), Some(b), Some(lookup)) = (
            self.capture.take(),
            self.config.built(),
            self.lookup.as_ref(),
        ) else {
            return;
        };
        let config = &self.config;
        let finish_ok = |r: &str| config.stores_finish_reason(r);
        let policy = StorePolicy {
            finish_reason_ok: &finish_ok,
            allow_tool_calls: config.cache_tool_calls,
        };
        let answer = match capture.finish(&policy) {
            Ok(a) => a,
            Err(why) => {
                LOG.debug(format_args!("answer not stored: {why}"));
                self.shared.count("semantic_cache.not_stored", 1);
                return;
            }
        };
        let bytes = serde_json::to_vec(&answer).unwrap_or_default();
        let calls = lookup::store_calls(b, lookup.keys(), lookup.vector(), &bytes);
        let exact = calls.exact.map_or(Ok(0), |call| {
            dispatcher::as_root(|| self.shared.dispatch(&call, None))
        });
        let sent = exact.and_then(|_| {
            self.shared
                .send_insert(self.config.clone(), calls.inserts.into_iter())
        });
        if let Err(e) = sent {
            LOG.warn(format_args!("cannot store the answer: {e}"));
            self.shared.count("semantic_cache.store_errors", 1);
        }
    }
}

//! Proxy-Wasm glue: gather what rules read, estimate and reserve when the request body is complete
//! (Redis Lua script, or shared data), wait at most the Redis budget (a tick timer enforces it),
//! read the answer's usage as it streams and settle the difference at its end.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use higress_sdk::hostcalls::{self, Metric, SharedDataError};
use higress_sdk::plugin::replace_request_body;
use higress_sdk::{
    ai_log, properties, DataAction, HeaderAction, HttpPlugin, Log, LuaScript, Plugin, RedisClient,
    RedisError, RespValue, RuleMatcher,
};
use serde_json::json;

use crate::accounting::{estimate_request, Tokens};
use crate::answer::{BodyScan, StreamScan};
use crate::config::{Config, FailureMode, RedisConfig};
use crate::local::{self, Shared};
use crate::lua;
use crate::plan::{Plan, Verdict};
use crate::reply::{self, Rejection};
use crate::rules::RequestFacts;

const LOG: Log = Log::new("token-rate-limit");

/// Shared data of the host (one store for all worker VMs of the plugin).
struct HostShared;

impl Shared for HostShared {
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, u32), String> {
        hostcalls::get_shared_data(key).map_err(|e| e.to_string())
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<bool, String> {
        match hostcalls::set_shared_data(key, Some(value), cas) {
            Ok(()) => Ok(true),
            Err(SharedDataError::CasMismatch) => Ok(false),
            Err(SharedDataError::Host(e)) => Err(e.to_string()),
        }
    }
}

fn now_ms() -> u64 {
    hostcalls::get_current_time_nanoseconds().unwrap_or(0) / 1_000_000
}

fn count(name: &str, n: u64) {
    if n == 0 {
        return;
    }
    if let Err(e) = Metric::counter(name).and_then(|m| m.increment(n as i64)) {
        LOG.debug(format_args!("metric {name}: {e}"));
    }
}

fn log_entries(entries: &[(&str, serde_json::Value)]) {
    if let Err(e) = ai_log::write(entries) {
        LOG.debug(format_args!("cannot write ai_log: {e}"));
    }
}

fn redis_client(r: &RedisConfig) -> RedisClient {
    RedisClient::new(r.cluster())
        .with_auth(r.username.as_str(), r.password.as_str())
        .with_database(r.database)
        .with_timeout_ms(r.timeout_ms())
}

/// A request waiting for Redis, for the budget timer.
struct Waiter {
    context_id: u32,
    deadline_ms: u64,
    decision: Weak<RefCell<Decision>>,
}

type Waiters = Rc<RefCell<Vec<Waiter>>>;

pub struct TokenRateLimit {
    script: LuaScript,
    waiters: Waiters,
}

impl Default for TokenRateLimit {
    fn default() -> Self {
        TokenRateLimit {
            script: LuaScript::new(lua::SCRIPT),
            waiters: Rc::default(),
        }
    }
}

impl Plugin for TokenRateLimit {
    const NAME: &'static str = "token-rate-limit";
    type Config = Config;
    type Http = RateLimitHttp;

    fn configure(&self, rules: &RuleMatcher<Config>) -> bool {
        let configs = rules
            .global()
            .into_iter()
            .chain(rules.rules().iter().map(|r| &r.config));
        let mut tick: Option<u32> = None;
        for config in configs {
            if let Some(redis) = &config.redis {
                // Not fatal: until Redis answers, the failure mode decides.
                if let Err(e) = redis_client(redis).init() {
                    LOG.warn(format_args!("redis {} unavailable: {e}", redis.cluster()));
                }
                let period = (redis.timeout_ms() / 10).clamp(5, 100);
                tick = Some(tick.map_or(period, |t| t.min(period)));
            }
        }
        if let Some(period) = tick {
            if let Err(e) = hostcalls::set_tick_period_milliseconds(period) {
                LOG.warn(format_args!("cannot start the decision budget timer: {e}"));
            }
        }
        true
    }

    fn create_http(&self, config: Rc<Config>, context_id: u32) -> RateLimitHttp {
        RateLimitHttp {
            decision: Rc::new(RefCell::new(Decision {
                config,
                context_id,
                script: self.script.clone(),
                plan: None,
                estimate: Tokens::default(),
                costs: Vec::new(),
                state: State::Idle,
                verdict: None,
            })),
            waiters: self.waiters.clone(),
            facts: RequestFacts::default(),
            strip_usage: false,
            response: Response::None,
        }
    }

    /// Requests waiting longer than the Redis budget are decided by the failure mode.
    fn on_tick(&self) {
        let now = now_ms();
        let expired: Vec<Waiter> = {
            let mut w = self.waiters.borrow_mut();
            let (gone, keep): (Vec<_>, Vec<_>) = w.drain(..).partition(|w| w.deadline_ms <= now);
            *w = keep;
            gone
        };
        for w in expired {
            let Some(decision) = w.decision.upgrade() else {
                continue;
            };
            if let Err(e) = higress_sdk::host::host().set_effective_context(w.context_id) {
                LOG.debug(format_args!("context {} is gone: {e:?}", w.context_id));
                continue;
            }
            let mut d = decision.borrow_mut();
            if matches!(d.state, State::Waiting { .. }) {
                count("token_ratelimit.store_timeouts", 1);
                if d.store_failed("redis did not answer within its timeout") {
                    resume();
                }
            }
        }
    }
}

fn resume() {
    if let Err(e) = hostcalls::resume_http_request() {
        LOG.warn(format_args!("cannot resume the request: {e}"));
    }
}

fn send(r: Rejection) {
    let headers: Vec<(&str, &str)> = r.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if let Err(e) = hostcalls::send_local_response_with_details(
        r.status,
        "token-rate-limit.rejected",
        &headers,
        &r.body,
        -1,
    ) {
        LOG.error(format_args!("cannot send the local reply: {e}"));
    }
}

/// Where the reservation lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Redis,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Waiting {
        token: u32,
    },
    Admitted(Store),
    /// Let through without a reservation (store failed, fail-open and the local store failed too).
    Unmetered,
    Rejected,
    Settled,
}

/// The admission decision; shared with the budget timer.
struct Decision {
    config: Rc<Config>,
    context_id: u32,
    script: LuaScript,
    plan: Option<Plan>,
    estimate: Tokens,
    costs: Vec<u64>,
    state: State,
    verdict: Option<Verdict>,
}

impl Decision {
    /// Starts the reservation. `true`: decided and admitted (continue now); `false`: waiting for
    /// Redis or rejected (a local reply is on its way).
    fn reserve(&mut self, plan: Plan, estimate: Tokens) -> bool {
        let cost = estimate.cost(&self.config);
        self.costs = plan.costs(cost, 1);
        self.estimate = estimate;
        self.plan = Some(plan);
        let Some(redis) = self.config.redis.clone() else {
            return self.reserve_locally();
        };
        let Some(plan) = self.plan.as_ref() else {
            return true;
        };
        let args = lua::reserve_args(plan, &self.costs);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match redis_client(&redis).eval(&self.script, &lua::keys(plan), &args) {
            Ok(token) => {
                self.state = State::Waiting { token };
                false
            }
            Err(e) => self.store_failed(&format!("cannot call redis: {e}")),
        }
    }

    fn reserve_locally(&mut self) -> bool {
        let Some(plan) = self.plan.as_ref() else {
            return true;
        };
        match local::reserve(&HostShared, plan, &self.costs, now_ms()) {
            Ok(v) => self.apply(v, Store::Local),
            Err(e) => {
                LOG.warn(format_args!(
                    "local limiter failed, request not metered: {e}"
                ));
                count("token_ratelimit.unmetered", 1);
                self.state = State::Unmetered;
                true
            }
        }
    }

    /// Redis failed or timed out: the failure mode decides.
    fn store_failed(&mut self, why: &str) -> bool {
        count("token_ratelimit.store_failures", 1);
        match self.config.failure_mode {
            FailureMode::Open => {
                LOG.warn(format_args!("{why}; deciding with the local limiter"));
                count("token_ratelimit.fallback_local", 1);
                self.reserve_locally()
            }
            FailureMode::Closed => {
                LOG.warn(format_args!("{why}; rejecting (failure_mode closed)"));
                self.state = State::Rejected;
                log_entries(&[("token_ratelimit_status", json!("unavailable"))]);
                send(reply::unavailable());
                false
            }
        }
    }

    /// Records a verdict; rejects when it says so. `true` if admitted.
    fn apply(&mut self, verdict: Verdict, store: Store) -> bool {
        let admitted = verdict.admitted;
        if admitted {
            self.state = State::Admitted(store);
            count("token_ratelimit.allowed", 1);
            count(
                "token_ratelimit.tokens_reserved",
                self.estimate.cost(&self.config),
            );
        } else {
            self.state = State::Rejected;
            count("token_ratelimit.limited", 1);
            log_entries(&[("token_ratelimit_status", json!("limited"))]);
            if let Some(plan) = &self.plan {
                send(reply::rejection(&self.config, plan, &verdict));
            }
        }
        self.verdict = Some(verdict);
        admitted
    }

    /// Settles the reservation: `real` tokens (None = the request failed, release everything).
    fn settle(&mut self, real: Option<Tokens>) {
        let State::Admitted(store) = self.state else {
            return;
        };
        self.state = State::Settled;
        let (Some(plan), Some(verdict)) = (&self.plan, &self.verdict) else {
            return;
        };
        let reserved = self.estimate.cost(&self.config);
        let (settled, deltas) = match real {
            Some(t) => {
                let c = t.cost(&self.config);
                (c, plan.deltas(c as i64 - reserved as i64, 0))
            }
            None => (0, plan.deltas(-(reserved as i64), -1)),
        };
        count("token_ratelimit.tokens_settled", settled);
        log_entries(&[
            ("token_ratelimit_status", json!("allowed")),
            ("token_ratelimit_reserved", json!(reserved)),
            ("token_ratelimit_settled", json!(settled)),
        ]);
        if deltas.iter().all(|d| *d == 0) {
            return;
        }
        let result = match (store, &self.config.redis) {
            (Store::Redis, Some(redis)) => {
                let args = lua::settle_args(plan, verdict.at_ms, &deltas);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                redis_client(redis)
                    .eval(&self.script, &lua::keys(plan), &args)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            _ => local::settle(&HostShared, plan, verdict.at_ms, &deltas, now_ms()),
        };
        if let Err(e) = result {
            count("token_ratelimit.store_failures", 1);
            LOG.warn(format_args!("cannot settle usage: {e}"));
        }
    }
}

enum Response {
    None,
    Failed,
    Body(BodyScan),
    Stream(Box<StreamScan>),
}

pub struct RateLimitHttp {
    decision: Rc<RefCell<Decision>>,
    waiters: Waiters,
    facts: RequestFacts,
    /// The plugin asked for stream usage the client did not: remove it from the answer.
    strip_usage: bool,
    response: Response,
}

impl RateLimitHttp {
    fn gather_facts(&mut self) {
        self.facts.headers = hostcalls::get_request_headers().unwrap_or_default();
        self.facts.path = self.facts.header(":path").unwrap_or_default().to_string();
        self.facts.remote_addr = hostcalls::get_property_string(&["source", "address"])
            .ok()
            .flatten();
        self.facts.route = properties::route_name().ok().flatten();
    }

    /// Matches and reserves; `true` = go on now.
    fn admit(&mut self, estimate: Tokens) -> bool {
        let mut d = self.decision.borrow_mut();
        let config = d.config.clone();
        let rules = match config.rules() {
            Ok(r) => r,
            Err(e) => {
                LOG.error(format_args!("config: {}: {}", e.path, e.reason));
                return true;
            }
        };
        let Some(bucket) = rules.matching(&self.facts) else {
            return true;
        };
        let plan = Plan::new(&bucket, config.window_slots());
        let go_on = d.reserve(plan, estimate);
        if let State::Waiting { .. } = d.state {
            let budget = config.redis.as_ref().map_or(1000, |r| r.timeout_ms());
            self.waiters.borrow_mut().push(Waiter {
                context_id: d.context_id,
                deadline_ms: now_ms() + u64::from(budget),
                decision: Rc::downgrade(&self.decision),
            });
        }
        go_on
    }

    fn settle_from_answer(&mut self) {
        let mut d = self.decision.borrow_mut();
        let seen = match &self.response {
            Response::None | Response::Failed => None,
            Response::Body(b) => Some(b.finish()),
            Response::Stream(s) => Some(s.seen().clone()),
        };
        let real = seen.map(|seen| match &seen.usage {
            Some(u) => Tokens::from_usage(u, &d.estimate),
            None => Tokens {
                input: d.estimate.input,
                cached_input: 0,
                output: seen.text.tokens(),
            },
        });
        d.settle(real);
    }
}

impl HttpPlugin for RateLimitHttp {
    fn on_request_headers(&mut self, end_of_stream: bool) -> HeaderAction {
        self.gather_facts();
        if !end_of_stream {
            // Decided when the body is complete (the estimate and the model come from it).
            return HeaderAction::Continue;
        }
        if self.admit(Tokens::default()) {
            HeaderAction::Continue
        } else {
            HeaderAction::StopAllIterationAndBuffer
        }
    }

    fn buffer_request_body(&self) -> bool {
        true
    }

    fn on_request_body_complete(&mut self, body: &[u8]) -> DataAction {
        let config = self.decision.borrow().config.clone();
        let estimate = estimate_request(body, &config);
        self.facts.model = estimate.model.clone();
        let matched = config
            .rules()
            .ok()
            .and_then(|r| r.matching(&self.facts))
            .is_some();
        if matched {
            if let Some(new) = &estimate.rewritten {
                match replace_request_body(new) {
                    Ok(()) => self.strip_usage = true,
                    Err(e) => LOG.warn(format_args!("cannot ask the stream for usage: {e}")),
                }
            }
        }
        if self.admit(estimate.tokens) {
            DataAction::Continue
        } else {
            DataAction::StopIterationAndBuffer
        }
    }

    fn on_redis_call_response(&mut self, token: u32, reply: Result<RespValue, RedisError>) {
        let mut d = self.decision.borrow_mut();
        match d.state {
            State::Waiting { token: t } if t == token => {}
            State::Admitted(Store::Local) | State::Rejected | State::Unmetered
                if d.config.redis.is_some() =>
            {
                // Decided without Redis after the budget ran out: take back what Redis charged.
                release_late_reservation(&d, reply);
                return;
            }
            _ => {
                if let Ok(RespValue::Error(e)) = &reply {
                    LOG.warn(format_args!("redis: {e}"));
                }
                return;
            }
        }
        self.waiters
            .borrow_mut()
            .retain(|w| w.context_id != d.context_id);
        let verdict = match &reply {
            Ok(v) => d
                .plan
                .as_ref()
                .ok_or_else(|| "no plan".to_string())
                .and_then(|plan| lua::parse_reserve(v, plan, &d.costs)),
            Err(e) => Err(e.to_string()),
        };
        let go_on = match verdict {
            Ok(v) => d.apply(v, Store::Redis),
            Err(e) => d.store_failed(&format!("redis failed: {e}")),
        };
        if go_on {
            resume();
        }
    }

    fn on_response_headers(&mut self, _end_of_stream: bool) -> HeaderAction {
        let d = self.decision.borrow();
        if !matches!(d.state, State::Admitted(_)) {
            return HeaderAction::Continue;
        }
        if d.config.show_limit_headers() {
            if let (Some(plan), Some(verdict)) = (&d.plan, &d.verdict) {
                for (name, value) in reply::limit_headers(plan, verdict) {
                    if let Err(e) = hostcalls::set_response_header(name, Some(&value)) {
                        LOG.debug(format_args!("cannot set {name}: {e}"));
                    }
                }
            }
        }
        let status = hostcalls::get_response_header(":status")
            .ok()
            .flatten()
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0);
        let encoding = d.config.encoding();
        drop(d);
        if !(200..300).contains(&status) {
            self.response = Response::Failed;
            return HeaderAction::Continue;
        }
        let sse = hostcalls::get_response_header("content-type")
            .ok()
            .flatten()
            .is_some_and(|c| c.contains("text/event-stream"));
        self.response = if sse {
            if self.strip_usage {
                if let Err(e) = hostcalls::set_response_header("content-length", None) {
                    LOG.debug(format_args!("cannot remove content-length: {e}"));
                }
            }
            Response::Stream(Box::new(StreamScan::new(encoding, self.strip_usage)))
        } else {
            Response::Body(BodyScan::new(encoding))
        };
        HeaderAction::Continue
    }

    fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> DataAction {
        if matches!(self.response, Response::Body(_) | Response::Stream(_)) {
            let chunk = match hostcalls::get_response_body(0, body_size) {
                Ok(b) => b.unwrap_or_default(),
                Err(e) => {
                    LOG.warn(format_args!("cannot read the response chunk: {e}"));
                    Vec::new()
                }
            };
            match &mut self.response {
                Response::Body(b) => b.feed(&chunk),
                Response::Stream(s) => {
                    if let Some(out) = s.feed(&chunk, end_of_stream) {
                        if out != chunk {
                            if let Err(e) = hostcalls::replace_response_body(&out) {
                                LOG.warn(format_args!("cannot rewrite the response chunk: {e}"));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if end_of_stream {
            self.settle_from_answer();
        }
        DataAction::Continue
    }

    fn on_log(&mut self) {
        // Still admitted here: the stream ended early (client gone, upstream reset, no body):
        // charge what was seen, or release all if no answer started.
        if matches!(self.decision.borrow().state, State::Admitted(_)) {
            self.settle_from_answer();
        }
        let context_id = self.decision.borrow().context_id;
        self.waiters
            .borrow_mut()
            .retain(|w| w.context_id != context_id);
    }
}

/// A reservation Redis made after the request was already decided locally is released.
fn release_late_reservation(d: &Decision, reply: Result<RespValue, RedisError>) {
    let (Some(plan), Some(redis), Ok(value)) = (&d.plan, &d.config.redis, reply) else {
        return;
    };
    let Ok(v) = lua::parse_reserve(&value, plan, &d.costs) else {
        return;
    };
    if !v.admitted {
        return;
    }
    let deltas: Vec<i64> = v.charged.iter().map(|c| -(*c as i64)).collect();
    let args = lua::settle_args(plan, v.at_ms, &deltas);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Err(e) = redis_client(redis).eval(&d.script, &lua::keys(plan), &args) {
        LOG.warn(format_args!("cannot release a late redis reservation: {e}"));
    }
}

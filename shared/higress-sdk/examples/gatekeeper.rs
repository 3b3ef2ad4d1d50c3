//! External authorization over an HTTP callout, then a per-key quota counted in Redis by a Lua
//! script, plus a heartbeat metric driven by the tick timer. It exercises the SDK's callouts
//! (answered, failed, timed out), `RedisClient` with EVALSHA→EVAL, and timers (see
//! `tests/in_host.rs`).
//!
//! ```json
//! { "auth": { "cluster": "outbound|80||auth.dns", "path": "/check", "timeout_ms": 200 },
//!   "quota": { "cluster": "outbound|6379||redis.dns", "limit": 100 },
//!   "heartbeat_ms": 1000 }
//! ```

use std::rc::Rc;

use higress_sdk::hostcalls::{self, Metric};
use higress_sdk::{
    HeaderAction, HttpCallError, HttpPlugin, HttpRequest, HttpResponse, Log, LuaScript, Plugin,
    PluginConfig, RedisClient, RedisError, RespValue, RuleMatcher,
};
use serde::Deserialize;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    auth: Option<Auth>,
    #[serde(default)]
    quota: Option<Quota>,
    /// Tick period of the heartbeat metric; 0 disables it.
    #[serde(default)]
    heartbeat_ms: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Auth {
    cluster: String,
    path: String,
    #[serde(default = "default_timeout")]
    timeout_ms: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Quota {
    cluster: String,
    limit: i64,
    #[serde(default)]
    password: String,
}

fn default_timeout() -> u32 {
    500
}

impl PluginConfig for Config {}

impl Quota {
    fn client(&self) -> RedisClient {
        RedisClient::new(self.cluster.as_str()).with_auth("", self.password.as_str())
    }
}

const LOG: Log = Log::new("gatekeeper");

/// Increments the key and returns the new count; the first increment also sets a one-minute window.
const COUNT_SCRIPT: &str = "local n = redis.call('INCR', KEYS[1]) \
     if n == 1 then redis.call('EXPIRE', KEYS[1], 60) end return n";

struct Gatekeeper {
    script: LuaScript,
}

impl Default for Gatekeeper {
    fn default() -> Self {
        // The SHA-1 for EVALSHA is computed here, once per VM.
        Gatekeeper {
            script: LuaScript::new(COUNT_SCRIPT),
        }
    }
}

struct GatekeeperHttp {
    script: LuaScript,
    config: Rc<Config>,
}

impl Plugin for Gatekeeper {
    const NAME: &'static str = "gatekeeper";
    type Config = Config;
    type Http = GatekeeperHttp;

    fn configure(&self, rules: &RuleMatcher<Config>) -> bool {
        let configs = rules
            .global()
            .into_iter()
            .chain(rules.rules().iter().map(|r| &r.config));
        for config in configs {
            if let Some(quota) = &config.quota {
                // Not fatal: without Redis (or under ABI 0.2.1) requests pass unmetered.
                if let Err(e) = quota.client().init() {
                    LOG.warn(format_args!("redis {} unavailable: {e}", quota.cluster));
                }
            }
            if config.heartbeat_ms > 0 {
                if let Err(e) = hostcalls::set_tick_period_milliseconds(config.heartbeat_ms) {
                    LOG.warn(format_args!("cannot start the heartbeat: {e}"));
                }
            }
        }
        true
    }

    fn create_http(&self, config: Rc<Config>, _context_id: u32) -> GatekeeperHttp {
        GatekeeperHttp {
            script: self.script.clone(),
            config,
        }
    }

    fn on_tick(&self) {
        if let Err(e) = Metric::counter("gatekeeper.heartbeats").and_then(|m| m.increment(1)) {
            LOG.warn(format_args!("heartbeat: {e}"));
        }
    }
}

impl GatekeeperHttp {
    fn deny(&self, status: u32, why: &str) {
        LOG.info(format_args!("denied with {status}: {why}"));
        if let Err(e) = hostcalls::send_local_response(status, &[], why.as_bytes()) {
            LOG.error(format_args!("cannot reply {status}: {e}"));
        }
    }

    /// Starts the quota check; `false` means there is nothing to wait for.
    fn start_quota(&self) -> bool {
        let Some(quota) = &self.config.quota else {
            return false;
        };
        let key = hostcalls::get_request_header("x-api-key")
            .ok()
            .flatten()
            .unwrap_or_else(|| "anonymous".to_string());
        let key = format!("quota:{key}");
        match quota.client().eval(&self.script, &[key.as_str()], &[]) {
            Ok(_) => true,
            Err(e) => {
                self.unmetered(&e.to_string());
                false
            }
        }
    }

    /// Fails open: the request goes on, marked so the upstream knows it was not counted.
    fn unmetered(&self, why: &str) {
        LOG.warn(format_args!("quota not checked: {why}"));
        let _ = hostcalls::set_request_header("x-quota", Some("unavailable"));
    }
}

impl HttpPlugin for GatekeeperHttp {
    fn on_request_headers(&mut self, _end_of_stream: bool) -> HeaderAction {
        if let Some(auth) = &self.config.auth {
            let path = hostcalls::get_request_header(":path")
                .ok()
                .flatten()
                .unwrap_or_default();
            let call = HttpRequest::get(&auth.path)
                .authority("auth")
                .header("x-original-path", &path)
                .timeout_ms(auth.timeout_ms)
                .dispatch(&auth.cluster);
            return match call {
                Ok(_) => HeaderAction::StopAllIterationAndBuffer,
                Err(e) => {
                    self.deny(503, &format!("auth unavailable: {e}"));
                    HeaderAction::StopAllIterationAndBuffer
                }
            };
        }
        if self.start_quota() {
            return HeaderAction::StopAllIterationAndBuffer;
        }
        HeaderAction::Continue
    }

    fn on_http_call_response(
        &mut self,
        _token: u32,
        response: Result<HttpResponse, HttpCallError>,
    ) {
        match response {
            Ok(r) if r.status == 200 => {
                let user = r.header("x-user").unwrap_or("unknown");
                let _ = hostcalls::set_request_header("x-auth-user", Some(user));
                if !self.start_quota() {
                    let _ = hostcalls::resume_http_request();
                }
            }
            Ok(r) if (400..500).contains(&r.status) => self.deny(403, "denied by auth"),
            Ok(r) => self.deny(503, &format!("auth unavailable: status {}", r.status)),
            Err(e) => self.deny(503, &format!("auth unavailable: {e}")),
        }
    }

    fn on_redis_call_response(&mut self, _token: u32, reply: Result<RespValue, RedisError>) {
        let limit = self.config.quota.as_ref().map_or(0, |q| q.limit);
        match reply {
            Ok(RespValue::Integer(n)) if n > limit => return self.deny(429, "quota exceeded"),
            Ok(RespValue::Integer(n)) => {
                let _ = hostcalls::set_request_header("x-quota-used", Some(&n.to_string()));
            }
            Ok(other) => self.unmetered(&format!("unexpected reply {other:?}")),
            Err(e) => self.unmetered(&e.to_string()),
        }
        let _ = hostcalls::resume_http_request();
    }
}

higress_sdk::plugin!(Gatekeeper);

//! Configuration: Higress ai-token-ratelimit's fields accepted unchanged (`rule_name`,
//! `global_threshold`, `rule_items[].limit_by_*` with `limit_keys[].token_per_*`, `rejected_code`,
//! `rejected_msg`, `redis`), plus our extensions: model/route/IP keys, request counts, several
//! windows per key, which tokens count, the output reservation, and the failure policy.

use std::cell::OnceCell;

use higress_sdk::{cluster, ConfigError, PluginConfig};
use serde::Deserialize;
use token_estimate::Encoding;

use crate::rules::{CompiledRules, RuleError};
use crate::window::Window;

/// `token_per_*` / `request_per_*` of a limit key or of `global_threshold`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    #[serde(default)]
    pub token_per_second: Option<u64>,
    #[serde(default)]
    pub token_per_minute: Option<u64>,
    #[serde(default)]
    pub token_per_hour: Option<u64>,
    #[serde(default)]
    pub token_per_day: Option<u64>,
    #[serde(default)]
    pub request_per_second: Option<u64>,
    #[serde(default)]
    pub request_per_minute: Option<u64>,
    #[serde(default)]
    pub request_per_hour: Option<u64>,
    #[serde(default)]
    pub request_per_day: Option<u64>,
}

/// What a window counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Tokens,
    Requests,
}

/// One limit: so many tokens (or requests) per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub unit: Unit,
    pub window: Window,
    pub max: u64,
}

impl Thresholds {
    /// The limits set, tokens first, shortest window first.
    pub fn limits(&self) -> Vec<Limit> {
        let all = [
            (Unit::Tokens, Window::SECOND, self.token_per_second),
            (Unit::Tokens, Window::MINUTE, self.token_per_minute),
            (Unit::Tokens, Window::HOUR, self.token_per_hour),
            (Unit::Tokens, Window::DAY, self.token_per_day),
            (Unit::Requests, Window::SECOND, self.request_per_second),
            (Unit::Requests, Window::MINUTE, self.request_per_minute),
            (Unit::Requests, Window::HOUR, self.request_per_hour),
            (Unit::Requests, Window::DAY, self.request_per_day),
        ];
        all.into_iter()
            .filter_map(|(unit, window, max)| max.map(|max| Limit { unit, window, max }))
            .collect()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let named = [
            ("token_per_second", self.token_per_second),
            ("token_per_minute", self.token_per_minute),
            ("token_per_hour", self.token_per_hour),
            ("token_per_day", self.token_per_day),
            ("request_per_second", self.request_per_second),
            ("request_per_minute", self.request_per_minute),
            ("request_per_hour", self.request_per_hour),
            ("request_per_day", self.request_per_day),
        ];
        for (name, v) in named {
            if v == Some(0) {
                return Err(ConfigError::at(name, "must be a positive integer"));
            }
        }
        if named.iter().all(|(_, v)| v.is_none()) {
            return Err(ConfigError::at(
                "",
                "set at least one of token_per_second/minute/hour/day (or request_per_*)",
            ));
        }
        Ok(())
    }
}

/// `limit_keys[]`: a key (exact, `*`, `regexp:<re>`, or an IP/CIDR for `limit_by_per_ip`) and its
/// thresholds.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitKey {
    /// A string; numbers are accepted too (`key: 123456` in YAML, as Higress reads it).
    #[serde(deserialize_with = "string_or_number")]
    pub key: String,
    #[serde(flatten)]
    pub thresholds: Thresholds,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or a number, got {other}"
        ))),
    }
}

/// `rule_items[]`: exactly one `limit_by_*` naming what to read, plus its keys.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleItem {
    #[serde(default)]
    pub limit_by_header: Option<String>,
    #[serde(default)]
    pub limit_by_param: Option<String>,
    #[serde(default)]
    pub limit_by_consumer: Option<String>,
    #[serde(default)]
    pub limit_by_cookie: Option<String>,
    #[serde(default)]
    pub limit_by_per_header: Option<String>,
    #[serde(default)]
    pub limit_by_per_param: Option<String>,
    #[serde(default)]
    pub limit_by_per_consumer: Option<String>,
    #[serde(default)]
    pub limit_by_per_cookie: Option<String>,
    /// `from-remote-addr` or `from-header-<name>`.
    #[serde(default)]
    pub limit_by_per_ip: Option<String>,
    /// Extension: the request body's `model`.
    #[serde(default)]
    pub limit_by_model: Option<String>,
    #[serde(default)]
    pub limit_by_per_model: Option<String>,
    /// Extension: the Envoy route name.
    #[serde(default)]
    pub limit_by_route: Option<String>,
    #[serde(default)]
    pub limit_by_per_route: Option<String>,
    pub limit_keys: Vec<LimitKey>,
}

/// Higress `redis` block.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    pub service_name: String,
    /// Default 80 for `.static` services, else 6379 (as in Higress).
    #[serde(default)]
    pub service_port: Option<u16>,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// Milliseconds; also the longest a request waits for a decision (default 1000).
    #[serde(default)]
    pub timeout: Option<u32>,
    #[serde(default)]
    pub database: u32,
}

impl RedisConfig {
    pub fn timeout_ms(&self) -> u32 {
        self.timeout.unwrap_or(1000)
    }

    /// The Envoy cluster name Higress derives from `service_name`/`service_port`.
    pub fn cluster(&self) -> String {
        let port = self
            .service_port
            .unwrap_or(if self.service_name.ends_with(".static") {
                80
            } else {
                6379
            });
        cluster::fqdn(&self.service_name, port)
    }
}

/// Which tokens a window counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountMode {
    Input,
    Output,
    #[default]
    Total,
    /// `input_weight`·(uncached input) + `cached_input_weight`·(cached input) + `output_weight`·output.
    Weighted,
}

/// Weights of [`CountMode::Weighted`].
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenWeights {
    #[serde(default = "one")]
    pub input: f64,
    #[serde(default = "one")]
    pub cached_input: f64,
    #[serde(default = "one")]
    pub output: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for TokenWeights {
    fn default() -> Self {
        TokenWeights {
            input: 1.0,
            cached_input: 1.0,
            output: 1.0,
        }
    }
}

/// What to do when the limiter store (Redis) fails or is slower than its budget.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// Decide with this gateway's local limiter instead (default).
    #[default]
    Open,
    /// Reject with 503.
    Closed,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EstimatorKind {
    #[default]
    O200k,
    Cl100k,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Part of every counter key; required.
    #[serde(default)]
    pub rule_name: String,
    #[serde(default)]
    pub global_threshold: Option<Thresholds>,
    #[serde(default)]
    pub rule_items: Vec<RuleItem>,
    #[serde(default)]
    pub rejected_code: Option<u16>,
    #[serde(default)]
    pub rejected_msg: Option<String>,
    /// Cluster-wide counters; without it, counters live in this gateway's shared data.
    #[serde(default)]
    pub redis: Option<RedisConfig>,
    /// Which tokens count (default `total`).
    #[serde(default)]
    pub count: CountMode,
    #[serde(default)]
    pub token_weights: TokenWeights,
    /// Output tokens reserved when a request sets no `max_tokens`/`max_completion_tokens`
    /// (default 1024).
    #[serde(default)]
    pub default_max_tokens: Option<u64>,
    /// Tokenizer family the estimator imitates (`o200k` default, `cl100k`).
    #[serde(default)]
    pub estimator: EstimatorKind,
    /// Ask streams for a final usage chunk and hide it from clients that did not ask (default true).
    #[serde(default)]
    pub inject_stream_usage: Option<bool>,
    /// Redis failure or timeout: `open` (local limiter, default) or `closed` (503).
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// Sub-windows per window of the sliding-window counter (default 60): the limit holds over any
    /// window, and a key can use at most limit·k/(k+1) per window under constant load.
    #[serde(default)]
    pub window_slots: Option<u32>,
    /// Send `x-ratelimit-*` headers on every limited-route response (default true).
    #[serde(default)]
    pub show_limit_headers: Option<bool>,
    /// Rule matchers, compiled once by `validate`.
    #[serde(skip)]
    compiled: OnceCell<CompiledRules>,
}

impl Config {
    pub fn rejected_code(&self) -> u16 {
        self.rejected_code.unwrap_or(429)
    }

    pub fn rejected_msg(&self) -> &str {
        self.rejected_msg.as_deref().unwrap_or("Too many requests")
    }

    pub fn default_max_tokens(&self) -> u64 {
        self.default_max_tokens.unwrap_or(1024)
    }

    pub fn inject_stream_usage(&self) -> bool {
        self.inject_stream_usage.unwrap_or(true)
    }

    pub fn window_slots(&self) -> u32 {
        self.window_slots.unwrap_or(60)
    }

    pub fn show_limit_headers(&self) -> bool {
        self.show_limit_headers.unwrap_or(true)
    }

    pub fn encoding(&self) -> Encoding {
        match self.estimator {
            EstimatorKind::O200k => Encoding::O200k,
            EstimatorKind::Cl100k => Encoding::Cl100k,
        }
    }

    /// The compiled rules (built by `validate`, or on first use).
    pub fn rules(&self) -> Result<&CompiledRules, RuleError> {
        if let Some(c) = self.compiled.get() {
            return Ok(c);
        }
        let compiled = CompiledRules::compile(self)?;
        Ok(self.compiled.get_or_init(|| compiled))
    }
}

impl PluginConfig for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.rule_name.is_empty() {
            return Err(ConfigError::at("rule_name", "required"));
        }
        if self.rule_name.contains(['{', '}']) {
            return Err(ConfigError::at("rule_name", "must not contain { or }"));
        }
        match (&self.global_threshold, self.rule_items.is_empty()) {
            (Some(_), false) => {
                return Err(ConfigError::at(
                    "global_threshold",
                    "global_threshold and rule_items are mutually exclusive",
                ))
            }
            (None, true) => {
                return Err(ConfigError::at(
                    "rule_items",
                    "set either global_threshold or rule_items",
                ))
            }
            (Some(t), true) => t.validate().map_err(|e| prefix(e, "global_threshold"))?,
            (None, false) => {}
        }
        for (i, item) in self.rule_items.iter().enumerate() {
            if item.limit_keys.is_empty() {
                return Err(ConfigError::at(
                    format!("rule_items[{i}].limit_keys"),
                    "at least one key",
                ));
            }
            for (j, key) in item.limit_keys.iter().enumerate() {
                key.thresholds
                    .validate()
                    .map_err(|e| prefix(e, &format!("rule_items[{i}].limit_keys[{j}]")))?;
            }
        }
        if let Some(code) = self.rejected_code {
            if !(200..=599).contains(&code) {
                return Err(ConfigError::at("rejected_code", "must be an HTTP status"));
            }
        }
        if let Some(redis) = &self.redis {
            if redis.service_name.is_empty() {
                return Err(ConfigError::at("redis.service_name", "required"));
            }
            if redis.timeout == Some(0) {
                return Err(ConfigError::at("redis.timeout", "must be positive"));
            }
        }
        if let Some(slots) = self.window_slots {
            if !(1..=600).contains(&slots) {
                return Err(ConfigError::at("window_slots", "must be within 1..=600"));
            }
        }
        let w = self.token_weights;
        for (name, v) in [
            ("token_weights.input", w.input),
            ("token_weights.cached_input", w.cached_input),
            ("token_weights.output", w.output),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ConfigError::at(name, "must be a non-negative number"));
            }
        }
        self.rules()
            .map(|_| ())
            .map_err(|e| ConfigError::at(e.path, e.reason))
    }
}

fn prefix(e: ConfigError, at: &str) -> ConfigError {
    let path = if e.path.is_empty() {
        at.to_string()
    } else {
        format!("{at}.{}", e.path)
    };
    ConfigError::at(path, e.reason)
}

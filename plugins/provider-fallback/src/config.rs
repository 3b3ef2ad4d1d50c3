//! Configuration. Field names follow Higress ai-proxy where it has the same knob
//! (`retryOnFailure.maxRetries`, `retryTimeout`, `retryOnStatus`; `failover.failureThreshold`,
//! `successThreshold`; provider `apiTokens`, `modelMapping`, `timeout`), camelCase like ai-proxy.

use std::cell::OnceCell;
use std::collections::BTreeMap;

use higress_sdk::{cluster, ConfigError, PluginConfig};
use serde::Deserialize;

use crate::status::StatusPatterns;

/// One provider reachable by HTTP callout, speaking the OpenAI chat API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Provider {
    /// Name used in breaker keys, headers, metrics and logs; unique.
    pub name: String,
    /// Envoy cluster, e.g. `outbound|443||api.deepseek.com.dns`. Or give `serviceName`.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Higress service FQDN (`api.deepseek.com.dns`, `qwen.static`); the cluster is
    /// `outbound|<servicePort>||<serviceName>`.
    #[serde(default)]
    pub service_name: Option<String>,
    #[serde(default = "default_port")]
    pub service_port: u16,
    /// `:authority` of the callout (default: the service name without `.dns`/`.static`).
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default = "default_path")]
    pub path: String,
    /// API keys; one is picked per request (round robin over the request counter).
    #[serde(default)]
    pub api_tokens: Vec<String>,
    /// Header carrying the key: `Authorization` sends `Bearer <key>`, any other header (Azure's
    /// `api-key`) the key itself.
    #[serde(default = "default_auth_header")]
    pub auth_header: String,
    /// Extra headers sent to this provider.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Client model → provider model: exact name, `prefix*`, or `*` for any (ai-proxy rules).
    #[serde(default)]
    pub model_mapping: BTreeMap<String, String>,
    /// Callout timeout in ms (also bounded by the retry deadline).
    #[serde(default = "default_provider_timeout")]
    pub timeout: u32,
    /// Share inside its group (0 = only when the others are unavailable).
    #[serde(default = "default_weight")]
    pub weight: u32,
}

impl Provider {
    pub fn cluster_name(&self) -> String {
        match (&self.cluster, &self.service_name) {
            (Some(c), _) => c.clone(),
            (None, Some(s)) => cluster::fqdn(s, self.service_port),
            (None, None) => String::new(),
        }
    }

    pub fn authority(&self) -> String {
        if let Some(h) = &self.host {
            return h.clone();
        }
        let service = self.service_name.clone().unwrap_or_else(|| {
            self.cluster
                .as_deref()
                .and_then(cluster::parse)
                .map(|p| p.fqdn.to_string())
                .unwrap_or_default()
        });
        service
            .strip_suffix(".dns")
            .or_else(|| service.strip_suffix(".static"))
            .unwrap_or(&service)
            .to_string()
    }

    /// The provider's model for the client's `model` (`None`: keep it).
    pub fn map_model(&self, model: &str) -> Option<&str> {
        if let Some(m) = self.model_mapping.get(model) {
            return Some(m);
        }
        self.model_mapping
            .iter()
            .filter_map(|(k, v)| k.strip_suffix('*').map(|prefix| (prefix, v)))
            .filter(|(prefix, _)| model.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, v)| v.as_str())
    }
}

/// One priority level: its providers share traffic by weight.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderGroup {
    pub providers: Vec<Provider>,
}

/// The route's own upstream (attempt 1, sent by Envoy, not by us).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Primary {
    /// Name for its breaker, headers and logs (default: the route's `cluster_name`).
    #[serde(default)]
    pub name: Option<String>,
    /// Fall back when no byte of the answer (headers, or a stream's first data event) came
    /// within this many ms of the request end (0 = off). ai-proxy's `firstByteTimeout`.
    #[serde(default)]
    pub first_byte_timeout: u32,
}

/// When and how often to fall back (ai-proxy `retryOnFailure`, extended).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RetryOnFailure {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Attempts after the first one.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Total deadline of the attempt chain in ms, from the request start.
    #[serde(default = "default_retry_timeout")]
    pub retry_timeout: u32,
    /// Failure statuses, anchored regexes (`429`, `5..`, `4.*`).
    #[serde(default = "default_retry_on_status")]
    pub retry_on_status: Vec<String>,
    /// Gateway-generated 503/504 (connect failure, reset, route timeout) count as failures.
    #[serde(default = "yes")]
    pub on_gateway_error: bool,
    /// A 200 JSON body with an `error` object counts as a failure.
    #[serde(default = "yes")]
    pub on_error_body: bool,
    /// A 200 stream whose first data event is an error counts as a failure.
    #[serde(default = "yes")]
    pub on_stream_error_event: bool,
    /// Fall back only from failures that came within this many ms of the attempt start (0 = any).
    #[serde(default)]
    pub retry_on_failure_within: u32,
    /// A `Retry-After` on a failure keeps that provider out for that long (capped below).
    #[serde(default = "yes")]
    pub honor_retry_after: bool,
    #[serde(default = "default_max_retry_after")]
    pub max_retry_after: u32,
}

impl Default for RetryOnFailure {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).unwrap_or_else(|_| unreachable!())
    }
}

/// Circuit breaker per provider, shared by every VM (ai-proxy `failover`, extended).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Failover {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Failures that open the breaker: consecutive, or within `failureWindow` when set.
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// Window in ms for counting failures (0 = consecutive failures).
    #[serde(default)]
    pub failure_window: u32,
    /// Open time in ms before one probe request may go through.
    #[serde(default = "default_cooldown")]
    pub cooldown: u32,
    /// Successful probes that close it again.
    #[serde(default = "default_success_threshold")]
    pub success_threshold: u32,
}

impl Default for Failover {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).unwrap_or_else(|_| unreachable!())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    #[serde(default)]
    pub primary: Primary,
    /// Fallback providers by priority, first group first.
    #[serde(default)]
    pub provider_groups: Vec<ProviderGroup>,
    #[serde(default)]
    pub retry_on_failure: RetryOnFailure,
    #[serde(default)]
    pub failover: Failover,
    /// Request bodies kept for resending (larger ones are not retried).
    #[serde(default = "default_max_request_body")]
    pub max_request_body_bytes: u32,
    /// Response bodies inspected or kept as the last error.
    #[serde(default = "default_max_response_body")]
    pub max_response_body_bytes: u32,
    /// Response header naming the provider that answered (empty: none).
    #[serde(default = "default_provider_header")]
    pub provider_header: String,
    /// Response header with the number of attempts (empty: none).
    #[serde(default = "default_attempts_header")]
    pub attempts_header: String,
    #[serde(skip)]
    statuses: OnceCell<StatusPatterns>,
}

fn yes() -> bool {
    true
}
fn default_port() -> u16 {
    443
}
fn default_path() -> String {
    "/v1/chat/completions".into()
}
fn default_auth_header() -> String {
    "Authorization".into()
}
fn default_provider_timeout() -> u32 {
    120_000
}
fn default_weight() -> u32 {
    1
}
fn default_max_retries() -> u32 {
    2
}
fn default_retry_timeout() -> u32 {
    60_000
}
fn default_retry_on_status() -> Vec<String> {
    vec!["429".into(), "5..".into()]
}
fn default_max_retry_after() -> u32 {
    60_000
}
fn default_failure_threshold() -> u32 {
    3
}
fn default_cooldown() -> u32 {
    30_000
}
fn default_success_threshold() -> u32 {
    1
}
fn default_max_request_body() -> u32 {
    1 << 20
}
fn default_max_response_body() -> u32 {
    256 << 10
}
fn default_provider_header() -> String {
    "x-ai-fallback-provider".into()
}
fn default_attempts_header() -> String {
    "x-ai-fallback-attempts".into()
}

impl Config {
    /// The compiled failure statuses (validated at configure time).
    pub fn statuses(&self) -> &StatusPatterns {
        self.statuses.get_or_init(|| {
            StatusPatterns::compile(&self.retry_on_failure.retry_on_status).unwrap_or_default()
        })
    }

    pub fn providers(&self) -> impl Iterator<Item = &Provider> {
        self.provider_groups.iter().flat_map(|g| g.providers.iter())
    }

    /// Attempts in one chain, the first (primary) included.
    pub fn max_attempts(&self) -> u32 {
        self.retry_on_failure.max_retries.saturating_add(1)
    }
}

impl PluginConfig for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        let r = &self.retry_on_failure;
        let statuses = StatusPatterns::compile(&r.retry_on_status)
            .map_err(|(i, e)| ConfigError::at(format!("retryOnFailure.retryOnStatus[{i}]"), e))?;
        let _ = self.statuses.set(statuses);
        if r.retry_timeout == 0 {
            return Err(ConfigError::at(
                "retryOnFailure.retryTimeout",
                "must be positive (ms)",
            ));
        }
        let f = &self.failover;
        if f.failure_threshold == 0 {
            return Err(ConfigError::at(
                "failover.failureThreshold",
                "must be at least 1",
            ));
        }
        if f.success_threshold == 0 {
            return Err(ConfigError::at(
                "failover.successThreshold",
                "must be at least 1",
            ));
        }
        if f.cooldown == 0 {
            return Err(ConfigError::at(
                "failover.cooldown",
                "must be positive (ms)",
            ));
        }
        if self.max_request_body_bytes == 0 {
            return Err(ConfigError::at("maxRequestBodyBytes", "must be positive"));
        }
        if self.max_response_body_bytes == 0 {
            return Err(ConfigError::at("maxResponseBodyBytes", "must be positive"));
        }
        let mut names = std::collections::BTreeSet::new();
        if let Some(p) = &self.primary.name {
            if p.is_empty() {
                return Err(ConfigError::at("primary.name", "must not be empty"));
            }
            names.insert(p.clone());
        }
        for (g, group) in self.provider_groups.iter().enumerate() {
            if group.providers.is_empty() {
                return Err(ConfigError::at(
                    format!("providerGroups[{g}].providers"),
                    "a group needs at least one provider",
                ));
            }
            for (i, p) in group.providers.iter().enumerate() {
                let at = |f: &str| format!("providerGroups[{g}].providers[{i}].{f}");
                validate_provider(p, &at)?;
                if !names.insert(p.name.clone()) {
                    return Err(ConfigError::at(
                        at("name"),
                        format!("duplicate provider name {:?}", p.name),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn validate_provider(p: &Provider, at: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
    if p.name.is_empty() || p.name.contains([':', ' ', '|']) {
        return Err(ConfigError::at(
            at("name"),
            "must be non-empty, without spaces, ':' or '|'",
        ));
    }
    match (&p.cluster, &p.service_name) {
        (None, None) => {
            return Err(ConfigError::at(
                at("cluster"),
                "give cluster or serviceName",
            ))
        }
        (Some(c), _) if cluster::parse(c).is_none() => {
            return Err(ConfigError::at(
                at("cluster"),
                "must look like outbound|<port>|<subset>|<host>",
            ))
        }
        (_, Some(s)) if s.is_empty() => {
            return Err(ConfigError::at(at("serviceName"), "must not be empty"))
        }
        _ => {}
    }
    if p.authority().is_empty() {
        return Err(ConfigError::at(at("host"), "cannot derive a host; set it"));
    }
    if !p.path.starts_with('/') {
        return Err(ConfigError::at(at("path"), "must start with '/'"));
    }
    if p.auth_header.is_empty() {
        return Err(ConfigError::at(at("authHeader"), "must not be empty"));
    }
    if p.timeout == 0 {
        return Err(ConfigError::at(at("timeout"), "must be positive (ms)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use higress_sdk::RuleMatcher;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<RuleMatcher<Config>, ConfigError> {
        RuleMatcher::parse(v.to_string().as_bytes())
    }

    fn provider(name: &str) -> serde_json::Value {
        json!({"name": name, "serviceName": format!("{name}.dns")})
    }

    #[test]
    fn defaults_and_derived_cluster_and_host() {
        let m = parse(json!({"providerGroups": [{"providers": [provider("deepseek")]}]})).unwrap();
        let c = m.global().unwrap();
        assert_eq!(c.max_attempts(), 3);
        assert_eq!(c.retry_on_failure.retry_timeout, 60_000);
        let p = c.providers().next().unwrap();
        assert_eq!(p.cluster_name(), "outbound|443||deepseek.dns");
        assert_eq!(p.authority(), "deepseek");
        assert_eq!(p.path, "/v1/chat/completions");
        assert!(c.statuses().matches(429) && c.statuses().matches(503));
        assert!(!c.statuses().matches(404));
    }

    #[test]
    fn model_mapping_exact_then_longest_prefix_then_star() {
        let p: Provider = serde_json::from_value(json!({"name": "x", "cluster": "outbound|80||x.static",
            "modelMapping": {"gpt-4o": "qwen-max", "gpt-*": "qwen-plus", "gpt-4*": "qwen-turbo", "*": "qwen-long"}}))
        .unwrap();
        assert_eq!(p.map_model("gpt-4o"), Some("qwen-max"));
        assert_eq!(p.map_model("gpt-4o-mini"), Some("qwen-turbo"));
        assert_eq!(p.map_model("gpt-3.5"), Some("qwen-plus"));
        assert_eq!(p.map_model("claude"), Some("qwen-long"));
        assert_eq!(p.authority(), "x");
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                json!({"retryOnFailure": {"retryOnStatus": ["429", "5(("]}}),
                "retryOnFailure.retryOnStatus[1]",
            ),
            (
                json!({"providerGroups": [{"providers": [provider("a"), provider("a")]}]}),
                "providerGroups[0].providers[1].name",
            ),
            (
                json!({"providerGroups": [{"providers": [{"name": "a"}]}]}),
                "providerGroups[0].providers[0].cluster",
            ),
            (
                json!({"providerGroups": [{"providers": [{"name": "a", "cluster": "nope"}]}]}),
                "providerGroups[0].providers[0].cluster",
            ),
            (
                json!({"providerGroups": [{"providers": []}]}),
                "providerGroups[0].providers",
            ),
            (
                json!({"failover": {"failureThreshold": 0}}),
                "failover.failureThreshold",
            ),
            (json!({"failover": {"cooldown": 0}}), "failover.cooldown"),
            (
                json!({"retryOnFailure": {"retryTimeout": 0}}),
                "retryOnFailure.retryTimeout",
            ),
            (json!({"maxRequestBodyBytes": 0}), "maxRequestBodyBytes"),
        ];
        for (cfg, path) in cases {
            let e = parse(cfg.clone()).unwrap_err();
            assert!(e.path.starts_with(path), "{cfg}: got {e}");
        }
        assert!(parse(json!({"unknownField": 1})).is_err());
    }
}

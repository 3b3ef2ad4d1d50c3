//! Plugin configuration with Higress rule matching.
//!
//! ```json
//! { "model": "qwen", "redis": {"timeout": 100},
//!   "_rules_": [ { "_match_route_": ["chat"], "model": "gpt-4o" },
//!                { "_match_domain_": ["*.internal.com"], "_match_service_": ["llm.dns:443"], "redis": {"timeout": 5} } ] }
//! ```
//! * Keys other than `_rules_` form the global config; an empty config (`{}` or no bytes) is
//!   `C::default()`; a config with only `_rules_` has no global config, so unmatched requests are
//!   not handled by the plugin at all (as in Higress).
//! * A rule's config is the global object with the rule's keys laid over it (top-level keys only:
//!   a rule's `redis` object replaces the global `redis` object whole).
//! * First matching rule in order wins, else the global config, else none.
//! * Errors name the field: `_rules_[1].redis.timeout: invalid type: string "x", expected u32`.

use std::fmt;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::hostcalls;
use crate::matcher::{DomainPattern, MatchInput, RuleMatch};
use crate::types::HostError;

pub const RULES_KEY: &str = "_rules_";
pub const MATCH_ROUTE_KEY: &str = "_match_route_";
pub const MATCH_ROUTE_PREFIX_KEY: &str = "_match_route_prefix_";
pub const MATCH_DOMAIN_KEY: &str = "_match_domain_";
pub const MATCH_SERVICE_KEY: &str = "_match_service_";
pub const MATCH_CONSUMER_KEY: &str = "_match_consumer_";
const MATCH_KEYS: [&str; 5] = [
    MATCH_ROUTE_KEY,
    MATCH_ROUTE_PREFIX_KEY,
    MATCH_DOMAIN_KEY,
    MATCH_SERVICE_KEY,
    MATCH_CONSUMER_KEY,
];

/// A rejected configuration: where (a JSON path like `_rules_[1].redis.timeout`, empty for the
/// whole document) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub reason: String,
}

impl ConfigError {
    /// An error at `path` (relative to the config object being validated).
    pub fn at(path: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            path: path.into(),
            reason: reason.into(),
        }
    }

    fn under(mut self, prefix: &str) -> ConfigError {
        self.path = match (prefix.is_empty(), self.path.is_empty()) {
            (true, _) => self.path,
            (false, true) => prefix.to_string(),
            (false, false) if self.path.starts_with('[') => format!("{prefix}{}", self.path),
            (false, false) => format!("{prefix}.{}", self.path),
        };
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

/// A plugin's configuration type. `validate` runs after deserialization, for the global config and
/// for every rule's (merged) config; return paths relative to the config object.
pub trait PluginConfig: DeserializeOwned + Default + 'static {
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// One `_rules_` entry.
#[derive(Debug)]
pub struct Rule<C> {
    pub conditions: RuleMatch,
    pub config: Rc<C>,
}

/// The parsed configuration: global config plus ordered rules.
#[derive(Debug)]
pub struct RuleMatcher<C> {
    global: Option<Rc<C>>,
    rules: Vec<Rule<C>>,
}

impl<C> Default for RuleMatcher<C> {
    fn default() -> Self {
        RuleMatcher {
            global: None,
            rules: Vec::new(),
        }
    }
}

impl<C: PluginConfig> RuleMatcher<C> {
    /// Parses the plugin configuration bytes (buffer `PluginConfiguration`).
    pub fn parse(bytes: &[u8]) -> Result<RuleMatcher<C>, ConfigError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(RuleMatcher {
                global: Some(Rc::new(C::default())),
                rules: Vec::new(),
            });
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| ConfigError::at("", format!("invalid JSON: {e}")))?;
        RuleMatcher::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<RuleMatcher<C>, ConfigError> {
        let Value::Object(mut object) = value else {
            return Err(ConfigError::at(
                "",
                "the configuration must be a JSON object",
            ));
        };
        if object.is_empty() {
            return Ok(RuleMatcher {
                global: Some(Rc::new(C::default())),
                rules: Vec::new(),
            });
        }
        let rules_value = object.remove(RULES_KEY);
        let global = if object.is_empty() {
            None
        } else {
            Some(Rc::new(build::<C>(&object, "")?))
        };
        let mut rules = Vec::new();
        match rules_value {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.into_iter().enumerate() {
                    rules.push(parse_rule::<C>(
                        &object,
                        item,
                        &format!("{RULES_KEY}[{i}]"),
                    )?);
                }
            }
            Some(_) => return Err(ConfigError::at(RULES_KEY, "must be an array of rules")),
        }
        if global.is_none() && rules.is_empty() {
            // Only an empty `_rules_`: Higress reports this as having no valid rule.
            return Err(ConfigError::at(
                RULES_KEY,
                "no rules and no global configuration",
            ));
        }
        Ok(RuleMatcher { global, rules })
    }
}

impl<C> RuleMatcher<C> {
    pub fn global(&self) -> Option<&Rc<C>> {
        self.global.as_ref()
    }

    pub fn rules(&self) -> &[Rule<C>] {
        &self.rules
    }

    /// First matching rule's config, else the global config, else `None`.
    pub fn matching(&self, input: &MatchInput<'_>) -> Option<&Rc<C>> {
        self.rules
            .iter()
            .find(|r| r.conditions.matches(input))
            .map(|r| &r.config)
            .or(self.global.as_ref())
    }

    /// Matches the current request, reading only what the rules need: `route_name` and
    /// `cluster_name` properties, `:authority` and `x-mse-consumer` headers. Call it from the
    /// request-headers callback, where the header map is available.
    pub fn match_current(&self) -> Result<Option<Rc<C>>, HostError> {
        if self.rules.is_empty() {
            return Ok(self.global.clone());
        }
        let any = |f: fn(&RuleMatch) -> bool| self.rules.iter().any(|r| f(&r.conditions));
        let route = if any(|c| !c.routes.is_empty() || !c.route_prefixes.is_empty()) {
            hostcalls::get_property_string(&["route_name"])?
        } else {
            None
        };
        let cluster = if any(|c| !c.services.is_empty()) {
            hostcalls::get_property_string(&["cluster_name"])?
        } else {
            None
        };
        let authority = if any(|c| !c.domains.is_empty()) {
            hostcalls::get_request_header(":authority")?
        } else {
            None
        };
        let consumer = if any(|c| !c.consumers.is_empty()) {
            hostcalls::get_request_header("x-mse-consumer")?
        } else {
            None
        };
        let input = MatchInput {
            route_name: route.as_deref(),
            cluster_name: cluster.as_deref(),
            authority: authority.as_deref(),
            consumer: consumer.as_deref(),
        };
        Ok(self.matching(&input).cloned())
    }
}

fn build<C: PluginConfig>(object: &Map<String, Value>, prefix: &str) -> Result<C, ConfigError> {
    let config: C =
        serde_path_to_error::deserialize(Value::Object(object.clone())).map_err(|e| {
            let path = e.path().to_string();
            // serde_path_to_error renders the root as ".".
            let path = if path == "." { String::new() } else { path };
            ConfigError::at(path, e.into_inner().to_string()).under(prefix)
        })?;
    config.validate().map_err(|e| e.under(prefix))?;
    Ok(config)
}

fn parse_rule<C: PluginConfig>(
    global: &Map<String, Value>,
    item: Value,
    path: &str,
) -> Result<Rule<C>, ConfigError> {
    let Value::Object(mut rule) = item else {
        return Err(ConfigError::at(path, "a rule must be a JSON object"));
    };
    let list = |rule: &mut Map<String, Value>, key: &str| -> Result<Vec<String>, ConfigError> {
        let key_path = format!("{path}.{key}");
        match rule.remove(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    Value::String(s) if s.is_empty() => None,
                    Value::String(s) => Some(Ok(s)),
                    _ => Some(Err(ConfigError::at(
                        format!("{key_path}[{i}]"),
                        "expected a string",
                    ))),
                })
                .collect(),
            Some(_) => Err(ConfigError::at(key_path, "expected an array of strings")),
        }
    };
    let conditions = RuleMatch {
        routes: list(&mut rule, MATCH_ROUTE_KEY)?,
        route_prefixes: list(&mut rule, MATCH_ROUTE_PREFIX_KEY)?,
        domains: list(&mut rule, MATCH_DOMAIN_KEY)?
            .iter()
            .map(|d| DomainPattern::parse(d))
            .collect(),
        services: list(&mut rule, MATCH_SERVICE_KEY)?,
        consumers: list(&mut rule, MATCH_CONSUMER_KEY)?,
    };
    if conditions.is_empty() {
        return Err(ConfigError::at(
            path,
            format!(
                "a rule needs at least one non-empty {}",
                MATCH_KEYS.join(", ")
            ),
        ));
    }
    if rule.contains_key(RULES_KEY) {
        return Err(ConfigError::at(
            format!("{path}.{RULES_KEY}"),
            "rules cannot be nested",
        ));
    }
    let mut merged = global.clone();
    merged.extend(rule);
    let config = build::<C>(&merged, path)?;
    Ok(Rule {
        conditions,
        config: Rc::new(config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Redis {
        #[serde(default)]
        timeout: u32,
        #[serde(default)]
        host: String,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        #[serde(default)]
        model: String,
        #[serde(default)]
        limit: u32,
        #[serde(default)]
        redis: Option<Redis>,
    }

    impl PluginConfig for Cfg {
        fn validate(&self) -> Result<(), ConfigError> {
            if self.limit > 1000 {
                return Err(ConfigError::at("limit", "must be at most 1000"));
            }
            if let Some(r) = &self.redis {
                if r.timeout == 0 {
                    return Err(ConfigError::at("redis.timeout", "must be positive"));
                }
            }
            Ok(())
        }
    }

    fn parse(json: &str) -> Result<RuleMatcher<Cfg>, ConfigError> {
        RuleMatcher::parse(json.as_bytes())
    }

    fn err(json: &str) -> String {
        parse(json).unwrap_err().to_string()
    }

    fn route(r: &str) -> MatchInput<'_> {
        MatchInput {
            route_name: Some(r),
            ..Default::default()
        }
    }

    #[test]
    fn empty_config_is_default() {
        for json in ["", "  ", "{}"] {
            let m = parse(json).unwrap();
            assert_eq!(**m.global().unwrap(), Cfg::default());
            assert!(m.rules().is_empty());
        }
    }

    #[test]
    fn global_only() {
        let m = parse(r#"{"model":"qwen","limit":5}"#).unwrap();
        assert_eq!(m.matching(&route("x")).unwrap().model, "qwen");
    }

    #[test]
    fn rules_only_has_no_global() {
        let m = parse(r#"{"_rules_":[{"_match_route_":["a"],"model":"m"}]}"#).unwrap();
        assert!(m.global().is_none());
        assert_eq!(m.matching(&route("a")).unwrap().model, "m");
        assert!(m.matching(&route("b")).is_none());
    }

    #[test]
    fn rule_inherits_unset_top_level_fields_and_wins_on_set_ones() {
        let m = parse(
            r#"{"model":"g","limit":7,"redis":{"timeout":9,"host":"h"},
                "_rules_":[{"_match_route_":["a"],"model":"r","redis":{"timeout":1}}]}"#,
        )
        .unwrap();
        let c = m.matching(&route("a")).unwrap();
        assert_eq!(c.model, "r");
        assert_eq!(c.limit, 7);
        // Top-level merge: the rule's `redis` replaces the global one whole.
        assert_eq!(
            c.redis,
            Some(Redis {
                timeout: 1,
                host: String::new()
            })
        );
        assert_eq!(m.matching(&route("z")).unwrap().model, "g");
    }

    #[test]
    fn first_matching_rule_wins() {
        let m = parse(
            r#"{"_rules_":[{"_match_route_prefix_":["ai"],"model":"first"},{"_match_route_":["ai-1"],"model":"second"}]}"#,
        )
        .unwrap();
        assert_eq!(m.matching(&route("ai-1")).unwrap().model, "first");
    }

    #[test]
    fn each_match_kind_and_mixed_keys() {
        let m = parse(
            r#"{"_rules_":[
                {"_match_domain_":["*.a.com"],"_match_service_":["s.dns:80"],"model":"mixed"},
                {"_match_domain_":["*.a.com"],"model":"domain"},
                {"_match_service_":["s.dns"],"model":"service"},
                {"_match_route_prefix_":["p-"],"model":"prefix"},
                {"_match_consumer_":["bob"],"model":"consumer"}]}"#,
        )
        .unwrap();
        let at = |authority, cluster, route, consumer| {
            m.matching(&MatchInput {
                route_name: Some(route),
                cluster_name: Some(cluster),
                authority: Some(authority),
                consumer: Some(consumer),
            })
            .map(|c| c.model.clone())
        };
        assert_eq!(
            at("x.a.com", "outbound|80||s.dns", "", "").as_deref(),
            Some("mixed")
        );
        assert_eq!(
            at("x.a.com", "outbound|81||s.dns", "", "").as_deref(),
            Some("domain")
        );
        assert_eq!(
            at("x.b.com", "outbound|81||s.dns", "", "").as_deref(),
            Some("service")
        );
        assert_eq!(at("x.b.com", "", "p-1", "").as_deref(), Some("prefix"));
        assert_eq!(at("x.b.com", "", "", "bob").as_deref(), Some("consumer"));
        assert_eq!(at("x.b.com", "", "", ""), None);
    }

    #[test]
    fn config_errors_name_the_field() {
        assert_eq!(
            err(r#"{"limit":"x"}"#),
            r#"limit: invalid type: string "x", expected u32"#
        );
        assert_eq!(
            err(
                r#"{"_rules_":[{"_match_route_":["a"]},{"_match_route_":["b"],"redis":{"timeout":"x"}}]}"#
            ),
            r#"_rules_[1].redis.timeout: invalid type: string "x", expected u32"#
        );
        assert!(
            err(r#"{"bogus":1}"#).starts_with("bogus: unknown field `bogus`"),
            "{}",
            err(r#"{"bogus":1}"#)
        );
        assert_eq!(err(r#"{"limit":5000}"#), "limit: must be at most 1000");
        assert_eq!(
            err(r#"{"_rules_":[{"_match_route_":["a"],"redis":{"timeout":0}}]}"#),
            "_rules_[0].redis.timeout: must be positive"
        );
        assert!(err("{not json").starts_with("invalid JSON"));
        assert_eq!(err("[1]"), "the configuration must be a JSON object");
        assert_eq!(
            err(r#"{"_rules_":{}}"#),
            "_rules_: must be an array of rules"
        );
        assert_eq!(
            err(r#"{"_rules_":[5]}"#),
            "_rules_[0]: a rule must be a JSON object"
        );
        assert!(err(r#"{"_rules_":[{"model":"x"}]}"#)
            .starts_with("_rules_[0]: a rule needs at least one"));
        assert!(
            err(r#"{"_rules_":[{"_match_route_":[""]}]}"#).starts_with("_rules_[0]: a rule needs")
        );
        assert_eq!(
            err(r#"{"_rules_":[{"_match_route_":"a"}]}"#),
            "_rules_[0]._match_route_: expected an array of strings"
        );
        assert_eq!(
            err(r#"{"_rules_":[{"_match_domain_":["a",3]}]}"#),
            "_rules_[0]._match_domain_[1]: expected a string"
        );
        assert_eq!(
            err(r#"{"_rules_":[]}"#),
            "_rules_: no rules and no global configuration"
        );
        assert_eq!(
            err(r#"{"_rules_":[{"_match_route_":["a"],"_rules_":[]}]}"#),
            "_rules_[0]._rules_: rules cannot be nested"
        );
    }

    #[test]
    fn bad_global_fails_even_with_rules() {
        assert_eq!(
            err(r#"{"limit":5000,"_rules_":[{"_match_route_":["a"],"limit":1}]}"#),
            "limit: must be at most 1000"
        );
    }
}

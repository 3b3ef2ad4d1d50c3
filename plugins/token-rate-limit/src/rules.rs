//! Which bucket a request counts against: the first `rule_items` entry whose source is present and
//! one of whose keys matches, or the `global_threshold`.

use std::net::IpAddr;

use regex::Regex;

use crate::config::{Config, Limit, RuleItem};
use crate::ip::{parse_client, Cidr};

/// What a rule reads from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Header(String),
    Param(String),
    Consumer,
    Cookie(String),
    /// The client address: `None` = `source.address`, else the first entry of this header.
    Ip(Option<String>),
    Model,
    Route,
}

#[derive(Debug, Clone)]
enum KeyMatch {
    Exact(String),
    Any,
    Regex(Regex),
    Cidr(Cidr),
}

#[derive(Debug, Clone)]
struct CompiledKey {
    matcher: KeyMatch,
    key: String,
    limits: Vec<Limit>,
}

#[derive(Debug, Clone)]
struct CompiledItem {
    /// The Higress field name, e.g. `limit_by_per_header`; part of the bucket id.
    kind: &'static str,
    source: Source,
    /// `limit_by_per_*`: one bucket per actual value; otherwise one per key.
    per_value: bool,
    /// Header/param/cookie name, for the bucket id.
    name: String,
    keys: Vec<CompiledKey>,
}

/// A rule error with the config path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub path: String,
    pub reason: String,
}

/// Everything rules read, gathered once per request.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    /// `:path` with its query.
    pub path: String,
    /// `source.address` (`ip:port`).
    pub remote_addr: Option<String>,
    pub model: Option<String>,
    pub route: Option<String>,
}

impl RequestFacts {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn param(&self, name: &str) -> Option<String> {
        let query = self.path.split_once('?')?.1;
        let query = query.split('#').next().unwrap_or(query);
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .find_map(|c| {
                let (k, v) = c.trim().split_once('=')?;
                (k.trim() == name).then(|| v.trim().to_string())
            })
    }

    fn value(&self, source: &Source) -> Option<String> {
        match source {
            Source::Header(h) => self.header(h).map(str::to_string),
            Source::Param(p) => self.param(p),
            Source::Consumer => self.header("x-mse-consumer").map(str::to_string),
            Source::Cookie(c) => self.cookie(c),
            Source::Ip(None) => self
                .remote_addr
                .as_deref()
                .and_then(parse_client)
                .map(|ip| ip.to_string()),
            Source::Ip(Some(h)) => self
                .header(h)
                .and_then(parse_client)
                .map(|ip| ip.to_string()),
            Source::Model => self.model.clone(),
            Source::Route => self.route.clone(),
        }
    }
}

fn percent_decode(s: &str) -> String {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The bucket a request counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket<'a> {
    /// Unique per bucket; used in counter keys.
    pub id: String,
    pub limits: &'a [Limit],
}

/// The compiled `global_threshold` or `rule_items`.
#[derive(Debug, Clone)]
pub struct CompiledRules {
    rule_name: String,
    global: Vec<Limit>,
    items: Vec<CompiledItem>,
}

impl CompiledRules {
    pub fn compile(config: &Config) -> Result<CompiledRules, RuleError> {
        let global = config
            .global_threshold
            .as_ref()
            .map(|t| t.limits())
            .unwrap_or_default();
        let items = config
            .rule_items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                compile_item(item).map_err(|(p, r)| err(format!("rule_items[{i}]{p}"), r))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CompiledRules {
            rule_name: config.rule_name.clone(),
            global,
            items,
        })
    }

    /// Whether a rule needs the request body's `model` (so matching waits for the body).
    pub fn needs_model(&self) -> bool {
        self.items.iter().any(|i| i.source == Source::Model)
    }

    pub fn matching(&self, facts: &RequestFacts) -> Option<Bucket<'_>> {
        if !self.global.is_empty() {
            return Some(Bucket {
                id: format!("{}:global_threshold", self.rule_name),
                limits: &self.global,
            });
        }
        for item in &self.items {
            let Some(value) = facts.value(&item.source) else {
                continue;
            };
            let ip: Option<IpAddr> = match item.source {
                Source::Ip(_) => value.parse().ok(),
                _ => None,
            };
            for key in &item.keys {
                let hit = match &key.matcher {
                    KeyMatch::Exact(k) => *k == value,
                    KeyMatch::Any => true,
                    KeyMatch::Regex(re) => re.is_match(&value),
                    KeyMatch::Cidr(c) => ip.is_some_and(|ip| c.contains(ip)),
                };
                if hit {
                    let bucket_value = if item.per_value {
                        value.as_str()
                    } else {
                        key.key.as_str()
                    };
                    return Some(Bucket {
                        id: format!(
                            "{}:{}:{}:{}:{}",
                            self.rule_name, item.kind, item.name, key.key, bucket_value
                        ),
                        limits: &key.limits,
                    });
                }
            }
        }
        None
    }
}

fn err(path: String, reason: impl Into<String>) -> RuleError {
    RuleError {
        path,
        reason: reason.into(),
    }
}

type ItemError = (String, String);

fn compile_item(item: &RuleItem) -> Result<CompiledItem, ItemError> {
    let candidates: [(&'static str, &Option<String>, bool); 13] = [
        ("limit_by_header", &item.limit_by_header, false),
        ("limit_by_param", &item.limit_by_param, false),
        ("limit_by_consumer", &item.limit_by_consumer, false),
        ("limit_by_cookie", &item.limit_by_cookie, false),
        ("limit_by_model", &item.limit_by_model, false),
        ("limit_by_route", &item.limit_by_route, false),
        ("limit_by_per_header", &item.limit_by_per_header, true),
        ("limit_by_per_param", &item.limit_by_per_param, true),
        ("limit_by_per_consumer", &item.limit_by_per_consumer, true),
        ("limit_by_per_cookie", &item.limit_by_per_cookie, true),
        ("limit_by_per_ip", &item.limit_by_per_ip, true),
        ("limit_by_per_model", &item.limit_by_per_model, true),
        ("limit_by_per_route", &item.limit_by_per_route, true),
    ];
    let set: Vec<_> = candidates.iter().filter(|(_, v, _)| v.is_some()).collect();
    let [(kind, value, per_value)] = set.as_slice() else {
        return Err((
            String::new(),
            format!(
                "set exactly one limit_by_* field (found {})",
                if set.is_empty() {
                    "none".to_string()
                } else {
                    set.iter()
                        .map(|(k, _, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        ));
    };
    let name = value.as_deref().unwrap_or_default().to_string();
    let source = match kind
        .trim_start_matches("limit_by_")
        .trim_start_matches("per_")
    {
        "header" | "param" | "cookie" if name.is_empty() => {
            return Err((
                format!(".{kind}"),
                "names the header, parameter or cookie; must not be empty".into(),
            ))
        }
        "header" => Source::Header(name.to_ascii_lowercase()),
        "param" => Source::Param(name.clone()),
        "cookie" => Source::Cookie(name.clone()),
        "consumer" => Source::Consumer,
        "model" => Source::Model,
        "route" => Source::Route,
        _ => match name.as_str() {
            "from-remote-addr" => Source::Ip(None),
            other => match other.strip_prefix("from-header-") {
                Some(h) if !h.is_empty() => Source::Ip(Some(h.to_ascii_lowercase())),
                _ => {
                    return Err((
                        format!(".{kind}"),
                        "must be from-remote-addr or from-header-<name>".into(),
                    ))
                }
            },
        },
    };
    let is_ip = matches!(source, Source::Ip(_));
    let mut keys = Vec::new();
    for (j, k) in item.limit_keys.iter().enumerate() {
        let at = format!(".limit_keys[{j}].key");
        let matcher = if k.key == "*" {
            KeyMatch::Any
        } else if let Some(re) = k.key.strip_prefix("regexp:") {
            KeyMatch::Regex(
                Regex::new(re).map_err(|e| (at.clone(), format!("invalid regexp: {e}")))?,
            )
        } else if is_ip {
            KeyMatch::Cidr(
                Cidr::parse(&k.key)
                    .ok_or_else(|| (at.clone(), "not an IP address or CIDR block".to_string()))?,
            )
        } else if k.key.is_empty() {
            return Err((at, "must not be empty".into()));
        } else {
            KeyMatch::Exact(k.key.clone())
        };
        keys.push(CompiledKey {
            matcher,
            key: k.key.clone(),
            limits: k.thresholds.limits(),
        });
    }
    Ok(CompiledItem {
        kind,
        source,
        per_value: *per_value,
        name,
        keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Unit;
    use crate::window::Window;
    use higress_sdk::PluginConfig;
    use serde_json::json;

    fn rules(v: serde_json::Value) -> Config {
        let c: Config = serde_json::from_value(v).unwrap();
        c.validate().unwrap();
        c
    }

    fn facts(headers: &[(&str, &str)], path: &str) -> RequestFacts {
        RequestFacts {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            path: path.into(),
            remote_addr: Some("10.1.2.3:4567".into()),
            model: Some("gpt-4o".into()),
            route: Some("chat".into()),
        }
    }

    #[test]
    fn first_matching_item_wins_and_buckets_per_value() {
        let c = rules(json!({
            "rule_name": "r",
            "rule_items": [
                {"limit_by_header": "x-tier", "limit_keys": [{"key": "gold", "token_per_minute": 1000}]},
                {"limit_by_per_consumer": "", "limit_keys": [{"key": "regexp:^team-", "token_per_minute": 50, "token_per_day": 500}, {"key": "*", "token_per_minute": 10}]}
            ]
        }));
        let r = c.rules().unwrap();
        let gold = r
            .matching(&facts(
                &[("x-tier", "gold"), ("x-mse-consumer", "team-a")],
                "/",
            ))
            .unwrap();
        assert_eq!(gold.id, "r:limit_by_header:x-tier:gold:gold");
        let team = r
            .matching(&facts(&[("x-mse-consumer", "team-a")], "/"))
            .unwrap();
        assert_eq!(team.id, "r:limit_by_per_consumer::regexp:^team-:team-a");
        assert_eq!(
            team.limits,
            &[
                Limit {
                    unit: Unit::Tokens,
                    window: Window::MINUTE,
                    max: 50
                },
                Limit {
                    unit: Unit::Tokens,
                    window: Window::DAY,
                    max: 500
                }
            ]
        );
        let other = r
            .matching(&facts(&[("x-mse-consumer", "bob")], "/"))
            .unwrap();
        assert_eq!(other.id, "r:limit_by_per_consumer::*:bob");
        assert!(r.matching(&facts(&[], "/")).is_none());
    }

    #[test]
    fn params_cookies_ips_models_routes() {
        let c = rules(json!({
            "rule_name": "r",
            "rule_items": [
                {"limit_by_param": "apikey", "limit_keys": [{"key": "a b", "token_per_second": 5}]},
                {"limit_by_per_cookie": "uid", "limit_keys": [{"key": "*", "token_per_hour": 5}]},
                {"limit_by_per_model": "", "limit_keys": [{"key": "regexp:^gpt-4", "token_per_hour": 7}]},
                {"limit_by_per_ip": "from-remote-addr", "limit_keys": [{"key": "10.1.0.0/16", "request_per_minute": 3}]}
            ]
        }));
        let r = c.rules().unwrap();
        let f = facts(&[], "/v1/chat?x=1&apikey=a%20b");
        assert_eq!(
            r.matching(&f).unwrap().id,
            "r:limit_by_param:apikey:a b:a b"
        );
        let f = facts(&[("cookie", "a=1; uid=u7")], "/");
        assert_eq!(r.matching(&f).unwrap().id, "r:limit_by_per_cookie:uid:*:u7");
        let f = facts(&[], "/");
        assert_eq!(
            r.matching(&f).unwrap().id,
            "r:limit_by_per_model::regexp:^gpt-4:gpt-4o"
        );
        let mut f = facts(&[], "/");
        f.model = Some("qwen".into());
        assert_eq!(
            r.matching(&f).unwrap().id,
            "r:limit_by_per_ip:from-remote-addr:10.1.0.0/16:10.1.2.3"
        );
        f.remote_addr = Some("10.2.0.1:1".into());
        assert!(r.matching(&f).is_none());
        assert!(r.needs_model());
    }

    #[test]
    fn ip_from_a_trusted_header_and_routes() {
        let c = rules(json!({
            "rule_name": "r",
            "rule_items": [
                {"limit_by_per_ip": "from-header-x-real-ip", "limit_keys": [{"key": "0.0.0.0/0", "token_per_minute": 5}]},
                {"limit_by_route": "", "limit_keys": [{"key": "chat", "token_per_minute": 9}]}
            ]
        }));
        let r = c.rules().unwrap();
        let f = facts(&[("x-real-ip", "8.8.4.4, 10.0.0.1")], "/");
        assert_eq!(
            r.matching(&f).unwrap().id,
            "r:limit_by_per_ip:from-header-x-real-ip:0.0.0.0/0:8.8.4.4"
        );
        let f = facts(&[], "/");
        assert_eq!(r.matching(&f).unwrap().id, "r:limit_by_route::chat:chat");
        assert!(!r.needs_model());
    }

    #[test]
    fn global_threshold() {
        let c = rules(json!({"rule_name": "g", "global_threshold": {"token_per_minute": 100}}));
        let b = c
            .rules()
            .unwrap()
            .matching(&RequestFacts::default())
            .unwrap();
        assert_eq!(b.id, "g:global_threshold");
        assert_eq!(b.limits.len(), 1);
    }

    #[test]
    fn bad_rules_name_the_field() {
        for (v, path) in [
            (
                json!({"rule_name": "r", "rule_items": [{"limit_keys": [{"key": "a", "token_per_minute": 1}]}]}),
                "rule_items[0]",
            ),
            (
                json!({"rule_name": "r", "rule_items": [{"limit_by_header": "h", "limit_by_param": "p", "limit_keys": [{"key": "a", "token_per_minute": 1}]}]}),
                "rule_items[0]",
            ),
            (
                json!({"rule_name": "r", "rule_items": [{"limit_by_per_ip": "from-x", "limit_keys": [{"key": "1.1.1.1", "token_per_minute": 1}]}]}),
                "rule_items[0].limit_by_per_ip",
            ),
            (
                json!({"rule_name": "r", "rule_items": [{"limit_by_per_ip": "from-remote-addr", "limit_keys": [{"key": "1.1.1.300", "token_per_minute": 1}]}]}),
                "rule_items[0].limit_keys[0].key",
            ),
            (
                json!({"rule_name": "r", "rule_items": [{"limit_by_per_header": "h", "limit_keys": [{"key": "regexp:(", "token_per_minute": 1}]}]}),
                "rule_items[0].limit_keys[0].key",
            ),
            (
                json!({"rule_name": "r", "rule_items": [{"limit_by_header": "h", "limit_keys": [{"key": "a"}]}]}),
                "rule_items[0].limit_keys[0]",
            ),
            (
                json!({"rule_name": "r", "rule_items": [{"limit_by_header": "h", "limit_keys": [{"key": "a", "token_per_minute": 0}]}]}),
                "rule_items[0].limit_keys[0].token_per_minute",
            ),
            (json!({"rule_name": "r"}), "rule_items"),
            (
                json!({"global_threshold": {"token_per_minute": 1}}),
                "rule_name",
            ),
            (
                json!({"rule_name": "r", "global_threshold": {"token_per_minute": 1}, "redis": {"service_name": ""}}),
                "redis.service_name",
            ),
            (
                json!({"rule_name": "r", "global_threshold": {"token_per_minute": 1}, "window_slots": 0}),
                "window_slots",
            ),
        ] {
            let c: Config = serde_json::from_value(v.clone()).unwrap();
            let e = c.validate().expect_err(&v.to_string());
            assert_eq!(e.path, path, "{v}: {e}");
        }
    }
}

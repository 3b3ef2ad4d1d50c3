//! The match conditions of one `_rules_` entry and how they are evaluated against a request.
//!
//! Semantics: within one key the listed values are alternatives (any may match); across keys
//! every key present must match. The Higress Go matcher implements exactly this for the one
//! combination it supports (`_match_route_` + `_match_service_`); for other combinations it silently
//! looks at one key only, which we treat as a bug rather than a contract.

use crate::cluster;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainPattern {
    Exact(String),
    /// `*.example.com` → host ends with `.example.com`.
    Suffix(String),
    /// `api.*` → host starts with `api.`.
    Prefix(String),
}

impl DomainPattern {
    pub fn parse(raw: &str) -> DomainPattern {
        let lower = raw.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix('*') {
            DomainPattern::Suffix(rest.to_string())
        } else if let Some(rest) = lower.strip_suffix('*') {
            DomainPattern::Prefix(rest.to_string())
        } else {
            DomainPattern::Exact(lower)
        }
    }

    /// `host` must already be port-stripped and lowercased.
    fn matches(&self, host: &str) -> bool {
        match self {
            DomainPattern::Exact(d) => host == d,
            DomainPattern::Suffix(s) => host.ends_with(s.as_str()),
            DomainPattern::Prefix(p) => host.starts_with(p.as_str()),
        }
    }
}

/// What a request looks like to the matcher.
#[derive(Clone, Copy, Debug, Default)]
pub struct MatchInput<'a> {
    /// The `route_name` property.
    pub route_name: Option<&'a str>,
    /// The `cluster_name` property, `outbound|<port>|<subset>|<fqdn>`.
    pub cluster_name: Option<&'a str>,
    /// The `:authority` request header (a port is ignored).
    pub authority: Option<&'a str>,
    /// The `x-mse-consumer` request header set by Higress auth plugins.
    pub consumer: Option<&'a str>,
}

/// Conditions of one rule. An empty list means "this key is absent".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleMatch {
    pub routes: Vec<String>,
    pub route_prefixes: Vec<String>,
    pub domains: Vec<DomainPattern>,
    pub services: Vec<String>,
    pub consumers: Vec<String>,
}

impl RuleMatch {
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
            && self.route_prefixes.is_empty()
            && self.domains.is_empty()
            && self.services.is_empty()
            && self.consumers.is_empty()
    }

    pub fn matches(&self, input: &MatchInput<'_>) -> bool {
        if self.is_empty() {
            return false;
        }
        let route = input.route_name.unwrap_or("");
        if !self.routes.is_empty() && !self.routes.iter().any(|r| r == route) {
            return false;
        }
        if !self.route_prefixes.is_empty()
            && !self
                .route_prefixes
                .iter()
                .any(|p| route.starts_with(p.as_str()))
        {
            return false;
        }
        if !self.domains.is_empty() {
            let host = strip_port(input.authority.unwrap_or("")).to_ascii_lowercase();
            if !self.domains.iter().any(|d| d.matches(&host)) {
                return false;
            }
        }
        if !self.services.is_empty()
            && !service_matches(&self.services, input.cluster_name.unwrap_or(""))
        {
            return false;
        }
        if !self.consumers.is_empty() {
            let consumer = input.consumer.unwrap_or("");
            if !self.consumers.iter().any(|c| c == consumer) {
                return false;
            }
        }
        true
    }
}

/// Removes `:port` from a host, leaving IPv6 literals (`[::1]`) intact.
pub fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(colon) if host.rfind(']').is_none_or(|bracket| bracket < colon) => &host[..colon],
        _ => host,
    }
}

/// Config values are `fqdn` or `fqdn:port`, compared with the cluster's fqdn and port.
fn service_matches(services: &[String], cluster_name: &str) -> bool {
    let Some(parts) = cluster::parse(cluster_name) else {
        return false;
    };
    services.iter().any(|service| {
        if service == parts.fqdn {
            return true;
        }
        match service.rsplit_once(':') {
            Some((fqdn, port)) => fqdn == parts.fqdn && port == parts.port,
            None => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(route: &'a str, cluster: &'a str, authority: &'a str) -> MatchInput<'a> {
        MatchInput {
            route_name: Some(route),
            cluster_name: Some(cluster),
            authority: Some(authority),
            consumer: None,
        }
    }

    #[test]
    fn route_is_exact_membership() {
        let m = RuleMatch {
            routes: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        assert!(m.matches(&input("b", "", "")));
        assert!(!m.matches(&input("bb", "", "")));
        assert!(!m.matches(&MatchInput::default()));
    }

    #[test]
    fn route_prefix() {
        let m = RuleMatch {
            route_prefixes: vec!["ai-".into()],
            ..Default::default()
        };
        assert!(m.matches(&input("ai-route-1", "", "")));
        assert!(!m.matches(&input("route-ai-", "", "")));
    }

    #[test]
    fn domain_wildcards_and_port_stripping() {
        let m = RuleMatch {
            domains: ["*.example.com", "api.*", "exact.io"]
                .iter()
                .map(|d| DomainPattern::parse(d))
                .collect(),
            ..Default::default()
        };
        assert!(m.matches(&input("", "", "a.example.com:8080")));
        assert!(m.matches(&input("", "", "A.Example.COM")));
        assert!(m.matches(&input("", "", "api.other.net")));
        assert!(m.matches(&input("", "", "exact.io:443")));
        assert!(!m.matches(&input("", "", "example.com")));
        assert!(!m.matches(&input("", "", "exact.io.evil")));
    }

    #[test]
    fn strip_port_handles_ipv6() {
        assert_eq!(strip_port("h:80"), "h");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("h"), "h");
    }

    #[test]
    fn service_by_fqdn_or_fqdn_and_port() {
        let m = RuleMatch {
            services: vec!["qwen.dns".into(), "llm.static:8080".into()],
            ..Default::default()
        };
        assert!(m.matches(&input("", "outbound|443||qwen.dns", "")));
        assert!(m.matches(&input("", "outbound|8080||llm.static", "")));
        assert!(!m.matches(&input("", "outbound|80||llm.static", "")));
        assert!(!m.matches(&input("", "qwen.dns", "")));
    }

    #[test]
    fn keys_combine_with_and() {
        let m = RuleMatch {
            routes: vec!["r".into()],
            domains: vec![DomainPattern::parse("*.a.com")],
            services: vec!["s.dns".into()],
            ..Default::default()
        };
        assert!(m.matches(&input("r", "outbound|80||s.dns", "x.a.com")));
        assert!(!m.matches(&input("r", "outbound|80||s.dns", "x.b.com")));
        assert!(!m.matches(&input("other", "outbound|80||s.dns", "x.a.com")));
        assert!(!m.matches(&input("r", "outbound|80||t.dns", "x.a.com")));
    }

    #[test]
    fn consumer_key() {
        let m = RuleMatch {
            route_prefixes: vec!["r".into()],
            consumers: vec!["alice".into()],
            ..Default::default()
        };
        let mut i = input("r1", "", "");
        assert!(!m.matches(&i));
        i.consumer = Some("alice");
        assert!(m.matches(&i));
    }

    #[test]
    fn empty_rule_never_matches() {
        assert!(!RuleMatch::default().matches(&input("r", "c", "a")));
    }
}

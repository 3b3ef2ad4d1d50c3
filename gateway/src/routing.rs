//! Route matching on the request headers as they are when the router sees them.
//!
//! Envoy picks a virtual host by `:authority` (exact domain, then `*.suffix`/`prefix.*` wildcards,
//! then `*`), then the first matching route of it. Here every route carries its own host list and
//! routes are tried in file order; a route's hosts follow Envoy's domain forms. Matching ignores
//! the port of `:authority` like Envoy does when no domain names a port (`strip_any_host_port`).

use crate::config::{HeaderMatch, RouteRt};
use proxy_wasm_host::HeaderMap;

/// Whether `host` (lower-case, no port) matches one Envoy virtual host domain.
fn domain_matches(domain: &str, host: &str) -> bool {
    if domain == "*" || domain == host {
        return true;
    }
    if let Some(suffix) = domain.strip_prefix('*') {
        // Envoy: the wildcard must match at least one character.
        return host.len() > suffix.len() && host.ends_with(suffix);
    }
    if let Some(prefix) = domain.strip_suffix('*') {
        return host.len() > prefix.len() && host.starts_with(prefix);
    }
    false
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        // IPv6 literal: keep the brackets, drop `:port`.
        return authority.find(']').map_or(authority, |i| &authority[..=i]);
    }
    authority.rsplit_once(':').map_or(authority, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            authority
        }
    })
}

fn header_matches(m: &HeaderMatch, headers: &HeaderMap) -> bool {
    let values = headers.get_all(&m.name);
    match (&m.exact, &m.prefix) {
        (Some(v), _) => values.iter().any(|x| x == v),
        (None, Some(p)) => values.iter().any(|x| x.starts_with(p.as_str())),
        (None, None) => !values.is_empty(),
    }
}

/// The first route matching `:authority`, `:path` and the header rules.
pub fn find<'a>(routes: &'a [RouteRt], headers: &HeaderMap) -> Option<&'a RouteRt> {
    let host = strip_port(headers.get(":authority").unwrap_or("")).to_ascii_lowercase();
    let path = headers.get(":path").unwrap_or("/");
    routes.iter().find(|r| {
        (r.hosts.is_empty() || r.hosts.iter().any(|d| domain_matches(d, &host)))
            && path.starts_with(r.path_prefix.as_str())
            && r.headers.iter().all(|m| header_matches(m, headers))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, hosts: &[&str], prefix: &str, headers: Vec<HeaderMatch>) -> RouteRt {
        RouteRt {
            name: name.into(),
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            path_prefix: prefix.into(),
            headers,
            cluster: "outbound|80||x.static".into(),
            timeout: None,
            request_headers_to_add: Vec::new(),
        }
    }

    fn req(authority: &str, path: &str, extra: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::from_pairs(&[(":authority", authority), (":path", path)]);
        for (k, v) in extra {
            h.add(k, v);
        }
        h
    }

    #[test]
    fn first_match_wins_with_hosts_prefix_and_headers() {
        let routes = vec![
            route(
                "by-header",
                &[],
                "/v1/",
                vec![HeaderMatch {
                    name: "x-model".into(),
                    exact: Some("qwen".into()),
                    prefix: None,
                }],
            ),
            route("wild", &["*.example.com"], "/v1/", vec![]),
            route("exact", &["api.test"], "/", vec![]),
        ];
        let name = |h: &HeaderMap| find(&routes, h).map(|r| r.name.clone());
        assert_eq!(
            name(&req(
                "a.example.com:8080",
                "/v1/chat",
                &[("x-model", "qwen")]
            )),
            Some("by-header".into())
        );
        assert_eq!(
            name(&req(
                "a.example.com:8080",
                "/v1/chat",
                &[("x-model", "gpt")]
            )),
            Some("wild".into())
        );
        // `*.example.com` needs at least one character before the suffix.
        assert_eq!(name(&req(".example.com", "/v1/chat", &[])), None);
        assert_eq!(
            name(&req("API.TEST", "/anything", &[])),
            Some("exact".into())
        );
        assert_eq!(name(&req("other", "/v1/chat", &[])), None);
        assert_eq!(name(&req("a.example.com", "/v2", &[])), None);
    }

    #[test]
    fn header_presence_prefix_and_port_stripping() {
        let present = HeaderMatch {
            name: "x-a".into(),
            exact: None,
            prefix: None,
        };
        let prefix = HeaderMatch {
            name: "x-b".into(),
            exact: None,
            prefix: Some("Bearer ".into()),
        };
        let routes = vec![route(
            "r",
            &["[::1]", "prefix.*"],
            "/",
            vec![present, prefix],
        )];
        let ok = [("x-a", ""), ("x-b", "Bearer k")];
        assert!(find(&routes, &req("[::1]:80", "/", &ok)).is_some());
        assert!(find(&routes, &req("prefix.io", "/", &ok)).is_some());
        assert!(find(&routes, &req("prefix.io", "/", &[("x-b", "Bearer k")])).is_none());
        assert!(find(
            &routes,
            &req("prefix.io", "/", &[("x-a", ""), ("x-b", "k")])
        )
        .is_none());
    }
}

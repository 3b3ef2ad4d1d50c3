//! Envoy cluster names as Higress generates them (`outbound|<port>|<subset>|<host>`), for HTTP
//! callouts and Redis.

/// A service registered in Higress as a DNS domain (McpBridge `type: dns`): `outbound|<port>||<name>.dns`.
pub fn dns(name: &str, port: u16) -> String {
    format!("outbound|{port}||{name}.dns")
}

/// A fixed-address service (McpBridge `type: static`): `outbound|<port>||<name>.static`.
pub fn static_ip(name: &str, port: u16) -> String {
    format!("outbound|{port}||{name}.static")
}

/// Any fully qualified service name, e.g. `llm.dns` or `redis.default.svc.cluster.local`.
pub fn fqdn(fqdn: &str, port: u16) -> String {
    format!("outbound|{port}||{fqdn}")
}

/// A Kubernetes service; an empty namespace means `default`, `subset` is usually empty.
pub fn k8s(service: &str, namespace: &str, port: u16, subset: &str) -> String {
    let namespace = if namespace.is_empty() {
        "default"
    } else {
        namespace
    };
    format!("outbound|{port}|{subset}|{service}.{namespace}.svc.cluster.local")
}

/// A Consul service in datacenter `dc`.
pub fn consul(service: &str, dc: &str, port: u16) -> String {
    format!("outbound|{port}||{service}.{dc}.consul")
}

/// A Nacos service. The group's `_` become `-` (as Higress names it); empty group is DEFAULT-GROUP.
pub fn nacos(service: &str, group: &str, namespace_id: &str, port: u16, external: bool) -> String {
    let group = if group.is_empty() {
        "DEFAULT-GROUP".to_string()
    } else {
        group.replace('_', "-")
    };
    let suffix = if external { "nacos-ext" } else { "nacos" };
    format!("outbound|{port}||{service}.{group}.{namespace_id}.{suffix}")
}

/// Parts of a cluster name `outbound|<port>|<subset>|<fqdn>`; `None` for other shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterParts<'a> {
    pub direction: &'a str,
    pub port: &'a str,
    pub subset: &'a str,
    pub fqdn: &'a str,
}

pub fn parse(cluster_name: &str) -> Option<ClusterParts<'_>> {
    let mut parts = cluster_name.split('|');
    let parsed = ClusterParts {
        direction: parts.next()?,
        port: parts.next()?,
        subset: parts.next()?,
        fqdn: parts.next()?,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_match_higress_forms() {
        assert_eq!(dns("qwen", 443), "outbound|443||qwen.dns");
        assert_eq!(static_ip("llm", 80), "outbound|80||llm.static");
        assert_eq!(
            fqdn("redis.default.svc.cluster.local", 6379),
            "outbound|6379||redis.default.svc.cluster.local"
        );
        assert_eq!(
            k8s("redis", "", 6379, ""),
            "outbound|6379||redis.default.svc.cluster.local"
        );
        assert_eq!(
            k8s("api", "prod", 8080, "v1"),
            "outbound|8080|v1|api.prod.svc.cluster.local"
        );
        assert_eq!(consul("svc", "dc1", 80), "outbound|80||svc.dc1.consul");
        assert_eq!(
            nacos("svc", "my_group", "ns1", 80, true),
            "outbound|80||svc.my-group.ns1.nacos-ext"
        );
        assert_eq!(
            nacos("svc", "", "ns1", 80, false),
            "outbound|80||svc.DEFAULT-GROUP.ns1.nacos"
        );
    }

    #[test]
    fn parse_requires_four_parts() {
        let p = parse("outbound|443||qwen.dns").unwrap();
        assert_eq!((p.port, p.subset, p.fqdn), ("443", "", "qwen.dns"));
        assert!(parse("outbound|443|qwen.dns").is_none());
        assert!(parse("a|b|c|d|e").is_none());
    }
}

//! The service fields every Higress ai-cache block carries (`serviceName`, `serviceHost`,
//! `servicePort`, `timeout`) and what a callout makes of them, the same for the cache, the vector
//! store, the embedding provider and the reranker.

use higress_sdk::cluster;

/// Higress ai-cache's timeout when a block sets none.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;

/// Gives a config block with the fields `service_name`, `service_host`, `service_port` and
/// `timeout` its `service()`.
macro_rules! impl_service {
    ($block:ty) => {
        impl $block {
            pub fn service(&self) -> $crate::service::Service<'_> {
                $crate::service::Service {
                    name: &self.service_name,
                    host: &self.service_host,
                    port: self.service_port,
                    timeout: self.timeout,
                }
            }
        }
    };
}
pub(crate) use impl_service;

/// A block's service fields, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct Service<'a> {
    pub name: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub timeout: u32,
}

impl Service<'_> {
    /// The Envoy cluster `outbound|<port>||<serviceName>`. Without `servicePort`, a Higress static
    /// service (`*.static`) is on 80, the port Higress gives every static service, and anything else
    /// on the backend's `default_port`.
    pub fn cluster(&self, default_port: u16) -> String {
        let port = match self.port {
            0 if self.name.ends_with(".static") => 80,
            0 => default_port,
            port => port,
        };
        cluster::fqdn(self.name, port)
    }

    /// The `:authority` of the calls: `serviceHost` when set (a cloud endpoint reached through a
    /// DNS service), else `serviceName`.
    pub fn authority(&self) -> &str {
        if self.host.is_empty() {
            self.name
        } else {
            self.host
        }
    }

    /// `timeout` in milliseconds, or `default_ms` when unset.
    pub fn timeout_ms(&self, default_ms: u32) -> u32 {
        if self.timeout == 0 {
            default_ms
        } else {
            self.timeout
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &'static str, host: &'static str, port: u16) -> Service<'static> {
        Service {
            name,
            host,
            port,
            timeout: 0,
        }
    }

    #[test]
    fn static_services_default_to_port_80_and_others_to_the_backends_port() {
        assert_eq!(
            service("redis.static", "", 0).cluster(6379),
            "outbound|80||redis.static"
        );
        assert_eq!(
            service("redis.dns", "", 0).cluster(6379),
            "outbound|6379||redis.dns"
        );
        assert_eq!(
            service("redis.static", "", 6380).cluster(6379),
            "outbound|6380||redis.static"
        );
    }

    #[test]
    fn service_host_overrides_the_authority_and_timeout_has_a_default() {
        assert_eq!(service("llm.dns", "", 0).authority(), "llm.dns");
        assert_eq!(
            service("llm.dns", "api.example.com", 0).authority(),
            "api.example.com"
        );
        assert_eq!(
            service("a.dns", "", 0).timeout_ms(DEFAULT_TIMEOUT_MS),
            10_000
        );
        let set = Service {
            timeout: 250,
            ..service("a.dns", "", 0)
        };
        assert_eq!(set.timeout_ms(DEFAULT_TIMEOUT_MS), 250);
    }
}

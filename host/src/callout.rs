//! Callouts (HTTP and Redis) leave the VM through an embedder-provided [`Upstreams`]: tests record
//! them and answer with canned replies; a gateway would send them to the network. Answers always
//! come back between VM calls (Envoy defers callbacks that arrive during a VM call,
//! `context.cc` `onHttpCallSuccess`).

use crate::pairs::HeaderMap;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// An HTTP callout made with `proxy_http_call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCallout {
    /// Identifies the VM instance that must receive the answer.
    pub vm: u64,
    pub plugin: String,
    pub token: u32,
    pub cluster: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub trailers: HeaderMap,
    /// `None` = no timeout (Envoy: a 0 ms timeout means none).
    pub timeout: Option<Duration>,
}

/// A Redis callout made with Higress `proxy_redis_call` (raw RESP query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisCallout {
    pub vm: u64,
    pub plugin: String,
    pub token: u32,
    pub cluster: String,
    pub query: Vec<u8>,
}

/// `proxy_redis_init` parameters (cluster without its `?query`, parsed query parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisInit {
    pub cluster: String,
    pub params: Vec<(String, String)>,
    pub username: String,
    pub password: String,
    pub timeout: Duration,
}

/// An HTTP callout answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpCalloutResponse {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub trailers: HeaderMap,
}

impl HttpCalloutResponse {
    pub fn new(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        let mut h = HeaderMap::new();
        h.add(":status", &status.to_string());
        for (k, v) in headers {
            h.add(k, v);
        }
        Self {
            headers: h,
            body: body.into(),
            trailers: HeaderMap::new(),
        }
    }
}

/// What the host asks of the world outside the VM.
pub trait Upstreams: Send + Sync {
    /// Whether a cluster exists (`getThreadLocalCluster`); unknown clusters make `http_call`,
    /// `redis_init` and `redis_call` return BadArgument.
    fn has_cluster(&self, cluster: &str) -> bool;
    /// A callout was dispatched; the answer is delivered later through the VM.
    fn http_call(&self, call: HttpCallout);
    fn redis_init(&self, _init: RedisInit) {}
    fn redis_call(&self, call: RedisCallout);
    /// Hosts of `cluster` as `(address, prometheus-metrics-or-"")` pairs for Higress
    /// `proxy_get_upstream_hosts`; `None` (the default) answers NotFound.
    fn upstream_hosts(&self, _cluster: &str) -> Option<Vec<(String, String)>> {
        None
    }
}

/// Test upstreams: records callouts so that tests can inspect and answer them.
#[derive(Default)]
pub struct RecordingUpstreams {
    /// `None` accepts every cluster name.
    clusters: Option<HashSet<String>>,
    http: Mutex<Vec<HttpCallout>>,
    redis: Mutex<Vec<RedisCallout>>,
    redis_inits: Mutex<Vec<RedisInit>>,
    hosts: Mutex<std::collections::HashMap<String, Vec<(String, String)>>>,
}

impl RecordingUpstreams {
    pub fn any_cluster() -> Self {
        Self::default()
    }

    pub fn with_clusters(names: &[&str]) -> Self {
        Self {
            clusters: Some(names.iter().map(|s| s.to_string()).collect()),
            ..Self::default()
        }
    }

    /// Removes and returns the callouts recorded so far.
    pub fn take_http(&self) -> Vec<HttpCallout> {
        std::mem::take(&mut self.http.lock().unwrap())
    }

    pub fn take_redis(&self) -> Vec<RedisCallout> {
        std::mem::take(&mut self.redis.lock().unwrap())
    }

    pub fn redis_inits(&self) -> Vec<RedisInit> {
        self.redis_inits.lock().unwrap().clone()
    }

    /// Sets what `proxy_get_upstream_hosts` answers for `cluster`: `(address, metrics)` pairs.
    pub fn set_upstream_hosts(&self, cluster: &str, hosts: &[(&str, &str)]) {
        self.hosts.lock().unwrap().insert(
            cluster.to_string(),
            hosts
                .iter()
                .map(|(a, m)| (a.to_string(), m.to_string()))
                .collect(),
        );
    }
}

impl Upstreams for RecordingUpstreams {
    fn has_cluster(&self, cluster: &str) -> bool {
        self.clusters.as_ref().is_none_or(|c| c.contains(cluster))
    }

    fn http_call(&self, call: HttpCallout) {
        self.http.lock().unwrap().push(call);
    }

    fn redis_init(&self, init: RedisInit) {
        self.redis_inits.lock().unwrap().push(init);
    }

    fn redis_call(&self, call: RedisCallout) {
        self.redis.lock().unwrap().push(call);
    }

    fn upstream_hosts(&self, cluster: &str) -> Option<Vec<(String, String)>> {
        self.hosts.lock().unwrap().get(cluster).cloned()
    }
}

//! HTTP/1.1 or HTTP/2 clients of the configured clusters, one pool per cluster per worker (Envoy keeps
//! connection pools per worker thread), with the cluster's connect timeout; and how an upstream
//! failure maps to Envoy's reply details.

use crate::body::ChanBody;
use crate::config::UpstreamCluster;
use crate::headers;
use hyper_rustls::{ConfigBuilderExt, FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::TokioExecutor;
use proxy_wasm_host::HeaderMap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long an idle pooled upstream connection is kept (Envoy `idle_timeout` default is 1h;
/// shorter here so a local gateway does not hold sockets of stopped test upstreams).
const POOL_IDLE: Duration = Duration::from_secs(60);

/// Trusted CAs from a PEM file.
pub fn load_roots(path: &Path) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    let certs =
        CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for c in certs {
        let c = c.map_err(|e| format!("{}: {e}", path.display()))?;
        roots
            .add(c)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificate", path.display()));
    }
    Ok(roots)
}

fn tls_config(cluster: &UpstreamCluster) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    Ok(match &cluster.ca_file {
        Some(ca) => builder.with_root_certificates(load_roots(ca)?),
        None => builder.with_webpki_roots(),
    }
    .with_no_client_auth())
}

pub struct ClusterClient {
    pub cluster: UpstreamCluster,
    client: Client<HttpsConnector<HttpConnector>, ChanBody>,
    next: Cell<usize>,
}

impl ClusterClient {
    pub fn new(cluster: &UpstreamCluster) -> Result<Self, String> {
        let mut conn = HttpConnector::new();
        conn.set_connect_timeout(Some(cluster.connect_timeout));
        conn.set_nodelay(true);
        conn.enforce_http(false);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(cluster)?)
            .https_or_http();
        let builder = match &cluster.sni {
            Some(sni) => {
                let name =
                    ServerName::try_from(sni.clone()).map_err(|e| format!("sni {sni:?}: {e}"))?;
                builder.with_server_name_resolver(FixedServerNameResolver::new(name))
            }
            None => builder,
        };
        let https = if cluster.http2 {
            builder.enable_http2().wrap_connector(conn)
        } else {
            builder.enable_http1().wrap_connector(conn)
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .http2_only(cluster.http2)
            .build(https);
        Ok(Self {
            cluster: cluster.clone(),
            client,
            next: Cell::new(0),
        })
    }

    /// Round robin over the cluster's addresses.
    fn pick(&self) -> &str {
        let n = self.next.get();
        self.next.set(n.wrapping_add(1));
        &self.cluster.addresses[n % self.cluster.addresses.len()]
    }

    /// Sends a request (pseudo-headers from `h`); returns the response future and the chosen
    /// upstream host. `Host` is `:authority`, as Envoy forwards it unless a rewrite is configured.
    pub fn send(&self, h: &HeaderMap, body: ChanBody) -> Result<(ResponseFuture, String), String> {
        let addr = self.pick().to_string();
        let path = h.get(":path").unwrap_or("/");
        let scheme = if self.cluster.tls { "https" } else { "http" };
        let uri: http::Uri = format!("{scheme}://{addr}{path}")
            .parse()
            .map_err(|e| format!("bad upstream uri: {e}"))?;
        let method = http::Method::from_bytes(h.get(":method").unwrap_or("GET").as_bytes())
            .map_err(|e| format!("bad method: {e}"))?;
        let mut req = http::Request::builder()
            .method(method)
            .uri(uri)
            .version(if self.cluster.http2 {
                http::Version::HTTP_2
            } else {
                http::Version::HTTP_11
            })
            .body(body)
            .map_err(|e| e.to_string())?;
        *req.headers_mut() = headers::to_http(h);
        if let Some(a) = h.get(":authority").filter(|a| !a.is_empty()) {
            if let Ok(v) = http::HeaderValue::from_str(a) {
                req.headers_mut().insert(http::header::HOST, v);
            }
        }
        Ok((self.client.request(req), addr))
    }
}

/// Envoy's reset reasons for a failure before response headers
/// (`StreamResetReason` → `upstream_reset_before_response_started{<reason>}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    ConnectionFailure,
    ConnectionTimeout,
    ConnectionTermination,
}

impl Failure {
    pub fn classify(e: &hyper_util::client::legacy::Error) -> Self {
        let timed_out = {
            let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
            let mut hit = false;
            while let Some(s) = src {
                if let Some(io) = s.downcast_ref::<std::io::Error>() {
                    hit |= io.kind() == std::io::ErrorKind::TimedOut;
                }
                hit |= s.to_string().contains("timed out") || s.to_string().contains("timeout");
                src = s.source();
            }
            hit
        };
        if e.is_connect() {
            if timed_out {
                Failure::ConnectionTimeout
            } else {
                Failure::ConnectionFailure
            }
        } else {
            Failure::ConnectionTermination
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Failure::ConnectionFailure => "connection_failure",
            Failure::ConnectionTimeout => "connection_timeout",
            Failure::ConnectionTermination => "connection_termination",
        }
    }

    /// Envoy router 503 body: `upstream connect error or disconnect/reset before headers. reset
    /// reason: <reason with spaces>`.
    pub fn body(self) -> String {
        format!(
            "upstream connect error or disconnect/reset before headers. reset reason: {}",
            self.reason().replace('_', " ")
        )
    }

    pub fn details(self) -> String {
        format!(
            "upstream_reset_before_response_started{{{}}}",
            self.reason()
        )
    }
}

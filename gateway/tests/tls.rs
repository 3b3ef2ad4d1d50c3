//! TLS to upstream clusters: SNI and verification against the cluster's CA file; an untrusted
//! certificate is a connection failure (503), as in Envoy.

mod common;

use common::*;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// An HTTPS upstream for `localhost` answering `tls <sni>`.
fn start_tls_upstream() -> SocketAddr {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixture("localhost.crt"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_file(fixture("localhost.key")).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        rt().block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            loop {
                let Ok((sock, _)) = l.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(sock).await else {
                        return;
                    };
                    let sni = tls.get_ref().1.server_name().unwrap_or("-").to_string();
                    let svc = service_fn(move |_req: http::Request<hyper::body::Incoming>| {
                        let body = format!("tls {sni}");
                        async move {
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from(body)),
                            ))
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
    });
    rx.recv_timeout(WAIT).unwrap()
}

#[test]
fn tls_cluster_uses_sni_and_the_configured_ca_and_refuses_untrusted_certificates() {
    let addr = start_tls_upstream();
    let ca = fixture("ca.crt");
    let yaml = format!(
        "apiVersion: gateway.higress.io/v1alpha1\nkind: Gateway\nspec:\n  listeners: [{{address: 127.0.0.1, port: 0}}]\n  clusters:\n  - name: \"outbound|443||trusted.dns\"\n    addresses: [\"{addr}\"]\n    tls: {{enabled: true, sni: localhost, caFile: \"{}\"}}\n  - name: \"outbound|443||untrusted.dns\"\n    addresses: [\"{addr}\"]\n    tls: {{enabled: true, sni: localhost}}\n  routes:\n  - name: trusted\n    match: {{pathPrefix: /t}}\n    cluster: \"outbound|443||trusted.dns\"\n  - name: untrusted\n    cluster: \"outbound|443||untrusted.dns\"\n",
        ca.display()
    );
    let gw = Gateway::start(&yaml);
    rt().block_on(async {
        let c = client();
        let (s, _, b) = send(&c, "GET", &gw.url("/t"), &[], vec![]).await.unwrap();
        assert_eq!(
            (s, String::from_utf8(b).unwrap()),
            (200, "tls localhost".to_string())
        );
        // Mozilla's roots do not include the test CA.
        let (s, _, _) = send(&c, "GET", &gw.url("/u"), &[], vec![]).await.unwrap();
        assert_eq!(s, 503);
    });
    let logs = gw.access_logs(2);
    assert_eq!(
        logs[1]["response_code_details"],
        "upstream_reset_before_response_started{connection_failure}"
    );
}

#[test]
fn a_bad_ca_file_is_a_config_error() {
    let dir = tempdir("badca");
    std::fs::write(dir.join("ca.pem"), "not a pem").unwrap();
    let yaml = "apiVersion: v\nkind: Gateway\nspec:\n  listeners: [{address: 127.0.0.1, port: 0}]\n  clusters:\n  - name: \"outbound|443||x.dns\"\n    addresses: [\"x:443\"]\n    tls: {enabled: true, caFile: ca.pem}\n";
    let err = Gateway::start_in(&dir, yaml).err().expect("must not start");
    assert!(err.contains("spec.clusters[0].tls.caFile"), "{err}");
}

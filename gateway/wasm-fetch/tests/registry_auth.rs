//! wasm-fetch against a real OCI registry (`crane registry serve`, image pushed with oras) behind
//! an in-test auth front that speaks the distribution auth flows registries use: bearer tokens
//! (anonymous and with basic credentials at the token endpoint) and plain basic auth. The front
//! also serves a module over plain HTTP for http:// URLs.
//!
//! Needs crane and oras in `.cache/bin` (`scripts/install-tools`); without them the tests print why
//! and pass, unless `E2E_REQUIRE_TOOLS=1` (CI).

use base64::Engine;
use bytes::Bytes;
use e2e_services::tools::installed as tool;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wasm_fetch::{Credentials, FetchError, Fetcher, PullPolicy, Request};

const MODULE: &[u8] = b"\0asm\x01\0\0\0";
const TOKEN: &str = "t0ken";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wasm-fetch-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A registry holding `plugins/tiny:1.0.0`, laid out like our plugin images.
fn registry_with_image(crane: &Path, oras: &Path) -> (Registry, String) {
    let host = format!("127.0.0.1:{}", free_port());
    let child = Command::new(crane)
        .args(["registry", "serve", "--address", &host])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reg = Registry(child);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let deadline = Instant::now() + Duration::from_secs(30);
    while agent
        .get(format!("http://{host}/v2/"))
        .call()
        .map_or(true, |r| r.status() != 200)
    {
        assert!(Instant::now() < deadline, "registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = tempdir("image");
    std::fs::write(dir.join("plugin.wasm"), MODULE).unwrap();
    std::fs::write(dir.join("spec.yaml"), "apiVersion: 1.0.0\n").unwrap();
    assert!(Command::new("tar")
        .current_dir(&dir)
        .args(["czf", "plugin.tar.gz", "plugin.wasm"])
        .status()
        .unwrap()
        .success());
    let out = Command::new(oras)
        .current_dir(&dir)
        .args([
            "push",
            "--plain-http",
            "--image-spec",
            "v1.0",
            &format!("{host}/plugins/tiny:1.0.0"),
            "spec.yaml:application/vnd.module.wasm.spec.v1+yaml",
            "plugin.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (reg, host)
}

#[derive(Clone, Copy)]
enum Mode {
    /// Bearer challenge; the token endpoint hands out tokens to anyone.
    BearerAnonymous,
    /// Bearer challenge; the token endpoint needs basic user:pass.
    BearerWithLogin,
    /// Basic challenge.
    Basic,
}

/// The auth front: serves `/token`, `/module.wasm`, and `/v2/*` proxied to the registry once
/// authorized. Runs on its own thread for the test's lifetime.
fn auth_front(mode: Mode, registry: String) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let registry = registry.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let registry = registry.clone();
                        async move {
                            let resp = tokio::task::spawn_blocking(move || {
                                answer(mode, &registry, addr, &req)
                            })
                            .await
                            .unwrap();
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    });
    addr
}

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("user:pass")
    )
}

fn answer(
    mode: Mode,
    registry: &str,
    me: SocketAddr,
    req: &hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let path = req.uri().path().to_string();
    let reply = |status: u16, headers: &[(&str, String)], body: Vec<u8>| {
        let mut b = hyper::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        b.body(Full::new(Bytes::from(body))).unwrap()
    };
    if path == "/module.wasm" {
        return reply(200, &[], MODULE.to_vec());
    }
    if path == "/token" {
        let query = req.uri().query().unwrap_or("");
        if !query.contains("scope=repository%3Aplugins%2Ftiny%3Apull")
            || !query.contains("service=front")
        {
            return reply(400, &[], format!("bad token request {query}").into_bytes());
        }
        if matches!(mode, Mode::BearerWithLogin) && auth != basic() {
            return reply(401, &[], b"login required".to_vec());
        }
        return reply(
            200,
            &[("content-type", "application/json".into())],
            format!(r#"{{"token":"{TOKEN}"}}"#).into_bytes(),
        );
    }
    let authorized = match mode {
        Mode::Basic => auth == basic(),
        _ => auth == format!("Bearer {TOKEN}"),
    };
    if !authorized {
        let challenge = match mode {
            Mode::Basic => r#"Basic realm="front""#.to_string(),
            _ => format!(
                r#"Bearer realm="http://{me}/token",service="front",scope="repository:plugins/tiny:pull""#
            ),
        };
        return reply(
            401,
            &[("www-authenticate", challenge)],
            br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_vec(),
        );
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let accept = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*")
        .to_string();
    let mut up = agent
        .get(format!("http://{registry}{path}"))
        .header("Accept", &accept)
        .call()
        .unwrap();
    let status = up.status().as_u16();
    let ct = up
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = up
        .body_mut()
        .with_config()
        .limit(1 << 26)
        .read_to_vec()
        .unwrap();
    reply(status, &[("content-type", ct)], body)
}

fn fetch(fetcher: &Fetcher, url: &str, sha256: Option<String>) -> Result<Vec<u8>, FetchError> {
    let req = Request {
        sha256,
        pull_policy: PullPolicy::Always,
    };
    fetcher.fetch(url, &req).map(|p| std::fs::read(p).unwrap())
}

fn login() -> Credentials {
    let mut c = Credentials::anonymous();
    c.add_docker_config(
        format!(
            r#"{{"auths":{{"127.0.0.1":{{"auth":"{}"}}}}}}"#,
            base64::engine::general_purpose::STANDARD.encode("user:pass")
        )
        .as_bytes(),
    )
    .unwrap();
    c
}

/// Credentials keyed by the front's host:port.
fn login_for(front: SocketAddr) -> Credentials {
    let mut c = Credentials::anonymous();
    c.insert(&front.to_string(), "user", "pass");
    c
}

#[test]
fn bearer_and_basic_auth_flows_against_a_real_registry() {
    let (Some(crane), Some(oras)) = (tool("crane"), tool("oras")) else {
        return;
    };
    let (_registry, host) = registry_with_image(&crane, &oras);

    // Anonymous bearer tokens (Docker Hub and Higress's public registry work this way).
    let front = auth_front(Mode::BearerAnonymous, host.clone());
    let url = format!("oci://{front}/plugins/tiny:1.0.0");
    let anon = Fetcher::new(tempdir("c1"), Credentials::anonymous());
    assert_eq!(fetch(&anon, &url, None).unwrap(), MODULE);

    // Token endpoint needs a login: refused without, served with the Docker-config credentials.
    let front = auth_front(Mode::BearerWithLogin, host.clone());
    let url = format!("oci://{front}/plugins/tiny:1.0.0");
    let err = fetch(
        &Fetcher::new(tempdir("c2"), Credentials::anonymous()),
        &url,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, FetchError::Auth(_)), "{err}");
    assert_eq!(
        fetch(&Fetcher::new(tempdir("c3"), login_for(front)), &url, None).unwrap(),
        MODULE
    );
    // Credentials for another host are not sent.
    let err = fetch(&Fetcher::new(tempdir("c4"), login()), &url, None).unwrap_err();
    assert!(matches!(err, FetchError::Auth(_)), "{err}");

    // Basic auth.
    let front = auth_front(Mode::Basic, host.clone());
    let url = format!("oci://{front}/plugins/tiny:1.0.0");
    let err = fetch(
        &Fetcher::new(tempdir("c5"), Credentials::anonymous()),
        &url,
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("requires credentials"), "{err}");
    let with = Fetcher::new(tempdir("c6"), login_for(front));
    assert_eq!(fetch(&with, &url, None).unwrap(), MODULE);
    // Pinned by digest in the URL, too.
    let manifest_digest = {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let mut r = agent
            .get(format!("http://{host}/v2/plugins/tiny/manifests/1.0.0"))
            .header("Accept", wasm_fetch::registry::MANIFEST_ACCEPT)
            .call()
            .unwrap();
        wasm_fetch::sha256_hex(&r.body_mut().read_to_vec().unwrap())
    };
    let by_digest = format!("oci://{front}/plugins/tiny@sha256:{manifest_digest}");
    assert_eq!(fetch(&with, &by_digest, None).unwrap(), MODULE);
    assert_eq!(
        fetch(&with, &url, Some(manifest_digest.clone())).unwrap(),
        MODULE
    );
}

#[test]
fn http_modules_are_checked_against_sha256_and_cached() {
    let front = auth_front(Mode::BearerAnonymous, "127.0.0.1:9".into());
    let url = format!("http://{front}/module.wasm");
    let fetcher = Fetcher::new(tempdir("http"), Credentials::anonymous());
    let sha = wasm_fetch::sha256_hex(MODULE);
    assert_eq!(fetch(&fetcher, &url, Some(sha.clone())).unwrap(), MODULE);
    let err = fetch(&fetcher, &url, Some("1".repeat(64))).unwrap_err();
    assert!(matches!(err, FetchError::Checksum(_)), "{err}");
    // With a sha256 the cached module answers even when the server is gone.
    let gone = format!("http://127.0.0.1:{}/module.wasm", free_port());
    assert_eq!(fetch(&fetcher, &gone, Some(sha)).unwrap(), MODULE);
    assert!(matches!(
        fetch(&fetcher, &gone, None).unwrap_err(),
        FetchError::Transport(_)
    ));
}

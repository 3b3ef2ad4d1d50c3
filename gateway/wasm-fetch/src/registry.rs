//! A pull-only client of the OCI distribution HTTP API (`GET /v2/<repo>/manifests/<ref>`,
//! `GET /v2/<repo>/blobs/<digest>`): HTTPS first and plain HTTP when the registry does not speak
//! TLS (as Higress's image fetcher does), anonymous, basic and bearer-token auth.

use crate::auth::{basic_header, parse_challenge, Challenge, Credentials};
use crate::FetchError;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Accepted manifest media types: OCI and Docker schema 2, single images only.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
/// Upper bound of a manifest; registries cap them at 4 MiB.
const MAX_MANIFEST: u64 = 4 << 20;

pub struct Registry {
    agent: ureq::Agent,
    credentials: Credentials,
    /// registry -> scheme that answered (`https` or `http`).
    schemes: Mutex<HashMap<String, &'static str>>,
    /// (registry, repository) -> `Authorization` value that worked.
    authorization: Mutex<HashMap<(String, String), String>>,
}

pub struct Fetched {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub digest_header: Option<String>,
}

impl Registry {
    pub fn new(credentials: Credentials, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent("higress-ai-gateway wasm-fetch")
            .build()
            .into();
        Registry {
            agent,
            credentials,
            schemes: Mutex::new(HashMap::new()),
            authorization: Mutex::new(HashMap::new()),
        }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The plain HTTP client (redirects followed, status codes returned), for http(s):// modules.
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    pub fn manifest(
        &self,
        registry: &str,
        repo: &str,
        reference: &str,
    ) -> Result<Fetched, FetchError> {
        self.get(
            registry,
            repo,
            &format!("manifests/{reference}"),
            MANIFEST_ACCEPT,
            MAX_MANIFEST,
        )
    }

    pub fn blob(
        &self,
        registry: &str,
        repo: &str,
        digest: &str,
        limit: u64,
    ) -> Result<Fetched, FetchError> {
        self.get(registry, repo, &format!("blobs/{digest}"), "*/*", limit)
    }

    fn get(
        &self,
        registry: &str,
        repo: &str,
        path: &str,
        accept: &str,
        limit: u64,
    ) -> Result<Fetched, FetchError> {
        let known = self.schemes.lock().unwrap().get(registry).copied();
        let schemes: &[&'static str] = match known {
            Some(s) => {
                if s == "https" {
                    &["https"]
                } else {
                    &["http"]
                }
            }
            None => &["https", "http"],
        };
        let mut last = None;
        for &scheme in schemes {
            let url = format!("{scheme}://{registry}/v2/{repo}/{path}");
            match self.get_authorized(registry, repo, &url, accept, limit) {
                Err(FetchError::Transport(e)) => {
                    last = Some(FetchError::Transport(format!("{url}: {e}")))
                }
                other => {
                    self.schemes
                        .lock()
                        .unwrap()
                        .insert(registry.to_string(), scheme);
                    return other;
                }
            }
        }
        Err(last.expect("at least one scheme tried"))
    }

    fn get_authorized(
        &self,
        registry: &str,
        repo: &str,
        url: &str,
        accept: &str,
        limit: u64,
    ) -> Result<Fetched, FetchError> {
        let key = (registry.to_string(), repo.to_string());
        let cached = self.authorization.lock().unwrap().get(&key).cloned();
        let mut resp = self.send(url, accept, cached.as_deref())?;
        if resp.status() == 401 {
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_challenge);
            let authorization = match challenge {
                Some(Challenge::Basic) => {
                    let (u, p) = self.credentials.for_registry(registry).ok_or_else(|| {
                        FetchError::Auth(format!(
                            "{registry} requires credentials (basic auth); none configured"
                        ))
                    })?;
                    basic_header(u, p)
                }
                Some(Challenge::Bearer {
                    realm,
                    service,
                    scope,
                }) => {
                    let scope = scope.unwrap_or_else(|| format!("repository:{repo}:pull"));
                    format!(
                        "Bearer {}",
                        self.token(registry, &realm, service.as_deref(), &scope)?
                    )
                }
                None => {
                    return Err(FetchError::Auth(format!(
                        "{url}: 401 without a usable WWW-Authenticate challenge"
                    )))
                }
            };
            resp = self.send(url, accept, Some(&authorization))?;
            if resp.status() == 401 || resp.status() == 403 {
                return Err(FetchError::Auth(format!(
                    "{url}: {} after authenticating",
                    resp.status()
                )));
            }
            self.authorization
                .lock()
                .unwrap()
                .insert(key, authorization);
        }
        let status = resp.status().as_u16();
        if status != 200 {
            let detail = resp
                .body_mut()
                .with_config()
                .limit(4096)
                .read_to_string()
                .unwrap_or_default();
            return Err(FetchError::Registry(format!(
                "GET {url}: HTTP {status} {}",
                detail.trim()
            )));
        }
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type");
        let digest_header = header("docker-content-digest");
        let body = resp
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| {
                FetchError::Registry(format!(
                    "GET {url}: reading the body (limit {limit} bytes): {e}"
                ))
            })?;
        Ok(Fetched {
            body,
            content_type,
            digest_header,
        })
    }

    fn send(
        &self,
        url: &str,
        accept: &str,
        authorization: Option<&str>,
    ) -> Result<ureq::http::Response<ureq::Body>, FetchError> {
        let mut req = self.agent.get(url).header("Accept", accept);
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        req.call().map_err(|e| FetchError::Transport(e.to_string()))
    }

    /// The distribution token flow: GET realm?service=&scope=, with basic credentials when this
    /// registry has some (anonymous tokens otherwise), answer `token` or `access_token`.
    fn token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, FetchError> {
        let mut req = self.agent.get(realm).query("scope", scope);
        if let Some(s) = service {
            req = req.query("service", s);
        }
        if let Some((u, p)) = self.credentials.for_registry(registry) {
            req = req.header("Authorization", basic_header(u, p));
        }
        let mut resp = req
            .call()
            .map_err(|e| FetchError::Auth(format!("token from {realm}: {e}")))?;
        if resp.status() != 200 {
            return Err(FetchError::Auth(format!(
                "token from {realm}: HTTP {}",
                resp.status()
            )));
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| FetchError::Auth(format!("token from {realm}: {e}")))?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| FetchError::Auth(format!("token from {realm}: {e}")))?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| FetchError::Auth(format!("token from {realm}: no token in the answer")))
    }
}

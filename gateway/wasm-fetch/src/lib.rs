//! Loads the module of a Higress `WasmPlugin` from its `spec.url` the way Higress (Istio's wasm
//! cache and image fetcher) does, for the local gateway:
//! - `oci://registry/repo:tag` (or no scheme): pulled over the OCI distribution API, the module
//!   taken from the image by Higress's layer rules ([`image`]); `sha256` is the image manifest
//!   digest; `imagePullPolicy` `IfNotPresent` reuses the cached module without asking the
//!   registry, `Always` asks every load (and reuses the module when the digest did not change);
//!   unset means `Always` for tag `latest`, `IfNotPresent` otherwise;
//! - `http(s)://`: downloaded; `sha256` is the module's; with a `sha256` the cached module is
//!   reused, without one it is downloaded on every load;
//! - `file://`: the caller's business (paths relative to its config); [`verify_file`] checks
//!   `sha256`.
//!
//! Every module must start with the wasm magic; sizes are bounded by [`MAX_MODULE_BYTES`].

pub mod auth;
mod cache;
pub mod image;
pub mod reference;
pub mod registry;

pub use auth::Credentials;
pub use reference::{parse as parse_url, ImageRef, Source};

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest module (and compressed layer) accepted.
pub const MAX_MODULE_BYTES: u64 = 256 << 20;
const WASM_MAGIC: &[u8] = b"\0asm";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    Url(String),
    /// The registry or server could not be reached.
    Transport(String),
    Auth(String),
    Registry(String),
    Image(String),
    Checksum(String),
    Io(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, m) = match self {
            FetchError::Url(m) => ("url", m),
            FetchError::Transport(m) => ("unreachable", m),
            FetchError::Auth(m) => ("authentication", m),
            FetchError::Registry(m) => ("registry", m),
            FetchError::Image(m) => ("image", m),
            FetchError::Checksum(m) => ("sha256", m),
            FetchError::Io(m) => ("cache", m),
        };
        write!(f, "{kind}: {m}")
    }
}

impl std::error::Error for FetchError {}

/// `spec.imagePullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    #[default]
    Unspecified,
    IfNotPresent,
    Always,
}

impl PullPolicy {
    pub fn parse(s: Option<&str>) -> Result<PullPolicy, FetchError> {
        Ok(match s.unwrap_or("") {
            "" | "UNSPECIFIED_POLICY" => PullPolicy::Unspecified,
            "IfNotPresent" => PullPolicy::IfNotPresent,
            "Always" => PullPolicy::Always,
            other => {
                return Err(FetchError::Url(format!(
                    "imagePullPolicy {other:?} is not UNSPECIFIED_POLICY, IfNotPresent or Always"
                )))
            }
        })
    }
}

/// What a WasmPlugin says about its module besides the URL.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub sha256: Option<String>,
    pub pull_policy: PullPolicy,
}

pub struct Fetcher {
    registry: registry::Registry,
    cache: cache::Cache,
}

impl Fetcher {
    pub fn new(cache_dir: PathBuf, credentials: Credentials) -> Fetcher {
        Fetcher {
            registry: registry::Registry::new(credentials, Duration::from_secs(60)),
            cache: cache::Cache::new(cache_dir),
        }
    }

    /// The same cache with `extra` credentials added (they win for their registries), e.g.
    /// those of a WasmPlugin's `imagePullSecret`.
    pub fn with_credentials(self, extra: Credentials) -> Fetcher {
        let mut credentials = self.registry.credentials().clone();
        credentials.extend(extra);
        Fetcher::new(self.cache.dir().to_path_buf(), credentials)
    }

    /// The cache in `WASM_FETCH_CACHE` (default `$XDG_CACHE_HOME` or `~/.cache`, then
    /// `higress-ai-gateway/wasm`) and the credentials of the Docker config (`DOCKER_CONFIG`
    /// directory or `~/.docker`, `config.json`), where `docker login`/`oras login` put them.
    pub fn from_env() -> Result<Fetcher, FetchError> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let cache_dir = std::env::var_os("WASM_FETCH_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .map(|d| PathBuf::from(d).join("higress-ai-gateway/wasm"))
            })
            .or_else(|| {
                home.as_ref()
                    .map(|h| h.join(".cache/higress-ai-gateway/wasm"))
            })
            .unwrap_or_else(|| std::env::temp_dir().join("higress-ai-gateway-wasm"));
        let mut credentials = Credentials::anonymous();
        let docker_dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".docker")));
        if let Some(d) = docker_dir {
            credentials
                .add_docker_config_file(&d.join("config.json"))
                .map_err(FetchError::Auth)?;
        }
        Ok(Fetcher::new(cache_dir, credentials))
    }

    /// The local path of the module of `url` (`oci://`, no scheme, or `http(s)://`).
    pub fn fetch(&self, url: &str, req: &Request) -> Result<PathBuf, FetchError> {
        let expected = req.sha256.as_deref().map(normalize_sha).transpose()?;
        match parse_url(url)? {
            Source::File(_) => Err(FetchError::Url(format!(
                "{url}: file:// URLs are read by the caller"
            ))),
            Source::Http(u) => self.fetch_http(&u, expected.as_deref()),
            Source::Oci(image) => self.fetch_oci(url, &image, req.pull_policy, expected.as_deref()),
        }
    }

    fn fetch_http(&self, url: &str, expected: Option<&str>) -> Result<PathBuf, FetchError> {
        if let Some(sha) = expected {
            if let Some(path) = self.cache.module(sha) {
                return Ok(path);
            }
        }
        let mut resp = self
            .registry
            .agent()
            .get(url)
            .call()
            .map_err(|e| FetchError::Transport(format!("{url}: {e}")))?;
        if resp.status() != 200 {
            return Err(FetchError::Registry(format!(
                "GET {url}: HTTP {}",
                resp.status()
            )));
        }
        let module = resp
            .body_mut()
            .with_config()
            .limit(MAX_MODULE_BYTES)
            .read_to_vec()
            .map_err(|e| FetchError::Transport(format!("{url}: {e}")))?;
        let sha = sha256_hex(&module);
        if let Some(e) = expected {
            if e != sha {
                return Err(FetchError::Checksum(format!(
                    "module from {url} has sha256 {sha}, the WasmPlugin expects {e}"
                )));
            }
        }
        check_magic(url, &module)?;
        self.cache.put_module(&sha, &module)
    }

    fn fetch_oci(
        &self,
        url: &str,
        image: &ImageRef,
        policy: PullPolicy,
        expected: Option<&str>,
    ) -> Result<PathBuf, FetchError> {
        let always = match policy {
            PullPolicy::Always => true,
            PullPolicy::IfNotPresent => false,
            PullPolicy::Unspecified => image.reference == "latest",
        };
        let cached = self.cache.image(url);
        if let Some(c) = &cached {
            let digest_ok = expected.is_none_or(|e| e == c.manifest_digest);
            if !always && digest_ok {
                if let Some(path) = self.cache.module(&c.module_sha256) {
                    return Ok(path);
                }
            }
        }
        let manifest =
            self.registry
                .manifest(&image.registry, &image.repository, &image.reference)?;
        let manifest_digest = sha256_hex(&manifest.body);
        if image.is_digest() && image.reference != format!("sha256:{manifest_digest}") {
            return Err(FetchError::Checksum(format!(
                "{image}: the registry sent a manifest with digest sha256:{manifest_digest}"
            )));
        }
        if let Some(e) = expected {
            if e != manifest_digest {
                return Err(FetchError::Checksum(format!(
                    "image {image} has manifest digest sha256:{manifest_digest}, the WasmPlugin expects {e}"
                )));
            }
        }
        if let Some(c) = &cached {
            if c.manifest_digest == manifest_digest {
                if let Some(path) = self.cache.module(&c.module_sha256) {
                    return Ok(path);
                }
            }
        }
        let doc: serde_json::Value = serde_json::from_slice(&manifest.body)
            .map_err(|e| FetchError::Image(format!("{image}: manifest is not JSON: {e}")))?;
        let (layer, tarred) = match image::module_layer(&doc, manifest.content_type.as_deref())? {
            image::ModuleLayer::TarGzip(l) => (l, true),
            image::ModuleLayer::Wasm(l) => (l, false),
        };
        if layer.size > MAX_MODULE_BYTES {
            return Err(FetchError::Image(format!(
                "{image}: module layer of {} bytes exceeds {MAX_MODULE_BYTES}",
                layer.size
            )));
        }
        let blob = self.registry.blob(
            &image.registry,
            &image.repository,
            &layer.digest,
            MAX_MODULE_BYTES,
        )?;
        let blob_digest = format!("sha256:{}", sha256_hex(&blob.body));
        if blob_digest != layer.digest {
            return Err(FetchError::Checksum(format!(
                "{image}: layer {} arrived with digest {blob_digest}",
                layer.digest
            )));
        }
        let module = if tarred {
            image::module_from_tar_gzip(&blob.body, MAX_MODULE_BYTES)?
        } else {
            blob.body
        };
        check_magic(url, &module)?;
        let module_sha = sha256_hex(&module);
        let path = self.cache.put_module(&module_sha, &module)?;
        self.cache.put_image(url, &manifest_digest, &module_sha)?;
        Ok(path)
    }
}

/// Checks a local module against the WasmPlugin's `sha256` (file:// URLs).
pub fn verify_file(path: &Path, sha256: &str) -> Result<(), FetchError> {
    let expected = normalize_sha(sha256)?;
    let data =
        std::fs::read(path).map_err(|e| FetchError::Io(format!("{}: {e}", path.display())))?;
    let actual = sha256_hex(&data);
    if actual != expected {
        return Err(FetchError::Checksum(format!(
            "{} has sha256 {actual}, the WasmPlugin expects {expected}",
            path.display()
        )));
    }
    Ok(())
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `sha256` as 64 lowercase hex digits (a `sha256:` prefix is accepted).
fn normalize_sha(s: &str) -> Result<String, FetchError> {
    let hex = s.strip_prefix("sha256:").unwrap_or(s).to_ascii_lowercase();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FetchError::Checksum(format!(
            "{s:?} is not a sha256 (64 hex digits)"
        )));
    }
    Ok(hex)
}

fn check_magic(url: &str, module: &[u8]) -> Result<(), FetchError> {
    if !module.starts_with(WASM_MAGIC) {
        return Err(FetchError::Image(format!(
            "{url}: the module is not WebAssembly (no \\0asm header)"
        )));
    }
    Ok(())
}

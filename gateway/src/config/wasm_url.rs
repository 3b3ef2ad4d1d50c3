//! Where a WasmPlugin's module comes from (`spec.url`), resolved the way Higress does:
//! `file://` paths (relative ones against the declaring file), and `oci://` images or
//! `http(s)://` modules fetched into the on-disk cache by `wasm-fetch`, with `sha256`,
//! `imagePullPolicy` and `imagePullSecret`.
//!
//! `imagePullSecret` names a `kubernetes.io/dockerconfigjson` Secret. Outside Kubernetes it is
//! read from `$WASM_PULL_SECRETS_DIR` (default: `secrets/` beside the declaring file) as
//! `<name>/.dockerconfigjson` (the Secret mounted as a volume) or `<name>.json`; the Docker
//! config of the user (`docker login`, `oras login`) is always used as well.

use proxy_wasm_host::wasmplugin::Spec;
use std::path::{Path, PathBuf};
use wasm_fetch::{Credentials, Fetcher, PullPolicy, Request, Source};

/// The local module path, or the field and message of the error.
pub fn resolve(base: &Path, spec: &Spec) -> Result<PathBuf, (&'static str, String)> {
    let source = wasm_fetch::parse_url(&spec.url).map_err(|e| ("spec.url", e.to_string()))?;
    if let Source::File(path) = source {
        // `file://plugins/x.wasm` is relative to the file that declares it.
        let wasm = base.join(path);
        if !wasm.is_file() {
            return Err((
                "spec.url",
                format!("{} does not exist or is not a file", wasm.display()),
            ));
        }
        if let Some(sha) = &spec.sha256 {
            wasm_fetch::verify_file(&wasm, sha).map_err(|e| ("spec.sha256", e.to_string()))?;
        }
        return Ok(wasm);
    }
    let pull_policy = PullPolicy::parse(spec.image_pull_policy.as_deref())
        .map_err(|e| ("spec.imagePullPolicy", e.to_string()))?;
    let fetcher = fetcher(base, spec.image_pull_secret.as_deref())?;
    let request = Request {
        sha256: spec.sha256.clone(),
        pull_policy,
    };
    fetcher.fetch(&spec.url, &request).map_err(|e| {
        let field = match e {
            wasm_fetch::FetchError::Checksum(_) => "spec.sha256",
            wasm_fetch::FetchError::Auth(_) if spec.image_pull_secret.is_some() => {
                "spec.imagePullSecret"
            }
            _ => "spec.url",
        };
        (field, format!("{}: {e}", spec.url))
    })
}

fn fetcher(base: &Path, pull_secret: Option<&str>) -> Result<Fetcher, (&'static str, String)> {
    let field = "spec.imagePullSecret";
    let fetcher = Fetcher::from_env().map_err(|e| (field, e.to_string()))?;
    let Some(name) = pull_secret else {
        return Ok(fetcher);
    };
    let dir = std::env::var_os("WASM_PULL_SECRETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| base.join("secrets"));
    let file = [
        dir.join(name).join(".dockerconfigjson"),
        dir.join(format!("{name}.json")),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .ok_or_else(|| {
        (
            field,
            format!(
                "secret {name:?}: neither {0}/{name}/.dockerconfigjson nor {0}/{name}.json exists",
                dir.display()
            ),
        )
    })?;
    let mut credentials = Credentials::anonymous();
    credentials
        .add_docker_config_file(&file)
        .map_err(|e| (field, e))?;
    Ok(fetcher.with_credentials(credentials))
}

//! On-disk cache: `modules/<sha256>.wasm` (content-addressed, written via rename so a reader
//! never sees half a file) and `images/<sha256 of url>.json` recording which manifest digest and
//! module an image URL resolved to at its last pull.

use crate::{sha256_hex, FetchError};
use serde_json::{json, Value};
use std::path::PathBuf;

pub struct Cache {
    dir: PathBuf,
}

pub struct CachedImage {
    pub manifest_digest: String,
    pub module_sha256: String,
}

fn io(what: &std::path::Path, e: std::io::Error) -> FetchError {
    FetchError::Io(format!("{}: {e}", what.display()))
}

impl Cache {
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    fn module_path(&self, sha: &str) -> PathBuf {
        self.dir.join("modules").join(format!("{sha}.wasm"))
    }

    fn image_path(&self, url: &str) -> PathBuf {
        self.dir
            .join("images")
            .join(format!("{}.json", sha256_hex(url.as_bytes())))
    }

    /// The cached module with this sha256, if present and intact.
    pub fn module(&self, sha: &str) -> Option<PathBuf> {
        let p = self.module_path(sha);
        let data = std::fs::read(&p).ok()?;
        (sha256_hex(&data) == sha).then_some(p)
    }

    pub fn put_module(&self, sha: &str, data: &[u8]) -> Result<PathBuf, FetchError> {
        let p = self.module_path(sha);
        write_atomic(&p, data)?;
        Ok(p)
    }

    pub fn image(&self, url: &str) -> Option<CachedImage> {
        let v: Value = serde_json::from_slice(&std::fs::read(self.image_path(url)).ok()?).ok()?;
        (v["url"] == url).then(|| CachedImage {
            manifest_digest: v["manifestDigest"].as_str().unwrap_or_default().to_string(),
            module_sha256: v["moduleSha256"].as_str().unwrap_or_default().to_string(),
        })
    }

    pub fn put_image(
        &self,
        url: &str,
        manifest_digest: &str,
        module_sha: &str,
    ) -> Result<(), FetchError> {
        let v = json!({"url": url, "manifestDigest": manifest_digest, "moduleSha256": module_sha});
        write_atomic(&self.image_path(url), v.to_string().as_bytes())
    }
}

fn write_atomic(path: &std::path::Path, data: &[u8]) -> Result<(), FetchError> {
    let dir = path.parent().expect("cache files sit in a directory");
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f"),
        std::process::id()
    ));
    std::fs::write(&tmp, data).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

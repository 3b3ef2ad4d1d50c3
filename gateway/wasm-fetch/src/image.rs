//! Which layer of a plugin image holds the module, by the rules of Higress's image fetcher
//! (istio `pkg/wasm/imagefetcher.go`), and getting `plugin.wasm` out of it:
//! - Docker schema 2 manifest: the last layer, a tar.gz holding `plugin.wasm`;
//! - OCI manifest whose last layer is `application/vnd.oci.image.layer.v1.tar+gzip`: the same
//!   (this is what `oras push ... plugin.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip` and
//!   Higress's own plugin images are);
//! - otherwise a 2-layer OCI artifact with a `application/vnd.module.wasm.content.layer.v1+wasm`
//!   layer: that layer is the raw module.

use crate::FetchError;
use serde_json::Value;
use std::io::Read;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const WASM_CONTENT: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
/// Name of the module inside a tar layer (basename match, as Higress does).
pub const MODULE_FILE: &str = "plugin.wasm";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleLayer {
    /// A gzip-compressed tar holding `plugin.wasm`.
    TarGzip(Layer),
    /// The raw module.
    Wasm(Layer),
}

pub fn layers(manifest: &Value) -> Result<Vec<Layer>, FetchError> {
    let bad = |m: &str| FetchError::Image(format!("manifest: {m}"));
    manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no layers (an image index or an old schema is not supported)"))?
        .iter()
        .map(|l| {
            Ok(Layer {
                media_type: l
                    .get("mediaType")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                digest: l
                    .get("digest")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("layer without digest"))?
                    .to_string(),
                size: l
                    .get("size")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| bad("layer without size"))?,
            })
        })
        .collect()
}

pub fn module_layer(
    manifest: &Value,
    content_type: Option<&str>,
) -> Result<ModuleLayer, FetchError> {
    let media_type = manifest
        .get("mediaType")
        .and_then(Value::as_str)
        .or(content_type)
        .unwrap_or(OCI_MANIFEST);
    let layers = layers(manifest)?;
    let last = layers
        .last()
        .cloned()
        .ok_or_else(|| FetchError::Image("manifest has no layers".into()))?;
    if media_type.starts_with(DOCKER_MANIFEST) {
        return Ok(ModuleLayer::TarGzip(last));
    }
    if last.media_type == OCI_TAR_GZIP {
        return Ok(ModuleLayer::TarGzip(last));
    }
    if layers.len() == 2 {
        if let Some(l) = layers.iter().find(|l| l.media_type == WASM_CONTENT) {
            return Ok(ModuleLayer::Wasm(l.clone()));
        }
    }
    Err(FetchError::Image(format!(
        "no module layer: the last layer must be {OCI_TAR_GZIP} holding {MODULE_FILE} (got {:?}), or a 2-layer artifact with a {WASM_CONTENT} layer",
        last.media_type
    )))
}

/// `plugin.wasm` of a gzip-compressed tar, at most `limit` bytes.
pub fn module_from_tar_gzip(data: &[u8], limit: u64) -> Result<Vec<u8>, FetchError> {
    let err = |e: std::io::Error| FetchError::Image(format!("module layer: {e}"));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(data));
    for entry in archive.entries().map_err(err)? {
        let entry = entry.map_err(err)?;
        let is_module = entry.header().entry_type().is_file()
            && entry
                .path()
                .map_err(err)?
                .file_name()
                .is_some_and(|n| n == MODULE_FILE);
        if is_module {
            let mut out = Vec::new();
            entry.take(limit + 1).read_to_end(&mut out).map_err(err)?;
            if out.len() as u64 > limit {
                return Err(FetchError::Image(format!(
                    "{MODULE_FILE} is larger than {limit} bytes"
                )));
            }
            return Ok(out);
        }
    }
    Err(FetchError::Image(format!(
        "the module layer holds no {MODULE_FILE}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layer(mt: &str) -> Value {
        json!({"mediaType": mt, "digest": format!("sha256:{}", "0".repeat(64)), "size": 1})
    }

    #[test]
    fn picks_the_layer_like_higress() {
        let higress = json!({"mediaType": OCI_MANIFEST, "layers": [
            layer("application/vnd.module.wasm.doc.v1.EN+markdown"),
            layer("application/vnd.module.wasm.doc.v1+markdown"),
            layer("application/vnd.module.wasm.spec.v1+yaml"),
            layer(OCI_TAR_GZIP)]});
        assert!(matches!(
            module_layer(&higress, None).unwrap(),
            ModuleLayer::TarGzip(_)
        ));
        let raw = json!({"layers": [layer("application/vnd.module.wasm.config.v1+json"), layer(WASM_CONTENT)]});
        assert!(matches!(
            module_layer(&raw, None).unwrap(),
            ModuleLayer::Wasm(_)
        ));
        let docker =
            json!({"layers": [layer("application/vnd.docker.image.rootfs.diff.tar.gzip")]});
        assert!(matches!(
            module_layer(&docker, Some(DOCKER_MANIFEST)).unwrap(),
            ModuleLayer::TarGzip(_)
        ));
        // tar.gz not last: rejected, as Higress's fetcher does.
        let wrong = json!({"layers": [layer(OCI_TAR_GZIP), layer("application/vnd.module.wasm.spec.v1+yaml")]});
        assert!(module_layer(&wrong, None)
            .unwrap_err()
            .to_string()
            .contains("last layer"));
        assert!(module_layer(&json!({"manifests": []}), None).is_err());
    }

    #[test]
    fn extracts_plugin_wasm_by_basename() {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in [
            ("README.md", &b"hi"[..]),
            ("dir/plugin.wasm", b"\0asm\x01\0\0\0"),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, name, data).unwrap();
        }
        let tar = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(module_from_tar_gzip(&gz, 100).unwrap(), b"\0asm\x01\0\0\0");
        assert!(module_from_tar_gzip(&gz, 4)
            .unwrap_err()
            .to_string()
            .contains("larger"));
        assert!(module_from_tar_gzip(b"not gzip", 100).is_err());
    }
}

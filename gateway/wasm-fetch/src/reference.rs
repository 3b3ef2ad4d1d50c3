//! `spec.url` of a WasmPlugin: `file://`, `http(s)://`, or an OCI image (`oci://` or no scheme,
//! as in Istio/Higress, where a bare reference means `oci://`).

use crate::FetchError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path on this machine (absolute, or relative to the declaring file).
    File(String),
    /// A module served over HTTP(S); the URL as given.
    Http(String),
    Oci(ImageRef),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `host[:port]`.
    pub registry: String,
    pub repository: String,
    /// A tag or a `sha256:<hex>` digest.
    pub reference: String,
}

impl ImageRef {
    pub fn is_digest(&self) -> bool {
        self.reference.starts_with("sha256:")
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sep = if self.is_digest() { '@' } else { ':' };
        write!(
            f,
            "{}/{}{sep}{}",
            self.registry, self.repository, self.reference
        )
    }
}

/// Docker Hub, the default registry of a reference without a host (go-containerregistry's rule).
const DEFAULT_REGISTRY: &str = "index.docker.io";

pub fn parse(url: &str) -> Result<Source, FetchError> {
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(Source::File(path.to_string()));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(Source::Http(url.to_string()));
    }
    let image = url.strip_prefix("oci://").unwrap_or(url);
    if image.contains("://") {
        return Err(FetchError::Url(format!(
            "{url}: unsupported scheme (file://, http://, https://, oci:// or none)"
        )));
    }
    parse_image(image).map(Source::Oci).ok_or_else(|| {
        FetchError::Url(format!(
            "{url}: not an image reference (registry/repository[:tag|@sha256:digest])"
        ))
    })
}

fn parse_image(image: &str) -> Option<ImageRef> {
    let (name, reference) = match image.split_once('@') {
        Some((name, digest)) => {
            let hex = digest.strip_prefix("sha256:")?;
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            (name, digest.to_string())
        }
        None => {
            // A ':' after the last '/' is the tag; one before it belongs to host:port.
            let slash = image.rfind('/').map_or(0, |i| i + 1);
            match image[slash..].rfind(':') {
                Some(i) => (&image[..slash + i], image[slash + i + 1..].to_string()),
                None => (image, "latest".to_string()),
            }
        }
    };
    if name.is_empty() || reference.is_empty() {
        return None;
    }
    let (registry, repository) = match name.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            (host.to_string(), rest.to_string())
        }
        _ if name.contains('/') => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        _ => (DEFAULT_REGISTRY.to_string(), format!("library/{name}")),
    };
    let valid = repository.split('/').all(|c| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    });
    valid.then_some(ImageRef {
        registry,
        repository,
        reference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oci(s: &str) -> ImageRef {
        match parse(s).unwrap() {
            Source::Oci(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn schemes() {
        assert_eq!(
            parse("file:///opt/p.wasm").unwrap(),
            Source::File("/opt/p.wasm".into())
        );
        assert_eq!(
            parse("https://h/p.wasm").unwrap(),
            Source::Http("https://h/p.wasm".into())
        );
        assert!(parse("ftp://h/p.wasm").is_err());
    }

    #[test]
    fn image_references_like_go_containerregistry() {
        let r = oci("oci://higress-registry.cn-hangzhou.cr.aliyuncs.com/plugins/ai-proxy:1.0.0");
        assert_eq!(r.registry, "higress-registry.cn-hangzhou.cr.aliyuncs.com");
        assert_eq!(r.repository, "plugins/ai-proxy");
        assert_eq!(r.reference, "1.0.0");
        let r = oci("127.0.0.1:5000/p/x");
        assert_eq!(
            (r.registry.as_str(), r.reference.as_str()),
            ("127.0.0.1:5000", "latest")
        );
        let r = oci("localhost/x:v1");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost", "x")
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = oci(&format!("oci://r.io/p/x@{d}"));
        assert!(r.is_digest());
        assert_eq!(r.to_string(), format!("r.io/p/x@{d}"));
        let r = oci("busybox");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("index.docker.io", "library/busybox")
        );
        assert!(parse("oci://r.io/p/x@sha256:abc").is_err());
        assert!(parse("oci://r.io/P/x:1").is_err());
        assert!(parse("oci://r.io/p/x:").is_err());
    }
}

//! What every backend (vector store, embedding provider, reranker, the exact layer) speaks: it
//! builds a [`Call`] (a Redis command or an HTTP request to a cluster) and parses the matching
//! [`Reply`] into typed results. Backends never touch the host, so they are pure and tested
//! natively; `plugin.rs` dispatches the calls and feeds the replies back.

use higress_sdk::{HttpRequest, HttpResponse, RedisClient, RespValue};

/// One callout a backend wants made.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// A command for the Redis behind `client` (Higress `proxy_redis_call`).
    Redis {
        client: RedisClient,
        args: Vec<Vec<u8>>,
    },
    /// An HTTP request to an Envoy cluster (`proxy_http_call`); `request.timeout_ms` is the
    /// backend's own timeout, the plugin lowers it to what is left of the lookup budget.
    Http {
        cluster: String,
        request: HttpRequest,
    },
}

impl Call {
    /// A Redis command from string-ish and byte arguments.
    pub fn redis<A: AsRef<[u8]>>(client: &RedisClient, args: &[A]) -> Call {
        Call::Redis {
            client: client.clone(),
            args: args.iter().map(|a| a.as_ref().to_vec()).collect(),
        }
    }
}

/// The answer to a [`Call`], of the same kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Redis(RespValue),
    Http(HttpResponse),
}

/// Why a backend could not produce a result. Every variant is handled by the fail policy
/// (`failOpen`): the request goes upstream (default) or is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError(pub String);

impl BackendError {
    pub fn new(why: impl Into<String>) -> BackendError {
        BackendError(why.into())
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackendError {}

/// The Redis reply of `reply`, or an error naming what came instead (a Redis `-ERR` included).
pub fn expect_redis(reply: Reply) -> Result<RespValue, BackendError> {
    match reply {
        Reply::Redis(RespValue::Error(e)) => Err(BackendError::new(format!("redis: {e}"))),
        Reply::Redis(v) => Ok(v),
        Reply::Http(r) => Err(BackendError::new(format!(
            "expected a redis reply, got HTTP {}",
            r.status
        ))),
    }
}

/// The body of a 2xx HTTP reply as JSON.
pub fn expect_json(reply: Reply, what: &str) -> Result<serde_json::Value, BackendError> {
    let r = match reply {
        Reply::Http(r) => r,
        Reply::Redis(_) => {
            return Err(BackendError::new(format!(
                "{what}: expected an HTTP reply, got a redis one"
            )))
        }
    };
    if !(200..300).contains(&r.status) {
        let snippet = String::from_utf8_lossy(&r.body[..r.body.len().min(200)]).into_owned();
        return Err(BackendError::new(format!(
            "{what}: HTTP {}: {snippet}",
            r.status
        )));
    }
    serde_json::from_slice(&r.body)
        .map_err(|e| BackendError::new(format!("{what}: invalid JSON: {e}")))
}

/// Parses a JSON array of numbers as an embedding vector.
pub fn vector_from_json(v: &serde_json::Value, what: &str) -> Result<Vec<f32>, BackendError> {
    let arr = v
        .as_array()
        .ok_or_else(|| BackendError::new(format!("{what}: embedding is not an array")))?;
    let out: Option<Vec<f32>> = arr.iter().map(|x| x.as_f64().map(|f| f as f32)).collect();
    match out {
        Some(vec) if !vec.is_empty() => Ok(vec),
        Some(_) => Err(BackendError::new(format!("{what}: empty embedding"))),
        None => Err(BackendError::new(format!(
            "{what}: embedding has a non-number"
        ))),
    }
}

/// A base64 string of little-endian float32s (OpenAI `encoding_format: base64`) as a vector.
pub fn vector_from_base64(b64: &str, what: &str) -> Result<Vec<f32>, BackendError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| BackendError::new(format!("{what}: bad base64 embedding: {e}")))?;
    if bytes.is_empty() || bytes.len() % 4 != 0 {
        return Err(BackendError::new(format!(
            "{what}: base64 embedding of {} bytes is not a float32 array",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Little-endian FP32 blob, the wire format of RediSearch vectors and `VADD ... FP32`.
pub fn f32_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Scales to unit length so cosine = dot product for every store (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_is_little_endian_f32() {
        assert_eq!(f32_blob(&[1.0]), vec![0, 0, 0x80, 0x3f]);
    }

    #[test]
    fn normalize_gives_unit_length() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn http_errors_name_the_status() {
        let r = Reply::Http(HttpResponse {
            status: 503,
            headers: vec![],
            body: b"down".to_vec(),
        });
        assert_eq!(
            expect_json(r, "embedding").unwrap_err().0,
            "embedding: HTTP 503: down"
        );
    }

    #[test]
    fn base64_vectors_are_little_endian_f32() {
        // [1.0, -0.5] as the OpenAI API encodes them.
        assert_eq!(
            vector_from_base64("AACAPwAAAL8=", "e").unwrap(),
            vec![1.0, -0.5]
        );
        assert!(vector_from_base64("AACAPwA=", "e").is_err(), "5 bytes");
        assert!(vector_from_base64("", "e").is_err());
        assert!(vector_from_base64("%%%", "e").is_err());
    }

    #[test]
    fn vectors_reject_non_numbers() {
        let v = serde_json::json!([0.1, "x"]);
        assert!(vector_from_json(&v, "e").is_err());
        assert!(vector_from_json(&serde_json::json!([]), "e").is_err());
    }
}

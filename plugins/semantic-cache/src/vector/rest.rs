//! What the HTTP vector stores share: one JSON endpoint (cluster, authority, auth headers,
//! timeout), expiry stamps for stores without per-entry TTL, and small reply helpers.
//!
//! Stores without a native TTL keep `expires_at` (Unix seconds) next to each vector and filter
//! `expires_at > now` inside the search (a pre-filter like the partition), so an expired entry is
//! never a candidate and never hides a live one.

use higress_sdk::HttpRequest;
use serde_json::Value;

use super::{Candidate, Entry, VectorConfig};
use crate::backend::{BackendError, Call, Reply};
use crate::service::DEFAULT_TIMEOUT_MS;

/// Expiry of entries stored without a TTL: 9999-12-31, far enough to mean "never".
pub const NEVER: u64 = 253_402_300_799;

/// Largest answer kept inline in a store's payload; larger ones are read from the exact layer by
/// `answer_key` (metadata limits: Pinecone 40 KB per vector, Chroma/Milvus/Weaviate are similar).
pub const INLINE_ANSWER_MAX: usize = 32 * 1024;

/// Wall-clock Unix seconds (WASI clock in the VM, the system clock natively).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `expires_at` stamp of an entry stored at `now` with `ttl_secs` (0 = never).
pub fn expires_at(now: u64, ttl_secs: u64) -> u64 {
    if ttl_secs == 0 {
        NEVER
    } else {
        now.saturating_add(ttl_secs)
    }
}

/// The answer as text for a JSON payload, when it is small UTF-8 (answers are JSON bytes).
pub fn inline_answer(answer: &[u8]) -> Option<&str> {
    (answer.len() <= INLINE_ANSWER_MAX)
        .then(|| std::str::from_utf8(answer).ok())
        .flatten()
}

/// The payload stored next to a vector: partition, question, answer key, the answer when small
/// enough, and the expiry stamp.
pub fn payload(e: &Entry, now: u64) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("partition".into(), e.partition.into());
    m.insert("question".into(), e.question.into());
    m.insert("answer_key".into(), e.answer_key.into());
    if let Some(a) = inline_answer(e.answer) {
        m.insert("answer".into(), a.into());
    }
    m.insert("expires_at".into(), expires_at(now, e.ttl_secs).into());
    m
}

/// A candidate from the payload fields written by [`payload`].
pub fn candidate(id: String, similarity: f32, fields: &Value) -> Candidate {
    Candidate {
        id,
        similarity: similarity.clamp(0.0, 1.0),
        question: text(fields, "question"),
        answer_key: text(fields, "answer_key"),
        answer: text(fields, "answer")
            .filter(|a| !a.is_empty())
            .map(String::into_bytes),
    }
}

/// Best first.
pub fn best_first(mut c: Vec<Candidate>) -> Vec<Candidate> {
    c.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    c
}

/// An HTTP+JSON endpoint of a vector store.
#[derive(Clone, Debug)]
pub struct Rest {
    cluster: String,
    authority: String,
    headers: Vec<(String, String)>,
    timeout_ms: u32,
}

impl Rest {
    /// The store's [`Service`](crate::service::Service), its port defaulting to `default_port`.
    pub fn new(cfg: &VectorConfig, default_port: u16) -> Rest {
        let service = cfg.service();
        Rest {
            cluster: service.cluster(default_port),
            authority: service.authority().to_string(),
            headers: Vec::new(),
            timeout_ms: service.timeout_ms(DEFAULT_TIMEOUT_MS),
        }
    }

    /// Adds a header sent with every request (auth).
    pub fn with_header(mut self, name: &str, value: &str) -> Rest {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// `Authorization: Basic base64(user:password)`.
    pub fn with_basic_auth(self, user: &str, password: &str) -> Rest {
        let token = base64(format!("{user}:{password}").as_bytes());
        self.with_header("authorization", &format!("Basic {token}"))
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Call {
        let mut request = HttpRequest::new(method, path)
            .authority(&self.authority)
            .timeout_ms(self.timeout_ms);
        if let Some(b) = body {
            request = request
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        for (k, v) in &self.headers {
            request = request.header(k, v);
        }
        Call::Http {
            cluster: self.cluster.clone(),
            request,
        }
    }
}

/// Status and JSON body of an HTTP reply, whatever the status (stores report "missing" and
/// "already exists" as error statuses with a body to look at). A non-JSON body is `Null`.
pub fn status_json(reply: Reply, what: &str) -> Result<(u16, Value), BackendError> {
    match reply {
        Reply::Http(r) => Ok((
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )),
        Reply::Redis(_) => Err(BackendError::new(format!(
            "{what}: expected an HTTP reply, got a redis one"
        ))),
    }
}

/// An error naming the status and a snippet of the body.
pub fn http_error(what: &str, status: u16, body: &Value) -> BackendError {
    let text = body.to_string();
    let end = text.char_indices().nth(200).map_or(text.len(), |(i, _)| i);
    BackendError::new(format!("{what}: HTTP {status}: {}", &text[..end]))
}

/// Whether the body's text mentions any of `needles` (case-insensitive): stores say "already
/// exists" / "not found" in differently shaped error bodies.
pub fn mentions(body: &Value, needles: &[&str]) -> bool {
    let text = body.to_string().to_ascii_lowercase();
    needles.iter().any(|n| text.contains(n))
}

/// A string field of a JSON object.
pub fn text(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(str::to_string)
}

/// Standard base64 with padding (basic auth).
pub fn base64(data: &[u8]) -> String {
    use ::base64::Engine;
    ::base64::engine::general_purpose::STANDARD.encode(data)
}

/// A UUID-shaped id from a hex entry id (stores that accept only UUIDs or integers: Qdrant,
/// Weaviate). Shorter ids are zero-padded; the first 32 hex digits are used.
pub fn uuid_from_hex(id: &str) -> String {
    let hex: String = id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .chain(std::iter::repeat('0'))
        .take(32)
        .collect::<String>()
        .to_ascii_lowercase();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A name made of `[A-Za-z0-9_]` only (index/class names with strict alphabets).
pub fn word(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"elastic:changeme"), "ZWxhc3RpYzpjaGFuZ2VtZQ==");
    }

    #[test]
    fn uuids_are_stable_and_padded() {
        assert_eq!(
            uuid_from_hex("00112233445566778899aabbccddeeff0011"),
            "00112233-4455-6677-8899-aabbccddeeff"
        );
        assert_eq!(uuid_from_hex("ab"), "ab000000-0000-0000-0000-000000000000");
    }

    #[test]
    fn expiry_without_ttl_is_never() {
        assert_eq!(expires_at(100, 0), NEVER);
        assert_eq!(expires_at(100, 60), 160);
    }

    #[test]
    fn large_or_binary_answers_are_not_inline() {
        assert_eq!(inline_answer(b"{}"), Some("{}"));
        assert_eq!(inline_answer(&[0xff]), None);
        assert_eq!(inline_answer(&vec![b'a'; INLINE_ANSWER_MAX + 1]), None);
    }
}

/// Helpers for the stores' unit tests.
#[cfg(test)]
pub mod testing {
    use higress_sdk::{HttpRequest, HttpResponse};
    use serde_json::Value;

    use crate::backend::{Call, Reply};
    use crate::vector::{Entry, Query, Space};

    pub const SPACE: Space = Space {
        model_id: "m1",
        dims: 2,
    };

    pub fn query() -> Query<'static> {
        Query {
            space: SPACE,
            partition: "p1",
            vector: &[0.6, 0.8],
            top_k: 3,
        }
    }

    pub fn entry(ttl_secs: u64) -> Entry<'static> {
        Entry {
            space: SPACE,
            partition: "p1",
            vector: &[0.6, 0.8],
            id: "00112233445566778899aabbccddeeff",
            question: "what is rust",
            answer_key: "higress-ai-cache:ak",
            answer: br#"{"a":1}"#,
            ttl_secs,
        }
    }

    pub fn reply(status: u16, body: &str) -> Reply {
        Reply::Http(HttpResponse {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        })
    }

    /// Cluster, request and JSON body (Null when none) of an HTTP call.
    pub fn http(call: &Call) -> (&str, &HttpRequest, Value) {
        let Call::Http { cluster, request } = call else {
            panic!("expected an HTTP call, got {call:?}")
        };
        let body = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        (cluster, request, body)
    }

    pub fn header<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

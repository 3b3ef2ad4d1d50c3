//! The exact layer: stored answers as Redis strings, `prefix + fingerprint`, with `SETEX` when a
//! TTL is set. It also holds the answers the vector stores point to (`answer_key`).

use higress_sdk::RespValue;

use crate::backend::{expect_redis, BackendError, Call, Reply};
use crate::config::Exact;

impl Exact {
    pub fn key(&self, fingerprint: &str) -> String {
        format!("{}{fingerprint}", self.prefix)
    }

    pub fn get(&self, key: &str) -> Call {
        Call::redis(&self.client, &["GET", key])
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Call {
        if self.ttl_secs > 0 {
            let ttl = self.ttl_secs.to_string();
            Call::redis(
                &self.client,
                &[b"SETEX".as_slice(), key.as_bytes(), ttl.as_bytes(), value],
            )
        } else {
            Call::redis(&self.client, &[b"SET".as_slice(), key.as_bytes(), value])
        }
    }

    /// The stored bytes, `None` for a miss (absent or empty).
    pub fn parse_get(reply: Reply) -> Result<Option<Vec<u8>>, BackendError> {
        match expect_redis(reply)? {
            v if v.is_null() => Ok(None),
            RespValue::Bulk(b) if b.is_empty() => Ok(None),
            RespValue::Bulk(b) => Ok(Some(b)),
            other => Err(BackendError::new(format!(
                "GET: unexpected reply {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use higress_sdk::RedisClient;

    fn exact(ttl: u64) -> Exact {
        Exact {
            client: RedisClient::new("outbound|6379||redis.static"),
            prefix: "p:".into(),
            ttl_secs: ttl,
        }
    }

    fn args(c: Call) -> Vec<Vec<u8>> {
        match c {
            Call::Redis { args, .. } => args,
            Call::Http { .. } => panic!(),
        }
    }

    #[test]
    fn ttl_selects_setex() {
        assert_eq!(args(exact(0).set("k", b"v"))[0], b"SET");
        let a = args(exact(60).set("k", b"v"));
        assert_eq!(
            a,
            vec![
                b"SETEX".to_vec(),
                b"k".to_vec(),
                b"60".to_vec(),
                b"v".to_vec()
            ]
        );
    }

    #[test]
    fn null_and_empty_are_misses() {
        assert_eq!(
            Exact::parse_get(Reply::Redis(RespValue::NullBulk)),
            Ok(None)
        );
        assert_eq!(
            Exact::parse_get(Reply::Redis(RespValue::Bulk(vec![]))),
            Ok(None)
        );
        assert_eq!(
            Exact::parse_get(Reply::Redis(RespValue::Bulk(b"x".to_vec()))),
            Ok(Some(b"x".to_vec()))
        );
        assert!(Exact::parse_get(Reply::Redis(RespValue::Error("ERR".into()))).is_err());
    }
}

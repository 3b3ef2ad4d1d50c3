//! Redis 8 vector sets (`vector.type: redis-vectorset`): one vector-set key per
//! (collection, embedding model, dimension, partition), so a search can only ever see its own
//! partition. `VADD ... NOQUANT` keeps exact FP32 vectors (similarities are compared to a strict
//! threshold); the element's attributes hold the question and the exact-layer key of the answer.
//!
//! `VSIM ... WITHSCORES` reports `(1 + cos) / 2`; it is converted to cosine similarity. With a
//! TTL the whole partition key gets `EXPIRE` on each insert: an element whose answer key has
//! already expired is a miss (the answer GET finds nothing), never a wrong answer.

use higress_sdk::{RedisClient, RespValue};
use serde_json::json;

use super::{Candidate, Entry, Query, Space, VectorConfig, VectorStore};
use crate::backend::{expect_redis, f32_blob, BackendError, Call, Reply};

pub struct VectorSet {
    client: RedisClient,
    collection: String,
}

impl VectorSet {
    pub fn new(cfg: &VectorConfig) -> VectorSet {
        VectorSet {
            client: cfg.redis_client(),
            collection: cfg.collection().to_string(),
        }
    }

    fn key(&self, space: &Space, partition: &str) -> String {
        format!(
            "{}:{}:{}:{}",
            self.collection, space.model_id, space.dims, partition
        )
    }
}

impl VectorStore for VectorSet {
    fn kind(&self) -> &'static str {
        "redis-vectorset"
    }

    fn search(&self, q: &Query) -> Call {
        let key = self.key(&q.space, q.partition);
        let count = q.top_k.to_string();
        Call::redis(
            &self.client,
            &[
                b"VSIM".as_slice(),
                key.as_bytes(),
                b"FP32",
                &f32_blob(q.vector),
                b"WITHSCORES",
                b"WITHATTRIBS",
                b"COUNT",
                count.as_bytes(),
            ],
        )
    }

    fn parse_search(&self, _q: &Query, reply: Reply) -> Result<Vec<Candidate>, BackendError> {
        let items = match expect_redis(reply)? {
            RespValue::Array(items) => items,
            v if v.is_null() => return Ok(Vec::new()),
            _ => return Err(BackendError::new("VSIM: reply is not an array")),
        };
        let mut out = Vec::with_capacity(items.len() / 3);
        for triple in items.chunks(3) {
            let [element, score, attrs] = triple else {
                return Err(BackendError::new(
                    "VSIM: expected element, score, attributes",
                ));
            };
            let id = element
                .as_str()
                .ok_or_else(|| BackendError::new("VSIM: element is not a string"))?;
            let score: f32 = score
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| BackendError::new("VSIM: score is not a number"))?;
            let attrs: serde_json::Value = attrs
                .as_str()
                .and_then(|a| serde_json::from_str(a).ok())
                .unwrap_or_default();
            out.push(Candidate {
                id: id.to_string(),
                similarity: (2.0 * score - 1.0).clamp(0.0, 1.0),
                question: attrs["q"].as_str().map(str::to_string),
                answer_key: attrs["k"].as_str().map(str::to_string),
                answer: None,
            });
        }
        Ok(out)
    }

    fn insert(&self, e: &Entry) -> Vec<Call> {
        let key = self.key(&e.space, e.partition);
        let attrs = json!({"q": e.question, "k": e.answer_key}).to_string();
        let mut calls = vec![Call::redis(
            &self.client,
            &[
                b"VADD".as_slice(),
                key.as_bytes(),
                b"FP32",
                &f32_blob(e.vector),
                e.id.as_bytes(),
                b"NOQUANT",
                b"SETATTR",
                attrs.as_bytes(),
            ],
        )];
        if e.ttl_secs > 0 {
            calls.push(Call::redis(
                &self.client,
                &["EXPIRE", &key, &e.ttl_secs.to_string()],
            ));
        }
        calls
    }

    fn check_insert(&self, _call: &Call, reply: Reply) -> Result<(), BackendError> {
        expect_redis(reply).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> VectorSet {
        VectorSet::new(&VectorConfig {
            kind: "redis-vectorset".into(),
            service_name: "redis.static".into(),
            collection_id: "c".into(),
            ..Default::default()
        })
    }

    const SPACE: Space = Space {
        model_id: "m",
        dims: 2,
    };

    #[test]
    fn partitions_are_separate_keys() {
        let q = |p| Query {
            space: SPACE,
            partition: p,
            vector: &[1.0, 0.0],
            top_k: 2,
        };
        let key = |c: Call| match c {
            Call::Redis { args, .. } => String::from_utf8(args[1].clone()).unwrap(),
            _ => panic!(),
        };
        assert_eq!(key(store().search(&q("p1"))), "c:m:2:p1");
        assert_ne!(key(store().search(&q("p1"))), key(store().search(&q("p2"))));
    }

    #[test]
    fn scores_become_cosine_similarities() {
        let bulk = |s: &str| RespValue::Bulk(s.as_bytes().to_vec());
        let reply = Reply::Redis(RespValue::Array(vec![
            bulk("a"),
            bulk("1"),
            bulk(r#"{"q":"hi","k":"ak"}"#),
            bulk("b"),
            bulk("0.5"),
            RespValue::NullBulk,
        ]));
        let q = Query {
            space: SPACE,
            partition: "p",
            vector: &[1.0, 0.0],
            top_k: 2,
        };
        let c = store().parse_search(&q, reply).unwrap();
        assert_eq!(c[0].similarity, 1.0);
        assert_eq!(c[0].answer_key.as_deref(), Some("ak"));
        assert_eq!(c[1].similarity, 0.0);
        assert_eq!(c[1].answer_key, None);
    }

    #[test]
    fn insert_adds_exact_vectors_and_expires_the_partition() {
        let e = Entry {
            space: SPACE,
            partition: "p",
            vector: &[1.0, 0.0],
            id: "id",
            question: "q",
            answer_key: "ak",
            answer: b"",
            ttl_secs: 9,
        };
        let calls = store().insert(&e);
        let Call::Redis { args, .. } = &calls[0] else {
            panic!()
        };
        assert_eq!(args[0], b"VADD");
        assert_eq!(args[5], b"NOQUANT");
        assert_eq!(calls.len(), 2);
    }
}

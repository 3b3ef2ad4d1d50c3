//! Alibaba Cloud Tair with TairVector (`vector.type: tair`), over Higress's Redis host calls.
//!
//! One HNSW COSINE index per (collectionID, embedding model, dimension), created on first insert
//! (`TVS.CREATEINDEX`, "already exists" is fine). Each entry is a TairVector key named after the
//! entry's exact-layer answer key, with `partition` as an attribute; `TVS.KNNSEARCH` carries the
//! filter `partition == "<p>"`, evaluated during the HNSW search. Expiry is native
//! (`TVS.HEXPIREAT`, Tair 23.8+). The COSINE distance is 1 − cos. Answers are read from the exact
//! layer (`cache`, which may point at the same Tair) under the returned key.
//!
//! Commands: <https://help.aliyun.com/zh/redis/developer-reference/tairvector>
//! (TVS.CREATEINDEX, TVS.HSET, TVS.KNNSEARCH, TVS.HEXPIREAT).

use std::cell::Cell;

use higress_sdk::{RedisClient, RespValue};

use super::rest::{best_first, now_secs};
use super::{Candidate, Entry, Query, Space, VectorConfig, VectorStore};
use crate::backend::{expect_redis, BackendError, Call, Reply};

pub struct Tair {
    client: RedisClient,
    collection: String,
    ready: Cell<usize>,
}

/// TairVector's text form of a vector: `[0.1,0.2]`.
fn vector_text(v: &[f32]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn command(call: &Call) -> Option<&[u8]> {
    match call {
        Call::Redis { args, .. } => args.first().map(Vec::as_slice),
        Call::Http { .. } => None,
    }
}

impl Tair {
    pub fn new(cfg: &VectorConfig) -> Tair {
        Tair {
            client: cfg.redis_client(),
            collection: cfg.collection().to_string(),
            ready: Cell::new(0),
        }
    }

    fn index(&self, space: &Space) -> String {
        format!("{}:{}:{}", self.collection, space.model_id, space.dims)
    }

    fn insert_at(&self, e: &Entry, now: u64) -> Vec<Call> {
        let index = self.index(&e.space);
        let mut calls = Vec::with_capacity(3);
        if self.ready.get() != e.space.dims {
            calls.push(Call::redis(
                &self.client,
                &[
                    "TVS.CREATEINDEX",
                    &index,
                    &e.space.dims.to_string(),
                    "HNSW",
                    "COSINE",
                ],
            ));
        }
        calls.push(Call::redis(
            &self.client,
            &[
                "TVS.HSET",
                &index,
                e.answer_key,
                "VECTOR",
                &vector_text(e.vector),
                "partition",
                e.partition,
                "question",
                e.question,
            ],
        ));
        if e.ttl_secs > 0 {
            calls.push(Call::redis(
                &self.client,
                &[
                    "TVS.HEXPIREAT",
                    &index,
                    e.answer_key,
                    &now.saturating_add(e.ttl_secs).to_string(),
                ],
            ));
        }
        calls
    }
}

impl VectorStore for Tair {
    fn kind(&self) -> &'static str {
        "tair"
    }

    fn search(&self, q: &Query) -> Call {
        // The partition is hex: nothing to escape inside the quoted literal.
        Call::redis(
            &self.client,
            &[
                "TVS.KNNSEARCH",
                &self.index(&q.space),
                &q.top_k.to_string(),
                &vector_text(q.vector),
                &format!("partition == \"{}\"", q.partition),
            ],
        )
    }

    fn parse_search(&self, _q: &Query, reply: Reply) -> Result<Vec<Candidate>, BackendError> {
        let value = match reply {
            Reply::Redis(RespValue::Error(e)) if e.to_ascii_lowercase().contains("not exist") => {
                self.ready.set(0);
                return Ok(Vec::new());
            }
            other => expect_redis(other)?,
        };
        let items = match value {
            RespValue::Array(items) => items,
            RespValue::NullArray | RespValue::NullBulk => return Ok(Vec::new()),
            _ => return Err(BackendError::new("TVS.KNNSEARCH: reply is not an array")),
        };
        // [key, distance, key, distance, ...]
        let mut out = Vec::with_capacity(items.len() / 2);
        for pair in items.chunks(2) {
            let (Some(key), Some(distance)) = (
                pair[0].as_str(),
                pair.get(1)
                    .and_then(RespValue::as_str)
                    .and_then(|d| d.parse::<f32>().ok()),
            ) else {
                return Err(BackendError::new("TVS.KNNSEARCH: malformed result"));
            };
            out.push(Candidate {
                id: key.to_string(),
                similarity: (1.0 - distance).clamp(0.0, 1.0),
                question: None,
                answer_key: Some(key.to_string()),
                answer: None,
            });
        }
        Ok(best_first(out))
    }

    fn insert(&self, e: &Entry) -> Vec<Call> {
        self.insert_at(e, now_secs())
    }

    fn check_insert(&self, call: &Call, reply: Reply) -> Result<(), BackendError> {
        if command(call).is_some_and(|c| c.eq_ignore_ascii_case(b"TVS.CREATEINDEX")) {
            if let Reply::Redis(RespValue::Error(e)) = &reply {
                if !e.to_ascii_lowercase().contains("already exist") {
                    return Err(BackendError::new(format!("TVS.CREATEINDEX: {e}")));
                }
            } else {
                expect_redis(reply)?;
            }
            if let Call::Redis { args, .. } = call {
                let dims = args.get(2).and_then(|d| std::str::from_utf8(d).ok());
                self.ready
                    .set(dims.and_then(|d| d.parse().ok()).unwrap_or(0));
            }
            return Ok(());
        }
        expect_redis(reply).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::super::rest::testing::{entry, query};
    use super::*;

    fn store() -> Tair {
        Tair::new(&VectorConfig {
            kind: "tair".into(),
            service_name: "tair.dns".into(),
            service_port: 6379,
            collection_id: "cache".into(),
            ..Default::default()
        })
    }

    fn args(call: &Call) -> Vec<String> {
        let Call::Redis { args, .. } = call else {
            panic!()
        };
        args.iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn knnsearch_filters_the_partition() {
        assert_eq!(
            args(&store().search(&query())),
            [
                "TVS.KNNSEARCH",
                "cache:m1:2",
                "3",
                "[0.6,0.8]",
                "partition == \"p1\""
            ]
        );
    }

    #[test]
    fn first_insert_creates_the_index_and_sets_expiry() {
        let s = store();
        let calls = s.insert_at(&entry(60), 100);
        assert_eq!(
            args(&calls[0]),
            ["TVS.CREATEINDEX", "cache:m1:2", "2", "HNSW", "COSINE"]
        );
        assert_eq!(
            args(&calls[1])[..6],
            [
                "TVS.HSET",
                "cache:m1:2",
                "higress-ai-cache:ak",
                "VECTOR",
                "[0.6,0.8]",
                "partition"
            ]
        );
        assert_eq!(
            args(&calls[2]),
            ["TVS.HEXPIREAT", "cache:m1:2", "higress-ai-cache:ak", "160"]
        );
        s.check_insert(
            &calls[0],
            Reply::Redis(RespValue::Error("ERR index already exists".into())),
        )
        .unwrap();
        assert_eq!(s.insert_at(&entry(0), 100).len(), 1);
        assert!(s
            .check_insert(&calls[1], Reply::Redis(RespValue::Error("ERR oom".into())))
            .is_err());
    }

    #[test]
    fn distances_become_similarities() {
        let reply = RespValue::Array(vec![
            RespValue::Bulk(b"k-near".to_vec()),
            RespValue::Bulk(b"0.01".to_vec()),
            RespValue::Bulk(b"k-far".to_vec()),
            RespValue::Bulk(b"0.3".to_vec()),
        ]);
        let c = store().parse_search(&query(), Reply::Redis(reply)).unwrap();
        assert_eq!(c[0].answer_key.as_deref(), Some("k-near"));
        assert!((c[0].similarity - 0.99).abs() < 1e-6);
        assert!((c[1].similarity - 0.7).abs() < 1e-6);
        let missing = Reply::Redis(RespValue::Error("ERR index not exist".into()));
        assert_eq!(store().parse_search(&query(), missing).unwrap(), vec![]);
    }
}

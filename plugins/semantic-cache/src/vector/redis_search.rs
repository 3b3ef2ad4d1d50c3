//! Redis with RediSearch (`vector.type: redis`): one HASH per entry, one HNSW COSINE index per
//! (collection, embedding model, dimension), a TAG field `partition` filtered before the KNN.
//!
//! The index is created on first insert (`FT.CREATE`, "already exists" is fine); a search before
//! that finds "no such index" and is a miss. Entries expire with the key (`EXPIRE`), and
//! RediSearch drops expired hashes from the index.

use std::cell::Cell;

use higress_sdk::{RedisClient, RespValue};

use super::{Candidate, Entry, Query, Space, VectorConfig, VectorStore};
use crate::backend::{expect_redis, f32_blob, BackendError, Call, Reply};

pub struct RediSearch {
    client: RedisClient,
    collection: String,
    /// The index of this dimension exists (learned per VM; a restart re-sends FT.CREATE once).
    index_ready: Cell<usize>,
}

impl RediSearch {
    pub fn new(cfg: &VectorConfig) -> RediSearch {
        RediSearch {
            client: cfg.redis_client(),
            collection: cfg.collection().to_string(),
            index_ready: Cell::new(0),
        }
    }

    fn index(&self, space: &Space) -> String {
        format!("{}:{}:{}", self.collection, space.model_id, space.dims)
    }

    fn create_index(&self, space: &Space) -> Call {
        let index = self.index(space);
        let prefix = format!("{index}:");
        let dims = space.dims.to_string();
        Call::redis(
            &self.client,
            &[
                "FT.CREATE",
                &index,
                "ON",
                "HASH",
                "PREFIX",
                "1",
                &prefix,
                "SCHEMA",
                "partition",
                "TAG",
                "embedding",
                "VECTOR",
                "HNSW",
                "6",
                "TYPE",
                "FLOAT32",
                "DIM",
                &dims,
                "DISTANCE_METRIC",
                "COSINE",
            ],
        )
    }
}

fn is_command(call: &Call, name: &[u8]) -> bool {
    matches!(call, Call::Redis { args, .. } if args.first().is_some_and(|a| a.eq_ignore_ascii_case(name)))
}

/// Field/value pairs of one FT.SEARCH document.
fn field<'a>(fields: &'a [RespValue], name: &str) -> Option<&'a RespValue> {
    fields
        .chunks(2)
        .find(|kv| kv[0].as_str() == Some(name))
        .and_then(|kv| kv.get(1))
}

impl VectorStore for RediSearch {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn search(&self, q: &Query) -> Call {
        let index = self.index(&q.space);
        // The partition is hex, so it needs no TAG escaping.
        let query = format!(
            "(@partition:{{{}}})=>[KNN {} @embedding $vec AS dist]",
            q.partition, q.top_k
        );
        let blob = f32_blob(q.vector);
        let limit = q.top_k.to_string();
        Call::redis(
            &self.client,
            &[
                b"FT.SEARCH".as_slice(),
                index.as_bytes(),
                query.as_bytes(),
                b"PARAMS",
                b"2",
                b"vec",
                &blob,
                b"SORTBY",
                b"dist",
                b"RETURN",
                b"4",
                b"dist",
                b"question",
                b"answer_key",
                b"answer",
                b"LIMIT",
                b"0",
                limit.as_bytes(),
                b"DIALECT",
                b"2",
            ],
        )
    }

    fn parse_search(&self, _q: &Query, reply: Reply) -> Result<Vec<Candidate>, BackendError> {
        let value = match reply {
            Reply::Redis(RespValue::Error(e))
                if e.to_ascii_lowercase().contains("no such index") =>
            {
                return Ok(Vec::new())
            }
            other => expect_redis(other)?,
        };
        let RespValue::Array(items) = value else {
            return Err(BackendError::new("FT.SEARCH: reply is not an array"));
        };
        let mut out = Vec::new();
        // [total, key, [field, value, ...], key, [...], ...]
        for doc in items.get(1..).unwrap_or_default().chunks(2) {
            let (Some(key), Some(RespValue::Array(fields))) = (doc[0].as_str(), doc.get(1)) else {
                return Err(BackendError::new("FT.SEARCH: malformed document"));
            };
            let distance: f32 = field(fields, "dist")
                .and_then(RespValue::as_str)
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| BackendError::new("FT.SEARCH: document without distance"))?;
            let text = |name| {
                field(fields, name)
                    .and_then(RespValue::as_str)
                    .map(str::to_string)
            };
            out.push(Candidate {
                id: key.rsplit(':').next().unwrap_or(key).to_string(),
                // COSINE distance is 1 - cos, in [0, 2].
                similarity: (1.0 - distance).clamp(0.0, 1.0),
                question: text("question"),
                answer_key: text("answer_key"),
                answer: field(fields, "answer")
                    .and_then(RespValue::as_bytes)
                    .map(<[u8]>::to_vec),
            });
        }
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        Ok(out)
    }

    fn insert(&self, e: &Entry) -> Vec<Call> {
        let mut calls = Vec::with_capacity(3);
        if self.index_ready.get() != e.space.dims {
            calls.push(self.create_index(&e.space));
        }
        let key = format!("{}:{}", self.index(&e.space), e.id);
        calls.push(Call::redis(
            &self.client,
            &[
                b"HSET".as_slice(),
                key.as_bytes(),
                b"partition",
                e.partition.as_bytes(),
                b"embedding",
                &f32_blob(e.vector),
                b"question",
                e.question.as_bytes(),
                b"answer_key",
                e.answer_key.as_bytes(),
                b"answer",
                e.answer,
            ],
        ));
        if e.ttl_secs > 0 {
            calls.push(Call::redis(
                &self.client,
                &["EXPIRE", &key, &e.ttl_secs.to_string()],
            ));
        }
        calls
    }

    fn check_insert(&self, call: &Call, reply: Reply) -> Result<(), BackendError> {
        if is_command(call, b"FT.CREATE") {
            let ok = match &reply {
                Reply::Redis(RespValue::Error(e)) => e.contains("already exists"),
                Reply::Redis(_) => true,
                Reply::Http(_) => false,
            };
            if !ok {
                return expect_redis(reply).map(drop);
            }
            if let Call::Redis { args, .. } = call {
                // DIM is the 18th argument.
                if let Some(dims) = args.get(17).and_then(|d| std::str::from_utf8(d).ok()) {
                    self.index_ready.set(dims.parse().unwrap_or(0));
                }
            }
            return Ok(());
        }
        expect_redis(reply).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> RediSearch {
        RediSearch::new(&VectorConfig {
            kind: "redis".into(),
            service_name: "redis.static".into(),
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

    const SPACE: Space = Space {
        model_id: "abc",
        dims: 2,
    };

    #[test]
    fn search_prefilters_the_partition_tag() {
        let q = Query {
            space: SPACE,
            partition: "p1",
            vector: &[1.0, 0.0],
            top_k: 3,
        };
        let a = args(&store().search(&q));
        assert_eq!(a[1], "higress-ai-cache:abc:2");
        assert_eq!(a[2], "(@partition:{p1})=>[KNN 3 @embedding $vec AS dist]");
    }

    #[test]
    fn first_insert_creates_the_index_once() {
        let s = store();
        let e = Entry {
            space: SPACE,
            partition: "p",
            vector: &[1.0, 0.0],
            id: "id1",
            question: "q",
            answer_key: "k",
            answer: b"{}",
            ttl_secs: 60,
        };
        let calls = s.insert(&e);
        assert_eq!(calls.len(), 3);
        assert_eq!(
            args(&calls[0])[..2],
            ["FT.CREATE", "higress-ai-cache:abc:2"]
        );
        assert_eq!(args(&calls[0])[17], "2");
        assert_eq!(
            args(&calls[2]),
            ["EXPIRE", "higress-ai-cache:abc:2:id1", "60"]
        );
        s.check_insert(
            &calls[0],
            Reply::Redis(RespValue::Error("Index already exists".into())),
        )
        .unwrap();
        assert_eq!(s.insert(&e).len(), 2);
    }

    #[test]
    fn distances_become_similarities_best_first() {
        let doc = |k: &str, d: &str| {
            vec![
                RespValue::Bulk(k.as_bytes().to_vec()),
                RespValue::Array(vec![
                    RespValue::Bulk(b"dist".to_vec()),
                    RespValue::Bulk(d.as_bytes().to_vec()),
                    RespValue::Bulk(b"answer_key".to_vec()),
                    RespValue::Bulk(b"ak".to_vec()),
                ]),
            ]
        };
        let mut items = vec![RespValue::Integer(2)];
        items.extend(doc("x:far", "0.5"));
        items.extend(doc("x:near", "0.02"));
        let q = Query {
            space: SPACE,
            partition: "p",
            vector: &[1.0, 0.0],
            top_k: 2,
        };
        let c = store()
            .parse_search(&q, Reply::Redis(RespValue::Array(items)))
            .unwrap();
        assert_eq!(c[0].id, "near");
        assert!((c[0].similarity - 0.98).abs() < 1e-6);
        assert_eq!(c[0].answer_key.as_deref(), Some("ak"));
        assert!((c[1].similarity - 0.5).abs() < 1e-6);
    }

    #[test]
    fn missing_index_is_a_miss_other_errors_are_errors() {
        let q = Query {
            space: SPACE,
            partition: "p",
            vector: &[1.0, 0.0],
            top_k: 1,
        };
        let s = store();
        let none = s.parse_search(
            &q,
            Reply::Redis(RespValue::Error(
                "higress-ai-cache:abc:2: no such index".into(),
            )),
        );
        assert_eq!(none.unwrap(), vec![]);
        assert!(s
            .parse_search(&q, Reply::Redis(RespValue::Error("ERR oom".into())))
            .is_err());
    }
}

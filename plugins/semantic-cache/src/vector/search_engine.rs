//! Search engines with kNN over their REST APIs: Elasticsearch (`vector.type: elasticsearch`),
//! OpenSearch (`opensearch`) and Lindorm's search engine (`lindorm`, OpenSearch-compatible with
//! its `lvector` engine). They differ in the vector mapping, the query shape and the score.
//!
//! One index per (collectionID, embedding model, dimension), created on first insert with a
//! cosine vector field (400 `resource_already_exists_exception` is fine); `partition` is a
//! keyword and `expires_at` a long, both in the kNN `filter` (applied during the search, so k
//! results come from the partition). A missing index (404) is a miss.
//!
//! Scores (cosine similarity = cos):
//! * Elasticsearch `similarity: cosine`: `_score = (1 + cos) / 2`
//!   (<https://www.elastic.co/guide/en/elasticsearch/reference/current/dense-vector.html>).
//! * OpenSearch Lucene `cosinesimil`: `_score = (1 + cos) / 2`
//!   (<https://opensearch.org/docs/latest/search-plugins/knn/approximate-knn/#spaces>).
//! * Lindorm `cosinesimil`: `_score = 1 / (1 + (1 − cos))`
//!   (<https://help.aliyun.com/zh/lindorm/user-guide/vector-knn-retrieval>, score appendix).

use std::cell::Cell;

use serde_json::{json, Value};

use super::rest::{self, best_first, candidate, now_secs, payload, status_json, Rest};
use super::{Candidate, Entry, Query, Space, VectorConfig, VectorStore};
use crate::backend::{BackendError, Call, Reply};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Elasticsearch,
    OpenSearch,
    Lindorm,
}

impl Flavor {
    fn kind(self) -> &'static str {
        match self {
            Flavor::Elasticsearch => "elasticsearch",
            Flavor::OpenSearch => "opensearch",
            Flavor::Lindorm => "lindorm",
        }
    }

    fn vector_mapping(self, dims: usize) -> Value {
        match self {
            Flavor::Elasticsearch => json!({
                "type": "dense_vector", "dims": dims, "index": true, "similarity": "cosine",
            }),
            Flavor::OpenSearch => json!({
                "type": "knn_vector", "dimension": dims,
                "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"},
            }),
            Flavor::Lindorm => json!({
                "type": "knn_vector", "dimension": dims, "data_type": "float",
                "method": {"name": "hnsw", "engine": "lvector", "space_type": "cosinesimil"},
            }),
        }
    }

    /// Cosine similarity of a hit's `_score`.
    fn cosine(self, score: f64) -> f64 {
        match self {
            Flavor::Elasticsearch | Flavor::OpenSearch => 2.0 * score - 1.0,
            Flavor::Lindorm if score > 0.0 => 2.0 - 1.0 / score,
            Flavor::Lindorm => 0.0,
        }
    }
}

pub struct SearchEngine {
    flavor: Flavor,
    rest: Rest,
    collection: String,
    ready: Cell<usize>,
}

impl SearchEngine {
    pub fn new(cfg: &VectorConfig, flavor: Flavor) -> SearchEngine {
        let port = if flavor == Flavor::Lindorm {
            30070
        } else {
            9200
        };
        let mut rest = Rest::new(cfg, port);
        let (user, password) = if cfg.es_username.is_empty() {
            (&cfg.username, &cfg.password)
        } else {
            (&cfg.es_username, &cfg.es_password)
        };
        if !cfg.api_key.is_empty() {
            rest = rest.with_header("authorization", &format!("ApiKey {}", cfg.api_key));
        } else if !user.is_empty() {
            rest = rest.with_basic_auth(user, password);
        }
        SearchEngine {
            flavor,
            rest,
            collection: cfg.collection().to_ascii_lowercase(),
            ready: Cell::new(0),
        }
    }

    fn index(&self, space: &Space) -> String {
        format!("{}-{}-{}", self.collection, space.model_id, space.dims)
    }

    fn search_at(&self, q: &Query, now: u64) -> Call {
        let filter = json!([
            {"term": {"partition": q.partition}},
            {"range": {"expires_at": {"gt": now}}},
        ]);
        let source = json!(["question", "answer_key", "answer"]);
        let body = match self.flavor {
            Flavor::Elasticsearch => json!({
                "knn": {
                    "field": "embedding",
                    "query_vector": q.vector,
                    "k": q.top_k,
                    "num_candidates": (q.top_k * 10).max(100),
                    "filter": filter,
                },
                "size": q.top_k,
                "_source": source,
            }),
            Flavor::OpenSearch | Flavor::Lindorm => {
                let mut body = json!({
                    "size": q.top_k,
                    "query": {"knn": {"embedding": {
                        "vector": q.vector,
                        "k": q.top_k,
                        "filter": {"bool": {"filter": filter}},
                    }}},
                    "_source": source,
                });
                if self.flavor == Flavor::Lindorm {
                    body["ext"] = json!({"lvector": {"filter_type": "efficient_filter"}});
                }
                body
            }
        };
        self.rest.call(
            "POST",
            &format!("/{}/_search", self.index(&q.space)),
            Some(&body),
        )
    }

    fn insert_at(&self, e: &Entry, now: u64) -> Vec<Call> {
        let index = self.index(&e.space);
        let mut calls = Vec::with_capacity(2);
        if self.ready.get() != e.space.dims {
            let stored = json!({"type": "keyword", "index": false});
            let mut body = json!({"mappings": {"properties": {
                "embedding": self.flavor.vector_mapping(e.space.dims),
                "partition": {"type": "keyword"},
                "expires_at": {"type": "long"},
                "question": stored,
                "answer_key": stored,
                "answer": {"type": "text", "index": false},
            }}});
            if self.flavor != Flavor::Elasticsearch {
                body["settings"] = json!({"index": {"knn": true}});
            }
            calls.push(self.rest.call("PUT", &format!("/{index}"), Some(&body)));
        }
        let mut doc = payload(e, now);
        doc.insert("embedding".into(), json!(e.vector));
        calls.push(self.rest.call(
            "PUT",
            &format!("/{index}/_doc/{}", e.id),
            Some(&Value::Object(doc)),
        ));
        calls
    }
}

fn is_create(call: &Call) -> bool {
    matches!(call, Call::Http { request, .. } if !request.url.contains("/_doc/"))
}

impl VectorStore for SearchEngine {
    fn kind(&self) -> &'static str {
        self.flavor.kind()
    }

    fn search(&self, q: &Query) -> Call {
        self.search_at(q, now_secs())
    }

    fn parse_search(&self, _q: &Query, reply: Reply) -> Result<Vec<Candidate>, BackendError> {
        let what = self.flavor.kind();
        let (status, body) = status_json(reply, what)?;
        if status == 404 {
            self.ready.set(0);
            return Ok(Vec::new());
        }
        if !(200..300).contains(&status) {
            return Err(rest::http_error(what, status, &body));
        }
        let hits = body["hits"]["hits"]
            .as_array()
            .ok_or_else(|| BackendError::new(format!("{what}: reply without hits")))?;
        let mut out = Vec::with_capacity(hits.len());
        for h in hits {
            let score = h["_score"]
                .as_f64()
                .ok_or_else(|| BackendError::new(format!("{what}: hit without _score")))?;
            let id = rest::text(h, "_id").unwrap_or_default();
            out.push(candidate(
                id,
                self.flavor.cosine(score) as f32,
                &h["_source"],
            ));
        }
        Ok(best_first(out))
    }

    fn insert(&self, e: &Entry) -> Vec<Call> {
        self.insert_at(e, now_secs())
    }

    fn check_insert(&self, call: &Call, reply: Reply) -> Result<(), BackendError> {
        let what = self.flavor.kind();
        let (status, body) = status_json(reply, what)?;
        let ok = (200..300).contains(&status);
        if is_create(call) && (ok || rest::mentions(&body, &["resource_already_exists"])) {
            if let Call::Http { request, .. } = call {
                let v: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                let m = &v["mappings"]["properties"]["embedding"];
                let dims = m["dims"].as_u64().or(m["dimension"].as_u64());
                self.ready.set(dims.unwrap_or(0) as usize);
            }
            return Ok(());
        }
        if ok {
            return Ok(());
        }
        Err(rest::http_error(what, status, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::super::rest::testing::{entry, header, http, query, reply};
    use super::*;

    fn store(flavor: Flavor) -> SearchEngine {
        SearchEngine::new(
            &VectorConfig {
                kind: flavor.kind().into(),
                service_name: "es.dns".into(),
                es_username: "elastic".into(),
                es_password: "changeme".into(),
                collection_id: "Cache".into(),
                ..Default::default()
            },
            flavor,
        )
    }

    #[test]
    fn elasticsearch_knn_filters_inside_the_search() {
        let call = store(Flavor::Elasticsearch).search_at(&query(), 100);
        let (cluster, r, body) = http(&call);
        assert_eq!(cluster, "outbound|9200||es.dns");
        assert_eq!(r.url, "/cache-m1-2/_search");
        assert_eq!(
            header(r, "authorization"),
            Some("Basic ZWxhc3RpYzpjaGFuZ2VtZQ==")
        );
        assert_eq!(
            body["knn"]["filter"],
            json!([{"term": {"partition": "p1"}}, {"range": {"expires_at": {"gt": 100}}}])
        );
        assert_eq!(body["knn"]["k"], 3);
    }

    #[test]
    fn opensearch_and_lindorm_put_the_filter_in_the_knn_clause() {
        let call = store(Flavor::OpenSearch).search_at(&query(), 100);
        let (_, _, body) = http(&call);
        assert_eq!(
            body["query"]["knn"]["embedding"]["filter"]["bool"]["filter"][0],
            json!({"term": {"partition": "p1"}})
        );
        assert!(body.get("ext").is_none());
        let call = store(Flavor::Lindorm).search_at(&query(), 100);
        let (cluster, _, body) = http(&call);
        assert_eq!(cluster, "outbound|30070||es.dns");
        assert_eq!(body["ext"]["lvector"]["filter_type"], "efficient_filter");
    }

    #[test]
    fn scores_convert_per_engine() {
        let hits = |score: f64| {
            format!(
                r#"{{"took":3,"timed_out":false,"hits":{{"total":{{"value":1,"relation":"eq"}},"max_score":{score},
                "hits":[{{"_index":"cache-m1-2","_id":"abc","_score":{score},"_source":{{"question":"q","answer_key":"k"}}}}]}}}}"#
            )
        };
        let q = query();
        let es = store(Flavor::Elasticsearch)
            .parse_search(&q, reply(200, &hits(0.975)))
            .unwrap();
        assert!((es[0].similarity - 0.95).abs() < 1e-6);
        assert_eq!(es[0].answer_key.as_deref(), Some("k"));
        let os = store(Flavor::OpenSearch)
            .parse_search(&q, reply(200, &hits(0.6)))
            .unwrap();
        assert!((os[0].similarity - 0.2).abs() < 1e-6);
        // Lindorm: distance 0.05 → score 1/1.05.
        let l = store(Flavor::Lindorm)
            .parse_search(&q, reply(200, &hits(1.0 / 1.05)))
            .unwrap();
        assert!((l[0].similarity - 0.95).abs() < 1e-5);
        let missing = r#"{"error":{"root_cause":[{"type":"index_not_found_exception"}],"type":"index_not_found_exception"},"status":404}"#;
        assert_eq!(
            store(Flavor::Elasticsearch)
                .parse_search(&q, reply(404, missing))
                .unwrap(),
            vec![]
        );
    }

    #[test]
    fn first_insert_creates_the_index_with_a_cosine_vector() {
        let s = store(Flavor::OpenSearch);
        let calls = s.insert_at(&entry(10), 100);
        assert_eq!(calls.len(), 2);
        let (_, r, body) = http(&calls[0]);
        assert_eq!((r.method.as_str(), r.url.as_str()), ("PUT", "/cache-m1-2"));
        assert_eq!(body["settings"]["index"]["knn"], true);
        assert_eq!(
            body["mappings"]["properties"]["embedding"]["method"]["space_type"],
            "cosinesimil"
        );
        let exists = r#"{"error":{"type":"resource_already_exists_exception","reason":"index [cache-m1-2/x] already exists"},"status":400}"#;
        s.check_insert(&calls[0], reply(400, exists)).unwrap();
        let (_, r, body) = http(&calls[1]);
        assert_eq!(r.url, "/cache-m1-2/_doc/00112233445566778899aabbccddeeff");
        assert_eq!(body["expires_at"], 110);
        assert_eq!(s.insert_at(&entry(10), 100).len(), 1);
        assert!(s.check_insert(&calls[1], reply(400, "{}")).is_err());
    }
}

//! Weaviate over REST + GraphQL (`vector.type: weaviate`).
//!
//! One class per (collectionID, embedding model, dimension) with `vectorizer: none` and cosine
//! distance, created on first insert (422 "already exists" is fine). Objects are written with the
//! batch endpoint (same UUID = overwrite). The GraphQL `nearVector` search carries a `where`
//! filter on `partition` and `expires_at`, which Weaviate applies before the vector search
//! (an allow-list). Weaviate's cosine distance is 1 − cos. A class that does not exist yet makes
//! the query fail with "Cannot query field": a miss.
//!
//! API: <https://weaviate.io/developers/weaviate/api/rest> (schema, batch/objects) and
//! <https://weaviate.io/developers/weaviate/api/graphql/search-operators#nearvector>.

use std::cell::Cell;

use serde_json::{json, Value};

use super::rest::{
    self, best_first, candidate, now_secs, payload, status_json, uuid_from_hex, word, Rest,
};
use super::{Candidate, Entry, Query, Space, VectorConfig, VectorStore};
use crate::backend::{BackendError, Call, Reply};

pub struct Weaviate {
    rest: Rest,
    collection: String,
    ready: Cell<usize>,
}

impl Weaviate {
    pub fn new(cfg: &VectorConfig) -> Weaviate {
        let mut rest = Rest::new(cfg, 8080);
        if !cfg.api_key.is_empty() {
            rest = rest.with_header("authorization", &format!("Bearer {}", cfg.api_key));
        }
        // Class names start with a capital letter and hold letters, digits and underscores.
        let mut collection = word(cfg.collection());
        if collection.starts_with(|c: char| c.is_ascii_lowercase()) {
            collection[..1].make_ascii_uppercase();
        } else if !collection.starts_with(|c: char| c.is_ascii_uppercase()) {
            collection.insert(0, 'C');
        }
        Weaviate {
            rest,
            collection,
            ready: Cell::new(0),
        }
    }

    fn class(&self, space: &Space) -> String {
        format!("{}_{}_{}", self.collection, space.model_id, space.dims)
    }

    fn search_at(&self, q: &Query, now: u64) -> Call {
        let class = self.class(&q.space);
        let vector = serde_json::to_string(q.vector).unwrap_or_default();
        // The partition is hex and `now` a number: nothing to escape in the GraphQL text.
        let query = format!(
            "{{ Get {{ {class}(nearVector: {{vector: {vector}}}, limit: {}, where: {{operator: And, operands: [\
             {{path: [\"partition\"], operator: Equal, valueText: \"{}\"}}, \
             {{path: [\"expires_at\"], operator: GreaterThan, valueNumber: {now}}}]}}) \
             {{ question answer_key answer _additional {{ id distance }} }} }} }}",
            q.top_k, q.partition
        );
        self.rest
            .call("POST", "/v1/graphql", Some(&json!({ "query": query })))
    }

    fn insert_at(&self, e: &Entry, now: u64) -> Vec<Call> {
        let class = self.class(&e.space);
        let mut calls = Vec::with_capacity(2);
        if self.ready.get() != e.space.dims {
            let text = |name: &str, tokenization: &str| json!({"name": name, "dataType": ["text"], "tokenization": tokenization});
            calls.push(self.rest.call(
                "POST",
                "/v1/schema",
                Some(&json!({
                    "class": class,
                    "vectorizer": "none",
                    "vectorIndexConfig": {"distance": "cosine"},
                    "properties": [
                        text("partition", "field"),
                        text("question", "word"),
                        text("answer_key", "field"),
                        text("answer", "field"),
                        {"name": "expires_at", "dataType": ["number"]},
                    ],
                })),
            ));
        }
        calls.push(self.rest.call(
            "POST",
            "/v1/batch/objects",
            Some(&json!({"objects": [{
                "class": class,
                "id": uuid_from_hex(e.id),
                "properties": payload(e, now),
                "vector": e.vector,
            }]})),
        ));
        calls
    }
}

fn is_schema(call: &Call) -> bool {
    matches!(call, Call::Http { request, .. } if request.url == "/v1/schema")
}

impl VectorStore for Weaviate {
    fn kind(&self) -> &'static str {
        "weaviate"
    }

    fn search(&self, q: &Query) -> Call {
        self.search_at(q, now_secs())
    }

    fn parse_search(&self, q: &Query, reply: Reply) -> Result<Vec<Candidate>, BackendError> {
        let (status, body) = status_json(reply, "weaviate graphql")?;
        if !(200..300).contains(&status) {
            return Err(rest::http_error("weaviate graphql", status, &body));
        }
        if let Some(errors) = body.get("errors").filter(|e| !e.is_null()) {
            if rest::mentions(errors, &["cannot query field"]) {
                self.ready.set(0);
                return Ok(Vec::new());
            }
            return Err(rest::http_error("weaviate graphql", status, errors));
        }
        let objects = body["data"]["Get"][self.class(&q.space)]
            .as_array()
            .ok_or_else(|| BackendError::new("weaviate graphql: no result list"))?;
        let mut out = Vec::with_capacity(objects.len());
        for o in objects {
            let extra = &o["_additional"];
            let distance = extra["distance"]
                .as_f64()
                .ok_or_else(|| BackendError::new("weaviate graphql: object without distance"))?;
            let id = rest::text(extra, "id").unwrap_or_default();
            out.push(candidate(id, (1.0 - distance) as f32, o));
        }
        Ok(best_first(out))
    }

    fn insert(&self, e: &Entry) -> Vec<Call> {
        self.insert_at(e, now_secs())
    }

    fn check_insert(&self, call: &Call, reply: Reply) -> Result<(), BackendError> {
        let (status, body) = status_json(reply, "weaviate")?;
        let ok = (200..300).contains(&status);
        if is_schema(call) {
            if ok || rest::mentions(&body, &["already exists"]) {
                if let Call::Http { request, .. } = call {
                    let v: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                    let dims = rest::text(&v, "class")
                        .and_then(|c| c.rsplit('_').next().and_then(|d| d.parse().ok()));
                    self.ready.set(dims.unwrap_or(0));
                }
                return Ok(());
            }
            return Err(rest::http_error("weaviate schema", status, &body));
        }
        if !ok {
            return Err(rest::http_error("weaviate batch", status, &body));
        }
        // The batch answers 200 with per-object errors.
        let failed = body
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| !o["result"]["errors"].is_null());
        match failed {
            Some(o) => Err(rest::http_error(
                "weaviate batch",
                status,
                &o["result"]["errors"],
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::rest::testing::{entry, header, http, query, reply};
    use super::*;

    fn store() -> Weaviate {
        Weaviate::new(&VectorConfig {
            kind: "weaviate".into(),
            service_name: "weaviate.dns".into(),
            api_key: "wk".into(),
            collection_id: "llm-cache".into(),
            ..Default::default()
        })
    }

    #[test]
    fn near_vector_query_filters_partition_and_expiry() {
        let call = store().search_at(&query(), 100);
        let (cluster, r, body) = http(&call);
        assert_eq!(cluster, "outbound|8080||weaviate.dns");
        assert_eq!(r.url, "/v1/graphql");
        assert_eq!(header(r, "authorization"), Some("Bearer wk"));
        let q = body["query"].as_str().unwrap();
        assert!(
            q.contains("Llm_cache_m1_2(nearVector: {vector: [0.6,0.8]}, limit: 3"),
            "{q}"
        );
        assert!(
            q.contains(r#"{path: ["partition"], operator: Equal, valueText: "p1"}"#),
            "{q}"
        );
        assert!(q.contains(r#"{path: ["expires_at"], operator: GreaterThan, valueNumber: 100}"#));
    }

    #[test]
    fn distances_become_similarities_and_a_missing_class_is_a_miss() {
        // Response shape of a GraphQL Get with _additional { id distance }.
        let body = r#"{"data":{"Get":{"Llm_cache_m1_2":[
            {"question":"q","answer_key":"k","answer":"{}","_additional":{"id":"00112233-4455-6677-8899-aabbccddeeff","distance":0.04}}]}}}"#;
        let c = store().parse_search(&query(), reply(200, body)).unwrap();
        assert!((c[0].similarity - 0.96).abs() < 1e-6);
        assert_eq!(c[0].answer.as_deref(), Some(b"{}".as_slice()));
        let missing = r#"{"data":{"Get":null},"errors":[{"locations":[{"column":9,"line":1}],"message":"Cannot query field \"Llm_cache_m1_2\" on type \"GetObjectsObj\".","path":null}]}"#;
        assert_eq!(
            store().parse_search(&query(), reply(200, missing)).unwrap(),
            vec![]
        );
    }

    #[test]
    fn first_insert_creates_the_class_then_batches() {
        let s = store();
        let calls = s.insert_at(&entry(0), 100);
        assert_eq!(calls.len(), 2);
        let (_, _, body) = http(&calls[0]);
        assert_eq!(body["vectorIndexConfig"]["distance"], "cosine");
        assert_eq!(body["vectorizer"], "none");
        let exists = r#"{"error":[{"message":"class name \"Llm_cache_m1_2\" already exists"}]}"#;
        s.check_insert(&calls[0], reply(422, exists)).unwrap();
        assert_eq!(s.insert_at(&entry(0), 100).len(), 1);
        let (_, r, body) = http(&calls[1]);
        assert_eq!(r.url, "/v1/batch/objects");
        assert_eq!(body["objects"][0]["properties"]["partition"], "p1");
        let ok = r#"[{"class":"Llm_cache_m1_2","id":"x","result":{}}]"#;
        s.check_insert(&calls[1], reply(200, ok)).unwrap();
        let bad = r#"[{"class":"Llm_cache_m1_2","id":"x","result":{"errors":{"error":[{"message":"vector lengths don't match"}]}}}]"#;
        assert!(s.check_insert(&calls[1], reply(200, bad)).is_err());
    }
}

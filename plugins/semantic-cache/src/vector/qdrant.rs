//! Qdrant over its REST API (`vector.type: qdrant`).
//!
//! One collection per (collectionID, embedding model, dimension) with `distance: Cosine`,
//! created on first insert (409 "already exists" is fine). Points carry a payload with
//! `partition` and `expires_at`; the search `filter` restricts both (Qdrant applies payload
//! filters during the HNSW search, not after). Qdrant's Cosine score is the cosine similarity.
//!
//! API: <https://api.qdrant.tech/api-reference> (collections/create, points/upsert, points/search).

use std::cell::Cell;

use serde_json::{json, Value};

use super::rest::{
    self, best_first, candidate, now_secs, payload, status_json, uuid_from_hex, Rest,
};
use super::{Candidate, Entry, Query, Space, VectorConfig, VectorStore};
use crate::backend::{BackendError, Call, Reply};

pub struct Qdrant {
    rest: Rest,
    collection: String,
    /// Dimension of the collection known to exist in this VM.
    ready: Cell<usize>,
}

impl Qdrant {
    pub fn new(cfg: &VectorConfig) -> Qdrant {
        let mut rest = Rest::new(cfg, 6333);
        if !cfg.api_key.is_empty() {
            rest = rest.with_header("api-key", &cfg.api_key);
        }
        Qdrant {
            rest,
            collection: cfg.collection().to_string(),
            ready: Cell::new(0),
        }
    }

    fn name(&self, space: &Space) -> String {
        format!("{}-{}-{}", self.collection, space.model_id, space.dims)
    }

    fn search_at(&self, q: &Query, now: u64) -> Call {
        self.rest.call(
            "POST",
            &format!("/collections/{}/points/search", self.name(&q.space)),
            Some(&json!({
                "vector": q.vector,
                "limit": q.top_k,
                "with_payload": true,
                "filter": {"must": [
                    {"key": "partition", "match": {"value": q.partition}},
                    {"key": "expires_at", "range": {"gt": now}},
                ]},
            })),
        )
    }

    fn insert_at(&self, e: &Entry, now: u64) -> Vec<Call> {
        let name = self.name(&e.space);
        let mut calls = Vec::with_capacity(3);
        if self.ready.get() != e.space.dims {
            calls.push(self.rest.call(
                "PUT",
                &format!("/collections/{name}"),
                Some(&json!({"vectors": {"size": e.space.dims, "distance": "Cosine"}})),
            ));
            // A keyword index makes the partition filter an index lookup.
            calls.push(self.rest.call(
                "PUT",
                &format!("/collections/{name}/index?wait=true"),
                Some(&json!({"field_name": "partition", "field_schema": "keyword"})),
            ));
        }
        calls.push(self.rest.call(
            "PUT",
            &format!("/collections/{name}/points?wait=true"),
            Some(&json!({"points": [{
                "id": uuid_from_hex(e.id),
                "vector": e.vector,
                "payload": payload(e, now),
            }]})),
        ));
        calls
    }
}

fn is_create(call: &Call) -> bool {
    matches!(call, Call::Http { request, .. }
        if request.method == "PUT" && !request.url.contains("/points") && !request.url.contains("/index"))
}

impl VectorStore for Qdrant {
    fn kind(&self) -> &'static str {
        "qdrant"
    }

    fn search(&self, q: &Query) -> Call {
        self.search_at(q, now_secs())
    }

    fn parse_search(&self, _q: &Query, reply: Reply) -> Result<Vec<Candidate>, BackendError> {
        let (status, body) = status_json(reply, "qdrant search")?;
        if status == 404 {
            self.ready.set(0);
            return Ok(Vec::new());
        }
        if !(200..300).contains(&status) {
            return Err(rest::http_error("qdrant search", status, &body));
        }
        let points = body["result"]
            .as_array()
            .ok_or_else(|| BackendError::new("qdrant search: reply without result"))?;
        let mut out = Vec::with_capacity(points.len());
        for p in points {
            let score = p["score"]
                .as_f64()
                .ok_or_else(|| BackendError::new("qdrant search: point without score"))?;
            let id = match &p["id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push(candidate(id, score as f32, &p["payload"]));
        }
        Ok(best_first(out))
    }

    fn insert(&self, e: &Entry) -> Vec<Call> {
        self.insert_at(e, now_secs())
    }

    fn check_insert(&self, call: &Call, reply: Reply) -> Result<(), BackendError> {
        let (status, body) = status_json(reply, "qdrant")?;
        if (200..300).contains(&status) || (is_create(call) && status == 409) {
            if is_create(call) {
                if let Call::Http { request, .. } = call {
                    let v: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                    self.ready
                        .set(v["vectors"]["size"].as_u64().unwrap_or(0) as usize);
                }
            }
            return Ok(());
        }
        if status == 404 {
            self.ready.set(0);
        }
        Err(rest::http_error("qdrant", status, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::super::rest::testing::{entry, header, http, query, reply};
    use super::*;

    fn store() -> Qdrant {
        Qdrant::new(&VectorConfig {
            kind: "qdrant".into(),
            service_name: "qdrant.dns".into(),
            api_key: "key".into(),
            collection_id: "cache".into(),
            ..Default::default()
        })
    }

    #[test]
    fn search_filters_partition_and_expiry() {
        let call = store().search_at(&query(), 100);
        let (cluster, r, body) = http(&call);
        assert_eq!(cluster, "outbound|6333||qdrant.dns");
        assert_eq!(r.url, "/collections/cache-m1-2/points/search");
        assert_eq!(header(r, "api-key"), Some("key"));
        assert_eq!(
            body["filter"],
            json!({"must": [{"key": "partition", "match": {"value": "p1"}}, {"key": "expires_at", "range": {"gt": 100}}]})
        );
        assert_eq!(body["limit"], 3);
    }

    #[test]
    fn scores_are_cosine_similarities() {
        // Response body from the points/search reference.
        let body = r#"{"result":[{"id":"00112233-4455-6677-8899-aabbccddeeff","version":3,"score":0.87,
            "payload":{"question":"q","answer_key":"k","answer":"{}","partition":"p1","expires_at":9}},
            {"id":7,"version":1,"score":0.91,"payload":{"answer_key":"k7"}}],"status":"ok","time":0.0002}"#;
        let c = store().parse_search(&query(), reply(200, body)).unwrap();
        assert_eq!(c[0].id, "7");
        assert!((c[0].similarity - 0.91).abs() < 1e-6);
        assert_eq!(c[1].answer.as_deref(), Some(b"{}".as_slice()));
        let missing = r#"{"status":{"error":"Not found: Collection `cache-m1-2` doesn't exist!"},"time":0.0}"#;
        assert_eq!(
            store().parse_search(&query(), reply(404, missing)).unwrap(),
            vec![]
        );
    }

    #[test]
    fn first_insert_creates_the_collection_once() {
        let s = store();
        let calls = s.insert_at(&entry(0), 100);
        assert_eq!(calls.len(), 3);
        let (_, r, body) = http(&calls[0]);
        assert_eq!(
            (r.method.as_str(), r.url.as_str()),
            ("PUT", "/collections/cache-m1-2")
        );
        assert_eq!(body, json!({"vectors": {"size": 2, "distance": "Cosine"}}));
        let exists = r#"{"status":{"error":"Wrong input: Collection `cache-m1-2` already exists!"},"time":0.0}"#;
        s.check_insert(&calls[0], reply(409, exists)).unwrap();
        let (_, r, body) = http(&calls[2]);
        assert_eq!(r.url, "/collections/cache-m1-2/points?wait=true");
        assert_eq!(
            body["points"][0]["id"],
            "00112233-4455-6677-8899-aabbccddeeff"
        );
        assert_eq!(body["points"][0]["payload"]["expires_at"], rest::NEVER);
        assert_eq!(s.insert_at(&entry(0), 100).len(), 1);
        assert!(s.check_insert(&calls[2], reply(400, "{}")).is_err());
    }
}

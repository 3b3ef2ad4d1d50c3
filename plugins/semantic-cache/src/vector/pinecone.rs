//! Pinecone data plane (`vector.type: pinecone`): `serviceHost` (or `serviceName`) is the
//! index host, `collectionID` the namespace (created implicitly by the first upsert).
//!
//! Pinecone creates indexes only through its control plane (another host, with cloud and region
//! settings), so the index itself is provisioned by the operator with `metric: cosine` and the
//! embedding dimension; the plugin never creates it. Vectors carry `partition`, `model` and
//! `expires_at` metadata and the query `filter` restricts all three (Pinecone filters during the
//! search). With the cosine metric `score` is the cosine similarity.
//!
//! API: <https://docs.pinecone.io/reference/api/2025-01/data-plane/query> and `.../upsert`.

use serde_json::json;

use super::rest::{self, best_first, candidate, now_secs, payload, status_json, Rest};
use super::{Candidate, Entry, Query, VectorConfig, VectorStore};
use crate::backend::{BackendError, Call, Reply};

const API_VERSION: &str = "2025-01";

pub struct Pinecone {
    rest: Rest,
    namespace: String,
}

impl Pinecone {
    pub fn new(cfg: &VectorConfig) -> Pinecone {
        Pinecone {
            rest: Rest::new(cfg, 443)
                .with_header("api-key", &cfg.api_key)
                .with_header("x-pinecone-api-version", API_VERSION),
            namespace: cfg.collection().to_string(),
        }
    }

    fn search_at(&self, q: &Query, now: u64) -> Call {
        self.rest.call(
            "POST",
            "/query",
            Some(&json!({
                "namespace": self.namespace,
                "vector": q.vector,
                "topK": q.top_k,
                "includeMetadata": true,
                "includeValues": false,
                "filter": {
                    "partition": {"$eq": q.partition},
                    "model": {"$eq": q.space.model_id},
                    "expires_at": {"$gt": now},
                },
            })),
        )
    }

    fn insert_at(&self, e: &Entry, now: u64) -> Vec<Call> {
        let mut metadata = payload(e, now);
        metadata.insert("model".into(), e.space.model_id.into());
        vec![self.rest.call(
            "POST",
            "/vectors/upsert",
            Some(&json!({
                "namespace": self.namespace,
                "vectors": [{"id": e.id, "values": e.vector, "metadata": metadata}],
            })),
        )]
    }
}

impl VectorStore for Pinecone {
    fn kind(&self) -> &'static str {
        "pinecone"
    }

    fn search(&self, q: &Query) -> Call {
        self.search_at(q, now_secs())
    }

    fn parse_search(&self, _q: &Query, reply: Reply) -> Result<Vec<Candidate>, BackendError> {
        let (status, body) = status_json(reply, "pinecone query")?;
        if !(200..300).contains(&status) {
            return Err(rest::http_error("pinecone query", status, &body));
        }
        let matches = body["matches"]
            .as_array()
            .ok_or_else(|| BackendError::new("pinecone query: reply without matches"))?;
        let mut out = Vec::with_capacity(matches.len());
        for m in matches {
            let score = m["score"]
                .as_f64()
                .ok_or_else(|| BackendError::new("pinecone query: match without score"))?;
            let id = rest::text(m, "id").unwrap_or_default();
            out.push(candidate(id, score as f32, &m["metadata"]));
        }
        Ok(best_first(out))
    }

    fn insert(&self, e: &Entry) -> Vec<Call> {
        self.insert_at(e, now_secs())
    }

    fn check_insert(&self, _call: &Call, reply: Reply) -> Result<(), BackendError> {
        let (status, body) = status_json(reply, "pinecone upsert")?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(rest::http_error("pinecone upsert", status, &body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::rest::testing::{entry, header, http, query, reply};
    use super::*;

    fn store() -> Pinecone {
        Pinecone::new(&VectorConfig {
            kind: "pinecone".into(),
            service_name: "pinecone.dns".into(),
            service_host: "cache-abc123.svc.aped-4627-b74a.pinecone.io".into(),
            api_key: "pk".into(),
            collection_id: "ns1".into(),
            ..Default::default()
        })
    }

    #[test]
    fn query_filters_metadata_in_the_namespace() {
        let call = store().search_at(&query(), 100);
        let (cluster, r, body) = http(&call);
        assert_eq!(cluster, "outbound|443||pinecone.dns");
        assert_eq!(
            r.authority.as_deref(),
            Some("cache-abc123.svc.aped-4627-b74a.pinecone.io")
        );
        assert_eq!(header(r, "api-key"), Some("pk"));
        assert_eq!(header(r, "x-pinecone-api-version"), Some("2025-01"));
        assert_eq!(body["namespace"], "ns1");
        assert_eq!(
            body["filter"],
            json!({"partition": {"$eq": "p1"}, "model": {"$eq": "m1"}, "expires_at": {"$gt": 100}})
        );
    }

    #[test]
    fn scores_are_similarities() {
        // Response body from the query reference.
        let body = r#"{"results":[],"matches":[{"id":"a","score":0.99,"values":[],"metadata":{"question":"q","answer":"{}"}},
            {"id":"b","score":0.5,"values":[]}],"namespace":"ns1","usage":{"readUnits":6}}"#;
        let c = store().parse_search(&query(), reply(200, body)).unwrap();
        assert!((c[0].similarity - 0.99).abs() < 1e-6);
        assert_eq!(c[0].answer.as_deref(), Some(b"{}".as_slice()));
        assert_eq!(c[1].answer, None);
        assert!(store().parse_search(&query(), reply(401, "{}")).is_err());
    }

    #[test]
    fn upsert_writes_metadata_and_the_model() {
        let s = store();
        let calls = s.insert_at(&entry(5), 100);
        let (_, r, body) = http(&calls[0]);
        assert_eq!(r.url, "/vectors/upsert");
        assert_eq!(body["vectors"][0]["metadata"]["model"], "m1");
        assert_eq!(body["vectors"][0]["metadata"]["expires_at"], 105);
        s.check_insert(&calls[0], reply(200, r#"{"upsertedCount":1}"#))
            .unwrap();
    }
}

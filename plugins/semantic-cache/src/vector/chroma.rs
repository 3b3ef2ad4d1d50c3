//! Chroma over its v2 HTTP API (`vector.type: chroma`), Chroma 1.x.
//!
//! One collection per (collectionID, embedding model, dimension), created with the cosine space
//! (`get_or_create`). Chroma addresses collections by id, so the first search of a VM resolves
//! the id with that create call (the lookup is a miss) and later calls use it. Entries carry
//! `partition` and `expires_at` metadata; the query's `where` restricts both before the KNN.
//! Chroma's cosine distance is 1 − cos.
//!
//! API: <https://docs.trychroma.com/reference> (server OpenAPI: `/openapi.json`).

use std::cell::RefCell;

use serde_json::{json, Value};

use super::rest::{self, best_first, candidate, now_secs, payload, status_json, Rest};
use super::{Candidate, Entry, Query, Space, VectorConfig, VectorStore};
use crate::backend::{BackendError, Call, Reply};

const TENANT: &str = "default_tenant";
const DATABASE: &str = "default_database";

pub struct Chroma {
    rest: Rest,
    collection: String,
    /// (collection name, collection id) resolved in this VM.
    resolved: RefCell<Option<(String, String)>>,
}

impl Chroma {
    pub fn new(cfg: &VectorConfig) -> Chroma {
        let mut rest = Rest::new(cfg, 8000);
        if !cfg.api_key.is_empty() {
            rest = rest.with_header("x-chroma-token", &cfg.api_key);
        }
        Chroma {
            rest,
            collection: cfg.collection().to_string(),
            resolved: RefCell::new(None),
        }
    }

    fn name(&self, space: &Space) -> String {
        format!("{}-{}-{}", self.collection, space.model_id, space.dims)
    }

    fn collections_path() -> String {
        format!("/api/v2/tenants/{TENANT}/databases/{DATABASE}/collections")
    }

    fn id_for(&self, space: &Space) -> Option<String> {
        let name = self.name(space);
        match &*self.resolved.borrow() {
            Some((n, id)) if *n == name => Some(id.clone()),
            _ => None,
        }
    }

    fn get_or_create(&self, space: &Space) -> Call {
        self.rest.call(
            "POST",
            &Self::collections_path(),
            Some(&json!({
                "name": self.name(space),
                "configuration": {"hnsw": {"space": "cosine"}},
                "get_or_create": true,
            })),
        )
    }

    /// Records the id of a create/get reply; false when the body is not a collection.
    fn remember(&self, body: &Value) -> bool {
        match (rest::text(body, "name"), rest::text(body, "id")) {
            (Some(name), Some(id)) => {
                *self.resolved.borrow_mut() = Some((name, id));
                true
            }
            _ => false,
        }
    }

    fn search_at(&self, q: &Query, now: u64) -> Call {
        let Some(id) = self.id_for(&q.space) else {
            return self.get_or_create(&q.space);
        };
        self.rest.call(
            "POST",
            &format!("{}/{id}/query", Self::collections_path()),
            Some(&json!({
                "query_embeddings": [q.vector],
                "n_results": q.top_k,
                "where": {"$and": [
                    {"partition": {"$eq": q.partition}},
                    {"expires_at": {"$gt": now}},
                ]},
                "include": ["metadatas", "documents", "distances"],
            })),
        )
    }

    fn insert_at(&self, e: &Entry, now: u64) -> Vec<Call> {
        let Some(id) = self.id_for(&e.space) else {
            // The id comes back in the reply; this entry is dropped (the next miss stores).
            return vec![self.get_or_create(&e.space)];
        };
        let mut metadata = payload(e, now);
        let document = metadata.remove("answer").unwrap_or(Value::Null);
        vec![self.rest.call(
            "POST",
            &format!("{}/{id}/upsert", Self::collections_path()),
            Some(&json!({
                "ids": [e.id],
                "embeddings": [e.vector],
                "metadatas": [metadata],
                "documents": [document],
            })),
        )]
    }
}

impl VectorStore for Chroma {
    fn kind(&self) -> &'static str {
        "chroma"
    }

    fn search(&self, q: &Query) -> Call {
        self.search_at(q, now_secs())
    }

    fn parse_search(&self, _q: &Query, reply: Reply) -> Result<Vec<Candidate>, BackendError> {
        let (status, body) = status_json(reply, "chroma query")?;
        if status == 404 {
            // The collection was deleted behind our back: resolve it again next time.
            *self.resolved.borrow_mut() = None;
            return Ok(Vec::new());
        }
        if !(200..300).contains(&status) {
            return Err(rest::http_error("chroma query", status, &body));
        }
        if self.remember(&body) {
            return Ok(Vec::new());
        }
        let column = |name: &str| body[name][0].as_array().cloned().unwrap_or_default();
        let (ids, distances) = (column("ids"), column("distances"));
        let (metadatas, documents) = (column("metadatas"), column("documents"));
        if body.get("ids").is_none() {
            return Err(BackendError::new("chroma query: reply without ids"));
        }
        let mut out = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let distance = distances
                .get(i)
                .and_then(Value::as_f64)
                .ok_or_else(|| BackendError::new("chroma query: result without a distance"))?;
            let mut fields = metadatas.get(i).cloned().unwrap_or(Value::Null);
            if let (Some(obj), Some(doc)) = (fields.as_object_mut(), documents.get(i)) {
                obj.insert("answer".into(), doc.clone());
            }
            out.push(candidate(
                id.as_str().unwrap_or_default().to_string(),
                (1.0 - distance) as f32,
                &fields,
            ));
        }
        Ok(best_first(out))
    }

    fn insert(&self, e: &Entry) -> Vec<Call> {
        self.insert_at(e, now_secs())
    }

    fn check_insert(&self, _call: &Call, reply: Reply) -> Result<(), BackendError> {
        let (status, body) = status_json(reply, "chroma upsert")?;
        if status == 404 {
            *self.resolved.borrow_mut() = None;
        }
        if !(200..300).contains(&status) {
            return Err(rest::http_error("chroma upsert", status, &body));
        }
        self.remember(&body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::rest::testing::{entry, header, http, query, reply};
    use super::*;

    fn store() -> Chroma {
        Chroma::new(&VectorConfig {
            kind: "chroma".into(),
            service_name: "chroma.dns".into(),
            api_key: "tok".into(),
            ..Default::default()
        })
    }

    const COLLECTION: &str = r#"{"id":"5a7b2c1e-0000-4000-8000-000000000001","name":"higress-ai-cache-m1-2","configuration_json":{},"metadata":null,"dimension":null,"tenant":"default_tenant","database":"default_database","version":0,"log_position":0}"#;

    #[test]
    fn first_search_resolves_the_collection_then_queries_within_the_partition() {
        let s = store();
        let q = query();
        let call = s.search_at(&q, 100);
        let (cluster, r, body) = http(&call);
        assert_eq!(cluster, "outbound|8000||chroma.dns");
        assert_eq!(
            r.url,
            "/api/v2/tenants/default_tenant/databases/default_database/collections"
        );
        assert_eq!(header(r, "x-chroma-token"), Some("tok"));
        assert_eq!(
            body,
            json!({"name": "higress-ai-cache-m1-2", "configuration": {"hnsw": {"space": "cosine"}}, "get_or_create": true})
        );
        assert_eq!(s.parse_search(&q, reply(200, COLLECTION)).unwrap(), vec![]);
        let call = s.search_at(&q, 100);
        let (_, r, body) = http(&call);
        assert_eq!(
            r.url,
            "/api/v2/tenants/default_tenant/databases/default_database/collections/5a7b2c1e-0000-4000-8000-000000000001/query"
        );
        assert_eq!(
            body["where"],
            json!({"$and": [{"partition": {"$eq": "p1"}}, {"expires_at": {"$gt": 100}}]})
        );
        assert_eq!(body["n_results"], 3);
    }

    #[test]
    fn distances_become_similarities_and_documents_answers() {
        let s = store();
        let q = query();
        s.parse_search(&q, reply(200, COLLECTION)).unwrap();
        // Shape of the v2 query response (QueryResponse in the server's OpenAPI).
        let body = r#"{"ids":[["far","near"]],"distances":[[0.4,0.05]],"documents":[["{\"x\":2}","{\"x\":1}"]],
            "metadatas":[[{"question":"q2","answer_key":"k2","partition":"p1","expires_at":9},{"question":"q1","answer_key":"k1","partition":"p1","expires_at":9}]],
            "embeddings":null,"uris":null,"include":["metadatas","documents","distances"]}"#;
        let c = s.parse_search(&q, reply(200, body)).unwrap();
        assert_eq!(c[0].id, "near");
        assert!((c[0].similarity - 0.95).abs() < 1e-6);
        assert_eq!(c[0].answer.as_deref(), Some(br#"{"x":1}"#.as_slice()));
        assert_eq!(c[0].answer_key.as_deref(), Some("k1"));
        assert!((c[1].similarity - 0.6).abs() < 1e-6);
    }

    #[test]
    fn a_deleted_collection_is_a_miss_and_resolved_again() {
        let s = store();
        let q = query();
        s.parse_search(&q, reply(200, COLLECTION)).unwrap();
        let gone = r#"{"error":"NotFoundError","message":"Collection not found"}"#;
        assert_eq!(s.parse_search(&q, reply(404, gone)).unwrap(), vec![]);
        let call = s.search_at(&q, 1);
        let (_, r, _) = http(&call);
        assert!(r.url.ends_with("/collections"));
        assert!(s.parse_search(&q, reply(500, "{}")).is_err());
    }

    #[test]
    fn upsert_keeps_metadata_and_the_answer_as_document() {
        let s = store();
        let e = entry(60);
        assert_eq!(s.insert_at(&e, 100).len(), 1);
        s.check_insert(&s.insert_at(&e, 100)[0], reply(200, COLLECTION))
            .unwrap();
        let calls = s.insert_at(&e, 100);
        let (_, r, body) = http(&calls[0]);
        assert!(r
            .url
            .ends_with("/5a7b2c1e-0000-4000-8000-000000000001/upsert"));
        assert_eq!(body["ids"], json!([e.id]));
        assert_eq!(body["documents"], json!([r#"{"a":1}"#]));
        assert_eq!(
            body["metadatas"][0],
            json!({"partition": "p1", "question": "what is rust", "answer_key": "higress-ai-cache:ak", "expires_at": 160})
        );
        assert!(s
            .check_insert(&calls[0], reply(400, r#"{"error":"x"}"#))
            .is_err());
    }
}

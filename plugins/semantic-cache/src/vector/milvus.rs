//! Milvus over its RESTful API v2 (`vector.type: milvus`).
//!
//! One collection per (collectionID, embedding model, dimension), created on first insert in
//! quick-setup mode (`metricType: COSINE`, VarChar primary key, dynamic fields on, loaded at
//! once). Entities carry `partition` and `expires_at` as dynamic fields; the search `filter`
//! expression restricts both before the ANN. With COSINE, `distance` is the cosine similarity.
//! Milvus answers HTTP 200 with `code != 0` on errors.
//!
//! API: <https://milvus.io/api-reference/restful/v2.5.x/v2/Collection%20(v2)/Create.md>,
//! `.../Vector%20(v2)/Search.md`, `.../Vector%20(v2)/Upsert.md`.

use std::cell::Cell;

use serde_json::{json, Value};

use super::rest::{self, best_first, candidate, now_secs, payload, status_json, word, Rest};
use super::{Candidate, Entry, Query, Space, VectorConfig, VectorStore};
use crate::backend::{BackendError, Call, Reply};

pub struct Milvus {
    rest: Rest,
    collection: String,
    ready: Cell<usize>,
}

impl Milvus {
    pub fn new(cfg: &VectorConfig) -> Milvus {
        let mut rest = Rest::new(cfg, 19530);
        // A token is an API key (Zilliz Cloud) or `user:password`.
        let token = if !cfg.api_key.is_empty() {
            cfg.api_key.clone()
        } else if !cfg.username.is_empty() {
            format!("{}:{}", cfg.username, cfg.password)
        } else {
            String::new()
        };
        if !token.is_empty() {
            rest = rest.with_header("authorization", &format!("Bearer {token}"));
        }
        Milvus {
            rest,
            // Collection names allow letters, digits and underscores only.
            collection: word(cfg.collection()),
            ready: Cell::new(0),
        }
    }

    fn name(&self, space: &Space) -> String {
        format!("{}_{}_{}", self.collection, space.model_id, space.dims)
    }

    fn search_at(&self, q: &Query, now: u64) -> Call {
        self.rest.call(
            "POST",
            "/v2/vectordb/entities/search",
            Some(&json!({
                "collectionName": self.name(&q.space),
                "data": [q.vector],
                "annsField": "vector",
                "limit": q.top_k,
                // The partition is hex: no quoting issues.
                "filter": format!("partition == \"{}\" and expires_at > {now}", q.partition),
                "outputFields": ["question", "answer_key", "answer"],
            })),
        )
    }

    fn insert_at(&self, e: &Entry, now: u64) -> Vec<Call> {
        let name = self.name(&e.space);
        let mut calls = Vec::with_capacity(2);
        if self.ready.get() != e.space.dims {
            calls.push(self.rest.call(
                "POST",
                "/v2/vectordb/collections/create",
                Some(&json!({
                    "collectionName": name,
                    "dimension": e.space.dims,
                    "metricType": "COSINE",
                    "idType": "VarChar",
                    "primaryFieldName": "id",
                    "vectorFieldName": "vector",
                    "params": {"max_length": 128},
                })),
            ));
        }
        let mut row = payload(e, now);
        row.insert("id".into(), e.id.into());
        row.insert("vector".into(), json!(e.vector));
        calls.push(self.rest.call(
            "POST",
            "/v2/vectordb/entities/upsert",
            Some(&json!({"collectionName": name, "data": [row]})),
        ));
        calls
    }
}

/// `(code, message)` of a Milvus reply body (code 0 = success).
fn outcome(body: &Value) -> (i64, String) {
    (
        body["code"].as_i64().unwrap_or(-1),
        rest::text(body, "message").unwrap_or_default(),
    )
}

fn is_create(call: &Call) -> bool {
    matches!(call, Call::Http { request, .. } if request.url.ends_with("/collections/create"))
}

impl VectorStore for Milvus {
    fn kind(&self) -> &'static str {
        "milvus"
    }

    fn search(&self, q: &Query) -> Call {
        self.search_at(q, now_secs())
    }

    fn parse_search(&self, _q: &Query, reply: Reply) -> Result<Vec<Candidate>, BackendError> {
        let (status, body) = status_json(reply, "milvus search")?;
        if !(200..300).contains(&status) {
            return Err(rest::http_error("milvus search", status, &body));
        }
        let (code, message) = outcome(&body);
        if code != 0 {
            if message.to_ascii_lowercase().contains("not found") {
                self.ready.set(0);
                return Ok(Vec::new());
            }
            return Err(BackendError::new(format!(
                "milvus search: code {code}: {message}"
            )));
        }
        let rows = body["data"].as_array().cloned().unwrap_or_default();
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let distance = r["distance"]
                .as_f64()
                .ok_or_else(|| BackendError::new("milvus search: row without distance"))?;
            let id = rest::text(r, "id").unwrap_or_else(|| r["id"].to_string());
            out.push(candidate(id, distance as f32, r));
        }
        Ok(best_first(out))
    }

    fn insert(&self, e: &Entry) -> Vec<Call> {
        self.insert_at(e, now_secs())
    }

    fn check_insert(&self, call: &Call, reply: Reply) -> Result<(), BackendError> {
        let (status, body) = status_json(reply, "milvus")?;
        if !(200..300).contains(&status) {
            return Err(rest::http_error("milvus", status, &body));
        }
        let (code, message) = outcome(&body);
        let created = is_create(call) && (code == 0 || message.contains("already exist"));
        if created {
            if let Call::Http { request, .. } = call {
                let v: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                self.ready
                    .set(v["dimension"].as_u64().unwrap_or(0) as usize);
            }
            return Ok(());
        }
        if code == 0 {
            return Ok(());
        }
        if message.to_ascii_lowercase().contains("not found") {
            self.ready.set(0);
        }
        Err(BackendError::new(format!("milvus: code {code}: {message}")))
    }
}

#[cfg(test)]
mod tests {
    use super::super::rest::testing::{entry, header, http, query, reply};
    use super::*;

    fn store() -> Milvus {
        Milvus::new(&VectorConfig {
            kind: "milvus".into(),
            service_name: "milvus.dns".into(),
            service_port: 19530,
            api_key: "root:Milvus".into(),
            collection_id: "llm-cache".into(),
            ..Default::default()
        })
    }

    #[test]
    fn search_uses_a_filter_expression() {
        let call = store().search_at(&query(), 100);
        let (cluster, r, body) = http(&call);
        assert_eq!(cluster, "outbound|19530||milvus.dns");
        assert_eq!(r.url, "/v2/vectordb/entities/search");
        assert_eq!(header(r, "authorization"), Some("Bearer root:Milvus"));
        assert_eq!(body["collectionName"], "llm_cache_m1_2");
        assert_eq!(body["filter"], "partition == \"p1\" and expires_at > 100");
        assert_eq!(body["data"], json!([[0.6f32, 0.8f32]]));
    }

    #[test]
    fn distances_under_cosine_are_similarities() {
        // Response shape from the Search reference.
        let body = r#"{"code":0,"cost":0,"data":[{"distance":0.55,"id":"a","question":"q","answer_key":"k","answer":"{}"},
            {"distance":0.97,"id":"b","answer_key":"kb"}]}"#;
        let c = store().parse_search(&query(), reply(200, body)).unwrap();
        assert_eq!(c[0].id, "b");
        assert!((c[0].similarity - 0.97).abs() < 1e-6);
        let missing = r#"{"code":100,"message":"collection not found[database=default][collection=llm_cache_m1_2]"}"#;
        assert_eq!(
            store().parse_search(&query(), reply(200, missing)).unwrap(),
            vec![]
        );
        let other = r#"{"code":1100,"message":"invalid parameter"}"#;
        assert!(store().parse_search(&query(), reply(200, other)).is_err());
    }

    #[test]
    fn first_insert_creates_a_cosine_collection() {
        let s = store();
        let calls = s.insert_at(&entry(30), 100);
        assert_eq!(calls.len(), 2);
        let (_, r, body) = http(&calls[0]);
        assert_eq!(r.url, "/v2/vectordb/collections/create");
        assert_eq!(body["metricType"], "COSINE");
        assert_eq!(body["dimension"], 2);
        s.check_insert(&calls[0], reply(200, r#"{"code":0,"data":{}}"#))
            .unwrap();
        let (_, r, body) = http(&calls[1]);
        assert_eq!(r.url, "/v2/vectordb/entities/upsert");
        assert_eq!(body["data"][0]["id"], "00112233445566778899aabbccddeeff");
        assert_eq!(body["data"][0]["expires_at"], 130);
        assert_eq!(body["data"][0]["partition"], "p1");
        assert_eq!(s.insert_at(&entry(30), 100).len(), 1);
        assert!(s
            .check_insert(&calls[1], reply(200, r#"{"code":1100,"message":"bad"}"#))
            .is_err());
    }
}

//! Alibaba Cloud DashVector (`vector.type: dashvector`): `serviceHost` is the cluster endpoint,
//! `apiKey` goes into `dashvector-auth-token`.
//!
//! One collection per (collectionID, embedding model, dimension), created on first insert with
//! `metric: cosine` and typed `partition`/`expires_at` fields (an "already exists" answer is
//! fine). The query's SQL-like `filter` restricts both during the search. With the cosine metric
//! DashVector's `score` is the cosine distance 1 − cos. DashVector answers `code != 0` on errors.
//!
//! API: <https://help.aliyun.com/document_detail/2510295.html> (create collection),
//! <https://help.aliyun.com/document_detail/2510319.html> (query doc),
//! <https://help.aliyun.com/document_detail/2510317.html> (upsert doc).

use std::cell::Cell;

use serde_json::{json, Value};

use super::rest::{self, best_first, candidate, now_secs, payload, status_json, word, Rest};
use super::{Candidate, Entry, Query, Space, VectorConfig, VectorStore};
use crate::backend::{BackendError, Call, Reply};

pub struct DashVector {
    rest: Rest,
    collection: String,
    ready: Cell<usize>,
}

impl DashVector {
    pub fn new(cfg: &VectorConfig) -> DashVector {
        DashVector {
            rest: Rest::new(cfg, 443).with_header("dashvector-auth-token", &cfg.api_key),
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
            &format!("/v1/collections/{}/query", self.name(&q.space)),
            Some(&json!({
                "vector": q.vector,
                "topk": q.top_k,
                "filter": format!("partition = '{}' and expires_at > {now}", q.partition),
                "include_vector": false,
            })),
        )
    }

    fn insert_at(&self, e: &Entry, now: u64) -> Vec<Call> {
        let name = self.name(&e.space);
        let mut calls = Vec::with_capacity(2);
        if self.ready.get() != e.space.dims {
            calls.push(self.rest.call(
                "POST",
                "/v1/collections",
                Some(&json!({
                    "name": name,
                    "dimension": e.space.dims,
                    "metric": "cosine",
                    "fields_schema": {
                        "partition": "STRING", "expires_at": "INT",
                        "question": "STRING", "answer_key": "STRING", "answer": "STRING",
                    },
                })),
            ));
        }
        calls.push(self.rest.call(
            "POST",
            &format!("/v1/collections/{name}/docs/upsert"),
            Some(&json!({"docs": [{"id": e.id, "vector": e.vector, "fields": payload(e, now)}]})),
        ));
        calls
    }
}

fn outcome(body: &Value) -> (i64, String) {
    (
        body["code"].as_i64().unwrap_or(-1),
        rest::text(body, "message").unwrap_or_default(),
    )
}

fn is_create(call: &Call) -> bool {
    matches!(call, Call::Http { request, .. } if request.url == "/v1/collections")
}

fn not_found(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("not exist") || m.contains("not found")
}

impl VectorStore for DashVector {
    fn kind(&self) -> &'static str {
        "dashvector"
    }

    fn search(&self, q: &Query) -> Call {
        self.search_at(q, now_secs())
    }

    fn parse_search(&self, _q: &Query, reply: Reply) -> Result<Vec<Candidate>, BackendError> {
        let (status, body) = status_json(reply, "dashvector query")?;
        let (code, message) = outcome(&body);
        if status == 404 || (code != 0 && not_found(&message)) {
            self.ready.set(0);
            return Ok(Vec::new());
        }
        if !(200..300).contains(&status) || code != 0 {
            return Err(rest::http_error("dashvector query", status, &body));
        }
        let docs = body["output"].as_array().cloned().unwrap_or_default();
        let mut out = Vec::with_capacity(docs.len());
        for d in &docs {
            let score = d["score"]
                .as_f64()
                .ok_or_else(|| BackendError::new("dashvector query: doc without score"))?;
            let id = rest::text(d, "id").unwrap_or_default();
            out.push(candidate(id, (1.0 - score) as f32, &d["fields"]));
        }
        Ok(best_first(out))
    }

    fn insert(&self, e: &Entry) -> Vec<Call> {
        self.insert_at(e, now_secs())
    }

    fn check_insert(&self, call: &Call, reply: Reply) -> Result<(), BackendError> {
        let (status, body) = status_json(reply, "dashvector")?;
        let (code, message) = outcome(&body);
        let ok = (200..300).contains(&status) && code == 0;
        let exists = message.to_ascii_lowercase().contains("exist") && !not_found(&message);
        if is_create(call) && (ok || exists) {
            if let Call::Http { request, .. } = call {
                let v: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                self.ready
                    .set(v["dimension"].as_u64().unwrap_or(0) as usize);
            }
            return Ok(());
        }
        if ok {
            return Ok(());
        }
        if not_found(&message) {
            self.ready.set(0);
        }
        Err(rest::http_error("dashvector", status, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::super::rest::testing::{entry, header, http, query, reply};
    use super::*;

    fn store() -> DashVector {
        DashVector::new(&VectorConfig {
            kind: "dashvector".into(),
            service_name: "dashvector.dns".into(),
            service_host: "vrs-cn-abc.dashvector.cn-hangzhou.aliyuncs.com".into(),
            api_key: "sk-dv".into(),
            collection_id: "cache".into(),
            ..Default::default()
        })
    }

    #[test]
    fn query_uses_a_sql_filter() {
        let call = store().search_at(&query(), 100);
        let (cluster, r, body) = http(&call);
        assert_eq!(cluster, "outbound|443||dashvector.dns");
        assert_eq!(r.url, "/v1/collections/cache_m1_2/query");
        assert_eq!(header(r, "dashvector-auth-token"), Some("sk-dv"));
        assert_eq!(body["filter"], "partition = 'p1' and expires_at > 100");
        assert_eq!(body["topk"], 3);
    }

    #[test]
    fn cosine_scores_are_distances() {
        // Response body from the query-doc reference.
        let body = r#"{"code":0,"request_id":"r1","message":"Success","usage":{"read_units":1},
            "output":[{"id":"a","fields":{"question":"q","answer":"{}"},"score":0.02}]}"#;
        let c = store().parse_search(&query(), reply(200, body)).unwrap();
        assert!((c[0].similarity - 0.98).abs() < 1e-6);
        let missing = r#"{"code":-2021,"request_id":"r2","message":"collection not exist"}"#;
        assert_eq!(
            store().parse_search(&query(), reply(200, missing)).unwrap(),
            vec![]
        );
        let bad = r#"{"code":-2000,"request_id":"r3","message":"invalid filter"}"#;
        assert!(store().parse_search(&query(), reply(400, bad)).is_err());
    }

    #[test]
    fn first_insert_creates_the_collection() {
        let s = store();
        let calls = s.insert_at(&entry(0), 100);
        assert_eq!(calls.len(), 2);
        let (_, _, body) = http(&calls[0]);
        assert_eq!(body["metric"], "cosine");
        assert_eq!(body["fields_schema"]["expires_at"], "INT");
        s.check_insert(
            &calls[0],
            reply(200, r#"{"code":0,"request_id":"r","message":""}"#),
        )
        .unwrap();
        assert_eq!(s.insert_at(&entry(0), 100).len(), 1);
        let (_, r, body) = http(&calls[1]);
        assert_eq!(r.url, "/v1/collections/cache_m1_2/docs/upsert");
        assert_eq!(body["docs"][0]["fields"]["partition"], "p1");
    }
}

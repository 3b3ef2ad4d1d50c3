//! Every cloud vector store and embedding provider through the real `.wasm` in our host. None of
//! them can run here, so each callout is answered with request/response bodies shaped as in the
//! vendor's official API reference (source URL at each test), and each test asserts the exact wire
//! request the plugin sent: method, path, auth headers and JSON body, including the partition and
//! expiry filters. Store tests run miss → store → hit; provider tests check the request and that
//! the parsed vector is what the store is searched with.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{host, plugin_config, wasm};
use proxy_wasm_host::callout::{HttpCallout, HttpCalloutResponse};
use proxy_wasm_host::harness::{HarnessError, Stream};
use proxy_wasm_host::shared::MetricValue;
use proxy_wasm_host::{TestHost, VmError};
use serde_json::{json, Value};

/// The host's fake wall clock at start (2026-01-01T00:00:00Z), the `now` of expiry filters.
const NOW: u64 = 1_767_225_600;

const QUESTION: &str = "What is the capital of France?";
const ANSWER_TEXT: &str = "Paris is the capital of France.";

const REQ: &[(&str, &str)] = &[
    (":method", "POST"),
    (":path", "/v1/chat/completions"),
    (":authority", "llm.example.com"),
    ("content-type", "application/json"),
    ("x-mse-consumer", "team-a"),
];

fn chat() -> Vec<u8> {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": QUESTION}]})
        .to_string()
        .into_bytes()
}

fn completion() -> Vec<u8> {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER_TEXT}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
    })
    .to_string()
    .into_bytes()
}

fn ok(body: impl Into<String>) -> HttpCalloutResponse {
    HttpCalloutResponse::new(200, &[("content-type", "application/json")], body.into())
}

fn status(code: u16, body: impl Into<String>) -> HttpCalloutResponse {
    HttpCalloutResponse::new(code, &[("content-type", "application/json")], body.into())
}

fn header<'a>(c: &'a HttpCallout, name: &str) -> Option<&'a str> {
    c.headers.get(name)
}

fn body(c: &HttpCallout) -> Value {
    serde_json::from_slice(&c.body).unwrap_or(Value::Null)
}

/// The single pending callout.
fn next_call(s: &mut Stream) -> HttpCallout {
    let calls = s.http_calls();
    assert_eq!(
        calls.len(),
        1,
        "expected one pending callout, got {calls:#?}"
    );
    calls.into_iter().next().unwrap()
}

fn assert_call(c: &HttpCallout, cluster: &str, method: &str, path: &str) {
    assert_eq!(c.cluster, cluster, "cluster of {c:#?}");
    assert_eq!(header(c, ":method"), Some(method), "method of {c:#?}");
    assert_eq!(header(c, ":path"), Some(path), "path of {c:#?}");
}

/// The OpenAI-compatible embedding endpoint the store tests use, answering [0.6, 0.8].
fn openai_embedding() -> Value {
    json!({"type": "openai", "serviceName": "embed.static", "servicePort": 8080, "model": "text-embedding-3-small"})
}

const EMBED_CLUSTER: &str = "outbound|8080||embed.static";

fn openai_vector_reply() -> HttpCalloutResponse {
    ok(
        r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.6,0.8]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":7,"total_tokens":7}}"#,
    )
}

/// Sends the question and answers the embedding callout; returns the stream waiting on the store.
fn ask(h: &mut TestHost) -> Stream {
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(chat(), true);
    let embed = next_call(&mut s);
    assert_call(&embed, EMBED_CLUSTER, "POST", "/v1/embeddings");
    s.respond_http(&embed, openai_vector_reply());
    s
}

/// After a miss: the request went upstream; the answer comes back and is captured.
fn answer_upstream(s: &mut Stream) {
    let up = s.upstream();
    assert!(
        String::from_utf8_lossy(&up.body()).contains(QUESTION),
        "request was not forwarded upstream"
    );
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    )
    .send_response_body(completion(), true);
}

/// Answers every store callout of the insert as `reply` decides, until none is pending; returns
/// the callouts in the order they were answered.
fn answer_inserts(
    s: &mut Stream,
    mut reply: impl FnMut(&HttpCallout) -> HttpCalloutResponse,
) -> Vec<HttpCallout> {
    let mut seen = Vec::new();
    for _ in 0..10 {
        let calls = s.http_calls();
        if calls.is_empty() {
            break;
        }
        for c in calls {
            let r = reply(&c);
            s.respond_http(&c, r);
            seen.push(c);
        }
    }
    seen
}

/// The stored answer was served from the cache.
fn assert_hit(s: &mut Stream) {
    let down = s.downstream();
    let headers = down.headers.as_ref().expect("response headers");
    assert_eq!(headers.get("x-cache-status"), Some("HIT"), "{headers:?}");
    let got: Value = serde_json::from_slice(&down.body()).expect("JSON hit");
    assert_eq!(got["choices"][0]["message"]["content"], ANSWER_TEXT);
}

fn find<'a>(calls: &'a [HttpCallout], path_part: &str) -> &'a HttpCallout {
    calls
        .iter()
        .find(|c| header(c, ":path").is_some_and(|p| p.contains(path_part)))
        .unwrap_or_else(|| panic!("no callout to {path_part} in {calls:#?}"))
}

/// The partition from a filter, checked to be hex.
fn hex(v: &Value) -> String {
    let p = v.as_str().unwrap_or_default().to_string();
    assert!(
        !p.is_empty() && p.chars().all(|c| c.is_ascii_hexdigit()),
        "partition {v} is not hex"
    );
    p
}

// ---------------------------------------------------------------------------------------------
// Vector stores
// ---------------------------------------------------------------------------------------------

/// Qdrant: <https://api.qdrant.tech/api-reference/search/points> (search request/response),
/// <https://api.qdrant.tech/api-reference/collections/create-collection>,
/// <https://api.qdrant.tech/api-reference/points/upsert-points>.
#[test]
fn mock_qdrant_miss_store_hit() {
    let cfg = json!({
        "embedding": openai_embedding(),
        "vector": {"type": "qdrant", "serviceName": "qdrant.static", "servicePort": 6333, "apiKey": "qk", "collectionID": "llm-cache"},
        "similarityThreshold": 0.9,
    });
    let mut h = host(cfg);
    let mut s = ask(&mut h);
    let search = next_call(&mut s);
    let path = header(&search, ":path").unwrap().to_string();
    assert!(
        path.starts_with("/collections/llm-cache-") && path.ends_with("-2/points/search"),
        "{path}"
    );
    assert_eq!(search.cluster, "outbound|6333||qdrant.static");
    assert_eq!(header(&search, "api-key"), Some("qk"));
    let b = body(&search);
    let partition = hex(&b["filter"]["must"][0]["match"]["value"]);
    assert_eq!(
        b["filter"],
        json!({"must": [{"key": "partition", "match": {"value": partition}}, {"key": "expires_at", "range": {"gt": NOW}}]})
    );
    assert_eq!(b["vector"], json!([0.6f32, 0.8f32]));
    assert_eq!(b["with_payload"], true);
    s.respond_http(
        &search,
        status(404, r#"{"status":{"error":"Not found: Collection `llm-cache` doesn't exist!"},"time":0.000012}"#),
    );
    answer_upstream(&mut s);
    let calls = answer_inserts(&mut s, |c| {
        if header(c, ":path").unwrap().contains("/points") {
            ok(r#"{"result":{"operation_id":1,"status":"completed"},"status":"ok","time":0.001}"#)
        } else {
            ok(r#"{"result":true,"status":"ok","time":0.05}"#)
        }
    });
    let create = calls
        .iter()
        .find(|c| header(c, ":path") == Some(path.trim_end_matches("/points/search")))
        .expect("collection created");
    assert_eq!(header(create, ":method"), Some("PUT"));
    assert_eq!(
        body(create),
        json!({"vectors": {"size": 2, "distance": "Cosine"}})
    );
    let upsert = find(&calls, "/points?wait=true");
    let point = &body(upsert)["points"][0];
    assert_eq!(point["payload"]["partition"], partition.as_str());
    assert_eq!(point["payload"]["expires_at"], 253_402_300_799u64);
    assert_eq!(point["payload"]["question"], QUESTION);
    let answer = point["payload"]["answer"].clone();
    assert!(answer.is_string(), "answer kept inline: {point}");

    let mut s = ask(&mut h);
    let search = next_call(&mut s);
    let found = json!({"result": [{"id": point["id"], "version": 1, "score": 0.9993, "payload": point["payload"]}], "status": "ok", "time": 0.0003});
    s.respond_http(&search, ok(found.to_string()));
    assert_hit(&mut s);
}

/// Qdrant with the collection missing: the store's create and upsert calls, as they are pending
/// after the answer was captured and the request ended.
fn mock_qdrant_store_after_request_ended(h: &mut TestHost) {
    let mut s = ask(h);
    let search = next_call(&mut s);
    s.respond_http(
        &search,
        status(
            404,
            r#"{"status":{"error":"Not found: Collection `c` doesn't exist!"},"time":0.00001}"#,
        ),
    );
    answer_upstream(&mut s);
    // The chain does not need the request: it runs on the root context.
    s.finish();
}

fn counter(h: &TestHost, name: &str) -> u64 {
    match h.metric(name) {
        Some(MetricValue::Counter(n)) => n,
        _ => 0,
    }
}

/// The insert calls go one at a time: the upsert only after the create collection's reply, even
/// when the request has ended meanwhile.
#[test]
fn mock_qdrant_insert_calls_are_sent_one_after_the_other() {
    let cfg =
        json!({"embedding": openai_embedding(), "vector": qdrant(), "similarityThreshold": 0.9});
    let mut h = host(cfg);
    mock_qdrant_store_after_request_ended(&mut h);
    let pending = h.http_calls();
    assert_eq!(pending.len(), 1, "only the first insert call: {pending:#?}");
    let create = &pending[0];
    assert_eq!(header(create, ":method"), Some("PUT"));
    assert!(
        !header(create, ":path").unwrap().contains("/points"),
        "create first: {create:#?}"
    );
    // Each reply releases exactly one next call: create, payload index, then the upsert.
    let mut paths = vec![header(create, ":path").unwrap().to_string()];
    let mut call = create.clone();
    while !paths.last().unwrap().contains("/points") {
        assert_eq!(counter(&h, "semantic_cache.stores"), 0, "not stored yet");
        h.respond_http(&call, ok(r#"{"result":true,"status":"ok","time":0.05}"#));
        let pending = h.http_calls();
        assert_eq!(
            pending.len(),
            1,
            "one call at a time after {paths:?}: {pending:#?}"
        );
        call = pending[0].clone();
        paths.push(header(&call, ":path").unwrap().to_string());
        assert!(paths.len() <= 3, "{paths:?}");
    }
    assert!(paths.len() >= 2, "{paths:?}");
    let upsert = &call;
    assert!(
        paths.last().unwrap().ends_with("/points?wait=true"),
        "{paths:?}"
    );
    assert_eq!(body(upsert)["points"][0]["payload"]["question"], QUESTION);
    h.respond_http(
        upsert,
        ok(r#"{"result":{"operation_id":1,"status":"completed"},"status":"ok","time":0.001}"#),
    );
    assert!(h.http_calls().is_empty());
    assert_eq!(counter(&h, "semantic_cache.stores"), 1);
    assert_eq!(counter(&h, "semantic_cache.store_errors"), 0);
}

/// A failed insert call (checked by the store) stops the chain: no upsert follows, and the
/// failure is counted and logged.
#[test]
fn mock_qdrant_failed_first_insert_stops_the_chain() {
    let cfg =
        json!({"embedding": openai_embedding(), "vector": qdrant(), "similarityThreshold": 0.9});
    let mut h = host(cfg);
    mock_qdrant_store_after_request_ended(&mut h);
    let pending = h.http_calls();
    assert_eq!(pending.len(), 1, "{pending:#?}");
    h.respond_http(
        &pending[0],
        status(
            500,
            r#"{"status":{"error":"Service internal error"},"time":0.0}"#,
        ),
    );
    assert!(h.http_calls().is_empty(), "no upsert after a failed create");
    assert_eq!(counter(&h, "semantic_cache.store_errors"), 1);
    assert_eq!(counter(&h, "semantic_cache.stores"), 0);
    let logs = h.log_messages().join("\n");
    assert!(logs.contains("vector insert failed"), "{logs}");
}

/// A different consumer searches another partition: the filter differs, and a below-threshold
/// score is a miss.
#[test]
fn mock_qdrant_partitions_follow_the_consumer_and_threshold_applies() {
    let cfg = json!({
        "embedding": openai_embedding(),
        "vector": {"type": "qdrant", "serviceName": "qdrant.static", "servicePort": 6333, "collectionID": "c"},
        "similarityThreshold": 0.95,
    });
    let mut h = host(cfg);
    let mut partitions = Vec::new();
    for consumer in ["team-a", "team-b"] {
        let mut s = h.stream();
        let mut headers = REQ.to_vec();
        headers.retain(|(k, _)| *k != "x-mse-consumer");
        headers.push(("x-mse-consumer", consumer));
        s.send_request_headers(&headers, false)
            .send_request_body(chat(), true);
        let embed = next_call(&mut s);
        s.respond_http(&embed, openai_vector_reply());
        let search = next_call(&mut s);
        partitions.push(hex(&body(&search)["filter"]["must"][0]["match"]["value"]));
        let below = r#"{"result":[{"id":1,"version":1,"score":0.80,"payload":{"answer":"{}","partition":"x"}}],"status":"ok","time":0.0}"#;
        s.respond_http(&search, ok(below));
        assert!(s.local_replies().is_empty(), "0.80 < 0.95 must be a miss");
        assert!(!s.upstream().body().is_empty(), "miss goes upstream");
    }
    assert_ne!(partitions[0], partitions[1]);
}

/// Milvus REST v2: <https://milvus.io/api-reference/restful/v2.5.x/v2/Vector%20(v2)/Search.md>,
/// `.../Collection%20(v2)/Create.md`, `.../Vector%20(v2)/Upsert.md`.
#[test]
fn mock_milvus_miss_store_hit() {
    let cfg = json!({
        "embedding": openai_embedding(),
        "vector": {"type": "milvus", "serviceName": "milvus.dns", "servicePort": 19530, "apiKey": "root:Milvus", "collectionID": "llm_cache"},
        "similarityThreshold": 0.9,
    });
    let mut h = host(cfg);
    let mut s = ask(&mut h);
    let search = next_call(&mut s);
    assert_call(
        &search,
        "outbound|19530||milvus.dns",
        "POST",
        "/v2/vectordb/entities/search",
    );
    assert_eq!(header(&search, "authorization"), Some("Bearer root:Milvus"));
    let b = body(&search);
    let filter = b["filter"].as_str().unwrap().to_string();
    let partition = filter
        .strip_prefix("partition == \"")
        .and_then(|f| f.split('"').next())
        .unwrap()
        .to_string();
    hex(&json!(partition));
    assert_eq!(
        filter,
        format!("partition == \"{partition}\" and expires_at > {NOW}")
    );
    assert_eq!(b["annsField"], "vector");
    assert_eq!(
        b["outputFields"],
        json!(["question", "answer_key", "answer"])
    );
    let collection = b["collectionName"].as_str().unwrap().to_string();
    assert!(collection.starts_with("llm_cache_") && collection.ends_with("_2"));
    s.respond_http(
        &search,
        ok(format!(r#"{{"code":100,"message":"collection not found[database=default][collection={collection}]"}}"#)),
    );
    answer_upstream(&mut s);
    let calls = answer_inserts(&mut s, |_| {
        ok(r#"{"code":0,"cost":0,"data":{"upsertCount":1,"upsertIds":["x"]}}"#)
    });
    let create = find(&calls, "/collections/create");
    assert_eq!(
        body(create),
        json!({"collectionName": collection, "dimension": 2, "metricType": "COSINE", "idType": "VarChar",
               "primaryFieldName": "id", "vectorFieldName": "vector", "params": {"max_length": 128}})
    );
    let upsert = body(find(&calls, "/entities/upsert"));
    let row = upsert["data"][0].clone();
    assert_eq!(row["partition"], partition.as_str());
    assert_eq!(row["vector"], json!([0.6f32, 0.8f32]));

    let mut s = ask(&mut h);
    let search = next_call(&mut s);
    let mut hit = row.clone();
    hit["distance"] = json!(0.998);
    s.respond_http(
        &search,
        ok(json!({"code": 0, "cost": 0, "data": [hit]}).to_string()),
    );
    assert_hit(&mut s);
}

/// Chroma v2 through mocks (the live test is `live_chroma.rs`): the collection id is resolved by
/// the first search. Bodies as in the server's OpenAPI (`/openapi.json`, docs.trychroma.com/reference).
#[test]
fn mock_chroma_miss_store_hit() {
    let cfg = json!({
        "embedding": openai_embedding(),
        "vector": {"type": "chroma", "serviceName": "chroma.static", "servicePort": 8000, "collectionID": "cache"},
        "similarityThreshold": 0.9,
    });
    let mut h = host(cfg);
    let mut s = ask(&mut h);
    let create = next_call(&mut s);
    let base = "/api/v2/tenants/default_tenant/databases/default_database/collections";
    assert_call(&create, "outbound|8000||chroma.static", "POST", base);
    let name = body(&create)["name"].as_str().unwrap().to_string();
    assert_eq!(
        body(&create)["configuration"],
        json!({"hnsw": {"space": "cosine"}})
    );
    s.respond_http(
        &create,
        ok(json!({"id": "0b3a6c1e-1111-4222-8333-944455556666", "name": name, "configuration_json": {}, "metadata": null,
                  "dimension": null, "tenant": "default_tenant", "database": "default_database", "version": 0, "log_position": 0}).to_string()),
    );
    answer_upstream(&mut s);
    let calls = answer_inserts(&mut s, |_| ok("{}"));
    let upsert = find(&calls, "/0b3a6c1e-1111-4222-8333-944455556666/upsert");
    let b = body(upsert);
    let partition = hex(&b["metadatas"][0]["partition"]);
    assert_eq!(b["metadatas"][0]["expires_at"], 253_402_300_799u64);

    let mut s = ask(&mut h);
    let query = next_call(&mut s);
    assert_call(
        &query,
        "outbound|8000||chroma.static",
        "POST",
        &format!("{base}/0b3a6c1e-1111-4222-8333-944455556666/query"),
    );
    assert_eq!(
        body(&query)["where"],
        json!({"$and": [{"partition": {"$eq": partition}}, {"expires_at": {"$gt": NOW}}]})
    );
    let found = json!({"ids": [b["ids"]], "distances": [[0.0004]], "documents": [b["documents"]],
                       "metadatas": [b["metadatas"]], "embeddings": null, "uris": null,
                       "include": ["metadatas", "documents", "distances"]});
    s.respond_http(&query, ok(found.to_string()));
    assert_hit(&mut s);
}

/// Weaviate: <https://weaviate.io/developers/weaviate/api/graphql/search-operators#nearvector>,
/// <https://weaviate.io/developers/weaviate/api/rest#tag/schema>, batch objects.
#[test]
fn mock_weaviate_miss_store_hit() {
    let cfg = json!({
        "embedding": openai_embedding(),
        "vector": {"type": "weaviate", "serviceName": "weaviate.static", "servicePort": 8080, "apiKey": "wk", "collectionID": "LlmCache"},
        "similarityThreshold": 0.9,
    });
    let mut h = host(cfg);
    let mut s = ask(&mut h);
    let search = next_call(&mut s);
    assert_call(
        &search,
        "outbound|8080||weaviate.static",
        "POST",
        "/v1/graphql",
    );
    assert_eq!(header(&search, "authorization"), Some("Bearer wk"));
    let q = body(&search)["query"].as_str().unwrap().to_string();
    let class = q
        .split_whitespace()
        .nth(3)
        .and_then(|t| t.split('(').next())
        .unwrap()
        .to_string();
    assert!(
        class.starts_with("LlmCache_") && class.ends_with("_2"),
        "{q}"
    );
    assert!(q.contains("nearVector: {vector: [0.6,0.8]}"), "{q}");
    assert!(
        q.contains(&format!(
            "{{path: [\"expires_at\"], operator: GreaterThan, valueNumber: {NOW}}}"
        )),
        "{q}"
    );
    let partition = q
        .split("valueText: \"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    hex(&json!(partition));
    s.respond_http(
        &search,
        ok(format!(r#"{{"data":{{"Get":null}},"errors":[{{"locations":[{{"column":9,"line":1}}],"message":"Cannot query field \"{class}\" on type \"GetObjectsObj\".","path":null}}]}}"#)),
    );
    answer_upstream(&mut s);
    let calls = answer_inserts(&mut s, |c| {
        if header(c, ":path") == Some("/v1/schema") {
            ok("{}")
        } else {
            ok(r#"[{"class":"x","id":"x","result":{}}]"#)
        }
    });
    let schema = body(find(&calls, "/v1/schema"));
    assert_eq!(schema["class"], class.as_str());
    assert_eq!(schema["vectorIndexConfig"], json!({"distance": "cosine"}));
    let object = body(find(&calls, "/v1/batch/objects"))["objects"][0].clone();
    assert_eq!(object["properties"]["partition"], partition.as_str());

    let mut s = ask(&mut h);
    let search = next_call(&mut s);
    let mut found = object["properties"].clone();
    found["_additional"] = json!({"id": object["id"], "distance": 0.0011});
    s.respond_http(
        &search,
        ok(json!({"data": {"Get": {class: [found]}}}).to_string()),
    );
    assert_hit(&mut s);
}

/// Pinecone data plane 2025-01: <https://docs.pinecone.io/reference/api/2025-01/data-plane/query>,
/// `.../data-plane/upsert`. The index is provisioned by the operator (host = serviceHost).
#[test]
fn mock_pinecone_miss_store_hit() {
    let cfg = json!({
        "embedding": openai_embedding(),
        "vector": {"type": "pinecone", "serviceName": "pinecone.dns", "servicePort": 443,
                   "serviceHost": "cache-abc123.svc.aped-4627-b74a.pinecone.io", "apiKey": "pk", "collectionID": "ns1"},
        "similarityThreshold": 0.9,
    });
    let mut h = host(cfg);
    let mut s = ask(&mut h);
    let search = next_call(&mut s);
    assert_call(&search, "outbound|443||pinecone.dns", "POST", "/query");
    assert_eq!(
        header(&search, ":authority"),
        Some("cache-abc123.svc.aped-4627-b74a.pinecone.io")
    );
    assert_eq!(header(&search, "api-key"), Some("pk"));
    assert_eq!(header(&search, "x-pinecone-api-version"), Some("2025-01"));
    let b = body(&search);
    let partition = hex(&b["filter"]["partition"]["$eq"]);
    assert_eq!(b["filter"]["expires_at"], json!({"$gt": NOW}));
    assert_eq!(b["namespace"], "ns1");
    assert_eq!(b["topK"], 1);
    s.respond_http(
        &search,
        ok(r#"{"results":[],"matches":[],"namespace":"ns1","usage":{"readUnits":1}}"#),
    );
    answer_upstream(&mut s);
    let calls = answer_inserts(&mut s, |_| ok(r#"{"upsertedCount":1}"#));
    let v = body(find(&calls, "/vectors/upsert"))["vectors"][0].clone();
    assert_eq!(v["metadata"]["partition"], partition.as_str());
    assert_eq!(v["metadata"]["model"], b["filter"]["model"]["$eq"]);

    let mut s = ask(&mut h);
    let search = next_call(&mut s);
    let found = json!({"results": [], "matches": [{"id": v["id"], "score": 0.9991, "values": [], "metadata": v["metadata"]}],
                       "namespace": "ns1", "usage": {"readUnits": 6}});
    s.respond_http(&search, ok(found.to_string()));
    assert_hit(&mut s);
}

/// DashVector: <https://help.aliyun.com/document_detail/2510319.html> (query doc),
/// <https://help.aliyun.com/document_detail/2510295.html> (create collection),
/// <https://help.aliyun.com/document_detail/2510317.html> (upsert doc). Config in Higress's
/// ai-cache field names, DashScope embeddings (native API) as in Higress's examples.
#[test]
fn mock_dashvector_with_dashscope_miss_store_hit() {
    let cfg = json!({
        "embedding": {"type": "dashscope", "serviceName": "dashscope.dns", "serviceHost": "dashscope.aliyuncs.com", "apiKey": "sk-ds"},
        "vector": {"type": "dashvector", "serviceName": "dashvector.dns", "serviceHost": "vrs-cn-abc.dashvector.cn-hangzhou.aliyuncs.com",
                   "apiKey": "sk-dv", "collectionID": "higress_cache", "threshold": 0.1, "thresholdRelation": "lt"},
    });
    let mut h = host(cfg);
    let dashscope_ask = |h: &mut TestHost| {
        let mut s = h.stream();
        s.send_request_headers(REQ, false)
            .send_request_body(chat(), true);
        let embed = next_call(&mut s);
        assert_call(
            &embed,
            "outbound|443||dashscope.dns",
            "POST",
            "/api/v1/services/embeddings/text-embedding/text-embedding",
        );
        assert_eq!(header(&embed, ":authority"), Some("dashscope.aliyuncs.com"));
        assert_eq!(header(&embed, "authorization"), Some("Bearer sk-ds"));
        assert_eq!(
            body(&embed),
            json!({"model": "text-embedding-v2", "input": {"texts": [QUESTION]}})
        );
        s.respond_http(
            &embed,
            ok(r#"{"output":{"embeddings":[{"text_index":0,"embedding":[0.6,0.8]}]},"usage":{"total_tokens":7},"request_id":"b1"}"#),
        );
        s
    };
    let mut s = dashscope_ask(&mut h);
    let search = next_call(&mut s);
    let path = header(&search, ":path").unwrap().to_string();
    assert!(
        path.starts_with("/v1/collections/higress_cache_") && path.ends_with("_2/query"),
        "{path}"
    );
    assert_eq!(header(&search, "dashvector-auth-token"), Some("sk-dv"));
    let b = body(&search);
    let filter = b["filter"].as_str().unwrap().to_string();
    let partition = filter.split('\'').nth(1).unwrap().to_string();
    hex(&json!(partition));
    assert_eq!(
        filter,
        format!("partition = '{partition}' and expires_at > {NOW}")
    );
    s.respond_http(
        &search,
        ok(r#"{"code":-2021,"request_id":"r1","message":"collection not exist"}"#),
    );
    answer_upstream(&mut s);
    let calls = answer_inserts(&mut s, |_| {
        ok(r#"{"code":0,"request_id":"r2","message":"","output":[]}"#)
    });
    let create = body(find(&calls, "/v1/collections"));
    assert_eq!(create["metric"], "cosine");
    assert_eq!(create["dimension"], 2);
    let doc = body(find(&calls, "/docs/upsert"))["docs"][0].clone();
    assert_eq!(doc["fields"]["partition"], partition.as_str());

    let mut s = dashscope_ask(&mut h);
    let search = next_call(&mut s);
    let found = json!({"code": 0, "request_id": "r3", "message": "Success",
                       "output": [{"id": doc["id"], "fields": doc["fields"], "score": 0.0007}]});
    s.respond_http(&search, ok(found.to_string()));
    assert_hit(&mut s);
}

/// Elasticsearch 8 kNN: <https://www.elastic.co/guide/en/elasticsearch/reference/current/knn-search.html>
/// (filtered kNN, `_score = (1 + cos) / 2` for `similarity: cosine`), index create and `_doc` PUT.
#[test]
fn mock_elasticsearch_miss_store_hit() {
    let cfg = json!({
        "embedding": openai_embedding(),
        "vector": {"type": "elasticsearch", "serviceName": "es.static", "servicePort": 9200, "collectionID": "higress",
                   "esUsername": "elastic", "esPassword": "changeme"},
        "similarityThreshold": 0.9,
    });
    search_engine_miss_store_hit(
        cfg,
        "outbound|9200||es.static",
        |b| b["knn"]["filter"].clone(),
        |p| json!([{"term": {"partition": p}}, {"range": {"expires_at": {"gt": NOW}}}]),
        0.9995,
    );
}

/// OpenSearch k-NN efficient filtering: <https://opensearch.org/docs/latest/search-plugins/knn/filter-search-knn/>
/// (Lucene `cosinesimil`, `_score = (1 + cos) / 2`).
#[test]
fn mock_opensearch_miss_store_hit() {
    let cfg = json!({
        "embedding": openai_embedding(),
        "vector": {"type": "opensearch", "serviceName": "os.static", "servicePort": 9200, "collectionID": "higress",
                   "esUsername": "admin", "esPassword": "admin"},
        "similarityThreshold": 0.9,
    });
    search_engine_miss_store_hit(
        cfg,
        "outbound|9200||os.static",
        |b| b["query"]["knn"]["embedding"]["filter"].clone(),
        |p| json!({"bool": {"filter": [{"term": {"partition": p}}, {"range": {"expires_at": {"gt": NOW}}}]}}),
        0.9995,
    );
}

/// Lindorm vector search (OpenSearch-compatible, `lvector` engine):
/// <https://help.aliyun.com/zh/lindorm/user-guide/vector-knn-retrieval> (score = 1 / (1 + distance)).
#[test]
fn mock_lindorm_miss_store_hit() {
    let cfg = json!({
        "embedding": openai_embedding(),
        "vector": {"type": "lindorm", "serviceName": "lindorm.dns", "servicePort": 30070, "collectionID": "higress",
                   "username": "root", "password": "pw"},
        "similarityThreshold": 0.9,
    });
    search_engine_miss_store_hit(
        cfg,
        "outbound|30070||lindorm.dns",
        |b| {
            assert_eq!(
                b["ext"],
                json!({"lvector": {"filter_type": "efficient_filter"}})
            );
            b["query"]["knn"]["embedding"]["filter"].clone()
        },
        |p| json!({"bool": {"filter": [{"term": {"partition": p}}, {"range": {"expires_at": {"gt": NOW}}}]}}),
        1.0 / 1.001,
    );
}

fn search_engine_miss_store_hit(
    cfg: Value,
    cluster: &str,
    filter_of: impl Fn(&Value) -> Value,
    expected_filter: impl Fn(&str) -> Value,
    hit_score: f64,
) {
    let mut h = host(cfg);
    let mut s = ask(&mut h);
    let search = next_call(&mut s);
    assert_eq!(search.cluster, cluster);
    let path = header(&search, ":path").unwrap().to_string();
    assert!(
        path.starts_with("/higress-") && path.ends_with("-2/_search"),
        "{path}"
    );
    assert!(header(&search, "authorization").is_some_and(|a| a.starts_with("Basic ")));
    let filter = filter_of(&body(&search));
    let partition = hex(&filter
        .pointer("/0/term/partition")
        .or(filter.pointer("/bool/filter/0/term/partition"))
        .cloned()
        .unwrap_or_default());
    assert_eq!(filter, expected_filter(&partition));
    let index = path
        .trim_start_matches('/')
        .trim_end_matches("/_search")
        .to_string();
    s.respond_http(
        &search,
        status(404, format!(r#"{{"error":{{"root_cause":[{{"type":"index_not_found_exception","reason":"no such index [{index}]"}}],"type":"index_not_found_exception","reason":"no such index [{index}]"}},"status":404}}"#)),
    );
    answer_upstream(&mut s);
    let calls = answer_inserts(&mut s, |c| {
        if header(c, ":path").unwrap().contains("/_doc/") {
            status(
                201,
                format!(r#"{{"_index":"{index}","_id":"x","_version":1,"result":"created"}}"#),
            )
        } else {
            ok(format!(
                r#"{{"acknowledged":true,"shards_acknowledged":true,"index":"{index}"}}"#
            ))
        }
    });
    let create = calls
        .iter()
        .find(|c| header(c, ":path") == Some(&format!("/{index}")))
        .expect("index created");
    let mapping = body(create)["mappings"]["properties"].clone();
    assert_eq!(mapping["partition"], json!({"type": "keyword"}));
    assert_eq!(mapping["expires_at"], json!({"type": "long"}));
    let doc_call = find(&calls, "/_doc/");
    let doc = body(doc_call);
    assert_eq!(doc["partition"], partition.as_str());
    let id = header(doc_call, ":path")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();

    let mut s = ask(&mut h);
    let search = next_call(&mut s);
    let found = json!({"took": 2, "timed_out": false, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": 1, "relation": "eq"}, "max_score": hit_score,
                 "hits": [{"_index": index, "_id": id, "_score": hit_score, "_source": doc}]}});
    s.respond_http(&search, ok(found.to_string()));
    assert_hit(&mut s);
}

/// Tair (TairVector) over the Redis host calls: <https://help.aliyun.com/zh/redis/developer-reference/tairvector>
/// (TVS.KNNSEARCH replies key/distance pairs). Answers live in the exact layer (`cache`, the same Tair).
#[test]
fn mock_tair_miss_store_hit() {
    let cfg = json!({
        "embedding": openai_embedding(),
        "vector": {"type": "tair", "serviceName": "tair.dns", "servicePort": 6379, "password": "pw", "collectionID": "cache"},
        "cache": {"type": "redis", "serviceName": "tair.dns", "servicePort": 6379, "password": "pw", "cacheTTL": 600},
        "similarityThreshold": 0.9,
    });
    let mut h = host(cfg);
    let redis_args = |q: &[u8]| -> Vec<String> {
        // RESP array of bulk strings → arguments.
        let text = String::from_utf8_lossy(q).into_owned();
        let mut lines = text.split("\r\n");
        let n: usize = lines.next().unwrap()[1..].parse().unwrap();
        (0..n)
            .map(|_| {
                lines.next();
                lines.next().unwrap().to_string()
            })
            .collect()
    };
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(chat(), true);
    // Exact layer first: GET → nil.
    let get = s.redis_calls();
    assert_eq!(get.len(), 1, "{get:?}");
    assert_eq!(redis_args(&get[0].query)[0], "GET");
    s.respond_redis(&get[0], "$-1\r\n");
    let embed = next_call(&mut s);
    s.respond_http(&embed, openai_vector_reply());
    let knn = s.redis_calls();
    assert_eq!(knn.len(), 1, "{knn:?}");
    assert_eq!(knn[0].cluster, "outbound|6379||tair.dns");
    let a = redis_args(&knn[0].query);
    assert_eq!(a[0], "TVS.KNNSEARCH");
    assert!(a[1].starts_with("cache:") && a[1].ends_with(":2"), "{a:?}");
    assert_eq!(a[2], "1");
    assert_eq!(a[3], "[0.6,0.8]");
    let partition = a[4]
        .strip_prefix("partition == \"")
        .and_then(|p| p.strip_suffix('"'))
        .unwrap()
        .to_string();
    hex(&json!(partition));
    s.respond_redis(&knn[0], "-ERR index not exist\r\n");
    answer_upstream(&mut s);
    let mut stored = Vec::new();
    for _ in 0..10 {
        let calls = s.redis_calls();
        if calls.is_empty() {
            break;
        }
        for c in calls {
            stored.push(redis_args(&c.query));
            s.respond_redis(&c, "+OK\r\n");
        }
    }
    let create = stored
        .iter()
        .find(|a| a[0] == "TVS.CREATEINDEX")
        .expect("index created");
    assert_eq!(create[2..], ["2", "HNSW", "COSINE"]);
    let hset = stored
        .iter()
        .find(|a| a[0] == "TVS.HSET")
        .expect("vector stored");
    assert_eq!(
        hset[3..7],
        [
            "VECTOR".to_string(),
            "[0.6,0.8]".into(),
            "partition".into(),
            partition.clone()
        ]
    );
    let key = hset[2].clone();
    let expire = stored
        .iter()
        .find(|a| a[0] == "TVS.HEXPIREAT")
        .expect("expiry set");
    assert_eq!(expire[2..], [key.clone(), (NOW + 600).to_string()]);
    let set = stored
        .iter()
        .find(|a| a[0].starts_with("SET") && a[1] == key)
        .expect("answer in the exact layer");
    // SET key value [EX ttl] or SETEX key ttl value: the answer is the JSON argument.
    let answer = set[2..]
        .iter()
        .find(|a| a.starts_with('{'))
        .expect("stored JSON answer")
        .clone();

    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(chat(), true);
    let get = s.redis_calls();
    s.respond_redis(&get[0], "$-1\r\n");
    let embed = next_call(&mut s);
    s.respond_http(&embed, openai_vector_reply());
    let knn = s.redis_calls();
    s.respond_redis(
        &knn[0],
        format!("*2\r\n${}\r\n{key}\r\n$6\r\n0.0005\r\n", key.len()),
    );
    let get = s.redis_calls();
    assert_eq!(redis_args(&get[0].query), ["GET".to_string(), key.clone()]);
    s.respond_redis(&get[0], format!("${}\r\n{answer}\r\n", answer.len()));
    assert_hit(&mut s);
}

// ---------------------------------------------------------------------------------------------
// Embedding providers (the store is Qdrant; its search shows the parsed, normalised vector)
// ---------------------------------------------------------------------------------------------

fn qdrant() -> Value {
    json!({"type": "qdrant", "serviceName": "qdrant.static", "servicePort": 6333, "collectionID": "c"})
}

/// Sends the question, checks the provider's request with `check`, answers `reply`, and returns
/// the vector the store was then searched with.
fn provider_round_trip(
    embedding: Value,
    check: impl Fn(&HttpCallout),
    reply: HttpCalloutResponse,
) -> Value {
    let mut h = host(json!({"embedding": embedding, "vector": qdrant()}));
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(chat(), true);
    let embed = next_call(&mut s);
    check(&embed);
    s.respond_http(&embed, reply);
    let search = next_call(&mut s);
    assert_eq!(search.cluster, "outbound|6333||qdrant.static");
    body(&search)["vector"].clone()
}

/// Azure OpenAI: <https://learn.microsoft.com/en-us/azure/ai-services/openai/reference#embeddings>.
#[test]
fn mock_azure_embeddings_through_the_plugin() {
    let v = provider_round_trip(
        json!({"type": "azure", "serviceName": "azure.dns", "serviceHost": "res1.openai.azure.com", "apiKey": "az-key",
               "model": "emb-deploy", "apiVersion": "2024-10-21"}),
        |c| {
            assert_call(
                c,
                "outbound|443||azure.dns",
                "POST",
                "/openai/deployments/emb-deploy/embeddings?api-version=2024-10-21",
            );
            assert_eq!(header(c, ":authority"), Some("res1.openai.azure.com"));
            assert_eq!(header(c, "api-key"), Some("az-key"));
            assert_eq!(header(c, "authorization"), None);
            assert_eq!(body(c), json!({"input": QUESTION}));
        },
        ok(
            r#"{"object":"list","data":[{"object":"embedding","embedding":[3.0,4.0],"index":0}],"model":"text-embedding-ada-002","usage":{"prompt_tokens":7,"total_tokens":7}}"#,
        ),
    );
    assert_eq!(v, json!([0.6f32, 0.8f32]));
}

/// DashScope OpenAI-compatible mode:
/// <https://help.aliyun.com/zh/model-studio/embedding-interfaces-compatible-with-openai>.
#[test]
fn mock_dashscope_compatible_mode_through_the_plugin() {
    let v = provider_round_trip(
        json!({"type": "dashscope", "serviceName": "dashscope.dns", "serviceHost": "dashscope.aliyuncs.com", "apiKey": "sk-ds",
               "model": "text-embedding-v3", "path": "/compatible-mode/v1/embeddings"}),
        |c| {
            assert_call(
                c,
                "outbound|443||dashscope.dns",
                "POST",
                "/compatible-mode/v1/embeddings",
            );
            assert_eq!(header(c, "authorization"), Some("Bearer sk-ds"));
            assert_eq!(
                body(c),
                json!({"model": "text-embedding-v3", "input": QUESTION, "encoding_format": "float"})
            );
        },
        ok(
            r#"{"data":[{"embedding":[0.0,2.0],"index":0,"object":"embedding"}],"model":"text-embedding-v3","object":"list","usage":{"prompt_tokens":7,"total_tokens":7},"id":"x"}"#,
        ),
    );
    assert_eq!(v, json!([0.0, 1.0]));
}

/// Cohere embed v2: <https://docs.cohere.com/reference/embed>.
#[test]
fn mock_cohere_embeddings_through_the_plugin() {
    let v = provider_round_trip(
        json!({"type": "cohere", "serviceName": "cohere.dns", "serviceHost": "api.cohere.com", "apiKey": "co-key"}),
        |c| {
            assert_call(c, "outbound|443||cohere.dns", "POST", "/v2/embed");
            assert_eq!(header(c, "authorization"), Some("Bearer co-key"));
            assert_eq!(
                body(c),
                json!({"model": "embed-english-v2.0", "texts": [QUESTION], "input_type": "search_query", "embedding_types": ["float"]})
            );
        },
        ok(
            r#"{"id":"e1","embeddings":{"float":[[0.0,-5.0]]},"texts":["x"],"meta":{"api_version":{"version":"2"},"billed_units":{"input_tokens":7}}}"#,
        ),
    );
    assert_eq!(v, json!([0.0, -1.0]));
}

/// HuggingFace Inference API feature-extraction pipeline (Higress's `huggingface` default path):
/// <https://huggingface.co/docs/api-inference/tasks/feature-extraction>.
#[test]
fn mock_huggingface_embeddings_through_the_plugin() {
    let v = provider_round_trip(
        json!({"type": "huggingface", "serviceName": "hf.dns", "serviceHost": "api-inference.huggingface.co", "apiKey": "hf_x"}),
        |c| {
            assert_call(
                c,
                "outbound|443||hf.dns",
                "POST",
                "/pipeline/feature-extraction/sentence-transformers/all-MiniLM-L6-v2",
            );
            assert_eq!(header(c, "authorization"), Some("Bearer hf_x"));
            assert_eq!(body(c), json!({"inputs": QUESTION}));
        },
        ok("[0.8,0.6]"),
    );
    assert_eq!(v, json!([0.8f32, 0.6f32]));
}

/// A provider error (DashScope's documented error body with HTTP 401) fails open: the request
/// goes upstream unchanged and no store search is made.
#[test]
fn mock_dashscope_error_fails_open() {
    let mut h = host(json!({
        "embedding": {"type": "dashscope", "serviceName": "dashscope.dns", "apiKey": "bad"},
        "vector": qdrant(),
    }));
    let mut s = h.stream();
    s.send_request_headers(REQ, false)
        .send_request_body(chat(), true);
    let embed = next_call(&mut s);
    s.respond_http(
        &embed,
        status(
            401,
            r#"{"code":"InvalidApiKey","message":"Invalid API-key provided.","request_id":"r"}"#,
        ),
    );
    assert!(s.http_calls().is_empty());
    assert!(String::from_utf8_lossy(&s.upstream().body()).contains(QUESTION));
}

fn rejected(config: Value, needle: &str) {
    let mut h = TestHost::new();
    match h.add_plugin(wasm(), plugin_config(&config)) {
        Err(HarnessError::Vm(VmError::ConfigureRejected)) => {}
        other => panic!("expected ConfigureRejected, got {:?}", other.err()),
    }
    let logs = h.log_messages().join("\n");
    assert!(logs.contains(needle), "{needle:?} not in {logs}");
}

/// Higress's textin and xfyun configs parse but are refused with a clear reason; Azure without
/// `apiVersion` and Pinecone without `apiKey` name the missing field.
#[test]
fn unsupported_or_incomplete_providers_fail_configure_naming_the_field() {
    rejected(
        json!({"embedding": {"type": "textin", "serviceName": "textin.dns", "textinAppId": "a", "textinSecretCode": "s", "textinMatryoshkaDim": 1024},
               "vector": qdrant()}),
        "embedding.type: \"textin\" is not supported",
    );
    rejected(
        json!({"embedding": {"type": "xfyun", "serviceName": "xfyun.dns", "appId": "a", "apiKey": "k", "apiSecret": "s"},
               "vector": qdrant()}),
        "embedding.type: \"xfyun\" is not supported",
    );
    rejected(
        json!({"embedding": {"type": "azure", "serviceName": "azure.dns", "apiKey": "k"}, "vector": qdrant()}),
        "embedding.apiVersion: required",
    );
    rejected(
        json!({"embedding": openai_embedding(), "vector": {"type": "pinecone", "serviceName": "p.dns"}}),
        "vector.apiKey: required",
    );
}

//! Chroma for real, end to end through the plugin: the built `.wasm` in our host, every callout
//! answered by real servers (`LiveBackends`): Chroma 1.x (`e2e/services/chroma.sh`), Redis for the
//! exact layer (`e2e/services/redis.sh`) and the local embedding server (all-MiniLM-L6-v2).
//! Checks: miss → store → a paraphrase hits from Chroma; another consumer's partition misses;
//! an entry past its TTL is filtered out by Chroma's `where`.
//!
//! Skips (loudly) when chromadb, the Redis wheels or the model cannot be installed, unless
//! `E2E_REQUIRE_CHROMA=1` / `E2E_REQUIRE_REDIS=1` / `E2E_REQUIRE_EMBEDDINGS=1`.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::Duration;

use common::host;
use e2e_services::chroma::ChromaServer;
use e2e_services::redis::RedisServer;
use proxy_wasm_host::live::LiveBackends;
use proxy_wasm_host::{Stream, TestHost};
use serde_json::{json, Value};

const REDIS: &str = "outbound|6379||redis.static";
const CHROMA: &str = "outbound|8000||chroma.static";
const EMBED: &str = "outbound|8080||embed.static";

const ANSWER: &str = "Paris is the capital of France.";

fn config(collection: &str) -> Value {
    json!({
        "embedding": {"type": "openai", "serviceName": "embed.static", "servicePort": 8080, "model": "all-MiniLM-L6-v2"},
        "vector": {"type": "chroma", "serviceName": "chroma.static", "servicePort": 8000, "collectionID": collection, "topK": 3},
        "cache": {"type": "redis", "serviceName": "redis.static", "servicePort": 6379, "cacheTTL": 60},
        "similarityThreshold": 0.8,
    })
}

fn headers(consumer: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "POST".into()),
        (":path", "/v1/chat/completions".into()),
        (":authority", "llm.example.com".into()),
        ("content-type", "application/json".into()),
        ("x-mse-consumer", consumer.into()),
    ]
}

/// Sends `question` as `consumer` and lets the real backends answer the lookup.
fn ask(h: &mut TestHost, live: &mut LiveBackends, consumer: &str, question: &str) -> Stream {
    let mut s = h.stream();
    let hs = headers(consumer);
    let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": question}]});
    s.send_request_headers(&hs, false)
        .send_request_body(body.to_string(), true);
    s.serve_live(live).expect("live lookup");
    s
}

fn status(s: &Stream) -> Option<String> {
    s.downstream()
        .headers
        .and_then(|h| h.get("x-cache-status").map(str::to_string))
}

/// A miss: the request went upstream; answer it and let the store calls reach the real servers.
fn answer_miss(s: &mut Stream, live: &mut LiveBackends) {
    assert!(s.local_replies().is_empty(), "expected a miss");
    assert!(!s.upstream().body().is_empty(), "miss must go upstream");
    let completion = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
    });
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    )
    .send_response_body(completion.to_string(), true);
    s.serve_live(live).expect("live store");
    assert_eq!(status(s).as_deref(), Some("MISS"));
}

fn assert_hit(s: &Stream) {
    assert_eq!(
        status(s).as_deref(),
        Some("HIT"),
        "{:?}",
        s.downstream().headers
    );
    let got: Value = serde_json::from_slice(&s.downstream().body()).expect("JSON hit");
    assert_eq!(got["choices"][0]["message"]["content"], ANSWER);
}

/// Entries of a Chroma collection whose name starts with `prefix`, read over its REST API.
fn chroma_count(chroma: &ChromaServer, prefix: &str) -> usize {
    let base = "/api/v2/tenants/default_tenant/databases/default_database/collections";
    let list = http_get(chroma.port(), base);
    let collections: Value = serde_json::from_str(&list).expect("collection list");
    let id = collections
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .and_then(|c| c["id"].as_str().map(str::to_string));
    match id {
        Some(id) => http_get(chroma.port(), &format!("{base}/{id}/count"))
            .trim()
            .parse()
            .expect("count"),
        None => 0,
    }
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect chroma");
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    conn.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("HTTP response");
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

#[test]
fn live_chroma_miss_store_paraphrase_hit_partition_and_expiry() {
    let test = "live_chroma_miss_store_paraphrase_hit_partition_and_expiry";
    let Some(chroma) = ChromaServer::start_or_skip(test) else {
        return;
    };
    let Some(redis) = RedisServer::start_or_skip(test) else {
        return;
    };
    let Some(embed) = embedding_server::spawn_or_skip(test) else {
        return;
    };
    let mut live = LiveBackends::new()
        .redis(REDIS, ("127.0.0.1", redis.port()))
        .http(CHROMA, ("127.0.0.1", chroma.port()))
        .http(EMBED, embed.addr());
    let mut h = host(config("live"));

    // 1. Miss: the first search creates the cosine collection; the answer is stored.
    let mut s = ask(
        &mut h,
        &mut live,
        "team-a",
        "What is the capital of France?",
    );
    answer_miss(&mut s, &mut live);
    assert_eq!(
        chroma_count(&chroma, "live-"),
        1,
        "one entry stored in Chroma"
    );

    // 2. A paraphrase (no exact-layer hit possible) is answered from Chroma.
    let s = ask(
        &mut h,
        &mut live,
        "team-a",
        "Which city is the capital of France?",
    );
    assert_hit(&s);

    // 3. Another consumer is another partition: Chroma's `where` finds nothing.
    let mut s = ask(
        &mut h,
        &mut live,
        "team-b",
        "Which city is the capital of France?",
    );
    answer_miss(&mut s, &mut live);
    assert_eq!(chroma_count(&chroma, "live-"), 2);

    // 4. Past the TTL (60 s on the plugin's clock) team-a's entry is filtered out, not served.
    h.advance(Duration::from_secs(61));
    let mut s = ask(
        &mut h,
        &mut live,
        "team-a",
        "Tell me the capital city of France.",
    );
    answer_miss(&mut s, &mut live);
}

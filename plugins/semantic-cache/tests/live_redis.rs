//! The built .wasm against a real Redis 8.2 (RediSearch and vector sets): every Redis command the
//! plugin builds is executed by the real server. Embeddings come from a small local HTTP server
//! speaking the OpenAI embeddings API with a deterministic bag-of-words vector (`mock_embeddings`:
//! the real model is exercised in `live_embeddings.rs`), so similarities here are predictable.
//! Skips with a printed reason when Redis cannot be had, unless `E2E_REQUIRE_REDIS=1`.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};

use common::*;
use e2e_services::redis::RedisServer;
use proxy_wasm_host::live::LiveBackends;
use proxy_wasm_host::{Stream, TestHost};
use serde_json::{json, Value};

const DIMS: usize = 1024;

/// A bag-of-words vector: one dimension per hashed lower-case word.
fn bag_of_words(text: &str) -> Vec<f32> {
    let mut v = vec![0.0; DIMS];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let h = word
            .to_lowercase()
            .bytes()
            .fold(1469598103934665603u64, |h, b| {
                (h ^ b as u64).wrapping_mul(1099511628211)
            });
        v[(h % DIMS as u64) as usize] += 1.0;
    }
    v
}

/// Serves `POST /v1/embeddings` with bag-of-words vectors until the process ends, one exchange
/// per connection (the harness sends `Connection: close`).
fn mock_embeddings_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let Some(body) = read_request_body(&conn) else {
                continue;
            };
            let req: Value = serde_json::from_slice(&body).unwrap_or_default();
            let out = embedding_body(&bag_of_words(req["input"].as_str().unwrap_or_default()));
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                out.len()
            );
            let _ = conn
                .write_all(head.as_bytes())
                .and_then(|_| conn.write_all(&out));
        }
    });
    addr
}

/// The body of one HTTP/1.1 request with a Content-Length.
fn read_request_body(conn: &std::net::TcpStream) -> Option<Vec<u8>> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

struct Live {
    _redis: RedisServer,
    port: u16,
    host: TestHost,
    backends: LiveBackends,
}

fn live(test: &str, vector_type: &str, collection: &str) -> Option<Live> {
    let redis = RedisServer::start_or_skip(test)?;
    let port = redis.port();
    let mut cfg = semantic(vector_type);
    cfg["vector"]["collectionID"] = json!(collection);
    cfg["similarityThreshold"] = json!(0.9);
    let backends = LiveBackends::new()
        .redis(REDIS, ("127.0.0.1", port))
        .http(EMBED, mock_embeddings_server());
    Some(Live {
        _redis: redis,
        port,
        host: host(cfg),
        backends,
    })
}

fn body(system: &str, question: &str, stream: bool) -> Vec<u8> {
    json!({"model": "gpt-4o", "stream": stream, "messages": [
        {"role": "system", "content": system},
        {"role": "user", "content": question}]})
    .to_string()
    .into_bytes()
}

/// Sends the request and lets the real backends answer the lookup. Returns the stream.
fn ask(l: &mut Live, consumer: &str, body: &[u8]) -> Stream {
    let mut s = l.host.stream();
    s.send_request_headers(&request_headers(Some(consumer)), false)
        .send_request_body(body, true);
    s.serve_live(&mut l.backends).expect("live backends answer");
    s
}

/// Upstream answers a miss; the real Redis stores it.
fn answer(l: &mut Live, s: &mut Stream, text: &str, stream: bool) {
    assert!(s.upstream().end_stream, "a miss goes upstream");
    if stream {
        s.send_response_headers(
            &[(":status", "200"), ("content-type", "text/event-stream")],
            false,
        )
        .send_response_body_chunked(&answer_sse(text), 5);
    } else {
        s.send_response_headers(
            &[(":status", "200"), ("content-type", "application/json")],
            false,
        )
        .send_response_body(answer_json(text, "stop"), true);
    }
    s.serve_live(&mut l.backends).expect("stores answered");
}

fn hit_text(s: &Stream) -> Option<(String, String)> {
    let down = s.downstream();
    let headers = down.headers.as_ref()?;
    if headers.get("x-cache-status") != Some("HIT") {
        return None;
    }
    let sim = headers.get("x-cache-similarity")?.to_string();
    let body = down.body();
    let text = if headers.get("content-type")?.contains("event-stream") {
        let mut acc = ai_proto::stream::StreamAccumulator::new();
        acc.feed_sse(&body).unwrap();
        acc.finish().unwrap().first_text()?.into_owned()
    } else {
        let v: Value = serde_json::from_slice(&body).unwrap();
        v["choices"][0]["message"]["content"].as_str()?.to_string()
    };
    Some((text, sim))
}

fn miss_store_hit_and_isolation(test: &str, vector_type: &str) {
    let Some(mut l) = live(test, vector_type, &format!("t-{vector_type}")) else {
        return;
    };
    let sys = "You are a geography tutor.";
    // 1. Miss, streamed answer stored.
    let mut s = ask(
        &mut l,
        "alice",
        &body(sys, "What is the capital of France?", true),
    );
    assert_eq!(s.local_replies().len(), 0);
    answer(&mut l, &mut s, "The capital of France is Paris.", true);

    // 2. Same words, other punctuation and case: exact miss, semantic hit (cos 1), JSON replay.
    let s = ask(
        &mut l,
        "alice",
        &body(sys, "what is the capital of france", false),
    );
    let (text, sim) = hit_text(&s).unwrap_or_else(|| {
        panic!(
            "semantic hit expected; plugin logs:\n{}",
            l.host.log_messages().join("\n")
        )
    });
    assert_eq!(text, "The capital of France is Paris.");
    assert_eq!(sim, "1.0000");

    // 3. Exactly the same request again: exact hit.
    let s = ask(
        &mut l,
        "alice",
        &body(sys, "What is the capital of France?", true),
    );
    assert!(hit_text(&s).is_some(), "exact hit");

    // 4. Another consumer: nothing shared.
    let s = ask(
        &mut l,
        "bob",
        &body(sys, "What is the capital of France?", false),
    );
    assert!(hit_text(&s).is_none(), "no cross-consumer hit");
    assert!(s.upstream().end_stream);

    // 5. Another system prompt: another partition.
    let s = ask(
        &mut l,
        "alice",
        &body("You are a chef.", "what is the capital of france", false),
    );
    assert!(hit_text(&s).is_none(), "no cross-context hit");

    // 6. A different question in the same partition: below the threshold.
    let s = ask(
        &mut l,
        "alice",
        &body(sys, "What is the capital of Spain?", false),
    );
    assert!(hit_text(&s).is_none(), "dissimilar question misses");

    // Entries carry the TTL.
    let mut conn = e2e_services::resp::Connection::connect(l.port).unwrap();
    let keys = conn.cmd(&["KEYS", "higress-ai-cache:*"]).unwrap();
    let keys = keys.as_array().unwrap();
    assert!(!keys.is_empty());
    for k in keys {
        let ttl = conn.cmd(&["TTL", k.as_str().unwrap()]).unwrap();
        let ttl = ttl.as_int().unwrap();
        assert!(ttl > 0 && ttl <= 300, "{k:?} ttl {ttl}");
    }
}

#[test]
fn live_redisearch_miss_store_hit_and_isolation() {
    miss_store_hit_and_isolation("live_redisearch_miss_store_hit_and_isolation", "redis");
}

#[test]
fn live_vectorset_miss_store_hit_and_isolation() {
    miss_store_hit_and_isolation(
        "live_vectorset_miss_store_hit_and_isolation",
        "redis-vectorset",
    );
}

#[test]
fn live_redisearch_index_has_the_model_dimension_and_cosine() {
    let Some(mut l) = live("live_redisearch_index", "redis", "idx") else {
        return;
    };
    let mut s = ask(&mut l, "alice", &body("s", "hello there", false));
    answer(&mut l, &mut s, "Hi!", false);
    let mut conn = e2e_services::resp::Connection::connect(l.port).unwrap();
    let list = conn.cmd(&["FT._LIST"]).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with("idx:") && names[0].ends_with(":1024"),
        "{names:?}"
    );
    let info = format!("{:?}", conn.cmd(&["FT.INFO", names[0]]).unwrap());
    assert!(info.contains("COSINE"), "{info}");
    assert!(info.contains("1024"), "{info}");
}

#[test]
fn live_exact_layer_only() {
    let Some(redis) = RedisServer::start_or_skip("live_exact_layer_only") else {
        return;
    };
    let mut backends = LiveBackends::new().redis(REDIS, ("127.0.0.1", redis.port()));
    let mut h = host(exact_only());
    let mut s = h.stream();
    s.send_request_headers(&request_headers(None), false)
        .send_request_body(chat("Tell me a joke", false), true);
    s.serve_live(&mut backends).unwrap();
    assert!(s.upstream().end_stream);
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    )
    .send_response_body(answer_json("A joke.", "stop"), true);
    s.serve_live(&mut backends).unwrap();
    let mut s = h.stream();
    s.send_request_headers(&request_headers(None), false)
        .send_request_body(chat("Tell me a joke", true), true);
    s.serve_live(&mut backends).unwrap();
    let down = s.downstream();
    assert_eq!(
        down.headers.as_ref().unwrap().get("x-cache-status"),
        Some("HIT")
    );
    assert!(down.body_string().contains("A joke."));
}

/// A warm migration from Higress ai-cache: an entry it wrote (`cacheKeyPrefix` + question, the
/// answer text as value) answers the same standalone question of a listed model, streamed or not,
/// and is never overwritten; a request ai-cache's key cannot tell apart (here: one with a system
/// prompt) is not answered from it.
#[test]
fn live_ai_cache_entries_are_read_for_standalone_questions() {
    let Some(redis) = RedisServer::start_or_skip("live_ai_cache_entries") else {
        return;
    };
    let mut conn = e2e_services::resp::Connection::connect(redis.port()).unwrap();
    let legacy = "higress-ai-cache:What is Rust?";
    conn.cmd(&["SET", legacy, "A systems programming language."])
        .unwrap();
    let mut backends = LiveBackends::new().redis(REDIS, ("127.0.0.1", redis.port()));
    let mut cfg = exact_only();
    cfg["scope"] = json!({"from": "global"});
    cfg["readAiCacheEntries"] = json!({"models": ["gpt-4o"]});
    let mut h = host(cfg);
    let standalone = |stream: bool| {
        json!({"model": "gpt-4o", "stream": stream,
            "messages": [{"role": "user", "content": "What is Rust?"}]})
        .to_string()
        .into_bytes()
    };
    for stream in [false, true] {
        let mut s = h.stream();
        s.send_request_headers(&request_headers(Some("alice")), false)
            .send_request_body(standalone(stream), true);
        s.serve_live(&mut backends).unwrap();
        let down = s.downstream();
        let headers = down.headers.as_ref().expect("answered from the cache");
        assert_eq!(headers.get("x-cache-status"), Some("HIT"));
        assert!(
            down.body_string()
                .contains("A systems programming language."),
            "{}",
            down.body_string()
        );
        assert!(!s.upstream().end_stream, "a hit never goes upstream");
    }
    // Same last question after a system prompt: ai-cache's key would be the same, ours is not.
    let mut s = h.stream();
    s.send_request_headers(&request_headers(Some("alice")), false)
        .send_request_body(chat("What is Rust?", false), true);
    s.serve_live(&mut backends).unwrap();
    assert!(s.upstream().end_stream, "miss goes upstream");
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    )
    .send_response_body(answer_json("Rust, for a helpful assistant.", "stop"), true);
    s.serve_live(&mut backends).unwrap();
    // The ai-cache entry is untouched; the new answer went to our own key.
    let v = conn.cmd(&["GET", legacy]).unwrap();
    assert_eq!(v.as_str(), Some("A systems programming language."));
    let keys = conn.cmd(&["KEYS", "higress-ai-cache:*"]).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 2, "{keys:?}");
}

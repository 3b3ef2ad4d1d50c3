//! The built .wasm with the three embedding providers (OpenAI `/v1/embeddings`, TEI `/embed`,
//! Ollama `/api/embed`) answered by the real local embedding server (all-MiniLM-L6-v2) and the
//! real Redis vector sets: a paraphrase hits, an unrelated question misses.
//! Skips with a printed reason when the model or Redis cannot be had (unless
//! `E2E_REQUIRE_EMBEDDINGS=1` / `E2E_REQUIRE_REDIS=1`).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use e2e_services::redis::RedisServer;
use proxy_wasm_host::live::LiveBackends;
use serde_json::{json, Value};

fn provider_round_trip(test: &str, provider: &str) {
    let Some(redis) = RedisServer::start_or_skip(test) else {
        return;
    };
    let Some(server) = embedding_server::spawn_or_skip(test) else {
        return;
    };
    let mut cfg = semantic("redis-vectorset");
    cfg["embedding"] = json!({"type": provider, "serviceName": "embed.static", "servicePort": 8080,
        "model": embedding_server::MODEL_NAME});
    cfg["similarityThreshold"] = json!(0.8);
    let mut h = host(cfg);
    let mut live = LiveBackends::new()
        .redis(REDIS, ("127.0.0.1", redis.port()))
        .http(EMBED, server.addr());

    let mut s = h.stream();
    s.send_request_headers(&request_headers(Some("alice")), false)
        .send_request_body(chat("How do I reverse a list in Python?", false), true);
    s.serve_live(&mut live).expect("live lookup");
    assert!(s.upstream().end_stream, "{provider}: first ask misses");
    s.send_response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    )
    .send_response_body(
        answer_json("Use my_list.reverse() or my_list[::-1].", "stop"),
        true,
    );
    s.serve_live(&mut live).expect("live store");

    let mut s = h.stream();
    s.send_request_headers(&request_headers(Some("alice")), false)
        .send_request_body(chat("How can I reverse a list in Python?", false), true);
    s.serve_live(&mut live).expect("live lookup");
    let down = s.downstream();
    let headers = down.headers.as_ref().expect("answered");
    assert_eq!(
        headers.get("x-cache-status"),
        Some("HIT"),
        "{provider}: paraphrase hits"
    );
    let sim: f32 = headers.get("x-cache-similarity").unwrap().parse().unwrap();
    assert!((0.8..1.0).contains(&sim), "{provider}: similarity {sim}");
    let v: Value = serde_json::from_slice(&down.body()).unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Use my_list.reverse() or my_list[::-1]."
    );

    let mut s = h.stream();
    s.send_request_headers(&request_headers(Some("alice")), false)
        .send_request_body(chat("What is a good recipe for banana bread?", false), true);
    s.serve_live(&mut live).expect("live lookup");
    assert!(
        s.upstream().end_stream,
        "{provider}: unrelated question misses"
    );
}

#[test]
fn live_openai_embeddings_paraphrase_hits() {
    provider_round_trip("live_openai_embeddings_paraphrase_hits", "openai");
}

#[test]
fn live_tei_embeddings_paraphrase_hits() {
    provider_round_trip("live_tei_embeddings_paraphrase_hits", "tei");
}

#[test]
fn live_ollama_embeddings_paraphrase_hits() {
    provider_round_trip("live_ollama_embeddings_paraphrase_hits", "ollama");
}

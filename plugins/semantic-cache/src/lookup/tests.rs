use std::rc::Rc;

use higress_sdk::{HttpResponse, RespValue, RuleMatcher};
use serde_json::json;

use super::*;
use crate::config::Config;
use crate::key::{derive, KeySettings};

const ANSWER: &str = r#"{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Paris"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}"#;

fn config(extra: serde_json::Value) -> Rc<Config> {
    let mut v = json!({
        "embedding": {"type": "openai", "serviceName": "embed.static", "servicePort": 8080},
        "vector": {"type": "redis-vectorset", "serviceName": "redis.static", "servicePort": 6379, "topK": 2},
        "cache": {"type": "redis", "serviceName": "redis.static", "servicePort": 6379, "cacheTTL": 60}
    });
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    RuleMatcher::<Config>::parse(v.to_string().as_bytes())
        .unwrap()
        .global()
        .unwrap()
        .clone()
}

fn keys(question: &str) -> Keys {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": question}]});
    derive(
        body.to_string().as_bytes(),
        "consumer:a",
        KeySettings {
            countback: Some(1),
            shared_temperature_max: 1.0,
        },
    )
    .unwrap()
}

fn redis(v: RespValue) -> Reply {
    Reply::Redis(v)
}

fn bulk(s: &str) -> RespValue {
    RespValue::Bulk(s.as_bytes().to_vec())
}

fn embedding(v: &[f32]) -> Reply {
    Reply::Http(HttpResponse {
        status: 200,
        headers: vec![],
        body: json!({"data": [{"embedding": v}]}).to_string().into_bytes(),
    })
}

fn command(next: &Next) -> String {
    match next {
        Next::Call(Call::Redis { args, .. }) => String::from_utf8_lossy(&args[0]).into_owned(),
        Next::Call(Call::Http { request, .. }) => format!("HTTP {}", request.url),
        other => format!("{other:?}"),
    }
}

/// VSIM reply with one candidate of the given cosine similarity.
fn candidates(list: &[(&str, f32, &str)]) -> Reply {
    let mut items = Vec::new();
    for (q, cos, key) in list {
        items.push(bulk(&format!("id-{q}")));
        items.push(bulk(&((1.0 + cos) / 2.0).to_string()));
        items.push(bulk(&json!({"q": q, "k": key}).to_string()));
    }
    redis(RespValue::Array(items))
}

#[test]
fn exact_hit_needs_one_get() {
    let c = config(json!({}));
    let b = c.built().unwrap();
    let (mut l, next) = Lookup::start(b, keys("capital of France?"));
    assert_eq!(command(&next), "GET");
    match l.on_reply(b, redis(bulk(ANSWER))) {
        Next::Hit {
            layer, similarity, ..
        } => {
            assert_eq!(layer, Layer::Exact);
            assert_eq!(similarity, 1.0);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn semantic_hit_walks_embed_search_answer_and_backfills() {
    let c = config(json!({}));
    let b = c.built().unwrap();
    let (mut l, next) = Lookup::start(b, keys("capital of France?"));
    assert_eq!(command(&next), "GET");
    let next = l.on_reply(b, redis(RespValue::NullBulk));
    assert_eq!(command(&next), "HTTP /v1/embeddings");
    let next = l.on_reply(b, embedding(&[3.0, 4.0]));
    assert_eq!(command(&next), "VSIM");
    assert_eq!(l.vector().unwrap(), &[0.6, 0.8]);
    let next = l.on_reply(b, candidates(&[("France capital?", 0.97, "ak1")]));
    match &next {
        Next::Call(Call::Redis { args, .. }) => assert_eq!(args[1], b"ak1"),
        other => panic!("{other:?}"),
    }
    match l.on_reply(b, redis(bulk(ANSWER))) {
        Next::Hit {
            layer,
            similarity,
            backfill,
            ..
        } => {
            assert_eq!(layer, Layer::Semantic);
            assert!((similarity - 0.97).abs() < 1e-3);
            assert!(backfill.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn below_threshold_is_a_miss() {
    let c = config(json!({}));
    let b = c.built().unwrap();
    let (mut l, _) = Lookup::start(b, keys("capital of France?"));
    l.on_reply(b, redis(RespValue::NullBulk));
    l.on_reply(b, embedding(&[1.0, 0.0]));
    let next = l.on_reply(b, candidates(&[("capital of Spain?", 0.9, "ak")]));
    assert!(matches!(next, Next::Miss));
    assert!((l.best_similarity.unwrap() - 0.9).abs() < 1e-3);
}

#[test]
fn verification_rejects_a_close_candidate_with_other_numbers() {
    let run = |verify: bool| {
        let c = config(json!({"verify": {"enabled": verify}}));
        let b = c.built().unwrap();
        let (mut l, _) = Lookup::start(b, keys("Convert 5 miles to km"));
        l.on_reply(b, redis(RespValue::NullBulk));
        l.on_reply(b, embedding(&[1.0, 0.0]));
        command(&l.on_reply(b, candidates(&[("Convert 6 miles to km", 0.99, "ak")])))
    };
    assert_eq!(run(false), "GET");
    assert_eq!(run(true), "Miss");
}

#[test]
fn an_expired_answer_falls_back_to_the_next_candidate() {
    let c = config(json!({}));
    let b = c.built().unwrap();
    let (mut l, _) = Lookup::start(b, keys("capital of France?"));
    l.on_reply(b, redis(RespValue::NullBulk));
    l.on_reply(b, embedding(&[1.0, 0.0]));
    l.on_reply(
        b,
        candidates(&[
            ("France capital?", 0.99, "gone"),
            ("capital of France", 0.98, "ak2"),
        ]),
    );
    let next = l.on_reply(b, redis(RespValue::NullBulk));
    match &next {
        Next::Call(Call::Redis { args, .. }) => assert_eq!(args[1], b"ak2"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        l.on_reply(b, redis(RespValue::NullBulk)),
        Next::Miss
    ));
}

#[test]
fn backend_errors_fail_the_lookup() {
    let c = config(json!({}));
    let b = c.built().unwrap();
    let (mut l, _) = Lookup::start(b, keys("q"));
    assert!(matches!(
        l.on_reply(b, redis(RespValue::Error("ERR down".into()))),
        Next::Failed(_)
    ));
    let (mut l, _) = Lookup::start(b, keys("q"));
    l.on_reply(b, redis(RespValue::NullBulk));
    let bad = Reply::Http(HttpResponse {
        status: 500,
        headers: vec![],
        body: vec![],
    });
    assert!(matches!(l.on_reply(b, bad), Next::Failed(_)));
}

#[test]
fn non_text_questions_use_the_exact_layer_only() {
    let c = config(json!({}));
    let b = c.built().unwrap();
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "x"}}]}]});
    let k = derive(
        body.to_string().as_bytes(),
        "s",
        KeySettings {
            countback: Some(1),
            shared_temperature_max: 1.0,
        },
    )
    .unwrap();
    let (mut l, _) = Lookup::start(b, k);
    assert!(matches!(
        l.on_reply(b, redis(RespValue::NullBulk)),
        Next::Miss
    ));
}

#[test]
fn store_writes_the_answer_and_the_vector_entry() {
    let c = config(json!({}));
    let b = c.built().unwrap();
    let k = keys("q");
    let calls = store_calls(b, &k, Some(&[1.0, 0.0]), ANSWER.as_bytes());
    let names: Vec<String> = calls
        .exact
        .iter()
        .chain(&calls.inserts)
        .map(|c| command(&Next::Call(c.clone())))
        .collect();
    assert_eq!(names, ["SETEX", "VADD", "EXPIRE"]);
    // Without a vector (no embedding was made) only the exact layer is written.
    let calls = store_calls(b, &k, None, ANSWER.as_bytes());
    assert!(calls.exact.is_some() && calls.inserts.is_empty());
}

fn body_keys(body: serde_json::Value) -> Keys {
    derive(
        body.to_string().as_bytes(),
        "global",
        KeySettings {
            countback: Some(1),
            shared_temperature_max: 1.0,
        },
    )
    .unwrap()
}

#[test]
fn ai_cache_entries_answer_standalone_questions_of_listed_models_only() {
    let c = config(json!({"scope": {"from": "global"}, "readAiCacheEntries": {"models": ["m"]}}));
    let b = c.built().unwrap();
    let q = "What is Rust?";
    // Our exact miss, then ai-cache's key: prefix + the question text; its text is the answer.
    let (mut l, _) = Lookup::start(b, keys(q));
    let next = l.on_reply(b, redis(RespValue::NullBulk));
    match &next {
        Next::Call(Call::Redis { args, .. }) => {
            assert_eq!(args[0], b"GET");
            assert_eq!(args[1], b"higress-ai-cache:What is Rust?");
        }
        other => panic!("ai-cache GET expected, got {other:?}"),
    }
    match l.on_reply(b, redis(bulk("A systems language."))) {
        Next::Hit {
            answer,
            layer,
            backfill,
            ..
        } => {
            assert_eq!(layer, Layer::AiCache);
            assert_eq!(answer.first_text().as_deref(), Some("A systems language."));
            assert_eq!(answer.model.as_deref(), Some("m"));
            assert!(backfill.is_none(), "ai-cache entries are never copied");
        }
        other => panic!("hit expected, got {other:?}"),
    }
    // An ai-cache miss goes on to the semantic layer.
    let (mut l, _) = Lookup::start(b, keys(q));
    l.on_reply(b, redis(RespValue::NullBulk));
    let next = l.on_reply(b, redis(RespValue::NullBulk));
    assert_eq!(command(&next), "HTTP /v1/embeddings");

    // Anything ai-cache's key does not record keeps the request away from its entries.
    let user = json!({"role": "user", "content": q});
    for body in [
        json!({"model": "other", "messages": [user]}),
        json!({"model": "m", "messages": [{"role": "system", "content": "Be terse."}, user]}),
        json!({"model": "m", "messages": [{"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"}, user]}),
        json!({"model": "m", "max_tokens": 5, "messages": [user]}),
        json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": q}]}]}),
        json!({"model": "m", "messages": [{"role": "user", "content": "0123456789abcdef".repeat(4)}]}),
    ] {
        let (mut l, _) = Lookup::start(b, body_keys(body.clone()));
        let next = l.on_reply(b, redis(RespValue::NullBulk));
        assert_eq!(command(&next), "HTTP /v1/embeddings", "{body}");
    }
    // Not opted in: never read.
    let c = config(json!({"scope": {"from": "global"}}));
    let b = c.built().unwrap();
    let (mut l, _) = Lookup::start(b, keys(q));
    assert_eq!(
        command(&l.on_reply(b, redis(RespValue::NullBulk))),
        "HTTP /v1/embeddings"
    );
}

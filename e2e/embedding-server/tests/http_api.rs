//! The three embedding APIs over real HTTP against the real model.

use std::sync::OnceLock;

use embedding_server::client::{self, Reply};
use embedding_server::{Handle, DIMENSIONS};
use serde_json::{json, Value};

/// One server for the tests that do not count batches (loading the model once keeps them quick).
fn shared(test: &str) -> Option<&'static Handle> {
    static SERVER: OnceLock<Option<Handle>> = OnceLock::new();
    SERVER
        .get_or_init(|| embedding_server::spawn_or_skip(test))
        .as_ref()
}

fn post(server: &Handle, path: &str, body: &Value) -> Reply {
    client::post(server.addr(), path, body.to_string().as_bytes()).expect("request")
}

/// `{field: value}` for a field name chosen at run time.
fn with(field: &str, value: Value) -> Value {
    Value::Object([(field.to_string(), value)].into_iter().collect())
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("vector")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norm(a) * norm(b))
}

const TEXTS: [&str; 3] = [
    "How do I reset my router password?",
    "What is the procedure to change the password of my wifi router?",
    "Best pizza places in Naples",
];

#[test]
fn openai_embeddings_have_the_documented_shape_and_unit_length() {
    let Some(server) = shared("openai_embeddings_have_the_documented_shape_and_unit_length") else {
        return;
    };
    let reply = post(
        server,
        "/v1/embeddings",
        &json!({"input": TEXTS, "model": "text-embedding-3-small", "encoding_format": "float"}),
    );
    assert_eq!(reply.status, 200);
    let body = reply.json().unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(
        body["model"], "text-embedding-3-small",
        "the requested model is echoed"
    );
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["object"], "embedding");
        assert_eq!(d["index"], i);
        let v = floats(&d["embedding"]);
        assert_eq!(v.len(), DIMENSIONS);
        assert!(
            (norm(&v) - 1.0).abs() < 1e-5,
            "unit length, got {}",
            norm(&v)
        );
    }
    let tokens = body["usage"]["prompt_tokens"].as_u64().unwrap();
    // [CLS] + words + [SEP] for each input: at least 8 + 14 + 6 tokens.
    assert!((28..60).contains(&tokens), "prompt_tokens {tokens}");
    assert_eq!(body["usage"]["total_tokens"], tokens);

    // Paraphrases are close, unrelated questions are not: the model is really running.
    let v: Vec<Vec<f32>> = data.iter().map(|d| floats(&d["embedding"])).collect();
    let (para, unrelated) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
    assert!(
        para > 0.6 && unrelated < 0.2,
        "paraphrase {para}, unrelated {unrelated}"
    );
}

#[test]
fn openai_base64_encoding_decodes_to_the_float_vector() {
    let Some(server) = shared("openai_base64_encoding_decodes_to_the_float_vector") else {
        return;
    };
    let float = post(server, "/v1/embeddings", &json!({"input": TEXTS[0]}))
        .json()
        .unwrap();
    let b64 = post(
        server,
        "/v1/embeddings",
        &json!({"input": TEXTS[0], "encoding_format": "base64"}),
    )
    .json()
    .unwrap();
    let decoded: ai_proto::embeddings::EmbeddingsResponse = serde_json::from_value(b64).unwrap();
    let decoded = decoded.data[0].embedding.to_f32().expect("valid base64");
    assert_eq!(decoded, floats(&float["data"][0]["embedding"]));
}

#[test]
fn tei_embed_returns_bare_vectors_and_honours_normalize_false() {
    let Some(server) = shared("tei_embed_returns_bare_vectors_and_honours_normalize_false") else {
        return;
    };
    let one = post(server, "/embed", &json!({"inputs": TEXTS[0]}));
    assert_eq!(one.status, 200);
    let one = one.json().unwrap();
    assert_eq!(
        one.as_array().unwrap().len(),
        1,
        "a string input still gives [[...]]"
    );
    let unit = floats(&one[0]);
    assert_eq!(unit.len(), DIMENSIONS);
    assert!((norm(&unit) - 1.0).abs() < 1e-5);

    let raw = post(
        server,
        "/embed",
        &json!({"inputs": [TEXTS[0]], "normalize": false}),
    );
    let raw = floats(&raw.json().unwrap()[0]);
    assert!(
        norm(&raw) > 1.5,
        "mean-pooled MiniLM vectors are longer than 1: {}",
        norm(&raw)
    );
    let rescaled: Vec<f32> = raw.iter().map(|x| x / norm(&raw)).collect();
    assert!(max_abs_diff(&rescaled, &unit) < 1e-6);
}

#[test]
fn ollama_api_embed_echoes_the_model_and_counts_tokens() {
    let Some(server) = shared("ollama_api_embed_echoes_the_model_and_counts_tokens") else {
        return;
    };
    let reply = post(
        server,
        "/api/embed",
        &json!({"model": "all-minilm", "input": TEXTS}),
    );
    assert_eq!(reply.status, 200);
    let body = reply.json().unwrap();
    assert_eq!(body["model"], "all-minilm");
    let embeddings = body["embeddings"].as_array().unwrap();
    assert_eq!(embeddings.len(), 3);
    assert!(embeddings.iter().all(|e| floats(e).len() == DIMENSIONS));
    assert!(body["prompt_eval_count"].as_u64().unwrap() >= 28);

    let empty = post(
        server,
        "/api/embed",
        &json!({"model": "all-minilm", "input": []}),
    );
    assert_eq!(
        empty.status, 200,
        "Ollama answers an empty input list with no embeddings"
    );
    assert_eq!(empty.json().unwrap()["embeddings"], json!([]));
}

#[test]
fn the_same_text_gets_the_same_vector_in_every_api_and_batch_position() {
    let Some(server) = shared("the_same_text_gets_the_same_vector_in_every_api_and_batch_position")
    else {
        return;
    };
    let single = floats(
        &post(server, "/v1/embeddings", &json!({"input": TEXTS[1]}))
            .json()
            .unwrap()["data"][0]["embedding"],
    );
    // In a batch, the shorter inputs are padded to the longest one; the mask must hide the padding.
    let batch = post(
        server,
        "/embed",
        &json!({"inputs": [TEXTS[2], TEXTS[1], TEXTS[0]]}),
    );
    let in_batch = floats(&batch.json().unwrap()[1]);
    let ollama = floats(
        &post(server, "/api/embed", &json!({"input": TEXTS[1]}))
            .json()
            .unwrap()["embeddings"][0],
    );
    assert!(
        max_abs_diff(&single, &in_batch) < 1e-5,
        "{}",
        max_abs_diff(&single, &in_batch)
    );
    assert!(max_abs_diff(&single, &ollama) < 1e-6);
    let short = floats(
        &post(server, "/v1/embeddings", &json!({"input": TEXTS[2]}))
            .json()
            .unwrap()["data"][0]["embedding"],
    );
    let padded = floats(&batch.json().unwrap()[0]);
    assert!(
        max_abs_diff(&short, &padded) < 1e-5,
        "padding leaked into the shortest input"
    );
}

#[test]
fn bad_requests_get_400_with_a_message_in_each_dialect() {
    let Some(server) = shared("bad_requests_get_400_with_a_message_in_each_dialect") else {
        return;
    };
    let message = |path: &str, reply: &Reply| -> String {
        let body = reply.json().unwrap();
        match path {
            "/v1/embeddings" => body["error"]["message"].as_str().unwrap().to_string(),
            _ => body["error"].as_str().unwrap().to_string(),
        }
    };
    for (path, field) in [
        ("/v1/embeddings", "input"),
        ("/embed", "inputs"),
        ("/api/embed", "input"),
    ] {
        let reply = client::post(server.addr(), path, b"{\"input\": [").unwrap();
        assert_eq!(reply.status, 400, "{path}");
        assert!(
            message(path, &reply).contains("invalid JSON"),
            "{path}: {}",
            message(path, &reply)
        );

        let reply = post(server, path, &with(field, json!(["fine", ""])));
        assert_eq!(reply.status, 400, "{path}");
        assert!(message(path, &reply).contains("empty string"), "{path}");

        let reply = post(server, path, &with(field, json!({"text": "x"})));
        assert_eq!(reply.status, 400, "{path}");
    }
    let reply = post(server, "/v1/embeddings", &json!({"input": []}));
    assert_eq!(reply.status, 400);
    assert!(message("/v1/embeddings", &reply).contains("empty array"));
    let reply = post(server, "/embed", &json!({"inputs": []}));
    assert_eq!(reply.status, 400);
    let reply = post(server, "/v1/embeddings", &json!({"input": [[101, 102]]}));
    assert_eq!(reply.status, 400, "token arrays are refused, not misread");
    let reply = post(
        server,
        "/v1/embeddings",
        &json!({"input": "x", "encoding_format": "int8"}),
    );
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json().unwrap()["error"]["type"],
        "invalid_request_error"
    );
}

#[test]
fn health_and_unknown_routes() {
    let Some(server) = shared("health_and_unknown_routes") else {
        return;
    };
    let health = client::get(server.addr(), "/health").unwrap();
    assert_eq!(health.status, 200);
    let health = health.json().unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["dimensions"], DIMENSIONS);
    assert_eq!(
        client::get(server.addr(), "/v1/models/x").unwrap().status,
        404
    );
    assert_eq!(
        client::get(server.addr(), "/v1/embeddings").unwrap().status,
        405
    );
}

#[test]
fn a_multi_input_request_runs_as_one_batch() {
    let Some(server) = embedding_server::spawn_or_skip("a_multi_input_request_runs_as_one_batch")
    else {
        return;
    };
    let texts: Vec<String> = (0..40)
        .map(|i| format!("question number {i} about caching"))
        .collect();
    let reply = post(&server, "/v1/embeddings", &json!({ "input": texts }));
    assert_eq!(reply.status, 200);
    let stats = server.stats();
    assert_eq!((stats.requests, stats.batches, stats.inputs), (1, 1, 40));
}

#[test]
fn concurrent_requests_are_merged_into_shared_batches() {
    let Some(server) =
        embedding_server::spawn_or_skip("concurrent_requests_are_merged_into_shared_batches")
    else {
        return;
    };
    let addr = server.addr();
    let (clients, per_client) = (8, 6);
    let results: Vec<Vec<(String, Vec<f32>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                scope.spawn(move || {
                    (0..per_client)
                        .map(|i| {
                            let text = format!("client {c} asks question {i} about rate limits");
                            let v = client::embed(addr, &[text.as_str()]).expect("embed");
                            (text, v.into_iter().next().unwrap())
                        })
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let stats = server.stats();
    assert_eq!(stats.requests, clients * per_client);
    assert!(
        stats.batches < stats.requests,
        "8 clients at once should share batches: {stats:?}"
    );
    // Merging must not mix up whose vector is whose: re-embed a few alone and compare.
    for (text, v) in results.iter().map(|r| &r[per_client as usize - 1]) {
        let alone = client::embed(addr, &[text.as_str()]).unwrap().remove(0);
        assert!(max_abs_diff(v, &alone) < 1e-5, "{text}");
    }
}

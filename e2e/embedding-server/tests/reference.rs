//! The server's vectors against all-MiniLM-L6-v2 as sentence-transformers computes it (mean pooling,
//! normalised), recorded by `tests/data/record_reference.py` into `tests/data/reference.json`.

use embedding_server::client;
use serde_json::Value;

/// Largest allowed difference of any component (vectors have unit length).
const TOLERANCE: f32 = 1e-3;

#[test]
fn vectors_match_sentence_transformers_within_1e_3() {
    let Some(server) =
        embedding_server::spawn_or_skip("vectors_match_sentence_transformers_within_1e_3")
    else {
        return;
    };
    let fixture: Value = serde_json::from_str(include_str!("data/reference.json")).unwrap();
    let cases = fixture["sentences"].as_array().unwrap();
    assert!(cases.len() >= 5);
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    // All at once (one padded batch) and one by one: both must match the reference.
    let batched = client::embed(server.addr(), &texts).unwrap();
    let mut worst = 0f32;
    for (i, case) in cases.iter().enumerate() {
        let expected: Vec<f32> = case["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let single = client::embed(server.addr(), &[texts[i]]).unwrap().remove(0);
        for got in [&batched[i], &single] {
            assert_eq!(got.len(), expected.len());
            let diff = got
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            let cosine: f32 = got.iter().zip(&expected).map(|(a, b)| a * b).sum();
            assert!(
                diff <= TOLERANCE && cosine > 1.0 - TOLERANCE,
                "{:?}: max component diff {diff}, cosine {cosine}",
                texts[i]
            );
            worst = worst.max(diff);
        }
        // Token counts (usage) agree with the reference tokenizer, truncation included.
        let body = serde_json::json!({ "input": texts[i] }).to_string();
        let reply = client::post(server.addr(), "/v1/embeddings", body.as_bytes()).unwrap();
        assert_eq!(
            reply.json().unwrap()["usage"]["prompt_tokens"],
            case["tokens"],
            "{:?}",
            texts[i]
        );
    }
    println!(
        "reference vectors: worst component difference {worst:e} over {} sentences",
        cases.len()
    );
}

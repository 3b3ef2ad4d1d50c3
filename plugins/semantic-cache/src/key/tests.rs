use serde_json::json;

use super::*;

const S: KeySettings = KeySettings {
    countback: Some(1),
    shared_temperature_max: 1.0,
};

fn keys(v: serde_json::Value, scope: &str) -> Keys {
    derive(v.to_string().as_bytes(), scope, S).unwrap()
}

fn chat(messages: serde_json::Value) -> serde_json::Value {
    json!({"model": "gpt-4o", "messages": messages})
}

#[test]
fn same_last_question_after_different_earlier_turns_gets_different_partitions() {
    let a = keys(
        chat(json!([
            {"role": "user", "content": "Who is the CEO of OpenAI?"},
            {"role": "assistant", "content": "Sam Altman."},
            {"role": "user", "content": "How old is he?"}
        ])),
        "t",
    );
    let b = keys(
        chat(json!([
            {"role": "user", "content": "Who is the CEO of Apple?"},
            {"role": "assistant", "content": "Tim Cook."},
            {"role": "user", "content": "How old is he?"}
        ])),
        "t",
    );
    assert_eq!(a.question, b.question);
    assert_ne!(a.partition, b.partition);
    assert_ne!(a.fingerprint, b.fingerprint);
}

#[test]
fn different_system_prompts_get_different_partitions() {
    let a = keys(
        chat(
            json!([{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "hi"}]),
        ),
        "t",
    );
    let b = keys(
        chat(
            json!([{"role": "system", "content": "Answer in German."}, {"role": "user", "content": "hi"}]),
        ),
        "t",
    );
    assert_ne!(a.partition, b.partition);
}

#[test]
fn different_scopes_get_different_partitions_and_fingerprints() {
    let body = chat(json!([{"role": "user", "content": "my balance?"}]));
    let a = keys(body.clone(), "consumer:alice");
    let b = keys(body, "consumer:bob");
    assert_ne!(a.partition, b.partition);
    assert_ne!(a.fingerprint, b.fingerprint);
}

#[test]
fn same_request_in_another_key_order_or_stream_mode_is_the_same_fingerprint() {
    let a = keys(
        json!({"model": "m", "temperature": 0, "messages": [{"role": "user", "content": "q"}]}),
        "t",
    );
    let b = keys(
        json!({"messages": [{"content": "q", "role": "user"}], "stream": true,
               "stream_options": {"include_usage": true}, "temperature": 0, "model": "m", "user": "u1"}),
        "t",
    );
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.partition, b.partition);
    assert!(b.stream && !a.stream);
}

#[test]
fn paraphrases_share_the_partition_but_not_the_fingerprint() {
    let a = keys(
        chat(json!([{"role": "user", "content": "What is Rust?"}])),
        "t",
    );
    let b = keys(
        chat(json!([{"role": "user", "content": "Tell me what Rust is"}])),
        "t",
    );
    assert_eq!(a.partition, b.partition);
    assert_ne!(a.fingerprint, b.fingerprint);
}

#[test]
fn answer_changing_parameters_split_partitions() {
    let base = chat(json!([{"role": "user", "content": "q"}]));
    let p = |extra: serde_json::Value| {
        let mut v = base.clone();
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        keys(v, "t").partition
    };
    let plain = p(json!({}));
    assert_ne!(plain, p(json!({"model": "gpt-4o-mini"})));
    assert_ne!(
        plain,
        p(json!({"tools": [{"type": "function", "function": {"name": "f"}}]}))
    );
    assert_ne!(
        plain,
        p(json!({"response_format": {"type": "json_object"}}))
    );
    assert_ne!(plain, p(json!({"n": 2})));
    // Temperatures up to the bound share; above it they do not.
    assert_eq!(plain, p(json!({"temperature": 0.7})));
    assert_ne!(plain, p(json!({"temperature": 1.5})));
    assert_ne!(
        p(json!({"temperature": 1.5})),
        p(json!({"temperature": 1.8}))
    );
}

#[test]
fn countback_embeds_the_last_n_user_messages() {
    let body = chat(json!([
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": "b"}
    ]));
    let two = derive(
        body.to_string().as_bytes(),
        "t",
        KeySettings {
            countback: Some(2),
            shared_temperature_max: 1.0,
        },
    )
    .unwrap();
    assert_eq!(two.question.as_deref(), Some("a\nb"));
    let all = derive(
        body.to_string().as_bytes(),
        "t",
        KeySettings {
            countback: None,
            shared_temperature_max: 1.0,
        },
    )
    .unwrap();
    assert_eq!(all.question.as_deref(), Some("a\nb"));
    assert_eq!(keys(body, "t").question.as_deref(), Some("b"));
}

#[test]
fn text_parts_are_embedded_images_are_not() {
    let text = keys(
        chat(json!([{"role": "user", "content": [{"type": "text", "text": "hello"}]}])),
        "t",
    );
    assert_eq!(text.question.as_deref(), Some("hello"));
    let image = keys(
        chat(
            json!([{"role": "user", "content": [{"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:..."}}]}]),
        ),
        "t",
    );
    assert_eq!(image.question, None);
}

#[test]
fn non_chat_bodies_are_not_cacheable() {
    assert_eq!(derive(b"not json", "t", S), Err(NotCacheable::NotJson));
    assert_eq!(
        derive(br#"{"input":"x"}"#, "t", S),
        Err(NotCacheable::NotChat)
    );
    assert_eq!(
        derive(br#"{"messages":[{"role":"system","content":"s"}]}"#, "t", S),
        Err(NotCacheable::NoUserMessage)
    );
}

#[test]
fn canonical_sorts_keys_at_every_level() {
    let mut out = Vec::new();
    canonical(
        &json!({"b": {"d": 1, "c": [true, null]}, "a": "x"}),
        &mut out,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"a":"x","b":{"c":[true,null],"d":1}}"#
    );
}

/// Stored entries outlive plugin upgrades: the key derivation must stay byte-for-byte stable.
/// The expected digests were computed independently (Python: `json.dumps(sort_keys=True,
/// separators=(",", ":"), ensure_ascii=False)` over the documented hash inputs).
#[test]
fn keys_are_stable_across_versions() {
    let body = br#"{"model":"gpt-4o","temperature":0.2,"max_tokens":64,"stream":true,"user":"u1","messages":[{"role":"system","content":"Be brief. \"Quoted\" \u00e9\n"},{"role":"user","content":"Who is the CEO of OpenAI?"},{"role":"assistant","content":"Sam Altman."},{"role":"user","content":"How old is he?"}]}"#;
    let k = derive(body, "consumer:alice", S).unwrap();
    assert_eq!(
        k.fingerprint,
        "338d34821a68fe649554b68dfec9643084c615d6853ea542584466f3388848af"
    );
    assert_eq!(
        k.partition,
        "2903362914ffff3d5b2d8a6a58b1aa562e147fe6389c5cecf0af9add2604f5b5"
    );
}

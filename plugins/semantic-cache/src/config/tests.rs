use higress_sdk::RuleMatcher;
use serde_json::json;

use super::*;

fn parse(v: serde_json::Value) -> Result<RuleMatcher<Config>, ConfigError> {
    RuleMatcher::<Config>::parse(v.to_string().as_bytes())
}

fn global(v: serde_json::Value) -> std::rc::Rc<Config> {
    parse(v).unwrap().global().unwrap().clone()
}

fn err(v: serde_json::Value) -> String {
    parse(v).err().expect("config must be rejected").to_string()
}

#[test]
fn unsupported_providers_name_the_field() {
    let v = json!({
        "embedding": {"type": "openai", "serviceName": "e.dns"},
        "vector": {"type": "faiss", "serviceName": "v.dns"}
    });
    assert!(err(v).starts_with("vector.type: unsupported vector store \"faiss\""));
    let v = json!({
        "embedding": {"type": "word2vec", "serviceName": "e.dns"},
        "vector": {"type": "redis", "serviceName": "redis.dns"}
    });
    assert!(err(v).starts_with("embedding.type: unsupported embedding provider \"word2vec\""));
    assert!(
        err(json!({"cache": {"type": "memcached", "serviceName": "m"}}))
            .starts_with("cache.type: unsupported cache provider")
    );
}

#[test]
fn higress_redis_cache_only_config_is_the_exact_layer() {
    let c = global(
        json!({"cache": {"type": "redis", "serviceName": "redis.dns",
        "servicePort": 6379, "cacheTTL": 60, "cacheKeyPrefix": "p:", "database": 2}}),
    );
    let b = c.built().unwrap();
    let e = b.exact.as_ref().unwrap();
    assert_eq!(e.prefix, "p:");
    assert_eq!(e.ttl_secs, 60);
    assert_eq!(e.client.upstream(), "outbound|6379||redis.dns?db=2");
    assert!(b.semantic.is_none());
}

#[test]
fn legacy_redis_block_and_top_level_ttl_are_accepted() {
    let c = global(
        json!({"redis": {"serviceName": "redis.static"}, "cacheTTL": 30,
        "returnResponseTemplate": "{\"x\":\"%s\"}"}),
    );
    let b = c.built().unwrap();
    let e = b.exact.as_ref().unwrap();
    assert_eq!(e.ttl_secs, 30);
    assert_eq!(e.prefix, "higress-ai-cache:");
    assert_eq!(e.client.upstream(), "outbound|80||redis.static");
    assert_eq!(b.response_template.as_deref(), Some("{\"x\":\"%s\"}"));
}

#[test]
fn semantic_layer_with_a_redis_store_reuses_its_redis_for_answers() {
    let c = global(json!({
        "embedding": {"type": "openai", "serviceName": "embed.static", "servicePort": 8080},
        "vector": {"type": "redis-vectorset", "serviceName": "redis.static", "servicePort": 6379, "topK": 3}
    }));
    let b = c.built().unwrap();
    assert_eq!(b.semantic.as_ref().unwrap().top_k, 3);
    assert_eq!(
        b.exact.as_ref().unwrap().client.upstream(),
        "outbound|6379||redis.static"
    );
    assert_eq!(b.threshold, DEFAULT_THRESHOLD as f32);
}

#[test]
fn semantic_layer_with_tair_reuses_it_for_answers_and_qdrant_does_not() {
    let c = global(json!({
        "embedding": {"type": "openai", "serviceName": "embed.static", "servicePort": 8080},
        "vector": {"type": "tair", "serviceName": "tair.dns", "servicePort": 6379, "password": "pw"}
    }));
    let e = c
        .built()
        .unwrap()
        .exact
        .as_ref()
        .expect("Tair is the exact layer");
    assert_eq!(e.client.upstream(), "outbound|6379||tair.dns");
    let c = global(json!({
        "embedding": {"type": "openai", "serviceName": "embed.static", "servicePort": 8080},
        "vector": {"type": "qdrant", "serviceName": "qdrant.static", "servicePort": 6333}
    }));
    assert!(c.built().unwrap().exact.is_none());
}

#[test]
fn higress_thresholds_map_to_cosine_similarity() {
    let with = |t: serde_json::Value| {
        let mut v = json!({"embedding": {"type": "openai", "serviceName": "e.dns"},
                           "vector": {"type": "redis", "serviceName": "r.dns"}});
        v["vector"]
            .as_object_mut()
            .unwrap()
            .extend(t.as_object().unwrap().clone());
        v
    };
    let t = |v| global(v).built().unwrap().threshold;
    assert!((t(with(json!({"threshold": 0.1}))) - 0.9).abs() < 1e-6);
    assert!((t(with(json!({"threshold": 0.85, "thresholdRelation": "gte"}))) - 0.85).abs() < 1e-6);
    assert!(err(with(json!({"threshold": 1000}))).starts_with("vector.threshold:"));
    assert!(
        err(with(json!({"threshold": 0.1, "thresholdRelation": "eq"})))
            .starts_with("vector.thresholdRelation:")
    );
    let mut ours = with(json!({"threshold": 0.1}));
    ours["similarityThreshold"] = json!(0.97);
    assert!((t(ours) - 0.97).abs() < 1e-6);
    assert!(
        err(json!({"cache": {"serviceName": "r"}, "similarityThreshold": 1.5}))
            .starts_with("similarityThreshold:")
    );
}

#[test]
fn enable_semantic_cache_false_keeps_only_the_exact_layer() {
    let c = global(json!({
        "embedding": {"type": "openai", "serviceName": "e.dns"},
        "vector": {"type": "redis", "serviceName": "r.dns"},
        "cache": {"serviceName": "r.dns"}, "enableSemanticCache": false}));
    assert!(c.built().unwrap().semantic.is_none());
    assert!(c.built().unwrap().exact.is_some());
}

#[test]
fn key_strategies_and_paths() {
    let base = || json!({"cache": {"serviceName": "r.dns"}});
    let with = |k: &str, v: serde_json::Value| {
        let mut c = base();
        c[k] = v;
        c
    };
    assert_eq!(global(base()).built().unwrap().countback, Some(1));
    assert_eq!(
        global(with("cacheKeyStrategy", json!("allQuestions")))
            .built()
            .unwrap()
            .countback,
        None
    );
    assert!(global(with("cacheKeyStrategy", json!("disabled"))).is_disabled());
    assert!(err(with("cacheKeyStrategy", json!("everything"))).starts_with("cacheKeyStrategy:"));
    global(with("cacheKeyFrom", json!("messages.@reverse.0.content")));
    global(with(
        "cacheKeyFrom",
        json!({"requestBody": "messages.@reverse.0.content"}),
    ));
    assert!(err(with("cacheKeyFrom", json!("model"))).starts_with("cacheKeyFrom:"));
    assert_eq!(
        global(with("messageCountback", json!(3)))
            .built()
            .unwrap()
            .countback,
        Some(3)
    );
    assert!(err(with("messageCountback", json!(0))).starts_with("messageCountback:"));
    // Extraction paths are accepted (the whole answer is stored).
    global(with("cacheValueFrom", json!("choices.0.message.content")));
    global(with(
        "cacheStreamValueFrom",
        json!("choices.0.delta.content"),
    ));
}

#[test]
fn our_fields_are_validated_by_name() {
    let base = |k: &str, v: serde_json::Value| {
        let mut c = json!({"cache": {"serviceName": "r.dns"}});
        c[k] = v;
        c
    };
    assert!(err(base("scope", json!({"from": "tenant"}))).starts_with("scope.from:"));
    assert!(err(base("scope", json!({"from": "header"}))).starts_with("scope.header:"));
    assert!(err(base("lookupTimeout", json!(0))).starts_with("lookupTimeout:"));
    assert!(
        err(base("rerank", json!({"type": "x", "serviceName": "r"}))).starts_with("rerank.type:")
    );
    assert!(err(base("verify", json!({"enabled": "yes"}))).starts_with("verify.enabled:"));
    assert!(err(base("bogus", json!(1))).contains("bogus"));
    assert!(
        err(json!({"vector": {"type": "redis", "serviceName": "r"}})).starts_with("embedding:")
    );
    assert!(
        err(json!({"embedding": {"type": "openai", "serviceName": "e"}})).starts_with("vector:")
    );
    assert!(err(json!({"cache": {}})).starts_with("cache.serviceName:"));
    assert!(err(json!({"scope": {"from": "route"}})).contains("at least one"));
}

#[test]
fn rules_validate_their_merged_config() {
    let e = err(json!({"cache": {"serviceName": "r.dns"},
        "_rules_": [{"_match_route_": ["a"], "similarityThreshold": 2}]}));
    assert!(e.starts_with("_rules_[0].similarityThreshold"), "{e}");
}

#[test]
fn defaults() {
    let c = global(json!({"cache": {"serviceName": "r.dns"}}));
    assert!(c.fail_open());
    assert_eq!(c.lookup_timeout_ms(), 500);
    assert!(c.stores_finish_reason("stop"));
    assert!(!c.stores_finish_reason("length"));
    assert_eq!(c.scope.from, "consumer");
    assert_eq!(c.max_response_bytes(), 1 << 20);
}

#[test]
fn reading_ai_cache_entries_needs_global_scope_models_and_the_exact_layer() {
    let base = json!({"cache": {"serviceName": "r.dns"}, "scope": {"from": "global"},
        "readAiCacheEntries": {"models": ["qwen-max"]}});
    assert_eq!(
        global(base.clone()).built().unwrap().ai_cache_models,
        ["qwen-max"]
    );
    // Off by default.
    let c = global(json!({"cache": {"serviceName": "r.dns"}}));
    assert!(c.built().unwrap().ai_cache_models.is_empty());
    let mut tenant = base.clone();
    tenant["scope"] = json!({"from": "consumer"});
    assert!(err(tenant).contains("scope.from: global"));
    let mut no_models = base.clone();
    no_models["readAiCacheEntries"] = json!({});
    assert!(err(no_models).starts_with("readAiCacheEntries.models:"));
    let no_exact = json!({"vector": {"type": "qdrant", "serviceName": "q.dns"},
        "embedding": {"type": "openai", "serviceName": "e.dns"}, "scope": {"from": "global"},
        "readAiCacheEntries": {"models": ["m"]}});
    assert!(err(no_exact).starts_with("readAiCacheEntries:"));
}

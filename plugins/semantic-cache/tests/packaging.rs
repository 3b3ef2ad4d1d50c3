//! spec.yaml and the READMEs describe the config the plugin really accepts. The checks every
//! plugin shares (market sections, every field documented, phase and priority the same in the
//! spec, READMEs and chart) run for all plugins in `e2e/shipping/tests/specs.rs`.
#![cfg(not(target_arch = "wasm32"))]

use higress_sdk::RuleMatcher;
use semantic_cache::config::Config;
use serde_json::{json, Value};
use shipping::spec::{properties, sample_value, PluginSpec};

fn spec() -> PluginSpec {
    PluginSpec::of_crate(env!("CARGO_MANIFEST_DIR"))
}

/// A value the config should accept for a field: the schema's, except where a field needs a
/// value of a particular form.
fn sample(name: &str, schema: &Value) -> Value {
    match name {
        "cacheKeyFrom" => json!("messages.@reverse.0.content"),
        "redis" => json!({"serviceName": "r.static"}),
        "readAiCacheEntries" => json!({"models": ["gpt-4o"]}),
        _ => sample_value(schema),
    }
}

fn accepts(config: &Value) -> Result<(), String> {
    RuleMatcher::<Config>::parse(config.to_string().as_bytes())
        .map(drop)
        .map_err(|e| e.to_string())
}

fn minimal() -> Value {
    json!({
        "cache": {"type": "redis", "serviceName": "r.static"},
        "vector": {"type": "redis", "serviceName": "r.static"},
        "embedding": {"type": "openai", "serviceName": "e.static"},
        "rerank": {"type": "tei", "serviceName": "rr.static"},
        "scope": {"from": "consumer"}
    })
}

#[test]
fn spec_phase_priority_and_every_field_accepted() {
    let spec = spec();
    assert_eq!(
        (spec.phase.as_str(), spec.priority),
        ("UNSPECIFIED_PHASE", 800)
    );
    for (name, schema) in properties(&spec.config_schema) {
        if schema.get("properties").is_some() && minimal().get(name).is_some() {
            // Nested blocks: every sub-field on top of a valid block.
            for (sub, sub_schema) in properties(schema) {
                let mut c = minimal();
                if sub != "type" {
                    c[name][sub] = sample(sub, sub_schema);
                }
                if sub == "threshold" && name == "vector" {
                    c[name]["threshold"] = json!(0.1);
                }
                accepts(&c).unwrap_or_else(|e| panic!("{name}.{sub} rejected: {e}"));
            }
        } else {
            let mut cfg = minimal();
            cfg[name] = sample(name, schema);
            if name == "readAiCacheEntries" {
                // ai-cache's entries belong to no tenant: only a global cache may read them.
                cfg["scope"] = json!({"from": "global"});
            }
            accepts(&cfg).unwrap_or_else(|e| panic!("spec field {name} rejected: {e}"));
        }
    }
    let mut bad = minimal();
    bad["not_a_field"] = json!(1);
    assert!(accepts(&bad).is_err());
}

#[test]
fn spec_type_enums_match_the_backends_built_in() {
    let spec = spec();
    let types = |block: &str| -> Vec<String> {
        spec.config_schema["properties"][block]["properties"]["type"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(types("vector"), semantic_cache::vector::TYPES);
    assert_eq!(types("embedding"), semantic_cache::embedding::TYPES);
    assert_eq!(types("rerank"), semantic_cache::rerank::TYPES);
}

#[test]
fn readme_examples_are_valid_configs() {
    for (file, example) in spec().readme_configs() {
        accepts(&example).unwrap_or_else(|e| panic!("{file} example rejected: {e}\n{example}"));
    }
}

//! spec.yaml and the READMEs describe the config the plugin really accepts. The checks every
//! plugin shares (market sections, every field documented, phase and priority the same in the
//! spec, READMEs and chart) run for all plugins in `e2e/shipping/tests/specs.rs`.
#![cfg(not(target_arch = "wasm32"))]

use higress_sdk::{PluginConfig, RuleMatcher};
use provider_fallback::config::Config;
use serde_json::{json, Value};
use shipping::spec::{example_configs, properties, rejected_fields, sample_value, PluginSpec};

fn spec() -> PluginSpec {
    PluginSpec::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn accepts(cfg: &Value) -> bool {
    serde_json::from_value::<Config>(cfg.clone()).is_ok()
}

#[test]
fn spec_phase_priority_and_every_field_accepted() {
    let spec = spec();
    assert_eq!(spec.phase, "UNSPECIFIED_PHASE");
    assert_eq!(spec.priority, 120);
    let root = &spec.config_schema;
    let rejected = rejected_fields(root, &json!({}), accepts);
    assert!(
        rejected.is_empty(),
        "spec fields the config rejects: {rejected:?}"
    );
    for (name, schema) in properties(root) {
        for (sub, sub_schema) in properties(schema) {
            let cfg = json!({ name: { sub: sample_value(sub_schema) } });
            assert!(accepts(&cfg), "spec field {name}.{sub} rejected: {cfg}");
        }
    }
    let provider =
        &root["properties"]["providerGroups"]["items"]["properties"]["providers"]["items"];
    for (field, schema) in properties(provider) {
        let mut p = json!({"name": "p", "cluster": "outbound|443||p.dns"});
        if field != "cluster" && field != "serviceName" {
            p[field] = sample_value(schema);
        }
        let cfg = json!({"providerGroups": [{"providers": [p]}]});
        assert!(accepts(&cfg), "provider field {field} rejected: {cfg}");
    }
    assert!(!accepts(&json!({"not_a_field": 1})));
    assert!(!accepts(
        &json!({"providerGroups": [{"providers": [{"name": "p", "cluster": "c", "nope": 1}]}]})
    ));
}

#[test]
fn readme_examples_are_valid_configs() {
    for file in ["README.md", "README_EN.md"] {
        for example in example_configs(&spec().readme(file)).unwrap() {
            let rules = RuleMatcher::<Config>::from_value(example).expect("a valid config");
            rules.global().unwrap().validate().unwrap();
        }
    }
}

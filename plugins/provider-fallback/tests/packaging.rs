//! spec.yaml and the READMEs describe the config the plugin really accepts. The checks every
//! plugin shares (market sections, every field documented, phase and priority the same in the
//! spec, READMEs and chart) run for all plugins in `e2e/shipping/tests/specs.rs`.
#![cfg(not(target_arch = "wasm32"))]

use higress_sdk::{PluginConfig, RuleMatcher};
use provider_fallback::config::Config;
use serde_json::{json, Value};
use shipping::spec::{properties, sample_value, PluginSpec};

fn spec() -> PluginSpec {
    PluginSpec::of_crate(env!("CARGO_MANIFEST_DIR"))
}

fn accepts(cfg: &Value) -> bool {
    serde_json::from_value::<Config>(cfg.clone()).is_ok()
}

#[test]
fn spec_phase_priority_and_every_field_accepted() {
    let spec = spec();
    assert_eq!(
        (spec.phase.as_str(), spec.priority),
        ("UNSPECIFIED_PHASE", 120)
    );
    spec.assert_config_accepts_spec_fields(&json!({}), accepts);
    let root = &spec.config_schema;
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
    assert!(!accepts(
        &json!({"providerGroups": [{"providers": [{"name": "p", "cluster": "c", "nope": 1}]}]})
    ));
}

#[test]
fn readme_examples_are_valid_configs() {
    for (file, example) in spec().readme_configs() {
        let rules =
            RuleMatcher::<Config>::from_value(example).unwrap_or_else(|e| panic!("{file}: {e}"));
        rules.global().unwrap().validate().unwrap();
    }
}

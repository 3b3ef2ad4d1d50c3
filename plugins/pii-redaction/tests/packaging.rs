//! spec.yaml and the READMEs describe the config the plugin really accepts. The checks every
//! plugin shares (market sections, every field documented, phase and priority the same in the
//! spec, READMEs and chart) run for all plugins in `e2e/shipping/tests/specs.rs`.
#![cfg(not(target_arch = "wasm32"))]

use pii_redaction::config::Config;
use serde_json::json;
use shipping::spec::{example_configs, rejected_fields, PluginSpec};

fn spec() -> PluginSpec {
    PluginSpec::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn spec_phase_priority_and_every_field_accepted() {
    let spec = spec();
    assert_eq!(spec.phase, "AUTHN");
    assert_eq!(spec.priority, 991);
    let rejected = rejected_fields(&spec.config_schema, &json!({}), |c| {
        serde_json::from_value::<Config>(c.clone()).is_ok()
    });
    assert!(
        rejected.is_empty(),
        "spec fields the config rejects: {rejected:?}"
    );
    assert!(serde_json::from_value::<Config>(json!({"not_a_field": 1})).is_err());
}

#[test]
fn readme_examples_are_valid_configs() {
    for file in ["README.md", "README_EN.md"] {
        for example in example_configs(&spec().readme(file)).unwrap() {
            let cfg: Config = serde_json::from_value(example).expect("example is a config");
            cfg.compiled().expect("example compiles");
        }
    }
}

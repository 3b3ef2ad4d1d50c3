//! spec.yaml and the READMEs describe the config the plugin really accepts. The checks every
//! plugin shares (market sections, every field documented, phase and priority the same in the
//! spec, READMEs and chart) run for all plugins in `e2e/shipping/tests/specs.rs`.
#![cfg(not(target_arch = "wasm32"))]

use pii_redaction::config::Config;
use serde_json::json;
use shipping::spec::PluginSpec;

fn spec() -> PluginSpec {
    PluginSpec::of_crate(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn spec_phase_priority_and_every_field_accepted() {
    let spec = spec();
    assert_eq!((spec.phase.as_str(), spec.priority), ("AUTHN", 991));
    spec.assert_config_accepts_spec_fields(&json!({}), |c| {
        serde_json::from_value::<Config>(c.clone()).is_ok()
    });
}

#[test]
fn readme_examples_are_valid_configs() {
    for (file, example) in spec().readme_configs() {
        let cfg: Config = serde_json::from_value(example).unwrap_or_else(|e| panic!("{file}: {e}"));
        cfg.compiled()
            .unwrap_or_else(|e| panic!("{file}: example does not compile: {e}"));
    }
}

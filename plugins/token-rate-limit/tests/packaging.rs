//! spec.yaml and the READMEs describe the config the plugin really accepts. The checks every
//! plugin shares (market sections, every field documented, phase and priority the same in the
//! spec, READMEs and chart) run for all plugins in `e2e/shipping/tests/specs.rs`.
#![cfg(not(target_arch = "wasm32"))]

use higress_sdk::PluginConfig;
use serde_json::{json, Value};
use shipping::spec::{example_configs, rejected_fields, PluginSpec};
use token_rate_limit::config::Config;

fn spec() -> PluginSpec {
    PluginSpec::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn spec_phase_priority_and_every_field_accepted() {
    let spec = spec();
    assert_eq!(spec.phase, "UNSPECIFIED_PHASE");
    assert_eq!(spec.priority, 600);
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
            cfg.validate().expect("example validates");
        }
    }
}

/// A configuration written for Higress ai-token-ratelimit (its README example) is accepted as is.
#[test]
fn higress_ai_token_ratelimit_config_is_accepted() {
    let yaml = r#"
rule_name: default_rule
rule_items:
- limit_by_header: x-api-key
  limit_keys:
  - key: 123456
    token_per_minute: 10
- limit_by_per_ip: from-header-x-forwarded-for
  limit_keys:
  - key: 1.1.1.1
    token_per_minute: 100
  - key: 1.1.1.0/24
    token_per_minute: 1000
- limit_by_per_consumer: ''
  limit_keys:
  - key: '*'
    token_per_day: 100000
rejected_code: 429
rejected_msg: Too many requests
redis:
  service_name: redis.static
  service_port: 6379
  username: default
  password: '123456'
  timeout: 1000
  database: 0
"#;
    let v: Value = serde_norway::from_str(yaml).unwrap();
    let cfg: Config = serde_json::from_value(v).expect("Higress config parses");
    cfg.validate().expect("Higress config validates");
    assert_eq!(
        cfg.redis.as_ref().unwrap().cluster(),
        "outbound|6379||redis.static"
    );
    assert_eq!(cfg.rule_items[0].limit_keys[0].key, "123456");
}

//! spec.yaml and the READMEs describe the config the plugin really accepts. The checks every
//! plugin shares (market sections, every field documented, phase and priority the same in the
//! spec, READMEs and chart) run for all plugins in `e2e/shipping/tests/specs.rs`.
#![cfg(not(target_arch = "wasm32"))]

use higress_sdk::PluginConfig;
use serde_json::{json, Value};
use shipping::spec::PluginSpec;
use token_rate_limit::config::Config;

fn spec() -> PluginSpec {
    PluginSpec::of_crate(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn spec_phase_priority_and_every_field_accepted() {
    let spec = spec();
    assert_eq!(
        (spec.phase.as_str(), spec.priority),
        ("UNSPECIFIED_PHASE", 600)
    );
    spec.assert_config_accepts_spec_fields(&json!({}), |c| {
        serde_json::from_value::<Config>(c.clone()).is_ok()
    });
}

#[test]
fn readme_examples_are_valid_configs() {
    for (file, example) in spec().readme_configs() {
        let cfg: Config = serde_json::from_value(example).unwrap_or_else(|e| panic!("{file}: {e}"));
        cfg.validate()
            .unwrap_or_else(|e| panic!("{file}: example does not validate: {e}"));
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

//! spec.yaml, README.md and README_EN.md describe the config the plugin really accepts.
#![cfg(not(target_arch = "wasm32"))]

use higress_sdk::PluginConfig;
use serde_json::{json, Value};
use token_rate_limit::config::Config;

fn spec() -> serde_norway::Value {
    serde_norway::from_str(include_str!("../spec.yaml")).expect("spec.yaml parses")
}

/// A value of the property's schema that the config should accept: its example, its first enum
/// value, or one of its type.
fn sample(schema: &serde_norway::Value) -> Value {
    if let Some(example) = schema.get("example") {
        return serde_json::to_value(example).expect("example as JSON");
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(|e| e.as_sequence())
        .and_then(|e| e.first())
    {
        return json!(first.as_str().unwrap_or_default());
    }
    match schema.get("type").and_then(|t| t.as_str()) {
        Some("boolean") => json!(false),
        Some("integer") => json!(schema
            .get("minimum")
            .and_then(|m| m.as_u64())
            .unwrap_or(1)
            .max(200)
            .min(
                schema
                    .get("maximum")
                    .and_then(|m| m.as_u64())
                    .unwrap_or(u64::MAX)
            )),
        Some("number") => json!(1.0),
        Some("string") => json!("x"),
        Some("array") => json!([]),
        _ => json!({}),
    }
}

#[test]
fn spec_phase_priority_and_every_field_accepted() {
    let spec = spec();
    assert_eq!(spec["spec"]["phase"].as_str(), Some("UNSPECIFIED_PHASE"));
    assert_eq!(spec["spec"]["priority"].as_u64(), Some(600));
    assert_eq!(spec["info"]["name"].as_str(), Some("token-rate-limit"));
    let props = spec["spec"]["configSchema"]["openAPIV3Schema"]["properties"]
        .as_mapping()
        .expect("properties");
    let readme = include_str!("../README.md");
    let readme_en = include_str!("../README_EN.md");
    for (k, schema) in props {
        let name = k.as_str().unwrap();
        let cfg = json!({ name: sample(schema) });
        let parsed: Result<Config, _> = serde_json::from_value(cfg.clone());
        assert!(
            parsed.is_ok(),
            "spec field {name} rejected by the config: {cfg}"
        );
        let row = format!("| `{name}` |");
        assert!(readme.contains(&row), "README.md has no row for {name}");
        assert!(
            readme_en.contains(&row),
            "README_EN.md has no row for {name}"
        );
    }
    assert!(serde_json::from_value::<Config>(json!({"not_a_field": 1})).is_err());
}

#[test]
fn readmes_have_the_market_sections() {
    for (text, sections) in [
        (
            include_str!("../README.md"),
            [
                "## 功能说明",
                "## 运行属性",
                "## 配置字段",
                "## 配置示例",
                "插件执行阶段：`默认阶段`",
                "插件执行优先级：`600`",
            ],
        ),
        (
            include_str!("../README_EN.md"),
            [
                "## Function Description",
                "## Execution Properties",
                "## Configuration Fields",
                "## Configuration Example",
                "Default Phase",
                "`600`",
            ],
        ),
    ] {
        assert!(text.starts_with("---\ntitle:"), "front matter");
        for s in sections {
            assert!(text.contains(s), "missing {s}");
        }
    }
}

#[test]
fn readme_examples_are_valid_configs() {
    for text in [
        include_str!("../README.md"),
        include_str!("../README_EN.md"),
    ] {
        let mut n = 0;
        for block in text.split("```yaml\n").skip(1) {
            let yaml = block.split("```").next().unwrap();
            let v: Value = serde_norway::from_str(yaml).expect("example is YAML");
            let cfg: Config = serde_json::from_value(v).expect("example is a config");
            cfg.validate().expect("example validates");
            n += 1;
        }
        assert_eq!(n, 2, "two examples per README");
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

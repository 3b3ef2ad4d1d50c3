//! spec.yaml, README.md and README_EN.md describe the config the plugin really accepts.
#![cfg(not(target_arch = "wasm32"))]

use pii_redaction::config::Config;
use serde_json::{json, Value};

fn spec() -> serde_norway::Value {
    serde_norway::from_str(include_str!("../spec.yaml")).expect("spec.yaml parses")
}

/// A value of the property's schema type that the config should accept.
fn sample(schema: &serde_norway::Value) -> Value {
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
            .max(200)),
        Some("string") => json!("x"),
        Some("array") => json!([]),
        _ => json!({}),
    }
}

#[test]
fn spec_phase_priority_and_every_field_accepted() {
    let spec = spec();
    assert_eq!(spec["spec"]["phase"].as_str(), Some("AUTHN"));
    assert_eq!(spec["spec"]["priority"].as_u64(), Some(991));
    assert_eq!(spec["info"]["name"].as_str(), Some("pii-redaction"));
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
    // And the config rejects what the spec does not list.
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
                "插件执行阶段：`认证阶段`",
                "插件执行优先级：`991`",
            ],
        ),
        (
            include_str!("../README_EN.md"),
            [
                "## Function Description",
                "## Execution Properties",
                "## Configuration Fields",
                "## Configuration Example",
                "Authentication Phase",
                "`991`",
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
            cfg.compiled().expect("example compiles");
            n += 1;
        }
        assert_eq!(n, 2, "two examples per README");
    }
}

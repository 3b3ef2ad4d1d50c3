//! spec.yaml, README.md and README_EN.md describe the config the plugin really accepts.
#![cfg(not(target_arch = "wasm32"))]

use higress_sdk::{PluginConfig, RuleMatcher};
use provider_fallback::config::Config;
use serde_json::{json, Value};

fn spec() -> serde_norway::Value {
    serde_norway::from_str(include_str!("../spec.yaml")).expect("spec.yaml parses")
}

fn schema_props(schema: &serde_norway::Value) -> Vec<(String, serde_norway::Value)> {
    schema["properties"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap().to_string(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// A value of the property's schema type that the config should accept.
fn sample(schema: &serde_norway::Value) -> Value {
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

fn valid_provider() -> Value {
    json!({"name": "p", "cluster": "outbound|443||p.dns"})
}

#[test]
fn spec_phase_priority_and_every_field_accepted_and_documented() {
    let spec = spec();
    assert_eq!(spec["spec"]["phase"].as_str(), Some("UNSPECIFIED_PHASE"));
    assert_eq!(spec["spec"]["priority"].as_u64(), Some(120));
    assert_eq!(spec["info"]["name"].as_str(), Some("provider-fallback"));
    let root = &spec["spec"]["configSchema"]["openAPIV3Schema"];
    let readme = include_str!("../README.md");
    let readme_en = include_str!("../README_EN.md");
    let documented = |name: &str| {
        let row = format!("| `{name}` |");
        assert!(readme.contains(&row), "README.md has no row for {name}");
        assert!(
            readme_en.contains(&row),
            "README_EN.md has no row for {name}"
        );
    };
    for (name, schema) in schema_props(root) {
        documented(&name);
        let cfg = json!({ name.clone(): sample(&schema) });
        let parsed: Result<Config, _> = serde_json::from_value(cfg.clone());
        assert!(parsed.is_ok(), "spec field {name} rejected: {cfg}");
        // Nested objects: each of their fields is accepted too.
        for (sub, sub_schema) in schema_props(&schema) {
            documented(&sub);
            let cfg = json!({ name.clone(): { sub.clone(): sample(&sub_schema) } });
            assert!(
                serde_json::from_value::<Config>(cfg.clone()).is_ok(),
                "spec field {name}.{sub} rejected: {cfg}"
            );
        }
    }
    let provider_schema =
        &root["properties"]["providerGroups"]["items"]["properties"]["providers"]["items"];
    for (field, schema) in schema_props(provider_schema) {
        documented(&field);
        let mut p = valid_provider();
        if field != "cluster" && field != "serviceName" {
            p[&field] = sample(&schema);
        }
        if field == "name" {
            p["name"] = json!("x");
        }
        let cfg = json!({"providerGroups": [{"providers": [p]}]});
        assert!(
            serde_json::from_value::<Config>(cfg.clone()).is_ok(),
            "provider field {field} rejected: {cfg}"
        );
    }
    assert!(serde_json::from_value::<Config>(json!({"not_a_field": 1})).is_err());
    assert!(serde_json::from_value::<Config>(
        json!({"providerGroups": [{"providers": [{"name": "p", "cluster": "c", "nope": 1}]}]})
    )
    .is_err());
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
                "插件执行优先级：`120`",
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
                "`120`",
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
            let rules = RuleMatcher::<Config>::from_value(v).expect("example is a valid config");
            rules.global().unwrap().validate().unwrap();
            n += 1;
        }
        assert_eq!(n, 2, "two examples per README");
    }
}

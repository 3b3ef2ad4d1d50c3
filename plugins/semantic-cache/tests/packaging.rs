//! spec.yaml, README.md and README_EN.md describe the config the plugin really accepts.
#![cfg(not(target_arch = "wasm32"))]

use higress_sdk::RuleMatcher;
use semantic_cache::config::Config;
use serde_json::{json, Value};

fn spec() -> serde_norway::Value {
    serde_norway::from_str(include_str!("../spec.yaml")).expect("spec.yaml parses")
}

fn properties(schema: &serde_norway::Value) -> &serde_norway::Mapping {
    schema["properties"].as_mapping().expect("properties")
}

/// A value of the property's schema type that the config should accept.
fn sample(name: &str, schema: &serde_norway::Value) -> Value {
    if let Some(first) = schema
        .get("enum")
        .and_then(|e| e.as_sequence())
        .and_then(|e| e.first())
    {
        return json!(first.as_str().unwrap_or_default());
    }
    match (name, schema.get("type").and_then(|t| t.as_str())) {
        ("cacheKeyFrom", _) => json!("messages.@reverse.0.content"),
        ("redis", _) => json!({"serviceName": "r.static"}),
        ("readAiCacheEntries", _) => json!({"models": ["gpt-4o"]}),
        (_, Some("boolean")) => json!(false),
        (_, Some("integer")) => json!(schema
            .get("minimum")
            .and_then(|m| m.as_u64())
            .unwrap_or(1)
            .max(1)),
        (_, Some("number")) => json!(0.5),
        (_, Some("string")) => json!("x"),
        (_, Some("array")) => json!([]),
        _ => json!({}),
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
    assert_eq!(spec["spec"]["phase"].as_str(), Some("UNSPECIFIED_PHASE"));
    assert_eq!(spec["spec"]["priority"].as_u64(), Some(800));
    assert_eq!(spec["info"]["name"].as_str(), Some("semantic-cache"));
    let root = &spec["spec"]["configSchema"]["openAPIV3Schema"];
    let readme = include_str!("../README.md");
    let readme_en = include_str!("../README_EN.md");
    for (k, schema) in properties(root) {
        let name = k.as_str().unwrap();
        let mut cfg = minimal();
        if schema.get("properties").is_some() && cfg.get(name).is_some() {
            // Nested blocks: every sub-field on top of a valid block.
            for (sk, sschema) in properties(schema) {
                let sub = sk.as_str().unwrap();
                let mut c = minimal();
                if sub != "type" {
                    c[name][sub] = sample(sub, sschema);
                }
                if sub == "threshold" && name == "vector" {
                    c[name]["threshold"] = json!(0.1);
                }
                accepts(&c).unwrap_or_else(|e| panic!("{name}.{sub} rejected: {e}"));
            }
        } else {
            cfg[name] = sample(name, schema);
            if name == "readAiCacheEntries" {
                // ai-cache's entries carry no tenant: only readable with a global scope.
                cfg["scope"] = json!({"from": "global"});
            }
            accepts(&cfg).unwrap_or_else(|e| panic!("spec field {name} rejected: {e}"));
        }
        let row = format!("| `{name}` |");
        assert!(readme.contains(&row), "README.md has no row for {name}");
        assert!(
            readme_en.contains(&row),
            "README_EN.md has no row for {name}"
        );
    }
    let mut bad = minimal();
    bad["not_a_field"] = json!(1);
    assert!(accepts(&bad).is_err());
}

#[test]
fn spec_type_enums_match_the_backends_built_in() {
    let spec = spec();
    let root = &spec["spec"]["configSchema"]["openAPIV3Schema"]["properties"];
    let types = |block: &str| -> Vec<String> {
        root[block]["properties"]["type"]["enum"]
            .as_sequence()
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
                "插件执行优先级：`800`",
                "Quality benchmark",
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
                "`800`",
                "## Quality benchmark",
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
    for (text, heading) in [
        (include_str!("../README.md"), "## 配置示例"),
        (include_str!("../README_EN.md"), "## Configuration Example"),
    ] {
        // The complete examples of the example section (provider snippets elsewhere are partial).
        let section = text.split(heading).nth(1).expect("example section");
        let section = section.split("\n## ").next().unwrap();
        let mut n = 0;
        for block in section.split("```yaml\n").skip(1) {
            let block = block.split("```").next().unwrap();
            // A block may hold several documents separated by `---`.
            for yaml in block.split("---\n") {
                let v: Value = serde_norway::from_str(yaml).expect("example is YAML");
                accepts(&v).unwrap_or_else(|e| panic!("example rejected: {e}\n{yaml}"));
                n += 1;
            }
        }
        assert!(n >= 2, "at least two examples per README");
    }
}

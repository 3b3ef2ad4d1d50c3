//! Every `plugins/*/spec.yaml` as the Higress console and plugin market read it: required
//! fields, phase and priority the same in the spec, both READMEs and the Helm chart, and a
//! `configSchema.openAPIV3Schema` that accepts every README example and rejects wrong configs.
//! Plugins join as their spec.yaml lands.

use serde_json::{json, Value};
use shipping::spec::{example_configs, nested_field_names, properties, PluginSpec, PHASES};
use shipping::workspace_dir;

fn specs() -> Vec<PluginSpec> {
    let specs = PluginSpec::load_all(&workspace_dir()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!specs.is_empty(), "no plugins/*/spec.yaml found");
    specs
}

fn validator(spec: &PluginSpec) -> jsonschema::Validator {
    jsonschema::draft7::new(&spec.config_schema).unwrap_or_else(|e| {
        panic!(
            "{}: configSchema is not a valid JSON schema: {e}",
            spec.name
        )
    })
}

#[test]
fn required_market_fields_are_present() {
    for s in specs() {
        let raw = &s.raw;
        assert_eq!(raw["apiVersion"], "1.0.0", "{}: apiVersion", s.name);
        let v = s.version.split('.').collect::<Vec<_>>();
        assert!(
            v.len() == 3 && v.iter().all(|p| p.parse::<u32>().is_ok()),
            "{}: info.version {:?} is not X.Y.Z",
            s.name,
            s.version
        );
        assert!(PHASES.contains(&s.phase.as_str()));
        for key in ["x-title-i18n", "x-description-i18n"] {
            assert!(
                raw["info"][key]["zh-CN"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty()),
                "{}: info.{key}.zh-CN (the console shows it in Chinese)",
                s.name
            );
        }
        assert_eq!(
            s.config_schema["type"], "object",
            "{}: configSchema type",
            s.name
        );
        assert!(
            s.config_schema["properties"]
                .as_object()
                .is_some_and(|p| !p.is_empty()),
            "{}: configSchema lists no properties",
            s.name
        );
    }
}

#[test]
fn phase_and_priority_agree_with_readmes_and_chart() {
    for s in specs() {
        let (zh, en) = s.phase_words();
        let readme = s.readme("README.md");
        let readme_en = s.readme("README_EN.md");
        assert!(
            readme.contains(&format!("插件执行阶段：`{zh}`")),
            "{}: README.md must say 插件执行阶段：`{zh}`",
            s.name
        );
        assert!(
            readme.contains(&format!("插件执行优先级：`{}`", s.priority)),
            "{}: README.md priority",
            s.name
        );
        assert!(
            readme_en.contains(en),
            "{}: README_EN.md must say {en}",
            s.name
        );
        assert!(
            readme_en.contains(&format!("`{}`", s.priority)),
            "{}: README_EN.md priority",
            s.name
        );
        let values: Value = serde_norway::from_str(
            &std::fs::read_to_string(
                workspace_dir()
                    .join("helm")
                    .join(&s.name)
                    .join("values.yaml"),
            )
            .unwrap_or_else(|e| panic!("{}: no chart (run gen-charts): {e}", s.name)),
        )
        .unwrap();
        assert_eq!(
            values["plugin"]["phase"],
            s.phase.as_str(),
            "{}: chart phase",
            s.name
        );
        assert_eq!(
            values["plugin"]["priority"], s.priority,
            "{}: chart priority",
            s.name
        );
        assert_eq!(
            values["plugin"]["version"],
            s.version.as_str(),
            "{}: chart version",
            s.name
        );
    }
}

/// The sections the Higress plugin market and console expect, in both languages, and every field
/// the schema lists documented in both READMEs.
#[test]
fn readmes_have_the_market_sections_and_document_every_field() {
    for s in specs() {
        for (file, sections) in [
            (
                "README.md",
                ["## 功能说明", "## 运行属性", "## 配置字段", "## 配置示例"],
            ),
            (
                "README_EN.md",
                [
                    "## Function Description",
                    "## Execution Properties",
                    "## Configuration Fields",
                    "## Configuration Example",
                ],
            ),
        ] {
            let text = s.readme(file);
            assert!(
                text.starts_with("---\ntitle:"),
                "{}: {file} front matter",
                s.name
            );
            for section in sections {
                assert!(text.contains(section), "{}: {file} lacks {section}", s.name);
            }
            // A top-level field has its own row; a nested one is named in its parent's row
            // or in the text.
            let mut undocumented = Vec::new();
            for (name, prop) in properties(&s.config_schema) {
                if !text.contains(&format!("| `{name}` |")) {
                    undocumented.push(name);
                }
                undocumented.extend(
                    nested_field_names(prop)
                        .into_iter()
                        .filter(|n| !mentions_word(&text, n)),
                );
            }
            assert!(
                undocumented.is_empty(),
                "{}: {file} does not document {undocumented:?}",
                s.name
            );
        }
    }
}

/// `word` occurs in `text` as a whole identifier (not inside a longer one).
fn mentions_word(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        !text[..at].chars().next_back().is_some_and(ident)
            && !text[at + word.len()..].chars().next().is_some_and(ident)
    })
}

#[test]
fn every_readme_has_complete_config_examples() {
    for s in specs() {
        for file in ["README.md", "README_EN.md"] {
            let examples = example_configs(&s.readme(file))
                .unwrap_or_else(|e| panic!("{}: {file}: {e}", s.name));
            assert!(
                examples.len() >= 2,
                "{}: {file} has {} config examples, want at least two",
                s.name,
                examples.len()
            );
        }
    }
}

#[test]
fn config_schema_accepts_every_readme_example() {
    for s in specs() {
        let v = validator(&s);
        for file in ["README.md", "README_EN.md"] {
            let examples = s.readme_examples(file);
            assert!(
                !examples.is_empty(),
                "{}: {file} has no ```yaml config example",
                s.name
            );
            for (i, ex) in examples.iter().enumerate() {
                let errors: Vec<String> = v
                    .iter_errors(ex)
                    .map(|e| format!("{} at {}", e, e.instance_path()))
                    .collect();
                assert!(
                    errors.is_empty(),
                    "{}: {file} example {} rejected: {errors:?}",
                    s.name,
                    i + 1
                );
            }
        }
    }
}

/// A value of the wrong JSON type for a property schema.
fn wrong_type(schema: &Value) -> Value {
    match schema["type"].as_str() {
        Some("string") => json!(12345),
        Some("integer") | Some("number") => json!("not a number"),
        Some("boolean") => json!("yes"),
        Some("array") => json!({"not": "an array"}),
        _ => json!(["not", "an", "object"]),
    }
}

#[test]
fn config_schema_rejects_wrong_configs() {
    for s in specs() {
        let v = validator(&s);
        let base = s
            .readme_examples("README_EN.md")
            .into_iter()
            .next()
            .unwrap_or_else(|| json!({}));
        assert!(v.is_valid(&base), "{}: first README example", s.name);
        assert!(
            !v.is_valid(&json!("a string")),
            "{}: accepts a non-object config",
            s.name
        );
        // Every typed top-level property given a value of the wrong type is rejected.
        let props = s.config_schema["properties"].as_object().unwrap();
        let mut checked = 0;
        for (name, prop) in props {
            if prop["type"].is_null() {
                continue;
            }
            let mut bad = base.clone();
            bad[name] = wrong_type(prop);
            assert!(
                !v.is_valid(&bad),
                "{}: {name} = {} accepted",
                s.name,
                bad[name]
            );
            checked += 1;
        }
        assert!(checked > 0, "{}: no typed property to check", s.name);
        // Enumerations refuse values outside them.
        for (name, prop) in props {
            if prop["enum"].is_array() {
                let mut bad = base.clone();
                bad[name] = json!("__not_in_enum__");
                assert!(!v.is_valid(&bad), "{}: {name} enum", s.name);
            }
        }
    }
}

//! A plugin's market metadata (`spec.yaml`, Higress "Wasm Plugin Image Specification") and the
//! configuration examples of its READMEs.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Phases a WasmPlugin accepts (CRD enum).
pub const PHASES: [&str; 4] = ["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"];

#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// `plugins/<name>`.
    pub dir: PathBuf,
    pub name: String,
    pub version: String,
    pub category: String,
    pub title: String,
    pub description: String,
    pub icon_url: Option<String>,
    pub phase: String,
    pub priority: i64,
    /// `spec.configSchema.openAPIV3Schema`.
    pub config_schema: Value,
    /// The whole document, for checks of fields this struct does not lift out.
    pub raw: Value,
}

/// A missing or malformed spec field, named by its path.
#[derive(Debug)]
pub struct SpecError {
    pub file: PathBuf,
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

impl std::error::Error for SpecError {}

impl PluginSpec {
    pub fn load(dir: &Path) -> Result<PluginSpec, SpecError> {
        let file = dir.join("spec.yaml");
        let err = |message: String| SpecError {
            file: file.clone(),
            message,
        };
        let text = std::fs::read_to_string(&file).map_err(|e| err(e.to_string()))?;
        let raw: Value = serde_norway::from_str(&text).map_err(|e| err(e.to_string()))?;
        let string = |path: &str| -> Result<String, SpecError> {
            pointer(&raw, path)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| err(format!("{path} is required (a non-empty string)")))
        };
        let phase = string("spec.phase")?;
        if !PHASES.contains(&phase.as_str()) {
            return Err(err(format!(
                "spec.phase {phase:?} is not one of {PHASES:?}"
            )));
        }
        let priority = pointer(&raw, "spec.priority")
            .and_then(Value::as_i64)
            .ok_or_else(|| err("spec.priority is required (an integer)".into()))?;
        let config_schema = pointer(&raw, "spec.configSchema.openAPIV3Schema")
            .filter(|s| s.is_object())
            .cloned()
            .ok_or_else(|| err("spec.configSchema.openAPIV3Schema is required".into()))?;
        let name = string("info.name")?;
        let dir_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name != dir_name {
            return Err(err(format!(
                "info.name {name:?} differs from the plugin directory {dir_name:?}"
            )));
        }
        Ok(PluginSpec {
            dir: dir.to_path_buf(),
            name,
            version: string("info.version")?,
            category: string("info.category")?,
            title: string("info.title")?,
            description: string("info.description")?,
            icon_url: string("info.iconUrl").ok(),
            phase,
            priority,
            config_schema,
            raw,
        })
    }

    /// Every `plugins/*/spec.yaml` of the workspace, sorted by name. Plugins still without a
    /// spec are skipped (they are being written); a spec that exists must be valid.
    pub fn load_all(workspace: &Path) -> Result<Vec<PluginSpec>, SpecError> {
        let plugins = workspace.join("plugins");
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&plugins)
            .map_err(|e| SpecError {
                file: plugins.clone(),
                message: e.to_string(),
            })?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("spec.yaml").is_file())
            .collect();
        dirs.sort();
        dirs.iter().map(|d| PluginSpec::load(d)).collect()
    }

    pub fn readme(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }

    /// The configuration examples of README_EN.md: its ```yaml blocks that are plugin configs
    /// (blocks holding a whole Kubernetes resource, `kind:`/`apiVersion:`, are skipped).
    pub fn readme_examples(&self, file: &str) -> Vec<Value> {
        yaml_blocks(&self.readme(file))
            .into_iter()
            .filter(|v| !(v.get("kind").is_some() && v.get("apiVersion").is_some()))
            .collect()
    }

    /// The spec of the plugin crate a test runs in (its `env!("CARGO_MANIFEST_DIR")`); panics with
    /// the reason, for tests.
    pub fn of_crate(manifest_dir: &str) -> PluginSpec {
        PluginSpec::load(Path::new(manifest_dir)).unwrap_or_else(|e| panic!("{manifest_dir}: {e}"))
    }

    /// The configs of both READMEs' example sections ([`example_configs`]), each with its file;
    /// panics naming the README whose section is missing or broken, for tests.
    pub fn readme_configs(&self) -> Vec<(&'static str, Value)> {
        ["README.md", "README_EN.md"]
            .into_iter()
            .flat_map(|file| {
                example_configs(&self.readme(file))
                    .unwrap_or_else(|e| panic!("{}/{file}: {e}", self.dir.display()))
                    .into_iter()
                    .map(move |config| (file, config))
            })
            .collect()
    }

    /// Asserts that the plugin's config type (`accepts`) takes every top-level field of the
    /// spec's schema, set to its [`sample_value`] on top of `base`, and refuses a field the spec
    /// does not have.
    pub fn assert_config_accepts_spec_fields(
        &self,
        base: &Value,
        accepts: impl Fn(&Value) -> bool,
    ) {
        let rejected = rejected_fields(&self.config_schema, base, &accepts);
        assert!(
            rejected.is_empty(),
            "spec fields the config rejects: {rejected:?}"
        );
        let mut unknown = base.clone();
        unknown["not_a_field"] = json!(1);
        assert!(!accepts(&unknown), "a field not in the spec is accepted");
    }

    /// The phase as the Higress READMEs word it (`插件执行阶段：...` / "Plugin execution phase").
    pub fn phase_words(&self) -> (&'static str, &'static str) {
        match self.phase.as_str() {
            "AUTHN" => ("认证阶段", "Authentication Phase"),
            "AUTHZ" => ("鉴权阶段", "Authorization Phase"),
            "STATS" => ("统计阶段", "Statistics Phase"),
            _ => ("默认阶段", "Default Phase"),
        }
    }
}

/// The headings of the configuration-example section, as Higress READMEs word them.
const EXAMPLE_SECTIONS: [&str; 2] = ["## Configuration Example", "## 配置示例"];

/// The complete plugin configurations of a README's example section: each ```yaml block, split
/// into its `---` documents, minus whole Kubernetes resources. Strict, unlike [`yaml_blocks`]: a
/// block that is not a YAML map is an error, so a broken example cannot slip through unchecked.
pub fn example_configs(markdown: &str) -> Result<Vec<Value>, String> {
    let section = EXAMPLE_SECTIONS
        .iter()
        .find_map(|h| markdown.split_once(&format!("{h}\n")))
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or_default())
        .ok_or("no configuration-example section")?;
    let mut configs = Vec::new();
    for block in section.split("```yaml\n").skip(1) {
        let block = block.split("```").next().unwrap_or_default();
        for doc in block.split("\n---\n").filter(|d| !d.trim().is_empty()) {
            let v: Value = serde_norway::from_str(doc)
                .map_err(|e| format!("example is not YAML ({e}):\n{doc}"))?;
            if !v.is_object() {
                return Err(format!("example is not a map:\n{doc}"));
            }
            if !(v.get("kind").is_some() && v.get("apiVersion").is_some()) {
                configs.push(v);
            }
        }
    }
    Ok(configs)
}

/// A value the property's schema allows: its `example`, else its first `enum` value, else a
/// value of its type inside `minimum`/`maximum`. Tests feed these to the plugin's own config
/// type to prove the spec describes what the plugin really accepts.
pub fn sample_value(schema: &Value) -> Value {
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    let (min, max) = (schema.get("minimum"), schema.get("maximum"));
    match schema.get("type").and_then(Value::as_str) {
        Some("boolean") => json!(false),
        Some("integer") => {
            let min = min.and_then(Value::as_i64).unwrap_or(1);
            let max = max.and_then(Value::as_i64).unwrap_or(i64::MAX);
            json!(200.clamp(min, max.max(min)))
        }
        Some("number") => {
            let min = min.and_then(Value::as_f64).unwrap_or(0.0);
            json!(max
                .and_then(Value::as_f64)
                .map_or(min + 1.0, |max| (min + max) / 2.0))
        }
        Some("string") => json!("x"),
        Some("array") => json!([]),
        _ => json!({}),
    }
}

/// The configs a plugin refuses among those that set one top-level property of `schema` to its
/// [`sample_value`] on top of `base`, as `(property, config)`: empty when the spec describes what
/// the plugin really accepts.
pub fn rejected_fields(
    schema: &Value,
    base: &Value,
    accepts: impl Fn(&Value) -> bool,
) -> Vec<(String, Value)> {
    properties(schema)
        .into_iter()
        .map(|(name, prop)| {
            let mut config = base.clone();
            config[name] = sample_value(prop);
            (name.to_string(), config)
        })
        .filter(|(_, config)| !accepts(config))
        .collect()
}

/// The properties of an object schema, in spec order.
pub fn properties(schema: &Value) -> Vec<(&str, &Value)> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default()
}

/// The field names nested inside a property: those of its object and of the objects in its
/// arrays, at any depth.
pub fn nested_field_names(schema: &Value) -> Vec<&str> {
    let mut names = Vec::new();
    for node in [Some(schema), schema.get("items")].into_iter().flatten() {
        for (name, prop) in properties(node) {
            names.push(name);
            names.extend(nested_field_names(prop));
        }
    }
    names
}

/// `a.b.c` lookup in a JSON value.
pub fn pointer<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// Every ```yaml block of a markdown text, parsed; blocks that are not YAML maps are skipped.
pub fn yaml_blocks(markdown: &str) -> Vec<Value> {
    markdown
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter_map(|y| serde_norway::from_str::<Value>(y).ok())
        .filter(Value::is_object)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_fields_names_what_the_plugin_refuses() {
        let schema = json!({"properties": {"a": {"type": "integer", "maximum": 10}, "b": {"type": "string"}}});
        let rejected = rejected_fields(&schema, &json!({"base": true}), |c| c.get("b").is_none());
        assert_eq!(
            rejected,
            vec![("b".to_string(), json!({"base": true, "b": "x"}))]
        );
        assert_eq!(sample_value(&schema["properties"]["a"]), json!(10));
    }

    fn pii_redaction_spec() -> PluginSpec {
        PluginSpec::of_crate(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../plugins/pii-redaction"
        ))
    }

    #[test]
    #[should_panic(expected = "a field not in the spec is accepted")]
    fn a_config_that_takes_any_field_fails_the_spec_check() {
        pii_redaction_spec().assert_config_accepts_spec_fields(&json!({}), |_| true);
    }

    #[test]
    #[should_panic(expected = "spec fields the config rejects")]
    fn a_config_that_refuses_a_spec_field_fails_the_spec_check() {
        pii_redaction_spec()
            .assert_config_accepts_spec_fields(&json!({}), |c| c.get("detectors").is_none());
    }
}

//! Higress `WasmPlugin` documents (`extensions.higress.io/v1alpha1`, `api/extensions/v1alpha1/
//! wasmplugin.proto`) turned into plugin settings the way the Higress controller does it
//! (`pkg/ingress/config/ingress_config.go` `convertIstioWasmPlugin`): `defaultConfig` unless
//! disabled, each enabled match rule becomes an entry of `_rules_` with `_match_route_`,
//! `_match_domain_` and `_match_service_`; `pluginConfig` wins over both.

use crate::plugin::{FailStrategy, Phase, PluginConfig};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmPluginError(pub String);

impl std::fmt::Display for WasmPluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WasmPlugin: {}", self.0)
    }
}

impl std::error::Error for WasmPluginError {}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MatchRule {
    #[serde(default)]
    pub ingress: Vec<String>,
    #[serde(default)]
    pub domain: Vec<String>,
    #[serde(default)]
    pub service: Vec<String>,
    #[serde(default)]
    pub config: Option<Map<String, Value>>,
    #[serde(default)]
    pub config_disable: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub url: String,
    /// Expected sha256 of the module (file://, http(s)://) or image manifest digest (oci://).
    #[serde(default)]
    pub sha256: Option<String>,
    /// UNSPECIFIED_POLICY | IfNotPresent | Always (oci:// only).
    #[serde(default)]
    pub image_pull_policy: Option<String>,
    /// Name of a `kubernetes.io/dockerconfigjson` Secret holding registry credentials.
    #[serde(default)]
    pub image_pull_secret: Option<String>,
    #[serde(default)]
    pub plugin_name: Option<String>,
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub fail_strategy: Option<String>,
    #[serde(default)]
    pub plugin_config: Option<Map<String, Value>>,
    #[serde(default)]
    pub default_config: Option<Map<String, Value>>,
    #[serde(default)]
    pub default_config_disable: bool,
    #[serde(default)]
    pub match_rules: Vec<MatchRule>,
    #[serde(default)]
    pub vm_config: Option<VmConfig>,
}

/// `spec.vmConfig` (Istio `VmConfig`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct VmConfig {
    #[serde(default)]
    pub env: Vec<EnvVar>,
}

/// `spec.vmConfig.env[]`: `valueFrom` INLINE (default, `value` is used) or HOST (the gateway
/// process's variable of that name).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    #[serde(default)]
    pub value_from: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

/// Resolves `vmConfig.env` the way Istio and Envoy do: INLINE entries become
/// `environment_variables.key_values`, HOST entries `host_env_keys`; Envoy rejects a key listed
/// twice and takes HOST values from its own environment, leaving unset ones out
/// (`source/extensions/common/wasm/plugin.cc` `WasmConfig`). Inline values come first, then host
/// ones, in document order.
pub fn resolve_vm_env(
    env: &[EnvVar],
    host_env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, WasmPluginError> {
    let mut inline = Vec::new();
    let mut host = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for e in env {
        if !seen.insert(e.name.as_str()) {
            return Err(WasmPluginError(format!(
                "vmConfig.env key {} is duplicated; all the keys must be unique",
                e.name
            )));
        }
        match e.value_from.as_deref().unwrap_or("INLINE") {
            "INLINE" => inline.push((e.name.clone(), e.value.clone().unwrap_or_default())),
            "HOST" => {
                if let Some(v) = host_env(&e.name) {
                    host.push((e.name.clone(), v));
                }
            }
            other => {
                return Err(WasmPluginError(format!(
                    "unknown vmConfig.env valueFrom {other}"
                )))
            }
        }
    }
    inline.extend(host);
    Ok(inline)
}

/// A parsed `WasmPlugin` resource.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmPlugin {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

pub fn parse(yaml: &str) -> Result<WasmPlugin, WasmPluginError> {
    let doc: WasmPlugin =
        serde_norway::from_str(yaml).map_err(|e| WasmPluginError(e.to_string()))?;
    if doc.kind != "WasmPlugin" {
        return Err(WasmPluginError(format!(
            "kind is {}, expected WasmPlugin",
            doc.kind
        )));
    }
    Ok(doc)
}

/// The plugin configuration JSON the controller would hand to the plugin; `None` when the plugin
/// is dropped (default config disabled and no enabled rule).
pub fn plugin_configuration(spec: &Spec) -> Result<Option<Value>, WasmPluginError> {
    if let Some(pc) = &spec.plugin_config {
        return Ok(Some(Value::Object(pc.clone())));
    }
    let mut out = if spec.default_config_disable {
        Map::new()
    } else {
        spec.default_config.clone().unwrap_or_default()
    };
    let mut rules = Vec::new();
    for rule in &spec.match_rules {
        if rule.config_disable {
            continue;
        }
        if rule.ingress.is_empty() && rule.domain.is_empty() && rule.service.is_empty() {
            return Err(WasmPluginError(
                "a match rule needs ingress, domain or service".into(),
            ));
        }
        let mut entry = rule.config.clone().unwrap_or_default();
        let list = |v: &Vec<String>| Value::Array(v.iter().cloned().map(Value::String).collect());
        if !rule.ingress.is_empty() {
            entry.insert("_match_route_".into(), list(&rule.ingress));
        }
        if !rule.domain.is_empty() {
            entry.insert("_match_domain_".into(), list(&rule.domain));
        }
        if !rule.service.is_empty() {
            entry.insert("_match_service_".into(), list(&rule.service));
        }
        rules.push(Value::Object(entry));
    }
    if spec.default_config_disable && rules.is_empty() {
        return Ok(None);
    }
    if !rules.is_empty() {
        out.insert("_rules_".into(), Value::Array(rules));
    }
    Ok(Some(Value::Object(out)))
}

fn phase(p: Option<&str>) -> Result<Phase, WasmPluginError> {
    Ok(match p.unwrap_or("UNSPECIFIED_PHASE") {
        "AUTHN" => Phase::Authn,
        "AUTHZ" => Phase::Authz,
        "STATS" => Phase::Stats,
        "UNSPECIFIED_PHASE" | "" => Phase::Unspecified,
        other => return Err(WasmPluginError(format!("unknown phase {other}"))),
    })
}

/// Plugin settings and the local wasm path (`file://` URLs only).
pub fn to_plugin_config(
    doc: &WasmPlugin,
) -> Result<Option<(PluginConfig, PathBuf)>, WasmPluginError> {
    let Some(config) = plugin_settings(doc)? else {
        return Ok(None);
    };
    let path = doc.spec.url.strip_prefix("file://").ok_or_else(|| {
        WasmPluginError(format!(
            "only file:// urls are supported here, got {}",
            doc.spec.url
        ))
    })?;
    Ok(Some((config, PathBuf::from(path))))
}

/// Plugin settings of a document, leaving `spec.url` to the caller (the gateway resolves
/// `oci://` and `http(s)://` URLs too); `None` when the controller would drop the plugin.
pub fn plugin_settings(doc: &WasmPlugin) -> Result<Option<PluginConfig>, WasmPluginError> {
    let Some(config) = plugin_configuration(&doc.spec)? else {
        return Ok(None);
    };
    let fail_strategy = match doc.spec.fail_strategy.as_deref().unwrap_or("FAIL_CLOSE") {
        "FAIL_CLOSE" => FailStrategy::FailClose,
        "FAIL_OPEN" => FailStrategy::FailOpen,
        other => return Err(WasmPluginError(format!("unknown failStrategy {other}"))),
    };
    let name = doc.metadata.name.clone();
    let environment = match &doc.spec.vm_config {
        Some(vm) => resolve_vm_env(&vm.env, |k| std::env::var(k).ok())?,
        None => Vec::new(),
    };
    Ok(Some(PluginConfig {
        root_id: doc.spec.plugin_name.clone().unwrap_or_else(|| name.clone()),
        vm_id: name.clone(),
        name,
        configuration: serde_json::to_vec(&config).map_err(|e| WasmPluginError(e.to_string()))?,
        vm_configuration: Vec::new(),
        fail_strategy,
        phase: phase(doc.spec.phase.as_deref())?,
        priority: doc.spec.priority.unwrap_or(0),
        environment,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_env_inline_and_host_like_envoy() {
        let env = vec![
            EnvVar {
                name: "A".into(),
                value_from: None,
                value: Some("1".into()),
            },
            EnvVar {
                name: "H".into(),
                value_from: Some("HOST".into()),
                value: None,
            },
            EnvVar {
                name: "MISSING".into(),
                value_from: Some("HOST".into()),
                value: None,
            },
            EnvVar {
                name: "B".into(),
                value_from: Some("INLINE".into()),
                value: Some("2".into()),
            },
        ];
        let host = |k: &str| (k == "H").then(|| "from-host".to_string());
        assert_eq!(
            resolve_vm_env(&env, host).unwrap(),
            vec![
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "2".to_string()),
                ("H".to_string(), "from-host".to_string()),
            ]
        );
        let dup = vec![env[0].clone(), env[0].clone()];
        assert!(resolve_vm_env(&dup, host)
            .unwrap_err()
            .0
            .contains("duplicated"));
        let bad = vec![EnvVar {
            name: "X".into(),
            value_from: Some("SECRET".into()),
            value: None,
        }];
        assert!(resolve_vm_env(&bad, host).is_err());
    }

    const DOC: &str = r#"
apiVersion: extensions.higress.io/v1alpha1
kind: WasmPlugin
metadata:
  name: key-auth
  namespace: higress-system
spec:
  url: file:///opt/plugins/key-auth.wasm
  phase: AUTHN
  priority: 310
  failStrategy: FAIL_OPEN
  defaultConfig:
    consumers:
      - name: a
    keys: [x-api-key]
  matchRules:
    - ingress: [default/foo]
      config:
        allow: [a]
    - domain: ["*.example.com", test.com]
      service: [svc.default.svc.cluster.local]
      config:
        allow: [b]
    - ingress: [default/bar]
      configDisable: true
"#;

    #[test]
    fn converts_rules_like_the_controller() {
        let doc = parse(DOC).unwrap();
        let (cfg, path) = to_plugin_config(&doc).unwrap().unwrap();
        assert_eq!(path, PathBuf::from("/opt/plugins/key-auth.wasm"));
        assert_eq!(cfg.phase, Phase::Authn);
        assert_eq!(cfg.priority, 310);
        assert_eq!(cfg.fail_strategy, FailStrategy::FailOpen);
        let v: Value = serde_json::from_slice(&cfg.configuration).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "consumers": [{"name": "a"}],
                "keys": ["x-api-key"],
                "_rules_": [
                    {"allow": ["a"], "_match_route_": ["default/foo"]},
                    {"allow": ["b"], "_match_domain_": ["*.example.com", "test.com"],
                     "_match_service_": ["svc.default.svc.cluster.local"]}
                ]
            })
        );
    }

    #[test]
    fn settings_leave_the_url_and_read_the_image_fields() {
        let yaml = "apiVersion: v\nkind: WasmPlugin\nmetadata: {name: p}\nspec:\n  url: oci://r.io/p/x:1.0.0\n  sha256: abc\n  imagePullPolicy: Always\n  imagePullSecret: regcred\n  priority: 7\n";
        let doc = parse(yaml).unwrap();
        assert_eq!(doc.spec.sha256.as_deref(), Some("abc"));
        assert_eq!(doc.spec.image_pull_policy.as_deref(), Some("Always"));
        assert_eq!(doc.spec.image_pull_secret.as_deref(), Some("regcred"));
        assert_eq!(plugin_settings(&doc).unwrap().unwrap().priority, 7);
        assert!(to_plugin_config(&doc)
            .unwrap_err()
            .0
            .contains("only file://"));
    }

    #[test]
    fn disabled_default_without_rules_drops_the_plugin() {
        let yaml = "apiVersion: v\nkind: WasmPlugin\nmetadata: {name: p}\nspec:\n  url: file:///x.wasm\n  defaultConfigDisable: true\n  defaultConfig: {a: 1}\n";
        assert!(to_plugin_config(&parse(yaml).unwrap()).unwrap().is_none());
        let yaml = "apiVersion: v\nkind: WasmPlugin\nmetadata: {name: p}\nspec:\n  url: file:///x.wasm\n  defaultConfigDisable: true\n  defaultConfig: {a: 1}\n  matchRules: [{domain: [d], config: {b: 2}}]\n";
        let (cfg, _) = to_plugin_config(&parse(yaml).unwrap()).unwrap().unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&cfg.configuration).unwrap(),
            serde_json::json!({"_rules_": [{"b": 2, "_match_domain_": ["d"]}]})
        );
    }

    #[test]
    fn rule_without_condition_is_an_error_and_plugin_config_wins() {
        let yaml = "apiVersion: v\nkind: WasmPlugin\nmetadata: {name: p}\nspec:\n  url: file:///x.wasm\n  matchRules: [{config: {b: 2}}]\n";
        assert!(to_plugin_config(&parse(yaml).unwrap()).is_err());
        let yaml = "apiVersion: v\nkind: WasmPlugin\nmetadata: {name: p}\nspec:\n  url: file:///x.wasm\n  pluginConfig: {raw: true}\n  defaultConfig: {a: 1}\n  matchRules: [{config: {b: 2}}]\n";
        let (cfg, _) = to_plugin_config(&parse(yaml).unwrap()).unwrap().unwrap();
        assert_eq!(cfg.configuration, br#"{"raw":true}"#.to_vec());
        assert_eq!(cfg.phase, Phase::Unspecified);
        assert_eq!(cfg.fail_strategy, FailStrategy::FailClose);
    }
}

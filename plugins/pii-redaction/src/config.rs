//! Configuration: our fields plus Higress ai-data-masking's, accepted unchanged and mapped onto
//! the same engine. Compiled once per rule in `validate`.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use higress_sdk::{ConfigError, PluginConfig};
use regex::Regex;
use serde::Deserialize;

use crate::actions::{Action, ActionKind};
use crate::detect::Builtin;
use crate::engine::{Custom, Engine, Rule, Words};
use crate::external::{self, EntityAction, External, ExternalConfig};
use crate::jsonpath::JsonPath;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    pub enabled: Option<bool>,
    pub action: Option<ActionKind>,
    pub mask_prefix: Option<usize>,
    pub mask_suffix: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    pub name: String,
    pub regex: String,
    #[serde(default)]
    pub action: Option<ActionKind>,
    /// Replacement text with `$group` references (action replace); without it a placeholder.
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub mask_prefix: usize,
    #[serde(default)]
    pub mask_suffix: usize,
}

/// ai-data-masking `replace_roles[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceRole {
    pub regex: String,
    #[serde(rename = "type", default = "replace_type")]
    pub kind: String,
    #[serde(default)]
    pub restore: bool,
    #[serde(default)]
    pub value: String,
}

fn replace_type() -> String {
    "replace".into()
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Per built-in detector: enabled, action, mask_prefix, mask_suffix.
    #[serde(default)]
    pub detectors: BTreeMap<String, DetectorConfig>,
    /// Action of detectors that set none (default `replace`).
    #[serde(default)]
    pub default_action: Option<ActionKind>,
    #[serde(default)]
    pub custom_patterns: Vec<CustomPattern>,
    #[serde(default)]
    pub deny_words: Vec<String>,
    /// Action for `deny_words` (default `block`, as in ai-data-masking).
    #[serde(default)]
    pub deny_words_action: Option<ActionKind>,
    /// Message roles inspected in OpenAI mode; empty means all.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Inspect OpenAI chat bodies (default true).
    #[serde(default)]
    pub deny_openai: Option<bool>,
    #[serde(default)]
    pub deny_jsonpath: Vec<String>,
    #[serde(default)]
    pub deny_raw: bool,
    /// Restore placeholders in answers (default true).
    #[serde(default)]
    pub restore: Option<bool>,
    /// HMAC key of the hash action (per rule, so per tenant). Empty: plain SHA-256.
    #[serde(default)]
    pub hash_key: String,
    #[serde(default)]
    pub mask_char: Option<char>,
    #[serde(default)]
    pub block_status: Option<u16>,
    #[serde(default)]
    pub block_message: Option<String>,
    /// Largest request body inspected (default 1 MiB); larger requests fail per the fail policy.
    #[serde(default)]
    pub max_body_bytes: Option<u32>,
    /// Largest non-streamed answer buffered for restore (default 10 MiB).
    #[serde(default)]
    pub max_response_bytes: Option<u32>,
    /// Forward a request that cannot be inspected instead of refusing it (default false).
    #[serde(default)]
    pub fail_open: bool,
    // ai-data-masking fields.
    #[serde(default)]
    pub system_deny: bool,
    #[serde(default)]
    pub deny_code: Option<u16>,
    #[serde(default)]
    pub deny_message: Option<String>,
    #[serde(default)]
    pub deny_raw_message: Option<String>,
    #[serde(default)]
    pub deny_content_type: Option<String>,
    #[serde(default)]
    pub replace_roles: Vec<ReplaceRole>,
    /// Presidio-compatible analyzer called once per request (names, addresses).
    #[serde(default)]
    pub external_detector: Option<ExternalConfig>,
    #[serde(skip)]
    compiled: OnceCell<Compiled>,
}

/// What a request needs from the config.
pub struct Compiled {
    pub engine: Rc<Engine>,
    pub paths: Vec<JsonPath>,
    pub external: Option<External>,
}

pub const DEFAULT_MAX_BODY: u32 = 1 << 20;
pub const DEFAULT_MAX_RESPONSE: u32 = 10 << 20;
pub const DEFAULT_BLOCK_MESSAGE: &str =
    "the request contains sensitive data that may not be sent to the model";
pub const COMPAT_DENY_MESSAGE: &str = "提问或回答中包含敏感词，已被屏蔽";

/// Default kept characters when masking.
fn mask_keep(b: Builtin) -> (usize, usize) {
    match b {
        Builtin::CnMobile | Builtin::CnLandline | Builtin::IntlPhone | Builtin::CnId => (3, 4),
        Builtin::BankCard | Builtin::Iban => (4, 4),
        Builtin::Email => (1, 0),
        Builtin::OpenaiKey | Builtin::AnthropicKey => (3, 0),
        Builtin::AwsAccessKey | Builtin::AliyunAccessKey => (4, 0),
        _ => (0, 0),
    }
}

fn action_of(kind: ActionKind, prefix: usize, suffix: usize) -> Action {
    match kind {
        ActionKind::Mask => Action::Mask { prefix, suffix },
        ActionKind::Replace => Action::Replace,
        ActionKind::Hash => Action::Hash { full: false },
        ActionKind::Block => Action::Block,
        ActionKind::Report => Action::Report,
    }
}

impl Config {
    pub fn openai(&self) -> bool {
        self.deny_openai.unwrap_or(true)
    }
    pub fn restore(&self) -> bool {
        self.restore.unwrap_or(true)
    }
    pub fn max_body(&self) -> u32 {
        self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY)
    }
    pub fn max_response(&self) -> u32 {
        self.max_response_bytes.unwrap_or(DEFAULT_MAX_RESPONSE)
    }
    /// ai-data-masking's reply style (200 + assistant message) when any of its deny fields is set.
    pub fn compat_reply(&self) -> bool {
        self.deny_code.is_some() || self.deny_message.is_some() || self.deny_raw_message.is_some()
    }

    pub fn compiled(&self) -> Result<&Compiled, ConfigError> {
        if let Some(c) = self.compiled.get() {
            return Ok(c);
        }
        let c = self.compile()?;
        Ok(self.compiled.get_or_init(|| c))
    }

    fn compile(&self) -> Result<Compiled, ConfigError> {
        for name in self.detectors.keys() {
            if Builtin::from_name(name).is_none() {
                return Err(ConfigError::at(
                    format!("detectors.{name}"),
                    "unknown detector",
                ));
            }
        }
        let default_action = self.default_action.unwrap_or(ActionKind::Replace);
        let mut rules = Vec::new();
        let mut builtin_rules = [None; Builtin::ALL.len()];
        for b in Builtin::ALL {
            let d = self.detectors.get(b.name()).cloned().unwrap_or_default();
            if d.enabled == Some(false) {
                continue;
            }
            let (p, s) = mask_keep(b);
            let action = action_of(
                d.action.unwrap_or(default_action),
                d.mask_prefix.unwrap_or(p),
                d.mask_suffix.unwrap_or(s),
            );
            builtin_rules[b.index()] = Some(rules.len());
            rules.push(Rule {
                name: b.name().into(),
                label: b.label().into(),
                action,
            });
        }
        let mut custom = Vec::new();
        for (i, c) in self.custom_patterns.iter().enumerate() {
            let at = |f: &str| format!("custom_patterns[{i}].{f}");
            if c.name.is_empty()
                || !c
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            {
                return Err(ConfigError::at(
                    at("name"),
                    "must be non-empty letters, digits or _",
                ));
            }
            let regex = compile_regex(&c.regex).map_err(|e| ConfigError::at(at("regex"), e))?;
            let kind = c.action.unwrap_or(default_action);
            custom.push(Custom {
                regex,
                rule: rules.len(),
                template: c.value.clone().filter(|_| kind == ActionKind::Replace),
                restore: false,
            });
            rules.push(Rule {
                name: c.name.clone(),
                label: c.name.to_ascii_uppercase(),
                action: action_of(kind, c.mask_prefix, c.mask_suffix),
            });
        }
        for (i, r) in self.replace_roles.iter().enumerate() {
            let at = |f: &str| format!("replace_roles[{i}].{f}");
            let regex = compile_regex(&r.regex).map_err(|e| ConfigError::at(at("regex"), e))?;
            let action = match r.kind.as_str() {
                "replace" => Action::Replace,
                "hash" => Action::Hash { full: true },
                _ => return Err(ConfigError::at(at("type"), "must be replace or hash")),
            };
            let template = (action == Action::Replace).then(|| r.value.clone());
            custom.push(Custom {
                regex,
                rule: rules.len(),
                template,
                restore: r.restore,
            });
            rules.push(Rule {
                name: format!("replace_roles[{i}]"),
                label: "MASKED".into(),
                action,
            });
        }
        let words = if self.deny_words.iter().any(|w| !w.trim().is_empty()) {
            let list: Vec<String> = self
                .deny_words
                .iter()
                .map(|w| w.trim().to_string())
                .filter(|w| !w.is_empty())
                .collect();
            let kind = self.deny_words_action.unwrap_or(ActionKind::Block);
            let w = Words::new(&list, rules.len()).map_err(|e| ConfigError::at("deny_words", e))?;
            rules.push(Rule {
                name: "deny_word".into(),
                label: "WORD".into(),
                action: action_of(kind, 0, 0),
            });
            Some(w)
        } else {
            None
        };
        let external = match &self.external_detector {
            Some(x) => {
                Some(self.compile_external(x, default_action, &builtin_rules, &mut rules)?)
            }
            None => None,
        };
        let mut paths = Vec::new();
        for (i, p) in self.deny_jsonpath.iter().enumerate() {
            paths.push(
                JsonPath::parse(p)
                    .map_err(|e| ConfigError::at(format!("deny_jsonpath[{i}]"), e))?,
            );
        }
        if let Some(c) = self.block_status.or(self.deny_code) {
            if !(200..=599).contains(&c) {
                return Err(ConfigError::at(
                    if self.block_status.is_some() {
                        "block_status"
                    } else {
                        "deny_code"
                    },
                    "must be an HTTP status 200-599",
                ));
            }
        }
        if self.max_body() == 0 {
            return Err(ConfigError::at("max_body_bytes", "must be positive"));
        }
        let engine = Engine::new(
            rules,
            builtin_rules,
            custom,
            words,
            self.hash_key.as_bytes().to_vec(),
            self.mask_char.unwrap_or('*'),
        );
        Ok(Compiled {
            engine: Rc::new(engine),
            paths,
            external,
        })
    }

    /// One rule per entity type (`[PERSON_1]` placeholders), after every local rule so a
    /// built-in wins a tie on the same span.
    fn compile_external(
        &self,
        x: &ExternalConfig,
        default_action: ActionKind,
        builtin_rules: &[Option<usize>; Builtin::ALL.len()],
        rules: &mut Vec<Rule>,
    ) -> Result<External, ConfigError> {
        let at = |f: &str| format!("external_detector.{f}");
        let cluster = match (x.cluster.trim(), x.service_name.as_deref().map(str::trim)) {
            ("", Some("")) => return Err(ConfigError::at(at("service_name"), "must not be empty")),
            ("", Some(name)) => higress_sdk::cluster::fqdn(
                name,
                x.service_port.unwrap_or(external::DEFAULT_SERVICE_PORT),
            ),
            ("", None) => {
                return Err(ConfigError::at(
                    at("cluster"),
                    "must not be empty (or give service_name and service_port)",
                ))
            }
            (c, None) => c.to_string(),
            (_, Some(_)) => {
                return Err(ConfigError::at(
                    at("service_name"),
                    "give either cluster or service_name, not both",
                ))
            }
        };
        let authority = match (&x.host, higress_sdk::cluster::parse(&cluster)) {
            (Some(h), _) if !h.is_empty() => h.clone(),
            (Some(_), _) => return Err(ConfigError::at(at("host"), "must not be empty")),
            (None, Some(p)) if !p.fqdn.is_empty() => p.fqdn.to_string(),
            (None, _) => cluster.clone(),
        };
        let path = x
            .path
            .clone()
            .unwrap_or_else(|| external::DEFAULT_PATH.into());
        if !path.starts_with('/') {
            return Err(ConfigError::at(at("path"), "must start with /"));
        }
        let timeout_ms = x.timeout_ms.unwrap_or(external::DEFAULT_TIMEOUT_MS);
        if timeout_ms == 0 {
            return Err(ConfigError::at(
                at("timeout_ms"),
                "must be positive (the detector's time budget)",
            ));
        }
        if let Some(t) = x.score_threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(ConfigError::at(at("score_threshold"), "must be 0.0-1.0"));
            }
        }
        let language = x
            .language
            .clone()
            .unwrap_or_else(|| external::DEFAULT_LANGUAGE.into());
        if language.is_empty() {
            return Err(ConfigError::at(at("language"), "must not be empty"));
        }
        let default_entity = EntityAction::Kind(default_action);
        let entities: Vec<(&str, &EntityAction)> = match &x.entities {
            Some(map) if map.is_empty() => {
                return Err(ConfigError::at(
                    at("entities"),
                    "must name at least one entity type",
                ))
            }
            Some(map) => map.iter().map(|(k, a)| (k.as_str(), a)).collect(),
            None => external::DEFAULT_ENTITIES
                .iter()
                .map(|k| (*k, &default_entity))
                .collect(),
        };
        let mut map = BTreeMap::new();
        for (name, entity) in entities {
            let field = || at(&format!("entities.{name}"));
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if !valid {
                return Err(ConfigError::at(
                    field(),
                    "entity types are upper-case letters, digits or _ (Presidio names, e.g. PERSON)",
                ));
            }
            if let Some(d) = entity.detector() {
                // The built-in's own rule: its label, action and placeholders.
                let b = Builtin::from_name(d).ok_or_else(|| {
                    ConfigError::at(format!("{}.detector", field()), "unknown detector")
                })?;
                let rule = builtin_rules[b.index()].ok_or_else(|| {
                    ConfigError::at(
                        format!("{}.detector", field()),
                        format!("detector {d} is disabled"),
                    )
                })?;
                if entity.has_own_action() {
                    return Err(ConfigError::at(
                        field(),
                        "give either detector or an action, not both",
                    ));
                }
                map.insert(name.to_string(), rule);
                continue;
            }
            let (kind, p, s) = entity.parts(default_action);
            map.insert(name.to_string(), rules.len());
            rules.push(Rule {
                name: format!("external_{}", name.to_ascii_lowercase()),
                label: name.to_string(),
                action: action_of(kind, p, s),
            });
        }
        Ok(External {
            cluster,
            authority,
            path,
            timeout_ms,
            language,
            score_threshold: x.score_threshold,
            fail_open: x.fail_open.unwrap_or(self.fail_open),
            entities: map,
        })
    }
}

fn compile_regex(src: &str) -> Result<Regex, String> {
    if src.is_empty() {
        return Err("must not be empty".into());
    }
    let expanded = crate::grok::expand(src)?;
    regex::RegexBuilder::new(&expanded)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| e.to_string())
}

impl PluginConfig for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.compiled().map(|_| ())
    }
}

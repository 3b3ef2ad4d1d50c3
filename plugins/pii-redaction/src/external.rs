//! External detector over an HTTP callout, speaking the Presidio analyzer API
//! (`POST /analyze {"text", "language", "entities", "score_threshold"}` →
//! `[{"entity_type", "start", "end", "score"}]`), for names and addresses that patterns cannot
//! find. All inspected strings of a request go out in one call, joined by a blank line; the
//! answer's offsets count Unicode code points (Python `str` indices) in that joined text and are
//! mapped back to byte offsets of each string here.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use crate::actions::ActionKind;
use crate::engine::Finding;

/// An entity type's action: `PERSON: replace`, or `{action: mask, mask_prefix: 1}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EntityAction {
    Kind(ActionKind),
    Detailed(EntityDetail),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityDetail {
    #[serde(default)]
    pub action: Option<ActionKind>,
    #[serde(default)]
    pub mask_prefix: usize,
    #[serde(default)]
    pub mask_suffix: usize,
    /// A built-in detector (`email`, `cn_mobile`, ...) whose label and action this entity takes,
    /// so the analyzer's `EMAIL_ADDRESS` and the built-in `email` share `[EMAIL_n]` placeholders.
    #[serde(default)]
    pub detector: Option<String>,
}

impl EntityAction {
    /// (action or the config's default, mask prefix, mask suffix).
    pub fn parts(&self, default: ActionKind) -> (ActionKind, usize, usize) {
        match self {
            EntityAction::Kind(k) => (*k, 0, 0),
            EntityAction::Detailed(d) => {
                (d.action.unwrap_or(default), d.mask_prefix, d.mask_suffix)
            }
        }
    }

    /// The built-in detector this entity is mapped to, if any.
    pub fn detector(&self) -> Option<&str> {
        match self {
            EntityAction::Kind(_) => None,
            EntityAction::Detailed(d) => d.detector.as_deref(),
        }
    }

    /// Whether an action of its own was given (it conflicts with `detector`).
    pub fn has_own_action(&self) -> bool {
        match self {
            EntityAction::Kind(_) => true,
            EntityAction::Detailed(d) => {
                d.action.is_some() || d.mask_prefix != 0 || d.mask_suffix != 0
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalConfig {
    /// Envoy cluster of the analyzer, e.g. `outbound|3000||presidio-analyzer.dns`; or
    /// `service_name` + `service_port` (one of the two is required; checked when the config
    /// compiles so the error names the field).
    #[serde(default)]
    pub cluster: String,
    /// Higress service name (`presidio-analyzer.dns`, `presidio.default.svc.cluster.local`),
    /// giving the cluster `outbound|<service_port>||<service_name>`.
    #[serde(default, alias = "serviceName")]
    pub service_name: Option<String>,
    #[serde(default, alias = "servicePort")]
    pub service_port: Option<u16>,
    /// `:authority` of the call; default: the cluster's host name.
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    #[serde(default)]
    pub language: Option<String>,
    /// Entity types to ask for, with their action; default `PERSON` and `LOCATION`, replaced.
    #[serde(default)]
    pub entities: Option<BTreeMap<String, EntityAction>>,
    #[serde(default)]
    pub score_threshold: Option<f64>,
    /// Detector timeout or error: forward with built-in findings only (true) or refuse (false).
    /// Default: the plugin's `fail_open`.
    #[serde(default)]
    pub fail_open: Option<bool>,
}

pub const DEFAULT_PATH: &str = "/analyze";
/// Port of Presidio's analyzer image.
pub const DEFAULT_SERVICE_PORT: u16 = 3000;
pub const DEFAULT_TIMEOUT_MS: u32 = 500;
pub const DEFAULT_LANGUAGE: &str = "en";
pub const DEFAULT_ENTITIES: [&str; 2] = ["LOCATION", "PERSON"];
/// Between two inspected strings in the joined text: a sentence break for the NLP model, so a
/// name at the end of one message does not run into the next.
const SEPARATOR: &str = "\n\n";

/// The compiled external detector of one config.
#[derive(Debug, Clone)]
pub struct External {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub timeout_ms: u32,
    pub language: String,
    pub score_threshold: Option<f64>,
    pub fail_open: bool,
    /// Entity type → rule index, sorted by entity type.
    pub entities: BTreeMap<String, usize>,
}

/// The texts of one request joined for one call, with where each starts (in code points).
pub struct Joined {
    pub text: String,
    /// (code-point start, code-point length) of each string.
    spans: Vec<(usize, usize)>,
}

impl Joined {
    pub fn new(texts: &[String]) -> Joined {
        let mut text = String::with_capacity(texts.iter().map(|t| t.len() + SEPARATOR.len()).sum());
        let mut spans = Vec::with_capacity(texts.len());
        let mut cp = 0;
        for (i, t) in texts.iter().enumerate() {
            if i > 0 {
                text.push_str(SEPARATOR);
                cp += SEPARATOR.len();
            }
            let n = t.chars().count();
            spans.push((cp, n));
            text.push_str(t);
            cp += n;
        }
        Joined { text, spans }
    }

    /// Total length in code points.
    pub fn len_cp(&self) -> usize {
        self.spans.last().map_or(0, |(s, n)| s + n)
    }
}

/// One analyzer result; other fields (`analysis_explanation`, `recognition_metadata`) are ignored.
#[derive(Deserialize)]
struct AnalyzerResult {
    entity_type: String,
    start: usize,
    end: usize,
    score: f64,
}

impl External {
    /// The `/analyze` request body.
    pub fn request_body(&self, joined: &Joined) -> Vec<u8> {
        let mut body = json!({
            "text": joined.text,
            "language": self.language,
            "entities": self.entities.keys().collect::<Vec<_>>(),
        });
        if let Some(t) = self.score_threshold {
            body["score_threshold"] = json!(t);
        }
        body.to_string().into_bytes()
    }

    /// Findings per string (byte offsets into `texts[i]`) from an analyzer answer. Results of
    /// entity types not configured, or scored below the threshold, are dropped; a result that
    /// crosses the separator is split across the strings it covers. Malformed answers and offsets
    /// outside the text are errors: the analyzer did not see the text we sent.
    pub fn findings(
        &self,
        texts: &[String],
        joined: &Joined,
        status: u16,
        body: &[u8],
    ) -> Result<Vec<Vec<Finding>>, String> {
        if !(200..300).contains(&status) {
            return Err(format!("analyzer answered HTTP {status}"));
        }
        let results: Vec<AnalyzerResult> = serde_json::from_slice(body)
            .map_err(|e| format!("analyzer answer is not a result list: {e}"))?;
        let total = joined.len_cp();
        // Per string: (code-point start, code-point end, rule).
        let mut spans: Vec<Vec<(usize, usize, usize)>> = vec![Vec::new(); texts.len()];
        for r in &results {
            if r.start >= r.end || r.end > total {
                return Err(format!(
                    "analyzer result {}..{} is outside the {total} characters sent",
                    r.start, r.end
                ));
            }
            let Some(&rule) = self.entities.get(&r.entity_type) else {
                continue;
            };
            if self.score_threshold.is_some_and(|t| r.score < t) {
                continue;
            }
            // The strings overlapping [start, end): spans are sorted by start.
            let first = joined.spans.partition_point(|(s, n)| s + n <= r.start);
            for (i, &(s, n)) in joined.spans.iter().enumerate().skip(first) {
                if s >= r.end {
                    break;
                }
                let a = r.start.max(s) - s;
                let b = r.end.min(s + n) - s;
                if a < b {
                    spans[i].push((a, b, rule));
                }
            }
        }
        Ok(spans
            .into_iter()
            .zip(texts)
            .map(|(sp, t)| to_findings(t, sp))
            .collect())
    }
}

/// Code-point spans of one string to byte-offset findings, in one walk over the string.
fn to_findings(text: &str, spans: Vec<(usize, usize, usize)>) -> Vec<Finding> {
    if spans.is_empty() {
        return Vec::new();
    }
    let mut cps: Vec<usize> = spans.iter().flat_map(|(a, b, _)| [*a, *b]).collect();
    cps.sort_unstable();
    cps.dedup();
    let bytes = byte_offsets(text, &cps);
    let at = |cp: usize| bytes[cps.binary_search(&cp).unwrap_or(0)];
    spans
        .into_iter()
        .map(|(a, b, rule)| Finding {
            start: at(a),
            end: at(b),
            rule,
            replacement: None,
            restore: false,
        })
        .collect()
}

/// Byte offset of each code-point offset in `cps` (sorted); past the end maps to `text.len()`.
pub fn byte_offsets(text: &str, cps: &[usize]) -> Vec<usize> {
    if text.is_ascii() {
        return cps.iter().map(|c| (*c).min(text.len())).collect();
    }
    let mut out = Vec::with_capacity(cps.len());
    let mut bounds = text
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()))
        .enumerate();
    let mut cur = bounds.next();
    for &cp in cps {
        while let Some((k, _)) = cur {
            if k >= cp {
                break;
            }
            cur = bounds.next();
        }
        out.push(cur.map_or(text.len(), |(_, b)| b));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext() -> External {
        External {
            cluster: "outbound|3000||presidio.dns".into(),
            authority: "presidio.dns".into(),
            path: DEFAULT_PATH.into(),
            timeout_ms: 500,
            language: "en".into(),
            score_threshold: Some(0.5),
            fail_open: false,
            entities: [("LOCATION".to_string(), 7), ("PERSON".to_string(), 8)].into(),
        }
    }

    fn spans_of(texts: &[String], f: &[Vec<Finding>]) -> Vec<Vec<(String, usize)>> {
        f.iter()
            .zip(texts)
            .map(|(v, t)| {
                v.iter()
                    .map(|x| (t[x.start..x.end].to_string(), x.rule))
                    .collect()
            })
            .collect()
    }

    /// Code-point offsets as Python computes them (`text.index(s)`), for building answers.
    fn cp_index(hay: &str, needle: &str) -> (usize, usize) {
        let b = hay.find(needle).unwrap();
        let s = hay[..b].chars().count();
        (s, s + needle.chars().count())
    }

    #[test]
    fn request_body_has_the_presidio_shape() {
        let texts = vec!["My name is David".to_string(), "我住在北京".to_string()];
        let j = Joined::new(&texts);
        let v: serde_json::Value = serde_json::from_slice(&ext().request_body(&j)).unwrap();
        assert_eq!(v["text"], "My name is David\n\n我住在北京");
        assert_eq!(v["language"], "en");
        assert_eq!(v["entities"], json!(["LOCATION", "PERSON"]));
        assert_eq!(v["score_threshold"], 0.5);
        assert_eq!(j.len_cp(), 16 + 2 + 5);
    }

    #[test]
    fn code_point_offsets_map_to_bytes_in_chinese_and_emoji_text() {
        let texts = vec![
            "Hi 👋🏽 I am 张伟 from 上海 😀".to_string(),
            "plain ascii, Alice Smith".to_string(),
            "e\u{301}mile Zola".to_string(),
        ];
        let j = Joined::new(&texts);
        let mut answer = Vec::new();
        for (name, kind) in [
            ("张伟", "PERSON"),
            ("上海", "LOCATION"),
            ("Alice Smith", "PERSON"),
            ("Zola", "PERSON"),
        ] {
            let (s, e) = cp_index(&j.text, name);
            answer.push(json!({"entity_type": kind, "start": s, "end": e, "score": 0.85}));
        }
        let body = serde_json::to_vec(&answer).unwrap();
        let f = ext().findings(&texts, &j, 200, &body).unwrap();
        assert_eq!(
            spans_of(&texts, &f),
            vec![
                vec![("张伟".to_string(), 8), ("上海".to_string(), 7)],
                vec![("Alice Smith".to_string(), 8)],
                vec![("Zola".to_string(), 8)],
            ]
        );
    }

    #[test]
    fn unconfigured_types_low_scores_and_crossing_results() {
        let texts = vec!["Ann".to_string(), "Lee went home".to_string()];
        let j = Joined::new(&texts);
        // "Ann\n\nLee" as one PERSON crosses the separator: both parts are redacted.
        let body = json!([
            {"entity_type": "PERSON", "start": 0, "end": 8, "score": 0.9},
            {"entity_type": "DATE_TIME", "start": 0, "end": 3, "score": 0.9},
            {"entity_type": "LOCATION", "start": 14, "end": 18, "score": 0.2},
        ])
        .to_string();
        let f = ext().findings(&texts, &j, 200, body.as_bytes()).unwrap();
        assert_eq!(
            spans_of(&texts, &f),
            vec![vec![("Ann".to_string(), 8)], vec![("Lee".to_string(), 8)]]
        );
    }

    #[test]
    fn bad_answers_are_errors() {
        let texts = vec!["abc".to_string()];
        let j = Joined::new(&texts);
        let e = ext();
        assert!(e
            .findings(&texts, &j, 500, b"[]")
            .unwrap_err()
            .contains("500"));
        assert!(e.findings(&texts, &j, 200, b"{\"error\":1}").is_err());
        assert!(e.findings(&texts, &j, 200, b"[{\"start\":0}]").is_err());
        let out_of_range = br#"[{"entity_type":"PERSON","start":1,"end":9,"score":1.0}]"#;
        assert!(e
            .findings(&texts, &j, 200, out_of_range)
            .unwrap_err()
            .contains("outside"));
        assert_eq!(e.findings(&texts, &j, 200, b"[]").unwrap(), vec![vec![]]);
    }

    #[test]
    fn byte_offsets_walk() {
        assert_eq!(byte_offsets("a😀b", &[0, 1, 2, 3, 9]), vec![0, 1, 5, 6, 6]);
        assert_eq!(byte_offsets("abc", &[0, 3, 5]), vec![0, 3, 3]);
    }
}

//! Prometheus text and Grafana dashboard queries: which metric names a scrape has, and which ones
//! a dashboard's queries use, so a test can check the dashboard only asks for metrics that exist.

use std::collections::{BTreeMap, BTreeSet};

/// Sample names (labels stripped) and values of a Prometheus text exposition.
pub fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let value = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let (false, Some(v)) = (line[..name_end].is_empty(), value) {
            *out.entry(line[..name_end].to_string()).or_insert(0.0) += v;
        }
    }
    out
}

/// Name prefixes of the chain plugins' metrics: their `define_metric` names (`semantic_cache.hits`)
/// with `.` as `_`. Envoy (1.20+, so every Higress) keeps Wasm metrics in its `wasmcustom` stat
/// namespace, which the Prometheus output strips without adding the `envoy_` prefix of Envoy's own
/// stats; our gateway renders them the same way.
pub const PLUGIN_METRIC_PREFIXES: [&str; 4] = [
    "pii_redaction_",
    "semantic_cache_",
    "token_ratelimit_",
    "provider_fallback_",
];

/// A metric a query refers to: one name, or every name with a prefix (`{__name__=~"prefix.+"}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum MetricRef {
    Exact(String),
    Prefix(String),
}

impl MetricRef {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            MetricRef::Exact(n) => n == name,
            MetricRef::Prefix(p) => name.len() > p.len() && name.starts_with(p.as_str()),
        }
    }
}

/// PromQL words that are neither metrics nor functions.
const KEYWORDS: [&str; 11] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
];

/// The metrics a PromQL expression reads: every bare identifier that is not a function (followed
/// by `(`, or by `by (...)`/`without (...)` for an aggregation), a keyword, a label name (inside `{...}` or a `by (...)`-style list), a string or a
/// range (`[...]`); and `__name__=~"<prefix>.+"` selectors. Any other `__name__` matcher is an
/// error (the check could not tell what it matches); `"__name__"` as a `label_replace` argument
/// is fine.
pub fn metric_refs(expr: &str) -> Result<BTreeSet<MetricRef>, String> {
    let mut out = BTreeSet::new();
    if expr.contains("__name__=\"") || expr.contains("__name__!") {
        return Err(format!("unsupported __name__ matcher in {expr:?}"));
    }
    let mut rest = expr;
    while let Some(at) = rest.find("__name__=~\"") {
        let after = &rest[at + "__name__=~\"".len()..];
        let pattern = after.split('"').next().unwrap_or_default();
        let prefix = pattern
            .strip_suffix(".+")
            .filter(|p| p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| format!("__name__ pattern {pattern:?} is not <prefix>.+ in {expr:?}"))?;
        out.insert(MetricRef::Prefix(prefix.to_string()));
        rest = &after[pattern.len()..];
    }
    let chars: Vec<char> = expr.chars().collect();
    let (mut i, mut in_string, mut braces, mut brackets) = (0, false, 0usize, 0usize);
    // After a grouping keyword: its parenthesised list holds label names.
    let (mut grouping_next, mut in_grouping) = (false, false);
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            in_string = c != '"';
            i += 1;
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => braces += 1,
            '}' => braces = braces.saturating_sub(1),
            '[' => brackets += 1,
            ']' => brackets = brackets.saturating_sub(1),
            '(' if grouping_next => (grouping_next, in_grouping) = (false, true),
            ')' => in_grouping = false,
            _ => {}
        }
        let starts_word = c.is_ascii_alphabetic() || c == '_' || c == ':';
        let after_number = i > 0 && (chars[i - 1].is_ascii_digit() || chars[i - 1] == '.');
        if !starts_word || after_number || (i > 0 && chars[i - 1] == '$') {
            i += 1;
            continue;
        }
        let end = (i..chars.len())
            .find(|&j| !(chars[j].is_ascii_alphanumeric() || chars[j] == '_' || chars[j] == ':'))
            .unwrap_or(chars.len());
        let word: String = chars[i..end].iter().collect();
        let rest: String = chars[end..].iter().collect();
        let rest = rest.trim_start();
        // A function call, or an aggregation with its grouping first (`sum by (le) (...)`).
        let is_call = rest.starts_with('(')
            || ["by", "without"].iter().any(|k| {
                rest.strip_prefix(k)
                    .is_some_and(|r| r.trim_start().starts_with('('))
            });
        if KEYWORDS.contains(&word.as_str()) {
            grouping_next = !matches!(word.as_str(), "bool" | "offset" | "and" | "or" | "unless");
        } else if braces == 0 && brackets == 0 && !in_grouping && !is_call {
            out.insert(MetricRef::Exact(word));
        }
        i = end;
    }
    Ok(out)
}

/// Every `expr` of every panel target of a Grafana dashboard (rows' nested panels included).
pub fn dashboard_exprs(dashboard: &serde_json::Value) -> Vec<String> {
    fn walk(panels: &serde_json::Value, out: &mut Vec<String>) {
        for p in panels.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push(e.to_string());
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_strip_labels_and_sum_series() {
        let s = samples(
            "# TYPE a counter\na 2\nb_bucket{le=\"1\"} 1\nb_bucket{le=\"+Inf\"} 3\nc 1.5\n",
        );
        assert_eq!(s["a"], 2.0);
        assert_eq!(s["b_bucket"], 4.0);
        assert_eq!(s["c"], 1.5);
    }

    #[test]
    fn refs_of_names_functions_and_prefix_selectors() {
        let r = metric_refs(
            "sum(rate(envoy_semantic_cache_hits[5m])) / (sum(rate(envoy_semantic_cache_hits[5m])) + \
             sum(rate(envoy_semantic_cache_misses[5m])))",
        )
        .unwrap();
        assert_eq!(
            r.into_iter().collect::<Vec<_>>(),
            vec![
                MetricRef::Exact("envoy_semantic_cache_hits".into()),
                MetricRef::Exact("envoy_semantic_cache_misses".into()),
            ]
        );
        let r = metric_refs(
            "label_replace(rate({__name__=~\"envoy_pii_redaction_detected_.+\"}[5m]), \"type\", \"$1\", \"__name__\", \"envoy_pii_(.*)\")",
        )
        .unwrap();
        assert_eq!(
            r.into_iter().collect::<Vec<_>>(),
            vec![MetricRef::Prefix("envoy_pii_redaction_detected_".into())]
        );
        assert!(metric_refs("{__name__=~\"envoy_(a|b)\"}").is_err());
        // Label names in grouping lists and selectors, ranges, numbers and keywords are not metrics.
        let r = metric_refs(
            "sum by (code_class) (rate(envoy_http_rq_xx{code_class=~\"5\"}[$__rate_interval])) \
             / clamp_min(sum without (le) (rate(other_total[5m] offset 1h)), 1e-9) > bool 0",
        )
        .unwrap();
        assert_eq!(
            r.into_iter().collect::<Vec<_>>(),
            vec![
                MetricRef::Exact("envoy_http_rq_xx".into()),
                MetricRef::Exact("other_total".into()),
            ]
        );
        assert!(MetricRef::Prefix("envoy_x_".into()).matches("envoy_x_email"));
        assert!(!MetricRef::Prefix("envoy_x_".into()).matches("envoy_x_"));
    }
}

//! The compiled detector set of one config: built-ins, custom regexes, deny words. `find` gives
//! non-overlapping findings in byte offsets of the original text; `redact` applies actions.

use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;

use crate::actions::{Action, Report};
use crate::detect::{self, Builtin, BuiltinSet, Hit};
use crate::normalize;
use crate::vault::{push_json_escaped, Vault};

/// One detector as configured.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub label: String,
    pub action: Action,
}

pub struct Custom {
    pub regex: Regex,
    pub rule: usize,
    /// `replace_roles[].value` (with `$name` groups), replacing the match.
    pub template: Option<String>,
    /// Record template output for restore (ai-data-masking `restore: true`).
    pub restore: bool,
}

pub struct Words {
    ac: AhoCorasick,
    rule: usize,
    /// Whether each word is ASCII-alphanumeric at its ends, and so needs word boundaries.
    bounded: Vec<(bool, bool)>,
}

impl Words {
    pub fn new(words: &[String], rule: usize) -> Result<Words, String> {
        let folded: Vec<String> = words
            .iter()
            .map(|w| normalize::fold(w).map_or_else(|| w.clone(), |f| f.text))
            .collect();
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&folded)
            .map_err(|e| e.to_string())?;
        let bounded = folded
            .iter()
            .map(|w| {
                let b = w.as_bytes();
                (
                    b.first().is_some_and(|c| detect::is_word(*c)),
                    b.last().is_some_and(|c| detect::is_word(*c)),
                )
            })
            .collect();
        Ok(Words { ac, rule, bounded })
    }
}

pub struct Engine {
    pub rules: Vec<Rule>,
    builtin_rule: [usize; Builtin::ALL.len()],
    builtins: BuiltinSet,
    pub custom: Vec<Custom>,
    pub words: Option<Words>,
    pub hash_key: Vec<u8>,
    pub mask_char: char,
}

/// A match to act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub start: usize,
    pub end: usize,
    pub rule: usize,
    /// Replacement from a template, computed while the captures were at hand.
    pub replacement: Option<String>,
    pub restore: bool,
}

impl Engine {
    /// `builtin_rules[i]` is the rule index of `Builtin::ALL[i]`, or `None` when disabled.
    pub fn new(
        rules: Vec<Rule>,
        builtin_rules: [Option<usize>; Builtin::ALL.len()],
        custom: Vec<Custom>,
        words: Option<Words>,
        hash_key: Vec<u8>,
        mask_char: char,
    ) -> Engine {
        let mut builtins = BuiltinSet::none();
        let mut builtin_rule = [usize::MAX; Builtin::ALL.len()];
        for (i, r) in builtin_rules.iter().enumerate() {
            if let Some(r) = r {
                builtins.set(Builtin::ALL[i], true);
                builtin_rule[i] = *r;
            }
        }
        Engine {
            rules,
            builtin_rule,
            builtins,
            custom,
            words,
            hash_key,
            mask_char,
        }
    }

    /// Non-overlapping findings, sorted by start. On overlap the earlier, then longer, wins.
    pub fn find(&self, text: &str) -> Vec<Finding> {
        self.find_with(text, &[])
    }

    /// `find` merged with `extra` findings (an external detector's, byte offsets into `text`).
    /// Overlaps are resolved the same way whoever found them: earlier, then longer, then the
    /// lower rule index (built-ins before custom patterns before external entities) wins.
    pub fn find_with(&self, text: &str, extra: &[Finding]) -> Vec<Finding> {
        let folded = normalize::fold(text);
        let scan_text = folded.as_ref().map_or(text, |f| f.text.as_str());
        let mut found = Vec::new();
        let mut hits: Vec<Hit> = Vec::new();
        detect::scan(scan_text, &self.builtins, &mut hits);
        for h in hits {
            found.push(Finding {
                start: h.start,
                end: h.end,
                rule: self.builtin_rule[h.kind.index()],
                replacement: None,
                restore: false,
            });
        }
        for c in &self.custom {
            for caps in c.regex.captures_iter(scan_text) {
                let Some(m) = caps.get(0) else { continue };
                if m.is_empty() {
                    continue;
                }
                let replacement = c.template.as_ref().map(|t| {
                    let mut dst = String::new();
                    caps.expand(t, &mut dst);
                    dst
                });
                found.push(Finding {
                    start: m.start(),
                    end: m.end(),
                    rule: c.rule,
                    replacement,
                    restore: c.restore,
                });
            }
        }
        if let Some(w) = &self.words {
            let b = scan_text.as_bytes();
            for m in w.ac.find_iter(scan_text) {
                let (lb, rb) = w
                    .bounded
                    .get(m.pattern().as_usize())
                    .copied()
                    .unwrap_or((false, false));
                // "ass" must not match inside "class"; CJK words have no boundaries to check.
                if (lb && !detect::left_boundary(b, m.start()))
                    || (rb && !detect::right_boundary(b, m.end()))
                {
                    continue;
                }
                found.push(Finding {
                    start: m.start(),
                    end: m.end(),
                    rule: w.rule,
                    replacement: None,
                    restore: false,
                });
            }
        }
        if let Some(f) = &folded {
            // Map back; a folded boundary always falls on an original char boundary.
            found.retain_mut(|x| {
                x.start = f.to_orig(x.start);
                x.end = f.to_orig(x.end);
                x.start < x.end && x.end <= text.len()
            });
        }
        found.extend_from_slice(extra);
        found.retain(|f| {
            f.start < f.end
                && f.end <= text.len()
                && f.rule < self.rules.len()
                && text.is_char_boundary(f.start)
                && text.is_char_boundary(f.end)
        });
        found.sort_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(b.end.cmp(&a.end))
                .then(a.rule.cmp(&b.rule))
        });
        let mut out: Vec<Finding> = Vec::with_capacity(found.len());
        for f in found {
            if out.last().is_none_or(|l| f.start >= l.end) {
                out.push(f);
            }
        }
        out
    }

    /// Applies each finding's action to `text` in place; true if the text changed. `json_escape`: `text` is a JSON document
    /// inside a JSON string (tool-call arguments), so inserted free text is escaped.
    pub fn redact(
        &self,
        text: &mut String,
        vault: &mut Vault,
        report: &mut Report,
        json_escape: bool,
    ) -> bool {
        self.redact_with(text, &[], vault, report, json_escape)
    }

    /// `redact` with an external detector's findings merged in (see `find_with`).
    pub fn redact_with(
        &self,
        text: &mut String,
        extra: &[Finding],
        vault: &mut Vault,
        report: &mut Report,
        json_escape: bool,
    ) -> bool {
        let findings = self.find_with(text, extra);
        if findings.is_empty() {
            return false;
        }
        let mut changed = false;
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for f in &findings {
            let rule = &self.rules[f.rule];
            let original = &text[f.start..f.end];
            report.count(rule, original);
            out.push_str(&text[last..f.start]);
            let rep = match &f.replacement {
                Some(r) if matches!(rule.action, Action::Replace) => {
                    if f.restore {
                        vault.remember(r, original);
                    }
                    Some(r.clone())
                }
                _ => {
                    rule.action
                        .apply(original, &rule.label, vault, &self.hash_key, self.mask_char)
                }
            };
            match rep {
                Some(r) => {
                    changed |= r != original;
                    if json_escape {
                        push_json_escaped(&mut out, &r);
                    } else {
                        out.push_str(&r);
                    }
                }
                None => out.push_str(original),
            }
            last = f.end;
        }
        out.push_str(&text[last..]);
        if changed {
            *text = out;
        }
        changed
    }
}

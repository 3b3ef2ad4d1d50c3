//! Per-request placeholder vault and the restorer built from it. A vault lives in one request's
//! HTTP context and dies with it, so placeholders never resolve across requests.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use aho_corasick::{AhoCorasick, MatchKind};

#[derive(Default, Debug)]
pub struct Vault {
    /// (replacement, original) in issue order.
    entries: Vec<(String, String)>,
    /// Placeholders issued per label, looked up by `&str` so a repeated value allocates nothing.
    labels: HashMap<String, Label>,
    /// Replacements that two different originals produced: restoring them would guess.
    ambiguous: HashSet<String>,
}

#[derive(Default, Debug)]
struct Label {
    /// How many placeholders of this label were issued (the `n` of `[LABEL_n]`).
    issued: u32,
    /// Original value → index into `entries`.
    by_original: HashMap<String, usize>,
}

impl Vault {
    /// The typed placeholder for `original`; the same value gets the same placeholder within
    /// the request, so the model can still tell two phone numbers apart.
    pub fn placeholder(&mut self, label: &str, original: &str) -> String {
        if let Some(&i) = self
            .labels
            .get(label)
            .and_then(|l| l.by_original.get(original))
        {
            return self.entries[i].0.clone();
        }
        let l = match self.labels.get_mut(label) {
            Some(l) => l,
            None => self.labels.entry(label.to_string()).or_default(),
        };
        l.issued += 1;
        let ph = format!("[{label}_{}]", l.issued);
        l.by_original
            .insert(original.to_string(), self.entries.len());
        self.entries.push((ph.clone(), original.to_string()));
        ph
    }

    /// Records a configured replacement (`replace_roles` with `restore: true`). If two different
    /// originals map to the same replacement, that replacement is not restored at all.
    pub fn remember(&mut self, replacement: &str, original: &str) {
        if replacement.is_empty() || replacement == original || self.ambiguous.contains(replacement)
        {
            return;
        }
        if let Some(i) = self.entries.iter().position(|(r, _)| r == replacement) {
            if self.entries[i].1 != original {
                self.entries.remove(i);
                for l in self.labels.values_mut() {
                    l.by_original.retain(|_, v| *v != i);
                    for v in l.by_original.values_mut() {
                        if *v > i {
                            *v -= 1;
                        }
                    }
                }
                self.ambiguous.insert(replacement.to_string());
            }
            return;
        }
        self.entries
            .push((replacement.to_string(), original.to_string()));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn restorer(&self) -> Option<Restorer> {
        if self.entries.is_empty() {
            return None;
        }
        let keys: Vec<&str> = self.entries.iter().map(|(k, _)| k.as_str()).collect();
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&keys)
            .ok()?;
        Some(Restorer {
            ac,
            keys: self.entries.iter().map(|(k, _)| k.clone()).collect(),
            values: self.entries.iter().map(|(_, v)| v.clone()).collect(),
            max_len: keys.iter().map(|k| k.len()).max().unwrap_or(0),
        })
    }
}

/// Replaces placeholders with their originals.
pub struct Restorer {
    ac: AhoCorasick,
    keys: Vec<String>,
    values: Vec<String>,
    max_len: usize,
}

impl Restorer {
    /// Longest placeholder in bytes: the most a stream ever holds back.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// `escape`: the text is itself inside a JSON string (tool-call arguments), so the original
    /// is inserted JSON-escaped.
    pub fn restore<'a>(&self, text: &'a str, escape: bool) -> Cow<'a, str> {
        let mut out = String::new();
        let mut last = 0;
        for m in self.ac.find_iter(text) {
            out.push_str(&text[last..m.start()]);
            let v = &self.values[m.pattern().as_usize()];
            if escape {
                push_json_escaped(&mut out, v);
            } else {
                out.push_str(v);
            }
            last = m.end();
        }
        if last == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }

    /// Bytes at the end of `text` that could be the start of a placeholder cut by a chunk
    /// boundary; they must wait for the next chunk. Never more than `max_len - 1`.
    pub fn hold_len(&self, text: &str) -> usize {
        let limit = self.max_len.saturating_sub(1).min(text.len());
        for k in (1..=limit).rev() {
            let start = text.len() - k;
            if !text.is_char_boundary(start) {
                continue;
            }
            let tail = &text[start..];
            if self
                .keys
                .iter()
                .any(|key| key.len() > k && key.starts_with(tail))
            {
                return k;
            }
        }
        0
    }
}

/// JSON string escaping without the quotes.
pub fn push_json_escaped(out: &mut String, s: &str) {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    if quoted.len() >= 2 {
        out.push_str(&quoted[1..quoted.len() - 1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_same_placeholder_and_counters_per_label() {
        let mut v = Vault::default();
        assert_eq!(v.placeholder("PHONE", "13812345678"), "[PHONE_1]");
        assert_eq!(v.placeholder("PHONE", "13900001111"), "[PHONE_2]");
        assert_eq!(v.placeholder("PHONE", "13812345678"), "[PHONE_1]");
        assert_eq!(v.placeholder("EMAIL", "a@b.cn"), "[EMAIL_1]");
        let r = v.restorer().unwrap();
        assert_eq!(
            r.restore("call [PHONE_2] or [PHONE_1]", false),
            "call 13900001111 or 13812345678"
        );
    }

    #[test]
    fn ambiguous_remembered_replacement_is_not_restored() {
        let mut v = Vault::default();
        v.remember("****", "13812345678");
        v.remember("****", "13900001111");
        v.remember("x@y", "a@b.cn");
        let r = v.restorer().unwrap();
        assert_eq!(r.restore("**** x@y", false), "**** a@b.cn");
    }

    #[test]
    fn hold_len_only_for_placeholder_prefixes() {
        let mut v = Vault::default();
        v.placeholder("PHONE", "1");
        let r = v.restorer().unwrap();
        assert_eq!(r.hold_len("abc [PHO"), 4);
        assert_eq!(r.hold_len("abc ["), 1);
        assert_eq!(r.hold_len("abc [PHONE_1]"), 0);
        assert_eq!(r.hold_len("abc [X"), 0);
    }

    #[test]
    fn escaped_restore_for_json_in_json() {
        let mut v = Vault::default();
        let ph = v.placeholder("SECRET", "a\"b\nc");
        let r = v.restorer().unwrap();
        assert_eq!(r.restore(&ph, true), "a\\\"b\\nc");
    }
}

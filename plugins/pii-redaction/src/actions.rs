//! What happens to a finding: mask, typed placeholder, keyed hash, block, or report only.

use std::collections::BTreeMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::engine::Rule;
use crate::vault::Vault;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Mask,
    Replace,
    Hash,
    Block,
    Report,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Keep `prefix` leading and `suffix` trailing characters, mask the rest.
    Mask {
        prefix: usize,
        suffix: usize,
    },
    /// Typed placeholder `[LABEL_n]`, restored in the answer.
    Replace,
    /// `full`: ai-data-masking's plain SHA-256 hex; otherwise `[LABEL:16 hex]` of the keyed hash.
    Hash {
        full: bool,
    },
    Block,
    Report,
}

impl Action {
    /// The replacement text, or `None` to leave the original (block and report).
    pub fn apply(
        &self,
        original: &str,
        label: &str,
        vault: &mut Vault,
        key: &[u8],
        mask_char: char,
    ) -> Option<String> {
        match self {
            Action::Mask { prefix, suffix } => Some(mask(original, *prefix, *suffix, mask_char)),
            Action::Replace => Some(vault.placeholder(label, original)),
            Action::Hash { full: true } => Some(hex(&digest(key, original.as_bytes()))),
            Action::Hash { full: false } => {
                let h = hex(&digest(key, original.as_bytes()));
                Some(format!("[{label}:{}]", &h[..16]))
            }
            Action::Block | Action::Report => None,
        }
    }
}

/// Masks letters and digits between the kept ends; separators (`-`, space, `@`, `.`) stay so the
/// shape remains readable (`138-****-5678`). An email keeps its domain.
pub fn mask(s: &str, prefix: usize, suffix: usize, mask_char: char) -> String {
    if let Some(at) = s.find('@') {
        let (local, domain) = s.split_at(at);
        return format!("{}{}", mask(local, prefix, 0, mask_char), domain);
    }
    let maskable: Vec<usize> = s
        .char_indices()
        .filter(|(_, c)| c.is_alphanumeric())
        .map(|(i, _)| i)
        .collect();
    let n = maskable.len();
    // Too short to keep both ends without revealing most of it: mask everything.
    let (p, q) = if prefix + suffix >= n {
        (0, 0)
    } else {
        (prefix, suffix)
    };
    let hide: std::collections::HashSet<usize> = maskable[p..n - q].iter().copied().collect();
    s.char_indices()
        .map(|(i, c)| if hide.contains(&i) { mask_char } else { c })
        .collect()
}

/// HMAC-SHA256 (RFC 2104) with `key`, or plain SHA-256 when no key is configured.
pub fn digest(key: &[u8], msg: &[u8]) -> [u8; 32] {
    if key.is_empty() {
        return Sha256::digest(msg).into();
    }
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What one request's inspection found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    pub counts: BTreeMap<String, u32>,
    /// The first detector whose action is block.
    pub blocked_by: Option<String>,
}

impl Report {
    pub fn count(&mut self, rule: &Rule, _original: &str) {
        // Looked up by `&str` first: this runs for every finding.
        match self.counts.get_mut(&rule.name) {
            Some(n) => *n += 1,
            None => {
                self.counts.insert(rule.name.clone(), 1);
            }
        }
        if rule.action == Action::Block && self.blocked_by.is_none() {
            self.blocked_by = Some(rule.name.clone());
        }
    }

    pub fn total(&self) -> u32 {
        self.counts.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_ends_and_separators() {
        assert_eq!(mask("13812345678", 3, 4, '*'), "138****5678");
        assert_eq!(mask("138-1234-5678", 3, 4, '*'), "138-****-5678");
        assert_eq!(mask("alice@example.com", 1, 4, '*'), "a****@example.com");
        assert_eq!(mask("1234", 3, 4, '*'), "****");
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let d = digest(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&d),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hash_is_keyed_and_stable() {
        let mut v = Vault::default();
        let a = Action::Hash { full: false };
        let x = a
            .apply("a@b.cn", "EMAIL", &mut v, b"tenant-1", '*')
            .unwrap();
        let y = a
            .apply("a@b.cn", "EMAIL", &mut v, b"tenant-1", '*')
            .unwrap();
        let z = a
            .apply("a@b.cn", "EMAIL", &mut v, b"tenant-2", '*')
            .unwrap();
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert!(x.starts_with("[EMAIL:") && x.len() == "[EMAIL:]".len() + 16);
    }
}

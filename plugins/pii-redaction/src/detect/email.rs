//! Email addresses, found from each `@` outwards (no regex); the `@`s come from the punctuation
//! pass in `detect::scan`.

use super::{Builtin, Hit};

fn local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// The address around the `@` at `at`, if there is one.
pub fn at(t: &[u8], at: usize) -> Option<Hit> {
    let mut s = at;
    while s > 0 && local_char(t[s - 1]) {
        s -= 1;
    }
    // `user:pass@host` is a URL credential, `/@scope` a path: not addresses.
    if s == at || t[s] == b'.' || t[at - 1] == b'.' || (s > 0 && matches!(t[s - 1], b':' | b'/')) {
        return None;
    }
    let mut e = at + 1;
    while e < t.len() && domain_char(t[e]) {
        e += 1;
    }
    // A sentence may end right after the address.
    while e > at + 1 && matches!(t[e - 1], b'.' | b'-') {
        e -= 1;
    }
    let domain = &t[at + 1..e];
    let dot = domain.iter().rposition(|b| *b == b'.')?;
    let tld = &domain[dot + 1..];
    let labels_ok = domain
        .split(|b| *b == b'.')
        .all(|l| !l.is_empty() && l[0] != b'-');
    (labels_ok && (2..=24).contains(&tld.len()) && tld.iter().all(u8::is_ascii_alphabetic))
        .then_some(Hit {
            start: s,
            end: e,
            kind: Builtin::Email,
        })
}

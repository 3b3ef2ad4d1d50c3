//! Email addresses, found from each `@` outwards (no regex: `@` is rare, so this is one memchr
//! pass over text without addresses).

use super::{Builtin, Hit};

fn local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

pub fn scan(t: &[u8], out: &mut Vec<Hit>) {
    let mut from = 0;
    while let Some(off) = memchr::memchr(b'@', &t[from..]) {
        let at = from + off;
        from = at + 1;
        let mut s = at;
        while s > 0 && local_char(t[s - 1]) {
            s -= 1;
        }
        // `user:pass@host` is a URL credential, `/@scope` a path: not addresses.
        if s == at
            || t[s] == b'.'
            || t[at - 1] == b'.'
            || (s > 0 && matches!(t[s - 1], b':' | b'/'))
        {
            continue;
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
        let Some(dot) = domain.iter().rposition(|b| *b == b'.') else {
            continue;
        };
        let tld = &domain[dot + 1..];
        let labels_ok = domain
            .split(|b| *b == b'.')
            .all(|l| !l.is_empty() && l[0] != b'-');
        if labels_ok && (2..=24).contains(&tld.len()) && tld.iter().all(u8::is_ascii_alphabetic) {
            out.push(Hit {
                start: s,
                end: e,
                kind: Builtin::Email,
            });
            from = e;
        }
    }
}

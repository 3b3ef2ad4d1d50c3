//! IPv6 and MAC addresses, found from each `:` (and `-` for dashed MACs) that the punctuation
//! pass in `detect::scan` stops at.

use std::net::Ipv6Addr;

use super::{left_boundary, right_boundary, Builtin, Hit};

pub const KINDS: [Builtin; 2] = [Builtin::Ipv6, Builtin::Mac];

fn tok_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// The MAC or IPv6 address through the `:` at `c`, and where the next `:` is worth looking at
/// (past this token: an IPv6 address has many).
pub fn colon(text: &str, c: usize) -> (Option<Hit>, usize) {
    let t = text.as_bytes();
    let mut s = c;
    while s > 0 && tok_char(t[s - 1]) {
        s -= 1;
    }
    let mut e = c;
    while e < t.len() && tok_char(t[e]) {
        e += 1;
    }
    let resume = e.max(c + 1);
    while e > s && t[e - 1] == b'.' {
        e -= 1;
    }
    if !left_boundary(t, s) || !right_boundary(t, e) {
        return (None, resume);
    }
    let tok = &text[s..e];
    let kind = if mac(tok.as_bytes(), b':') {
        Some(Builtin::Mac)
    } else if tok.len() >= 3
        && tok.bytes().filter(|b| *b == b':').count() >= 2
        && tok.bytes().any(|b| b.is_ascii_digit())
        && tok.parse::<Ipv6Addr>().is_ok()
    {
        Some(Builtin::Ipv6)
    } else {
        None
    };
    (
        kind.map(|kind| Hit {
            start: s,
            end: e,
            kind,
        }),
        resume,
    )
}

/// A dashed MAC (`00-1A-2B-3C-4D-5E`) whose first `-` is at `c`, after two hex digits.
pub fn dash(t: &[u8], c: usize) -> Option<Hit> {
    if c < 2 || c + 15 > t.len() || !left_boundary(t, c - 2) {
        return None;
    }
    let (s, e) = (c - 2, c + 15);
    (mac(&t[s..e], b'-') && right_boundary(t, e)).then_some(Hit {
        start: s,
        end: e,
        kind: Builtin::Mac,
    })
}

fn mac(tok: &[u8], sep: u8) -> bool {
    tok.len() == 17
        && tok.chunks(3).all(|g| {
            g[0].is_ascii_hexdigit()
                && g[1].is_ascii_hexdigit()
                && g.get(2).is_none_or(|b| *b == sep)
        })
}

//! IPv6 and MAC addresses, found from each `:` (and `-` for dashed MACs).

use std::net::Ipv6Addr;

use super::{left_boundary, right_boundary, Builtin, Hit};

pub const KINDS: [Builtin; 2] = [Builtin::Ipv6, Builtin::Mac];

fn tok_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

pub fn scan(text: &str, out: &mut Vec<Hit>) {
    let t = text.as_bytes();
    let mut from = 0;
    while let Some(off) = memchr::memchr(b':', &t[from..]) {
        let c = from + off;
        let mut s = c;
        while s > 0 && tok_char(t[s - 1]) {
            s -= 1;
        }
        let mut e = c;
        while e < t.len() && tok_char(t[e]) {
            e += 1;
        }
        from = e.max(c + 1);
        while e > s && t[e - 1] == b'.' {
            e -= 1;
        }
        if !left_boundary(t, s) || !right_boundary(t, e) {
            continue;
        }
        let tok = &text[s..e];
        if mac(tok.as_bytes(), b':') {
            out.push(Hit {
                start: s,
                end: e,
                kind: Builtin::Mac,
            });
        } else if tok.len() >= 3
            && tok.bytes().filter(|b| *b == b':').count() >= 2
            && tok.bytes().any(|b| b.is_ascii_digit())
            && tok.parse::<Ipv6Addr>().is_ok()
        {
            out.push(Hit {
                start: s,
                end: e,
                kind: Builtin::Ipv6,
            });
        }
    }
    // Dashed MACs: 00-1A-2B-3C-4D-5E. Look at each `-` that sits after two hex digits.
    let mut from = 0;
    while let Some(off) = memchr::memchr(b'-', &t[from..]) {
        let c = from + off;
        from = c + 1;
        if c >= 2 && c + 15 <= t.len() && left_boundary(t, c - 2) {
            let s = c - 2;
            let e = s + 17;
            if e <= t.len() && mac(&t[s..e], b'-') && right_boundary(t, e) {
                out.push(Hit {
                    start: s,
                    end: e,
                    kind: Builtin::Mac,
                });
                from = e;
            }
        }
    }
}

fn mac(tok: &[u8], sep: u8) -> bool {
    tok.len() == 17
        && tok.chunks(3).all(|g| {
            g[0].is_ascii_hexdigit()
                && g[1].is_ascii_hexdigit()
                && g.get(2).is_none_or(|b| *b == sep)
        })
}

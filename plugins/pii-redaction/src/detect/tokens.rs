//! One pass over word starts for everything that begins with a digit, `+` or an upper-case
//! letter: phone numbers, ID numbers, cards, SSN, IPv4, IBAN, passports.

use super::{is_word, left_boundary, right_boundary, Builtin, Hit};
use crate::validate;

pub const KINDS: [Builtin; 10] = [
    Builtin::CnMobile,
    Builtin::CnLandline,
    Builtin::IntlPhone,
    Builtin::CnId,
    Builtin::BankCard,
    Builtin::UsSsn,
    Builtin::Ipv4,
    Builtin::Iban,
    Builtin::Passport,
    Builtin::CnPlate,
];

const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

/// Longest digit run that is still looked at; longer runs are data (hashes, big numbers).
const MAX_DIGITS: usize = 24;

/// Word bytes (ASCII alphanumerics and `_`), as a table: the pass walks words byte by byte.
static WORD: [bool; 256] = {
    let mut w = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        w[i] = b.is_ascii_alphanumeric() || b == b'_';
        i += 1;
    }
    w
};

/// Byte classes of the word-start pass, looked up where it stops.
const SKIP: u8 = 0;
/// A word byte that starts no token (lower case, `_`): only an anchor may start there.
const WORD_ONLY: u8 = 1;
/// Digit or upper-case letter: numbers, IBANs, passports, plates.
const LEAD: u8 = 2;
const PLUS: u8 = 3;

static CLASS: [u8; 256] = {
    let mut c = [SKIP; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        c[i] = if b.is_ascii_digit() || b.is_ascii_uppercase() {
            LEAD
        } else if b.is_ascii_alphanumeric() || b == b'_' {
            WORD_ONLY
        } else if b == b'+' {
            PLUS
        } else {
            SKIP
        };
        i += 1;
    }
    c
};

/// The word-start pass. `tokens`: run this module's detectors; `anchors`: check the word-start
/// anchors (API keys, tokens, JWTs) at each word start too, so one pass serves both.
pub fn scan(t: &[u8], tokens: bool, anchors: bool, out: &mut Vec<Hit>) {
    let mut i = 0;
    loop {
        // Jump to the next place anything can start: most prompt bytes (prose, CJK text,
        // code) are passed over eight at a time without looking at them one by one.
        i = next_stop(t, i, tokens, anchors);
        if i >= t.len() {
            return;
        }
        let class = CLASS[t[i] as usize];
        if anchors {
            let w = if class == PLUS { i + 1 } else { i };
            if w < t.len() && WORD[t[w] as usize] {
                super::anchors::at_word_start(t, w, out);
            }
        }
        let mut j = i + 1;
        if tokens && class != WORD_ONLY && !preceded_by_joiner(t, i) && left_boundary(t, i) {
            let next = if class == LEAD && t[i].is_ascii_uppercase() {
                if let Some(h) = plate(t, i) {
                    out.push(h);
                }
                alnum_token(t, i, out)
            } else {
                number(t, i, out)
            };
            j = next.max(i + 1);
        }
        // Skip the rest of the word: nothing inside a word has a left boundary.
        while j < t.len() && WORD[t[j] as usize] {
            j += 1;
        }
        i = j;
    }
}

/// SWAR lanes: eight bytes of a little-endian `u64`, a lane flagged by its top bit.
const LANES_LO: u64 = 0x0101_0101_0101_0101;
const LANES_HI: u64 = 0x8080_8080_8080_8080;
const LANES_7F: u64 = 0x7f * LANES_LO;
const LANES_20: u64 = 0x20 * LANES_LO;

/// Lanes holding an ASCII byte in `lo..=hi` (`hi < 0x80`). Each lane's sums stay below 0x100,
/// so no carry crosses into the next lane and the answer is exact per byte.
#[inline(always)]
fn lanes_in(x: u64, lo: u8, hi: u8) -> u64 {
    let x7 = x & LANES_7F;
    let at_least_lo = x7 + (0x80 - u64::from(lo)) * LANES_LO;
    let at_most_hi = !(x7 + (0x7f - u64::from(hi)) * LANES_LO);
    at_least_lo & at_most_hi & !x & LANES_HI
}

/// Lanes equal to `b`.
#[inline(always)]
fn lanes_eq(x: u64, b: u8) -> u64 {
    let y = x ^ (u64::from(b) * LANES_LO);
    !(((y & LANES_7F) + LANES_7F) | y) & LANES_HI
}

/// The first position `>= from` where the pass has work: a `+`, or a word start whose first bytes
/// can begin something (a digit or an upper-case letter not followed by a lower-case one for the
/// token detectors; that upper-case letter or `sk`, `gh`, `gi`, `xo`, `ey` for the anchors), its
/// previous byte being neither a word byte nor a `+` (a word after `+` is handled with the `+`). Positions the byte-by-byte walk would only
/// pass over are skipped eight at a time. `t.len()` when there is none.
fn next_stop(t: &[u8], from: usize, tokens: bool, anchors: bool) -> usize {
    let stops = |x: u64, after: u64, prev: u64| -> (u64, u64) {
        let digit = lanes_in(x, b'0', b'9');
        // Letters of either case in one range check (`| 0x20` folds case and maps no other
        // ASCII byte into a..z); the upper-case ones are those whose 0x20 bit was clear.
        let letter = lanes_in(x | LANES_20, b'a', b'z');
        // An upper-case letter followed by a lower-case one starts nothing: IBANs, passports,
        // plates and the upper-case key prefixes continue in upper case or digits. This drops
        // the stops at capitalised words.
        let upper = letter & ((!x & LANES_20) << 2) & !lanes_in(after, b'a', b'z');
        let plus = lanes_eq(x, b'+');
        let word_or_plus = digit | letter | lanes_eq(x, b'_') | plus;
        let mut lead = 0;
        if tokens {
            lead |= digit | upper;
        }
        if anchors {
            // The lower-case anchors by their first two bytes (`sk-`, `ghp_`/`github_pat_`,
            // `xox`, `eyJ`): `after` holds each lane's next byte.
            let next = |b: u8| lanes_eq(after, b);
            lead |= upper
                | (lanes_eq(x, b's') & next(b'k'))
                | (lanes_eq(x, b'g') & (next(b'h') | next(b'i')))
                | (lanes_eq(x, b'x') & next(b'o'))
                | (lanes_eq(x, b'e') & next(b'y'));
        }
        let after_word = (word_or_plus << 8) | prev;
        (plus | (lead & !after_word), (word_or_plus >> 56) & 0x80)
    };
    let flag = |b: u8| {
        if WORD[b as usize] || b == b'+' {
            0x80
        } else {
            0
        }
    };
    let mut q = from;
    let mut prev = if q == 0 || q > t.len() {
        0
    } else {
        flag(t[q - 1])
    };
    while let Some(chunk) = t.get(q..q + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        if x & LANES_HI == LANES_HI {
            // Eight non-ASCII bytes (CJK text): nothing starts here.
            prev = 0;
        } else {
            let after = (x >> 8) | (u64::from(t.get(q + 8).copied().unwrap_or(0)) << 56);
            let (found, carry) = stops(x, after, prev);
            if found != 0 {
                return q + (found.trailing_zeros() / 8) as usize;
            }
            prev = carry;
        }
        q += 8;
    }
    if q < t.len() {
        // The tail, padded with zero bytes, which start nothing.
        let mut last = [0u8; 8];
        last[..t.len() - q].copy_from_slice(&t[q..]);
        let x = u64::from_le_bytes(last);
        let (found, _) = stops(x, x >> 8, prev);
        if found != 0 {
            return q + (found.trailing_zeros() / 8) as usize;
        }
    }
    t.len()
}

/// `v1.2`, `ORD-123`, `x/123`, `3.14`: the number continues an identifier or a decimal.
fn preceded_by_joiner(t: &[u8], i: usize) -> bool {
    if i < 2 {
        return false;
    }
    matches!(t[i - 1], b'-' | b'.' | b'/' | b'_' | b'#') && is_word(t[i - 2])
}

/// A run of digit groups joined by single spaces or dashes, from `i`. Returns where to continue.
fn number(t: &[u8], i: usize, out: &mut Vec<Hit>) -> usize {
    if let Some(end) = ipv4(t, i) {
        out.push(Hit {
            start: i,
            end,
            kind: Builtin::Ipv4,
        });
        return end;
    }
    let plus = t[i] == b'+';
    let mut j = i + usize::from(plus);
    let mut groups: [(usize, usize); 8] = [(0, 0); 8];
    let mut seps = [0u8; 8];
    let mut n = 0;
    loop {
        let g0 = j;
        while j < t.len() && t[j].is_ascii_digit() {
            j += 1;
        }
        if j == g0 || n == groups.len() {
            break;
        }
        groups[n] = (g0, j);
        n += 1;
        let sep = t.get(j).copied();
        if matches!(sep, Some(b' ' | b'-')) && t.get(j + 1).is_some_and(u8::is_ascii_digit) {
            seps[n - 1] = sep.unwrap_or(b' ');
            j += 1;
        } else {
            break;
        }
    }
    if n == 0 {
        return j;
    }
    let end = groups[n - 1].1;
    // Try the whole run, then each space-separated part ("room 12 13812345678").
    if classify(t, i, plus, &groups[..n], &seps[..n], out) {
        return end;
    }
    let mut k = 0;
    while k < n {
        let mut e = k;
        while e + 1 < n && seps[e] == b'-' {
            e += 1;
        }
        if (k, e) != (0, n - 1) {
            let s = if k == 0 { i } else { groups[k].0 };
            classify(t, s, k == 0 && plus, &groups[k..=e], &seps[k..=e], out);
        }
        k = e + 1;
    }
    end
}

/// Classifies one run of digit groups starting at `start`; pushes a hit and returns true on a match.
fn classify(
    t: &[u8],
    start: usize,
    plus: bool,
    groups: &[(usize, usize)],
    seps: &[u8],
    out: &mut Vec<Hit>,
) -> bool {
    let Some(&(_, mut end)) = groups.last() else {
        return false;
    };
    // The shortest thing classified here is an 8-digit international number (an 18th ID
    // character, X, only follows 17 digits): most numbers in prompts are shorter.
    if groups.iter().map(|(a, b)| b - a).sum::<usize>() < 8 {
        return false;
    }
    let mut d = [0u8; MAX_DIGITS + 1];
    let mut len = 0;
    for &(a, b) in groups {
        for &c in &t[a..b] {
            if len == MAX_DIGITS {
                return false;
            }
            d[len] = c;
            len += 1;
        }
    }
    // Fixed array: this runs for every number in the prompt, so no allocation.
    let mut size_buf = [0usize; 8];
    for (k, (a, b)) in groups.iter().enumerate().take(8) {
        size_buf[k] = b - a;
    }
    let sizes = &size_buf[..groups.len().min(8)];
    let dashes = seps[..groups.len() - 1].iter().all(|s| *s == b'-');
    let single = groups.len() == 1;
    // An 18th ID character may be X.
    let x_tail = len == 17 && single && matches!(t.get(end), Some(b'X' | b'x'));
    if x_tail {
        d[len] = b'X';
        len += 1;
        end += 1;
    }
    if !right_boundary(t, end) || followed_by_decimal(t, end) {
        return false;
    }
    let digits = &d[..len];
    let amex = len == 15 && matches!(&digits[..2], b"34" | b"37") && validate::luhn(digits);
    let kind = if !plus && sizes == [3, 2, 4] && dashes {
        let (a, g, s) = (&digits[..3], &digits[3..5], &digits[5..]);
        validate::ssn(a, g, s).then_some(Builtin::UsSsn)
    } else if !plus && (single || sizes == [6, 8, 4]) && validate::cn_id18(digits) {
        Some(Builtin::CnId)
    } else if !plus && single && !amex && validate::cn_id15(digits) {
        // 15-digit IDs have no check digit; a Luhn-valid Amex number is the likelier reading.
        Some(Builtin::CnId)
    } else if !plus
        && (13..=19).contains(&len)
        && (single || card_grouping(sizes))
        && validate::card_prefix_ok(digits)
        && validate::luhn(digits)
    {
        Some(Builtin::BankCard)
    } else if mobile(plus, digits, sizes) {
        Some(Builtin::CnMobile)
    } else if !plus && landline(digits, sizes, dashes) {
        Some(Builtin::CnLandline)
    } else if plus && (8..=15).contains(&len) && digits[0] != b'0' {
        Some(Builtin::IntlPhone)
    } else {
        None
    };
    match kind {
        Some(kind) => {
            out.push(Hit { start, end, kind });
            true
        }
        None => false,
    }
}

fn followed_by_decimal(t: &[u8], end: usize) -> bool {
    matches!(t.get(end), Some(b'.' | b',')) && t.get(end + 1).is_some_and(u8::is_ascii_digit)
}

fn card_grouping(sizes: &[usize]) -> bool {
    let (last, head) = match sizes.split_last() {
        Some(x) => x,
        None => return false,
    };
    (head.iter().all(|s| *s == 4) && (1..=4).contains(last))
        || sizes == [4, 6, 5]
        || sizes == [4, 6, 4]
}

fn mobile(plus: bool, d: &[u8], sizes: &[usize]) -> bool {
    let shape = |s: &[usize]| s.len() == 1 || s == [3, 4, 4];
    if !plus {
        return validate::cn_mobile(d) && shape(sizes);
    }
    // +86 138 1234 5678 / +8613812345678
    d.len() == 13
        && d.starts_with(b"86")
        && validate::cn_mobile(&d[2..])
        && (sizes.len() == 1 || shape(&sizes[1..]) && sizes[0] == 2)
}

/// `010-12345678`, `0755-1234567`: area code (3-4 digits from 0) and a 7-8 digit number.
fn landline(d: &[u8], sizes: &[usize], dashes: bool) -> bool {
    dashes
        && sizes.len() == 2
        && d[0] == b'0'
        && d.get(1).is_some_and(|c| *c != b'0')
        && matches!(sizes[0], 3 | 4)
        && matches!(sizes[1], 7 | 8)
        // Three-digit area codes are 010 and 02x only.
        && (sizes[0] == 4 || d[1] == b'1' && d[2] == b'0' || d[1] == b'2')
}

/// Dotted quad with four 0-255 parts, no leading zeros, not part of a longer dotted run.
fn ipv4(t: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for part in 0..4 {
        let s = j;
        while j < t.len() && t[j].is_ascii_digit() && j - s < 4 {
            j += 1;
        }
        let p = &t[s..j];
        if p.is_empty() || p.len() > 3 || (p.len() > 1 && p[0] == b'0') {
            return None;
        }
        let v: u32 = p.iter().fold(0, |a, c| a * 10 + u32::from(c - b'0'));
        if v > 255 {
            return None;
        }
        if part < 3 {
            if t.get(j) != Some(&b'.') {
                return None;
            }
            j += 1;
        }
    }
    let dotted_more = t.get(j) == Some(&b'.') && t.get(j + 1).is_some_and(u8::is_ascii_digit);
    // `10.4.2.1-rc1` is a version, not an address.
    let suffixed = t.get(j) == Some(&b'-') && t.get(j + 1).is_some_and(|b| is_word(*b));
    (right_boundary(t, j) && !dotted_more && !suffixed).then_some(j)
}

/// Upper-case led token: IBAN (maybe in groups of four) or a Chinese passport number.
fn alnum_token(t: &[u8], i: usize, out: &mut Vec<Hit>) -> usize {
    let mut j = i;
    while j < t.len() && (t[j].is_ascii_uppercase() || t[j].is_ascii_digit()) {
        j += 1;
    }
    if !right_boundary(t, j) {
        return j;
    }
    let tok = &t[i..j];
    if let Some(end) = iban(t, i, j) {
        out.push(Hit {
            start: i,
            end,
            kind: Builtin::Iban,
        });
        return end;
    }
    if passport(tok) {
        out.push(Hit {
            start: i,
            end: j,
            kind: Builtin::Passport,
        });
    }
    j
}

fn iban(t: &[u8], i: usize, first_end: usize) -> Option<usize> {
    let tok = &t[i..first_end];
    if tok.len() < 4
        || !tok[..2].iter().all(u8::is_ascii_uppercase)
        || !tok[2..4].iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let mut compact = tok.to_vec();
    let mut end = first_end;
    // Printed form: "GB82 WEST 1234 5698 7654 32".
    if tok.len() == 4 {
        while t.get(end) == Some(&b' ') && compact.len() < 34 {
            let s = end + 1;
            let mut e = s;
            while e < t.len() && (t[e].is_ascii_uppercase() || t[e].is_ascii_digit()) && e - s < 5 {
                e += 1;
            }
            if e == s || e - s > 4 || !right_boundary(t, e) {
                break;
            }
            compact.extend_from_slice(&t[s..e]);
            end = e;
        }
    }
    validate::iban(&compact).then_some(end)
}

/// Chinese passports: E/G + 8 digits, or E + letter + 7 digits (2019 series; not I or O);
/// D/S/P + 7 digits for diplomatic, service and public affairs passports.
fn passport(tok: &[u8]) -> bool {
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match tok {
        [b'E' | b'G', rest @ ..] if rest.len() == 8 && digits(rest) => true,
        [b'E', l, rest @ ..]
            if l.is_ascii_uppercase()
                && !matches!(l, b'I' | b'O')
                && rest.len() == 7
                && digits(rest) =>
        {
            true
        }
        [b'D' | b'S' | b'P', rest @ ..] if rest.len() == 7 && digits(rest) => true,
        _ => false,
    }
}

/// A plate: the letter at `p` follows a province character (3 bytes in UTF-8), then an
/// optional `·` or space and 5 characters (6 for new-energy plates, D or F first or last).
fn plate(t: &[u8], p: usize) -> Option<Hit> {
    let s = p.checked_sub(3)?;
    // Cheap reject for the common case (an ASCII byte before the letter): no UTF-8 decoding.
    if t[p - 1] < 0x80 || !(0xE0..0xF0).contains(&t[s]) {
        return None;
    }
    let prov = std::str::from_utf8(&t[s..p]).ok()?;
    if !PROVINCES.contains(prov) {
        return None;
    }
    let letter = |b: u8| b.is_ascii_uppercase() && b != b'I' && b != b'O';
    if !letter(t[p]) {
        return None;
    }
    let mut q = p + 1;
    if t[q..].starts_with("·".as_bytes()) {
        q += "·".len();
    } else if t.get(q) == Some(&b' ') {
        q += 1;
    }
    let mut e = q;
    while e < t.len() && (letter(t[e]) || t[e].is_ascii_digit()) {
        e += 1;
    }
    let body = &t[q..e];
    let digits = body.iter().filter(|b| b.is_ascii_digit()).count();
    let ok = (body.len() == 5
        || body.len() == 6 && (matches!(body[0], b'D' | b'F') || matches!(body[5], b'D' | b'F')))
        && digits >= 3
        && right_boundary(t, e);
    ok.then_some(Hit {
        start: s,
        end: e,
        kind: Builtin::CnPlate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `next_stop` by its definition, one byte at a time.
    fn next_stop_bytewise(t: &[u8], from: usize, tokens: bool, anchors: bool) -> usize {
        (from..t.len())
            .find(|&p| {
                let b = t[p];
                let pair = [b, t.get(p + 1).copied().unwrap_or(0)];
                let upper = b.is_ascii_uppercase() && !pair[1].is_ascii_lowercase();
                let lead = (tokens && (b.is_ascii_digit() || upper))
                    || (anchors && (upper || [b"sk", b"gh", b"gi", b"xo", b"ey"].contains(&&pair)));
                let after = p > 0 && (WORD[t[p - 1] as usize] || t[p - 1] == b'+');
                b == b'+' || (lead && !after)
            })
            .unwrap_or(t.len())
    }

    #[test]
    fn next_stop_matches_the_bytewise_definition() {
        let mut texts: Vec<Vec<u8>> = [
            "用户反馈订单号 20240520123456789，请分析。The API key sk-abc leaked; +86 138",
            "a+13812345678 x+y ++ _A9 Zz 0 ghp_ xox eyJ 中文ABC中文 s sk gi gh xo ey se gx",
            "",
            "+",
            "A",
            "ÿ\u{7f}\u{80}/:@[`{ 09AZaz_",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        // Pseudo-random bytes over an alphabet with every class, boundaries and high bytes.
        let alphabet = b"0919AZaz_+ -.sgxekhioy\x80\xe4\xbd\xa0\xff@:";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..200 {
            let mut v = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                v.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            texts.push(v);
        }
        for t in &texts {
            for (tokens, anchors) in [(true, true), (true, false), (false, true)] {
                for from in 0..=t.len() {
                    assert_eq!(
                        next_stop(t, from, tokens, anchors),
                        next_stop_bytewise(t, from, tokens, anchors),
                        "{:?} from {from} tokens {tokens} anchors {anchors}",
                        String::from_utf8_lossy(t)
                    );
                }
            }
        }
    }
}

//! Everything with a fixed literal start: API keys and tokens and JWTs (checked at word starts
//! by the token pass), private key blocks and credentials in URLs (checked at the `-` and `:`
//! where the punctuation pass in `detect::scan` stops).

use super::{left_boundary, right_boundary, Builtin, Hit};

/// Kinds found by `at_word_start`.
pub const WORD_START_KINDS: [Builtin; 7] = [
    Builtin::OpenaiKey,
    Builtin::AnthropicKey,
    Builtin::AwsAccessKey,
    Builtin::AliyunAccessKey,
    Builtin::GithubToken,
    Builtin::SlackToken,
    Builtin::Jwt,
];

#[derive(Clone, Copy)]
enum Anchor {
    OpenAi,
    Anthropic,
    Aws,
    Aliyun,
    GithubClassic,
    GithubPat,
    Slack,
    Jwt,
}

fn run(t: &[u8], from: usize, ok: impl Fn(u8) -> bool) -> usize {
    let mut e = from;
    while e < t.len() && ok(t[e]) {
        e += 1;
    }
    e
}

fn key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The anchors that start a word, checked by the word-start pass of `tokens` at each word
/// start: a switch on the first byte, so text without keys costs one comparison per word.
pub fn at_word_start(t: &[u8], s: usize, out: &mut Vec<Hit>) {
    let rest = &t[s..];
    let four = rest.get(..4).unwrap_or(&[]);
    let (anchor, len) = match t[s] {
        b's' if rest.starts_with(b"sk-ant-") => (Anchor::Anthropic, 7),
        b's' if rest.starts_with(b"sk-") => (Anchor::OpenAi, 3),
        b'A' if matches!(four, b"AKIA" | b"ASIA" | b"ABIA" | b"ACCA") => (Anchor::Aws, 4),
        b'L' if four == b"LTAI" => (Anchor::Aliyun, 4),
        b'g' if rest.starts_with(b"github_pat_") => (Anchor::GithubPat, 11),
        b'g' if matches!(four, b"ghp_" | b"gho_" | b"ghu_" | b"ghs_" | b"ghr_") => {
            (Anchor::GithubClassic, 4)
        }
        b'x' if rest.starts_with(b"xox")
            && matches!(
                rest.get(3..5),
                Some(b"b-" | b"p-" | b"a-" | b"r-" | b"s-" | b"e-")
            ) =>
        {
            (Anchor::Slack, 5)
        }
        b'e' if rest.starts_with(b"eyJ") => (Anchor::Jwt, 3),
        _ => return,
    };
    if let Some(h) = check(t, s, s + len, anchor) {
        out.push(h);
    }
}

/// Credentials in a URL whose `://` starts at the `:` at `p`.
pub fn url_credentials_at(t: &[u8], p: usize) -> Option<Hit> {
    if !t[p..].starts_with(b"://") {
        return None;
    }
    url_credentials(t, p, p + 3)
}

/// Where a private key block starts.
pub const BEGIN: &[u8] = b"-----BEGIN ";

fn hit(start: usize, end: usize, kind: Builtin) -> Option<Hit> {
    Some(Hit { start, end, kind })
}

fn check(t: &[u8], s: usize, p: usize, a: Anchor) -> Option<Hit> {
    let lb = left_boundary(t, s);
    match a {
        Anchor::OpenAi | Anchor::Anthropic => {
            let e = run(t, p, key_char);
            let kind = if matches!(a, Anchor::Anthropic) {
                Builtin::AnthropicKey
            } else {
                Builtin::OpenaiKey
            };
            // Real keys are long and mix letters and digits; "sk-learn-tutorial" is not one.
            let body = &t[p..e];
            let mixed =
                body.iter().any(u8::is_ascii_digit) && body.iter().any(u8::is_ascii_alphabetic);
            (lb && e - p >= 20 && mixed).then_some(())?;
            hit(s, e, kind)
        }
        Anchor::Aws => {
            let e = run(t, p, |b| b.is_ascii_uppercase() || b.is_ascii_digit());
            (lb && e - s == 20 && right_boundary(t, e)).then_some(())?;
            hit(s, e, Builtin::AwsAccessKey)
        }
        Anchor::Aliyun => {
            let e = run(t, p, |b| b.is_ascii_alphanumeric());
            (lb && (12..=20).contains(&(e - p)) && right_boundary(t, e)).then_some(())?;
            hit(s, e, Builtin::AliyunAccessKey)
        }
        Anchor::GithubClassic => {
            let e = run(t, p, |b| b.is_ascii_alphanumeric());
            (lb && e - p == 36 && right_boundary(t, e)).then_some(())?;
            hit(s, e, Builtin::GithubToken)
        }
        Anchor::GithubPat => {
            let e = run(t, p, |b| b.is_ascii_alphanumeric() || b == b'_');
            (lb && e - p >= 22).then_some(())?;
            hit(s, e, Builtin::GithubToken)
        }
        Anchor::Slack => {
            let e = run(t, p, |b| b.is_ascii_alphanumeric() || b == b'-');
            (lb && e - p >= 10).then_some(())?;
            hit(s, e, Builtin::SlackToken)
        }
        Anchor::Jwt => jwt(t, s, p, lb),
    }
}

/// header.payload.signature, header and payload both base64url JSON objects (`eyJ` / `ey`).
fn jwt(t: &[u8], s: usize, p: usize, lb: bool) -> Option<Hit> {
    let h_end = run(t, p, b64url);
    if !lb || h_end - s < 10 || t.get(h_end) != Some(&b'.') {
        return None;
    }
    let p_start = h_end + 1;
    let p_end = run(t, p_start, b64url);
    if p_end - p_start < 10 || !t[p_start..].starts_with(b"ey") || t.get(p_end) != Some(&b'.') {
        return None;
    }
    let e = run(t, p_end + 1, b64url);
    right_boundary(t, e).then_some(())?;
    hit(s, e, Builtin::Jwt)
}

/// `-----BEGIN ... PRIVATE KEY-----` (`BEGIN` at `s`, the label from `p`) through the matching
/// END line (also when the block was pasted on one line); without an END line the rest of the
/// text is key material and is taken whole.
pub fn private_key(t: &[u8], s: usize, p: usize) -> Option<Hit> {
    // The label ends at the next `-----`: `RSA PRIVATE KEY`, `OPENSSH PRIVATE KEY`, ...
    let close = p + memchr::memmem::find(&t[p..], b"-----")?;
    let label = &t[p..close];
    if !label.ends_with(b"PRIVATE KEY") || memchr::memchr(b'\n', label).is_some() {
        return None;
    }
    let body = close + 5;
    let end = match memchr::memmem::find(&t[body..], b"-----END ") {
        Some(off) => {
            let e0 = body + off + 9;
            match memchr::memmem::find(&t[e0..], b"-----") {
                Some(o) => e0 + o + 5,
                None => t.len(),
            }
        }
        None => t.len(),
    };
    hit(s, end, Builtin::PrivateKey)
}

/// `scheme://user:password@host`: the `user:password` part.
fn url_credentials(t: &[u8], s: usize, p: usize) -> Option<Hit> {
    if s == 0 || !t[s - 1].is_ascii_alphabetic() {
        return None;
    }
    let info = |b: u8| {
        !b.is_ascii_whitespace()
            && !matches!(b, b'/' | b'@' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>')
    };
    let e = run(t, p, info);
    if t.get(e) != Some(&b'@')
        || !t
            .get(e + 1)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'[')
    {
        return None;
    }
    let colon = memchr::memchr(b':', &t[p..e])?;
    (colon > 0 && p + colon + 1 < e).then_some(())?;
    hit(p, e, Builtin::UrlCredentials)
}

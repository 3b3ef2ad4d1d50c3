//! Everything with a fixed literal start, found in one Aho-Corasick pass: API keys and tokens,
//! JWTs, private key blocks and credentials in URLs. Only ASCII anchors, so the automaton's
//! prefilter skips CJK text quickly (plates are found in the token pass instead).

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};

use super::{left_boundary, right_boundary, Builtin, Hit};

pub const KINDS: [Builtin; 9] = [
    Builtin::OpenaiKey,
    Builtin::AnthropicKey,
    Builtin::AwsAccessKey,
    Builtin::AliyunAccessKey,
    Builtin::GithubToken,
    Builtin::SlackToken,
    Builtin::Jwt,
    Builtin::PrivateKey,
    Builtin::UrlCredentials,
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
    PrivateKey,
    Url,
}

fn automaton() -> Option<&'static (AhoCorasick, Vec<Anchor>)> {
    static AC: OnceLock<Option<(AhoCorasick, Vec<Anchor>)>> = OnceLock::new();
    AC.get_or_init(|| {
        let mut pats: Vec<String> = Vec::new();
        let mut kinds = Vec::new();
        let mut add = |p: &str, k: Anchor| {
            pats.push(p.to_string());
            kinds.push(k);
        };
        add("sk-ant-", Anchor::Anthropic);
        add("sk-", Anchor::OpenAi);
        for p in ["AKIA", "ASIA", "ABIA", "ACCA"] {
            add(p, Anchor::Aws);
        }
        add("LTAI", Anchor::Aliyun);
        for p in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
            add(p, Anchor::GithubClassic);
        }
        add("github_pat_", Anchor::GithubPat);
        for p in ["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-"] {
            add(p, Anchor::Slack);
        }
        add("eyJ", Anchor::Jwt);
        add("-----BEGIN ", Anchor::PrivateKey);
        add("://", Anchor::Url);
        AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&pats)
            .ok()
            .map(|ac| (ac, kinds))
    })
    .as_ref()
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

pub fn scan(t: &[u8], out: &mut Vec<Hit>) {
    let Some((ac, kinds)) = automaton() else {
        return;
    };
    let mut pos = 0;
    while pos < t.len() {
        let Some(m) = ac.find(&t[pos..]) else { break };
        let (s, p_end) = (pos + m.start(), pos + m.end());
        let hit = kinds
            .get(m.pattern().as_usize())
            .and_then(|k| check(t, s, p_end, *k));
        match hit {
            Some(h) => {
                pos = h.end.max(p_end);
                out.push(h);
            }
            None => pos = p_end,
        }
    }
}

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
        Anchor::PrivateKey => private_key(t, s, p),
        Anchor::Url => url_credentials(t, s, p),
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

/// `-----BEGIN ... PRIVATE KEY-----` through the matching END line; without an END line the
/// rest of the text is key material and is taken whole.
fn private_key(t: &[u8], s: usize, p: usize) -> Option<Hit> {
    let line_end = p + memchr::memchr(b'\n', &t[p..]).unwrap_or(t.len() - p);
    let head = &t[p..line_end];
    let is_private = memchr::memmem::find(head, b"PRIVATE KEY-----").is_some();
    if !is_private {
        return None;
    }
    let end = match memchr::memmem::find(&t[line_end..], b"-----END ") {
        Some(off) => {
            let e0 = line_end + off + 9;
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

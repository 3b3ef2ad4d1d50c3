//! Built-in detectors. Each scanner finds candidates by shape and keeps only those that pass the
//! format's validation (checksum, calendar date, issuer prefix, word boundaries).

mod anchors;
mod email;
mod net;
mod tokens;

/// A built-in detector. The order is the index into per-detector tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Builtin {
    Email,
    CnMobile,
    CnLandline,
    IntlPhone,
    CnId,
    BankCard,
    Iban,
    UsSsn,
    Ipv4,
    Ipv6,
    Mac,
    Passport,
    CnPlate,
    OpenaiKey,
    AnthropicKey,
    AwsAccessKey,
    AliyunAccessKey,
    GithubToken,
    SlackToken,
    Jwt,
    PrivateKey,
    UrlCredentials,
}

impl Builtin {
    pub const ALL: [Builtin; 22] = [
        Builtin::Email,
        Builtin::CnMobile,
        Builtin::CnLandline,
        Builtin::IntlPhone,
        Builtin::CnId,
        Builtin::BankCard,
        Builtin::Iban,
        Builtin::UsSsn,
        Builtin::Ipv4,
        Builtin::Ipv6,
        Builtin::Mac,
        Builtin::Passport,
        Builtin::CnPlate,
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

    /// Config name.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Email => "email",
            Builtin::CnMobile => "cn_mobile",
            Builtin::CnLandline => "cn_landline",
            Builtin::IntlPhone => "intl_phone",
            Builtin::CnId => "cn_id",
            Builtin::BankCard => "bank_card",
            Builtin::Iban => "iban",
            Builtin::UsSsn => "us_ssn",
            Builtin::Ipv4 => "ipv4",
            Builtin::Ipv6 => "ipv6",
            Builtin::Mac => "mac",
            Builtin::Passport => "passport",
            Builtin::CnPlate => "cn_plate",
            Builtin::OpenaiKey => "openai_key",
            Builtin::AnthropicKey => "anthropic_key",
            Builtin::AwsAccessKey => "aws_access_key",
            Builtin::AliyunAccessKey => "aliyun_access_key",
            Builtin::GithubToken => "github_token",
            Builtin::SlackToken => "slack_token",
            Builtin::Jwt => "jwt",
            Builtin::PrivateKey => "private_key",
            Builtin::UrlCredentials => "url_credentials",
        }
    }

    /// Placeholder label, `[LABEL_n]`.
    pub fn label(self) -> &'static str {
        match self {
            Builtin::Email => "EMAIL",
            Builtin::CnMobile | Builtin::CnLandline | Builtin::IntlPhone => "PHONE",
            Builtin::CnId => "ID_CARD",
            Builtin::BankCard => "BANK_CARD",
            Builtin::Iban => "IBAN",
            Builtin::UsSsn => "SSN",
            Builtin::Ipv4 | Builtin::Ipv6 => "IP",
            Builtin::Mac => "MAC",
            Builtin::Passport => "PASSPORT",
            Builtin::CnPlate => "PLATE",
            Builtin::OpenaiKey
            | Builtin::AnthropicKey
            | Builtin::AwsAccessKey
            | Builtin::AliyunAccessKey
            | Builtin::GithubToken
            | Builtin::SlackToken
            | Builtin::Jwt
            | Builtin::PrivateKey
            | Builtin::UrlCredentials => "SECRET",
        }
    }

    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A validated match of a built-in detector, as byte offsets into the scanned text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub start: usize,
    pub end: usize,
    pub kind: Builtin,
}

/// Which built-ins run. Groups of detectors share one pass, so a disabled detector costs nothing
/// only when its whole group is off.
#[derive(Clone, Debug)]
pub struct BuiltinSet {
    enabled: [bool; Builtin::ALL.len()],
}

impl Default for BuiltinSet {
    fn default() -> Self {
        BuiltinSet {
            enabled: [true; Builtin::ALL.len()],
        }
    }
}

impl BuiltinSet {
    pub fn none() -> Self {
        BuiltinSet {
            enabled: [false; Builtin::ALL.len()],
        }
    }
    pub fn set(&mut self, b: Builtin, on: bool) {
        self.enabled[b.index()] = on;
    }
    pub fn is_on(&self, b: Builtin) -> bool {
        self.enabled[b.index()]
    }
    fn any(&self, kinds: &[Builtin]) -> bool {
        kinds.iter().any(|k| self.is_on(*k))
    }
}

/// Runs every enabled built-in over `text` and appends validated hits (possibly overlapping;
/// the caller resolves overlaps).
pub fn scan(text: &str, set: &BuiltinSet, out: &mut Vec<Hit>) {
    let bytes = text.as_bytes();
    let start = out.len();
    let word_anchors = set.any(&anchors::WORD_START_KINDS);
    if set.any(&tokens::KINDS) || word_anchors {
        tokens::scan(bytes, set.any(&tokens::KINDS), word_anchors, out);
    }
    punctuation(text, set, out);
    // Scanners of a shared pass report every kind they know; drop the disabled ones here.
    let mut i = start;
    while i < out.len() {
        if set.is_on(out[i].kind) {
            i += 1;
        } else {
            out.swap_remove(i);
        }
    }
}

/// The detectors found from a punctuation byte, in one memchr3 pass over `@`, `:` and `-` (one
/// pass instead of one per detector: without SIMD in the wasm VM, each pass over the whole text
/// costs about as much as the word-start pass). Each detector keeps where it may look next, as
/// its own pass would.
fn punctuation(text: &str, set: &BuiltinSet, out: &mut Vec<Hit>) {
    let t = text.as_bytes();
    let email = set.is_on(Builtin::Email);
    let net = set.any(&net::KINDS);
    let url = set.is_on(Builtin::UrlCredentials);
    let key = set.is_on(Builtin::PrivateKey);
    if !(email || net || url || key) {
        return;
    }
    let (mut email_from, mut colon_from, mut dash_from, mut key_from) = (0, 0, 0, 0);
    for p in memchr::memchr3_iter(b'@', b':', b'-', t) {
        match t[p] {
            b'@' if email && p >= email_from => {
                if let Some(h) = email::at(t, p) {
                    email_from = h.end;
                    out.push(h);
                }
            }
            b':' => {
                if net && p >= colon_from {
                    let (h, resume) = net::colon(text, p);
                    colon_from = resume;
                    out.extend(h);
                }
                if url {
                    out.extend(anchors::url_credentials_at(t, p));
                }
            }
            b'-' => {
                if net && p >= dash_from {
                    if let Some(h) = net::dash(t, p) {
                        dash_from = h.end;
                        out.push(h);
                    }
                }
                if key && p >= key_from && t[p..].starts_with(anchors::BEGIN) {
                    key_from = p + anchors::BEGIN.len();
                    if let Some(h) = anchors::private_key(t, p, key_from) {
                        key_from = key_from.max(h.end);
                        out.push(h);
                    }
                }
            }
            _ => {}
        }
    }
}

/// ASCII word character: a match must not continue into one on either side.
pub fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Start of a token: nothing word-like (or a decimal point) just before `i`.
pub fn left_boundary(text: &[u8], i: usize) -> bool {
    match i.checked_sub(1).map(|p| text[p]) {
        None => true,
        Some(b) => !is_word(b),
    }
}

pub fn right_boundary(text: &[u8], end: usize) -> bool {
    text.get(end).is_none_or(|b| !is_word(*b))
}

#[cfg(test)]
mod tests;

//! Nothing may panic on any input (a panic traps the VM for every request on the worker):
//! pseudo-random text built from the characters detectors react to, through find/redact, and
//! random bytes through the stream restorer split at random points.

use pii_redaction::actions::Report;
use pii_redaction::config::Config;
use pii_redaction::response::{restore_body, StreamRestorer};
use pii_redaction::vault::Vault;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "1",
    "3",
    "8",
    "0",
    "9",
    "X",
    "x",
    "+",
    "-",
    " ",
    ".",
    ":",
    "@",
    "/",
    "_",
    "a",
    "E",
    "G",
    "B",
    "京",
    "粤",
    "·",
    "１",
    "３",
    "＠",
    "\u{3000}",
    "sk-",
    "sk-ant-",
    "AKIA",
    "LTAI",
    "ghp_",
    "github_pat_",
    "xoxb-",
    "eyJ",
    "-----BEGIN ",
    "PRIVATE KEY-----",
    "-----END ",
    "://",
    "[PHONE_1]",
    "[PHO",
    "\n",
    "\"",
    "\\",
    "é",
    "🙂",
    "GB82",
    "::",
    "ff",
    "13812345678",
    "4111111111111111",
];

fn random_text(rng: &mut Rng, max: usize) -> String {
    let n = rng.below(max);
    (0..n).map(|_| PIECES[rng.below(PIECES.len())]).collect()
}

#[test]
fn find_and_redact_never_panic_and_remove_what_they_find() {
    let cfg: Config = serde_json::from_value(serde_json::json!({
        "deny_words": ["京A", "x"],
        "custom_patterns": [{"name": "digits", "regex": "\\d{3,}", "action": "mask"}]
    }))
    .unwrap();
    let engine = &cfg.compiled().unwrap().engine;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let text = random_text(&mut rng, 40);
        let found = engine.find(&text);
        for w in found.windows(2) {
            assert!(w[0].end <= w[1].start, "overlap in {text:?}");
        }
        let mut redacted = text.clone();
        let mut vault = Vault::default();
        let mut report = Report::default();
        engine.redact(&mut redacted, &mut vault, &mut report, false);
        if let Some(r) = vault.restorer() {
            let _ = r.restore(&redacted, false);
        }
    }
}

#[test]
fn placeholders_round_trip() {
    // Default config: every built-in replaces with a placeholder, so restoring the redacted text
    // gives the input back. Texts with `[` are skipped: a literal placeholder typed by the user
    // is indistinguishable from one we issued.
    let cfg = Config::default();
    let engine = &cfg.compiled().unwrap().engine;
    let mut rng = Rng(7);
    let mut redacted_any = 0;
    for _ in 0..20_000 {
        let text = random_text(&mut rng, 30);
        if text.contains('[') {
            continue;
        }
        let mut redacted = text.clone();
        let mut vault = Vault::default();
        let mut report = Report::default();
        if engine.redact(&mut redacted, &mut vault, &mut report, false) {
            redacted_any += 1;
            let r = vault.restorer().expect("placeholders were issued");
            assert_eq!(r.restore(&redacted, false), text);
        }
    }
    assert!(
        redacted_any > 100,
        "the generator must produce findings ({redacted_any})"
    );
}

#[test]
fn stream_restorer_never_panics_on_random_bytes() {
    let mut vault = Vault::default();
    vault.placeholder("PHONE", "13812345678");
    let r = vault.restorer().unwrap();
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let mut bytes = Vec::new();
        for _ in 0..rng.below(12) {
            match rng.below(4) {
                0 => bytes.extend_from_slice(
                    b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"[PHO\"}}]}\n\n",
                ),
                1 => bytes.extend_from_slice(b"data: [DONE]\n\n"),
                2 => bytes.extend_from_slice(random_text(&mut rng, 10).as_bytes()),
                _ => bytes.extend((0..rng.below(20)).map(|_| rng.next() as u8)),
            }
        }
        let cut = rng.below(bytes.len() + 1);
        let mut s = StreamRestorer::default();
        let _ = s.feed(&r, &bytes[..cut]);
        let _ = s.feed(&r, &bytes[cut..]);
        let _ = s.finish(&r);
        let _ = restore_body(&r, &bytes);
    }
}

use super::*;

fn kinds(text: &str) -> Vec<(Builtin, &str)> {
    let mut out = Vec::new();
    scan(text, &BuiltinSet::default(), &mut out);
    out.sort_by_key(|h| h.start);
    out.iter()
        .map(|h| (h.kind, &text[h.start..h.end]))
        .collect()
}

#[test]
fn phones() {
    assert_eq!(
        kinds("call 13812345678 now"),
        [(Builtin::CnMobile, "13812345678")]
    );
    assert_eq!(
        kinds("手机：138-1234-5678。"),
        [(Builtin::CnMobile, "138-1234-5678")]
    );
    assert_eq!(
        kinds("+86 138 1234 5678"),
        [(Builtin::CnMobile, "+86 138 1234 5678")]
    );
    assert_eq!(
        kinds("座机010-62345678"),
        [(Builtin::CnLandline, "010-62345678")]
    );
    assert_eq!(
        kinds("office +44 20 7946 0958."),
        [(Builtin::IntlPhone, "+44 20 7946 0958")]
    );
    // A number after a room number is still found.
    assert_eq!(
        kinds("room 12 13812345678"),
        [(Builtin::CnMobile, "13812345678")]
    );
    // 12 digits, order ids and decimals are not phones.
    assert!(kinds("order 138123456789").is_empty());
    assert!(kinds("ORD-13812345678").is_empty());
    assert!(kinds("price 13812345678.50").is_empty());
}

#[test]
fn ids_cards_ssn() {
    assert_eq!(
        kinds("身份证11010519491231002X"),
        [(Builtin::CnId, "11010519491231002X")]
    );
    assert!(kinds("身份证110105194912310021").is_empty());
    assert_eq!(
        kinds("card 4111 1111 1111 1111"),
        [(Builtin::BankCard, "4111 1111 1111 1111")]
    );
    assert!(kinds("card 4111 1111 1111 1112").is_empty());
    assert_eq!(kinds("SSN 123-45-6789"), [(Builtin::UsSsn, "123-45-6789")]);
    assert!(kinds("SSN 666-45-6789").is_empty());
    assert!(kinds("date 2024-05-20").is_empty());
}

#[test]
fn network() {
    assert_eq!(
        kinds("host 192.168.1.10."),
        [(Builtin::Ipv4, "192.168.1.10")]
    );
    assert!(kinds("version 1.2.3 and v10.0.0.1 and 1.2.3.4.5 and 256.1.1.1").is_empty());
    assert_eq!(
        kinds("addr 2001:db8::8a2e:370:7334 ok"),
        [(Builtin::Ipv6, "2001:db8::8a2e:370:7334")]
    );
    assert!(kinds("at 12:30:45 use std::io and a::b").is_empty());
    assert_eq!(
        kinds("mac 00:1A:2B:3C:4D:5E"),
        [(Builtin::Mac, "00:1A:2B:3C:4D:5E")]
    );
    assert_eq!(
        kinds("mac 00-1a-2b-3c-4d-5e"),
        [(Builtin::Mac, "00-1a-2b-3c-4d-5e")]
    );
}

#[test]
fn email_and_url_credentials() {
    assert_eq!(
        kinds("mail alice.w+tag@example.co.uk."),
        [(Builtin::Email, "alice.w+tag@example.co.uk")]
    );
    assert_eq!(
        kinds("db postgres://admin:s3cret@db.local/x"),
        [(Builtin::UrlCredentials, "admin:s3cret")]
    );
    assert!(kinds("npm i @types/node and user@localhost").is_empty());
}

#[test]
fn secrets() {
    let k = "sk-proj-abcDEF1234567890abcdefGHIJ";
    assert_eq!(kinds(&format!("key {k} end")), [(Builtin::OpenaiKey, k)]);
    let a = "sk-ant-api03-abcdefghij1234567890XYZ";
    assert_eq!(kinds(a), [(Builtin::AnthropicKey, a)]);
    assert_eq!(
        kinds("AKIAIOSFODNN7EXAMPLE"),
        [(Builtin::AwsAccessKey, "AKIAIOSFODNN7EXAMPLE")]
    );
    assert_eq!(
        kinds("id LTAI5tAbCdEfGh123456"),
        [(Builtin::AliyunAccessKey, "LTAI5tAbCdEfGh123456")]
    );
    let g = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    assert_eq!(kinds(g), [(Builtin::GithubToken, g)]);
    assert_eq!(
        kinds("xoxb-123456789012-abcdef"),
        [(Builtin::SlackToken, "xoxb-123456789012-abcdef")]
    );
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlX2hlcmU";
    assert_eq!(kinds(jwt), [(Builtin::Jwt, jwt)]);
    let pk = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----";
    assert_eq!(kinds(&format!("{pk}\nbye")), [(Builtin::PrivateKey, pk)]);
    assert!(kinds("-----BEGIN CERTIFICATE-----").is_empty());
    assert!(kinds("use sk-learn-tutorial-for-beginners today").is_empty());
}

#[test]
fn iban_passport_plate() {
    assert_eq!(
        kinds("IBAN GB82 WEST 1234 5698 7654 32."),
        [(Builtin::Iban, "GB82 WEST 1234 5698 7654 32")]
    );
    assert_eq!(
        kinds("DE89370400440532013000"),
        [(Builtin::Iban, "DE89370400440532013000")]
    );
    assert!(kinds("DE89370400440532013001").is_empty());
    assert_eq!(kinds("护照E12345678"), [(Builtin::Passport, "E12345678")]);
    assert_eq!(kinds("车牌京A·12345"), [(Builtin::CnPlate, "京A·12345")]);
    assert_eq!(kinds("粤BD12345号"), [(Builtin::CnPlate, "粤BD12345")]);
    assert!(kinds("京A1").is_empty());
}

#[test]
fn disabled_kinds_are_dropped() {
    let mut set = BuiltinSet::default();
    set.set(Builtin::CnMobile, false);
    let mut out = Vec::new();
    scan("13812345678 a@b.cn", &set, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, Builtin::Email);
}

#[test]
fn never_panics_on_awkward_input() {
    for s in [
        "",
        "+",
        "@",
        ":",
        "-",
        "1",
        "京",
        "eyJ",
        "sk-",
        "-----BEGIN ",
        "://",
        "a@",
        "@b.c",
        "+8",
        "12:",
        "::",
        "GB82",
        "E1",
    ] {
        let _ = kinds(s);
    }
}

/// Per-scanner timing on mixed English/Chinese text; run with
/// `cargo test --release -p pii-redaction --lib scanner_costs -- --ignored --nocapture`.
#[test]
#[ignore]
fn scanner_costs() {
    let para = "用户反馈在提交订单时页面卡顿，订单号 20240520123456789，请分析原因。The service returned errors after the 14:05 deploy of version 2.31.4; latency rose to 870 ms at p99. fn main() { let x: Vec<u32> = (0..10).collect(); }\n";
    let text = para.repeat((1 << 20) / para.len());
    let t = text.as_bytes();
    let time = |name: &str, f: &dyn Fn(&mut Vec<Hit>)| {
        let start = std::time::Instant::now();
        let mut out = Vec::new();
        for _ in 0..20 {
            out.clear();
            f(&mut out);
        }
        let per = start.elapsed() / 20;
        println!(
            "{name}: {:.0} MB/s",
            t.len() as f64 / per.as_secs_f64() / 1e6
        );
    };
    time("tokens", &|o| tokens::scan(t, true, false, o));
    time("tokens + word-start anchors", &|o| {
        tokens::scan(t, true, true, o)
    });
    time(
        "punctuation pass (email, IPv6, MAC, URL credentials, private keys)",
        &|o| punctuation(&text, &BuiltinSet::default(), o),
    );
    time("fold", &|_| {
        std::hint::black_box(crate::normalize::fold(&text));
    });
}

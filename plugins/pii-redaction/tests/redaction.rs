//! Request redaction over every OpenAI message shape, placeholders and restore (whole bodies
//! and streams split at every byte), block, fail-closed, and ai-data-masking configs.

use pii_redaction::actions::Report;
use pii_redaction::config::Config;
use pii_redaction::engine::Finding;
use pii_redaction::request::{inspect, Outcome, Parsed};
use pii_redaction::response::{restore_body, StreamRestorer};
use pii_redaction::vault::Vault;
use serde_json::{json, Value};

fn cfg(v: Value) -> Config {
    let c: Config = serde_json::from_value(v).expect("config parses");
    c.compiled().expect("config compiles");
    c
}

fn run(c: &Config, body: &Value) -> (Outcome, Vault, Report) {
    let mut vault = Vault::default();
    let mut report = Report::default();
    let out = inspect(
        c,
        c.compiled().unwrap(),
        body.to_string().as_bytes(),
        &mut vault,
        &mut report,
    );
    (out.outcome, vault, report)
}

fn rewritten(o: Outcome) -> Value {
    match o {
        Outcome::Rewritten(b) => serde_json::from_slice(&b).unwrap(),
        other => panic!("expected a rewrite, got {other:?}"),
    }
}

/// Redacts with an external detector's findings merged in, as the plugin does once the analyzer
/// answered.
fn redact_with_findings(
    c: &Config,
    parsed: Parsed,
    texts: &[String],
    found: &[Vec<Finding>],
) -> (Value, Report) {
    let mut vault = Vault::default();
    let mut report = Report::default();
    let out = parsed.redact(
        c,
        c.compiled().unwrap(),
        &mut vault,
        &mut report,
        Some((texts, found)),
    );
    (rewritten(out.outcome), report)
}

const PHONE: &str = "13812345678";
const EMAIL: &str = "alice@example.com";

#[test]
fn every_message_shape_is_masked() {
    let c = cfg(json!({}));
    let body = json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": format!("ops contact {EMAIL}")},
            {"role": "user", "content": [
                {"type": "text", "text": format!("call {PHONE}")},
                {"type": "image_url", "image_url": {"url": "https://x/img.png"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "sms", "arguments": format!("{{\"to\":\"{PHONE}\"}}")}}
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": format!("sent to {PHONE}")},
            {"role": "assistant", "content": "ok", "reasoning_content": format!("user email {EMAIL}")}
        ],
        "vendor_field": {"keep": true}
    });
    let (o, vault, report) = run(&c, &body);
    let v = rewritten(o);
    let text = v.to_string();
    assert!(
        !text.contains(PHONE) && !text.contains(EMAIL),
        "raw data left: {text}"
    );
    assert_eq!(v["messages"][0]["content"], "ops contact [EMAIL_1]");
    assert_eq!(v["messages"][1]["content"][0]["text"], "call [PHONE_1]");
    assert_eq!(
        v["messages"][1]["content"][1]["image_url"]["url"],
        "https://x/img.png"
    );
    assert_eq!(v["messages"][2]["content"], Value::Null);
    assert_eq!(
        v["messages"][2]["tool_calls"][0]["function"]["arguments"],
        "{\"to\":\"[PHONE_1]\"}"
    );
    assert_eq!(v["messages"][3]["content"], "sent to [PHONE_1]");
    assert_eq!(
        v["messages"][4]["reasoning_content"],
        "user email [EMAIL_1]"
    );
    assert_eq!(v["vendor_field"], json!({"keep": true}));
    assert_eq!(vault.len(), 2);
    assert_eq!(report.counts["cn_mobile"], 3);
}

#[test]
fn roles_limit_what_is_inspected() {
    let c = cfg(json!({"roles": ["user"]}));
    let body = json!({"messages": [
        {"role": "system", "content": format!("admin {EMAIL}")},
        {"role": "user", "content": format!("mine {EMAIL}")}
    ]});
    let v = rewritten(run(&c, &body).0);
    assert_eq!(v["messages"][0]["content"], format!("admin {EMAIL}"));
    assert_eq!(v["messages"][1]["content"], "mine [EMAIL_1]");
}

#[test]
fn actions_mask_hash_report() {
    let c = cfg(json!({"detectors": {
        "cn_mobile": {"action": "mask"},
        "email": {"action": "hash"},
        "ipv4": {"action": "report"}
    }, "hash_key": "tenant-a"}));
    let body =
        json!({"messages": [{"role": "user", "content": format!("{PHONE} {EMAIL} 10.1.2.3")}]});
    let (o, vault, report) = run(&c, &body);
    let v = rewritten(o);
    let s = v["messages"][0]["content"].as_str().unwrap();
    assert!(s.starts_with("138****5678 [EMAIL:"), "{s}");
    assert!(s.ends_with(" 10.1.2.3"), "{s}");
    assert!(vault.is_empty(), "mask and hash issue no placeholders");
    assert_eq!(report.counts["ipv4"], 1);
}

#[test]
fn report_only_leaves_the_body_unchanged() {
    let c = cfg(json!({"default_action": "report"}));
    let body = json!({"messages": [{"role": "user", "content": PHONE}]});
    let (o, _, report) = run(&c, &body);
    assert_eq!(o, Outcome::Unchanged);
    assert_eq!(report.total(), 1);
}

#[test]
fn block_action_and_uninspectable_bodies() {
    let c = cfg(json!({"detectors": {"bank_card": {"action": "block"}}}));
    let body = json!({"messages": [{"role": "user", "content": "pay with 4111111111111111"}]});
    assert_eq!(run(&c, &body).0, Outcome::Blocked("bank_card".into()));
    let mut vault = Vault::default();
    let mut report = Report::default();
    let out = inspect(
        &c,
        c.compiled().unwrap(),
        b"{not json",
        &mut vault,
        &mut report,
    );
    assert!(matches!(out.outcome, Outcome::Uninspectable(_)));
}

#[test]
fn custom_patterns_with_named_groups_and_deny_words() {
    let c = cfg(json!({
        "custom_patterns": [
            {"name": "employee", "regex": "EMP-(?P<num>\\d{6})", "action": "replace", "value": "EMP-****"},
            {"name": "project", "regex": "Project (?P<code>[A-Z]{4})", "action": "replace"}
        ],
        "deny_words": ["Falcon", "机密"],
        "deny_words_action": "mask"
    }));
    let body = json!({"messages": [{"role": "user", "content": "EMP-123456 on Project ABCD, falcon plan, 机密文件, not falconry"}]});
    let v = rewritten(run(&c, &body).0);
    assert_eq!(
        v["messages"][0]["content"],
        "EMP-**** on [PROJECT_1], ****** plan, **文件, not falconry"
    );
}

#[test]
fn full_width_digits_are_found() {
    let c = cfg(json!({}));
    let body = json!({"messages": [{"role": "user", "content": "电话１３８１２３４５６７８谢谢"}]});
    let v = rewritten(run(&c, &body).0);
    assert_eq!(v["messages"][0]["content"], "电话[PHONE_1]谢谢");
}

#[test]
fn non_chat_json_and_json_paths_and_raw() {
    let c = cfg(json!({}));
    let v = rewritten(
        run(
            &c,
            &json!({"model": "e", "input": ["a", format!("b {EMAIL}")]}),
        )
        .0,
    );
    assert_eq!(v["input"][1], "b [EMAIL_1]");
    let c = cfg(json!({"deny_openai": false, "deny_jsonpath": ["$.query.text"]}));
    let v = rewritten(run(&c, &json!({"query": {"text": PHONE}, "other": PHONE})).0);
    assert_eq!(v, json!({"query": {"text": "[PHONE_1]"}, "other": PHONE}));
    let c = cfg(json!({"deny_raw": true}));
    let mut vault = Vault::default();
    let mut report = Report::default();
    let out = inspect(
        &c,
        c.compiled().unwrap(),
        format!("name=x&phone={PHONE}").as_bytes(),
        &mut vault,
        &mut report,
    );
    assert_eq!(
        out.outcome,
        Outcome::Rewritten(b"name=x&phone=[PHONE_1]".to_vec())
    );
}

#[test]
fn ai_data_masking_config_is_accepted_unchanged() {
    let c = cfg(json!({
        "deny_openai": true,
        "deny_jsonpath": ["$.messages[*].content"],
        "deny_raw": false,
        "system_deny": false,
        "deny_code": 200,
        "deny_message": "提问或回答中包含敏感词，已被屏蔽",
        "deny_raw_message": "{\"errmsg\":\"提问或回答中包含敏感词，已被屏蔽\"}",
        "deny_content_type": "application/json",
        "deny_words": ["自定义敏感词1"],
        "replace_roles": [
            {"regex": "%{MOBILE}", "type": "replace", "value": "****"},
            {"regex": "%{EMAILLOCALPART}@%{HOSTNAME:domain}", "type": "replace", "restore": true, "value": "****@$domain"},
            {"regex": "%{IP}", "type": "replace", "restore": true, "value": "***.***.***.***"},
            {"regex": "%{IDCARD}", "type": "replace", "value": "****"},
            {"regex": "sk-[0-9a-zA-Z]*", "restore": true, "type": "hash"}
        ]
    }));
    let body =
        json!({"messages": [{"role": "user", "content": "mail admin@gmail.com from 192.168.1.1"}]});
    let (o, vault, _) = run(&c, &body);
    let v = rewritten(o);
    // Built-ins run first at the same start and win ties by length; configured rules still apply
    // where they match longer text.
    let s = v["messages"][0]["content"].as_str().unwrap();
    assert!(
        !s.contains("admin@gmail.com") && !s.contains("192.168.1.1"),
        "{s}"
    );
    assert!(!vault.is_empty());
    let blocked = run(
        &c,
        &json!({"messages": [{"role": "user", "content": "这是自定义敏感词1"}]}),
    )
    .0;
    assert_eq!(blocked, Outcome::Blocked("deny_word".into()));
    let bad: Result<Config, _> =
        serde_json::from_value(json!({"replace_roles": [{"regex": "%{NOPE}"}]}));
    let err = bad
        .unwrap()
        .compiled()
        .err()
        .expect("unknown grok is an error");
    assert_eq!(err.path, "replace_roles[0].regex");
}

#[test]
fn compat_replace_roles_restore_when_builtins_are_off() {
    let mut detectors = serde_json::Map::new();
    for b in pii_redaction::detect::Builtin::ALL {
        detectors.insert(b.name().into(), json!({"enabled": false}));
    }
    let c = cfg(json!({"detectors": detectors, "replace_roles": [
        {"regex": "%{EMAILLOCALPART}@%{HOSTNAME:domain}", "type": "replace", "restore": true, "value": "****@$domain"}
    ]}));
    let (o, vault, _) = run(
        &c,
        &json!({"messages": [{"role": "user", "content": "mail admin@gmail.com"}]}),
    );
    assert_eq!(
        rewritten(o)["messages"][0]["content"],
        "mail ****@gmail.com"
    );
    let r = vault.restorer().unwrap();
    let answer = json!({"choices": [{"message": {"content": "wrote to ****@gmail.com"}}]});
    let out: Value =
        serde_json::from_slice(&restore_body(&r, answer.to_string().as_bytes()).unwrap()).unwrap();
    assert_eq!(
        out["choices"][0]["message"]["content"],
        "wrote to admin@gmail.com"
    );
}

fn vault_with(values: &[(&str, &str)]) -> Vault {
    let mut v = Vault::default();
    for (label, orig) in values {
        v.placeholder(label, orig);
    }
    v
}

#[test]
fn non_streaming_restore_keeps_json_valid() {
    let vault = vault_with(&[("PHONE", PHONE), ("SECRET", "line1\n\"quoted\"")]);
    let r = vault.restorer().unwrap();
    let body = json!({"id": "x", "choices": [{"index": 0, "message": {"role": "assistant",
        "content": "call [PHONE_1], key [SECRET_1]",
        "tool_calls": [{"function": {"name": "f", "arguments": "{\"k\":\"[SECRET_1]\"}"}}]}}]});
    let out: Value =
        serde_json::from_slice(&restore_body(&r, body.to_string().as_bytes()).unwrap()).unwrap();
    assert_eq!(
        out["choices"][0]["message"]["content"],
        format!("call {PHONE}, key line1\n\"quoted\"")
    );
    let args: Value = serde_json::from_str(
        out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(args["k"], "line1\n\"quoted\"");
    assert!(
        restore_body(&r, b"{\"choices\":[]}").is_none(),
        "nothing to restore, body untouched"
    );
}

fn chunk(content: &str) -> String {
    format!(
        "data: {}\n\n",
        json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})
    )
}

/// Concatenated delta contents of an SSE body, and whether it ends with `[DONE]`.
fn contents(sse: &[u8]) -> (String, bool) {
    let events = ai_proto::sse::SseDecoder::decode_all(sse).expect("valid SSE");
    let mut text = String::new();
    let mut done = false;
    for e in events {
        if e.is_done() {
            done = true;
            continue;
        }
        let v: Value = serde_json::from_str(&e.data).unwrap();
        for ch in v["choices"].as_array().unwrap() {
            if let Some(s) = ch["delta"]["content"].as_str() {
                text.push_str(s);
            }
        }
    }
    (text, done)
}

#[test]
fn stream_restore_at_every_split_point() {
    let vault = vault_with(&[("PHONE", PHONE), ("EMAIL", EMAIL)]);
    let r = vault.restorer().unwrap();
    // Tokens that cut both placeholders in awkward places.
    let tokens = [
        "Call ",
        "[PHO",
        "NE_1",
        "] or mail [",
        "EMAIL_1]",
        ".",
        " Done [x]",
    ];
    let mut upstream = String::new();
    for t in tokens {
        upstream.push_str(&chunk(t));
    }
    upstream.push_str(&format!(
        "data: {}\n\n",
        json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    ));
    upstream.push_str("data: [DONE]\n\n");
    let want = format!("Call {PHONE} or mail {EMAIL}. Done [x]");
    let bytes = upstream.as_bytes();
    for a in 0..=bytes.len() {
        // Two cuts: every first cut, and the second cut sweeping a window after it.
        for b in [a, (a + 7).min(bytes.len()), (a + 31).min(bytes.len())] {
            let mut s = StreamRestorer::default();
            let mut out = s.feed(&r, &bytes[..a]);
            out.extend(s.feed(&r, &bytes[a..b]));
            out.extend(s.feed(&r, &bytes[b..]));
            out.extend(s.finish(&r));
            let (text, done) = contents(&out);
            assert_eq!(text, want, "split at {a},{b}");
            assert!(done, "[DONE] must pass through (split at {a},{b})");
            assert!(out.ends_with(b"data: [DONE]\n\n"));
            assert!(
                s.max_held() < r.max_len(),
                "held {} >= {}",
                s.max_held(),
                r.max_len()
            );
        }
    }
}

#[test]
fn stream_placeholder_split_into_single_characters() {
    let vault = vault_with(&[("PHONE", PHONE)]);
    let r = vault.restorer().unwrap();
    let text = "a [PHONE_1] b [PHONE_1]";
    let mut s = StreamRestorer::default();
    let mut out = Vec::new();
    for ch in text.chars() {
        out.extend(s.feed(&r, chunk(&ch.to_string()).as_bytes()));
    }
    // No finish_reason and no [DONE]: the end of the stream flushes what is held.
    out.extend(s.finish(&r));
    assert_eq!(contents(&out).0, format!("a {PHONE} b {PHONE}"));
}

#[test]
fn stream_without_placeholders_is_byte_exact() {
    let vault = vault_with(&[("PHONE", PHONE)]);
    let r = vault.restorer().unwrap();
    let upstream = format!(
        "{}: keep-alive\n\n{}data: [DONE]\n\n",
        chunk("hello"),
        chunk(" world")
    );
    let mut s = StreamRestorer::default();
    let mut out = s.feed(&r, upstream.as_bytes());
    out.extend(s.finish(&r));
    assert_eq!(out, upstream.as_bytes());
}

#[test]
fn stream_restores_tool_arguments_and_reasoning() {
    let vault = vault_with(&[("SECRET", "a\"b")]);
    let r = vault.restorer().unwrap();
    let ev = |d: Value| {
        format!(
            "data: {}\n\n",
            json!({"choices": [{"index": 0, "delta": d}]})
        )
    };
    let upstream = [
        ev(json!({"reasoning_content": "use [SEC"})),
        ev(json!({"reasoning_content": "RET_1]"})),
        ev(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"k\":\"[SECRET"}}]})),
        ev(json!({"tool_calls": [{"index": 0, "function": {"arguments": "_1]\"}"}}]})),
    ]
    .concat();
    let mut s = StreamRestorer::default();
    let mut out = s.feed(&r, upstream.as_bytes());
    out.extend(s.finish(&r));
    let mut reasoning = String::new();
    let mut args = String::new();
    for e in ai_proto::sse::SseDecoder::decode_all(&out).unwrap() {
        let v: Value = serde_json::from_str(&e.data).unwrap();
        let d = &v["choices"][0]["delta"];
        reasoning.push_str(d["reasoning_content"].as_str().unwrap_or(""));
        if let Some(a) = d["tool_calls"][0]["function"]["arguments"].as_str() {
            args.push_str(a);
        }
    }
    assert_eq!(reasoning, "use a\"b");
    let parsed: Value = serde_json::from_str(&args).expect("arguments stay valid JSON");
    assert_eq!(parsed["k"], "a\"b");
}

/// Anthropic Messages stream: text and tool-input deltas of two content blocks, cut anywhere.
#[test]
fn anthropic_stream_restored_at_every_split_point() {
    let vault = vault_with(&[("PHONE", PHONE), ("SECRET", "a\"b")]);
    let r = vault.restorer().unwrap();
    let ev = |name: &str, d: Value| format!("event: {name}\ndata: {d}\n\n");
    let delta = |i: u64, d: Value| {
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": i, "delta": d}),
        )
    };
    let upstream = [
        ev(
            "message_start",
            json!({"type": "message_start", "message": {"id": "m"}}),
        ),
        delta(0, json!({"type": "text_delta", "text": "Call [PHO"})),
        delta(0, json!({"type": "text_delta", "text": "NE_1"})),
        delta(0, json!({"type": "text_delta", "text": "] then [PHONE_"})),
        ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        delta(
            1,
            json!({"type": "input_json_delta", "partial_json": "{\"k\":\"[SEC"}),
        ),
        delta(
            1,
            json!({"type": "input_json_delta", "partial_json": "RET_1]\"}"}),
        ),
        ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        ev("message_stop", json!({"type": "message_stop"})),
    ]
    .concat();
    let bytes = upstream.as_bytes();
    for cut in 0..=bytes.len() {
        let mut s = StreamRestorer::default();
        let mut out = s.feed(&r, &bytes[..cut]);
        out.extend(s.feed(&r, &bytes[cut..]));
        out.extend(s.finish(&r));
        let mut text = String::new();
        let mut json_text = String::new();
        let mut closed = [false; 2];
        for e in ai_proto::sse::SseDecoder::decode_all(&out).unwrap() {
            let v: Value = serde_json::from_str(&e.data).unwrap();
            let i = v["index"].as_u64().unwrap_or(0) as usize;
            match v["type"].as_str().unwrap() {
                "content_block_delta" => {
                    assert!(!closed[i], "delta after its block stopped (cut {cut})");
                    assert_eq!(e.event.as_deref(), Some("content_block_delta"));
                    text.push_str(v["delta"]["text"].as_str().unwrap_or(""));
                    json_text.push_str(v["delta"]["partial_json"].as_str().unwrap_or(""));
                }
                "content_block_stop" => closed[i] = true,
                _ => {}
            }
        }
        // "[PHONE_" is not a placeholder: released at the block's end, unchanged.
        assert_eq!(text, format!("Call {PHONE} then [PHONE_"), "cut at {cut}");
        let args: Value = serde_json::from_str(&json_text).expect("tool input stays JSON");
        assert_eq!(args["k"], "a\"b", "cut at {cut}");
        assert!(s.max_held() < r.max_len());
    }
}

/// Events whose data is plain text (no JSON) go through the same window.
#[test]
fn plain_text_stream_restored_at_every_split_point() {
    let vault = vault_with(&[("EMAIL", EMAIL)]);
    let r = vault.restorer().unwrap();
    let upstream = "data: mail [EMA\n\ndata: IL_1] today\n\nevent: ping\ndata: x\n\n";
    let bytes = upstream.as_bytes();
    for cut in 0..=bytes.len() {
        let mut s = StreamRestorer::default();
        let mut out = s.feed(&r, &bytes[..cut]);
        out.extend(s.feed(&r, &bytes[cut..]));
        out.extend(s.finish(&r));
        let text: String = ai_proto::sse::SseDecoder::decode_all(&out)
            .unwrap()
            .into_iter()
            .filter(|e| e.event.is_none())
            .map(|e| e.data)
            .collect();
        assert_eq!(text, format!("mail {EMAIL} today"), "cut at {cut}");
    }
}

const PRESIDIO: &str = "outbound|3000||presidio-analyzer.dns";

/// An external detector's findings (Presidio answer shape) merged with the built-ins: the same
/// span found by both goes to the built-in (lower rule index), placeholders are numbered per
/// entity type across messages, and a string visited twice gets them once.
#[test]
fn external_findings_merge_with_builtins_deterministically() {
    let c = cfg(json!({
        "deny_jsonpath": ["$.messages[0].content"],
        "external_detector": {"cluster": PRESIDIO,
            "entities": {"PERSON": "replace", "PHONE_NUMBER": {"action": "mask", "mask_prefix": 2}}}
    }));
    let compiled = c.compiled().unwrap();
    let ext = compiled
        .external
        .as_ref()
        .expect("external detector compiled");
    assert_eq!(ext.authority, "presidio-analyzer.dns");
    assert_eq!((ext.path.as_str(), ext.timeout_ms), ("/analyze", 500));
    let body = json!({"messages": [
        {"role": "user", "content": format!("Alice Smith {PHONE}")},
        {"role": "user", "content": "Bob, not Alice Smith"}]});
    let mut parsed = pii_redaction::request::parse(&c, body.to_string().as_bytes()).unwrap();
    let texts = parsed.texts(&c, compiled);
    // messages[0] is visited by OpenAI mode and by the JSON path.
    assert_eq!(texts.len(), 3);
    let joined = pii_redaction::external::Joined::new(&texts);
    let at = |needle: &str, from: usize| {
        let b = joined.text[from..].find(needle).unwrap() + from;
        let s = joined.text[..b].chars().count();
        (s, s + needle.chars().count(), b + needle.len())
    };
    let mut answer = Vec::new();
    let mut from = 0;
    for (needle, kind) in [
        ("Alice Smith", "PERSON"),
        (PHONE, "PHONE_NUMBER"),
        ("Bob", "PERSON"),
        ("Alice Smith", "PERSON"),
        ("Alice Smith", "PERSON"),
    ] {
        let (s, e, next) = at(needle, from);
        from = next;
        answer.push(json!({"entity_type": kind, "start": s, "end": e, "score": 0.85}));
    }
    let answer = serde_json::to_vec(&answer).unwrap();
    let found = ext.findings(&texts, &joined, 200, &answer).unwrap();
    let (v, report) = redact_with_findings(&c, parsed, &texts, &found);
    assert_eq!(v["messages"][0]["content"], "[PERSON_1] [PHONE_1]");
    assert_eq!(v["messages"][1]["content"], "[PERSON_2], not [PERSON_1]");
    assert_eq!(report.counts["external_person"], 3);
    assert_eq!(report.counts["cn_mobile"], 1);
    assert!(!report.counts.contains_key("external_phone_number"));
}

#[test]
fn external_detector_config_errors_name_the_field() {
    for (ext, field) in [
        (json!({"cluster": ""}), "external_detector.cluster"),
        (
            json!({"cluster": PRESIDIO, "timeout_ms": 0}),
            "external_detector.timeout_ms",
        ),
        (
            json!({"cluster": PRESIDIO, "path": "analyze"}),
            "external_detector.path",
        ),
        (
            json!({"cluster": PRESIDIO, "score_threshold": 2.0}),
            "external_detector.score_threshold",
        ),
        (
            json!({"cluster": PRESIDIO, "entities": {}}),
            "external_detector.entities",
        ),
        (
            json!({"cluster": PRESIDIO, "entities": {"person": "replace"}}),
            "external_detector.entities.person",
        ),
        (
            json!({"cluster": PRESIDIO, "service_name": "presidio.dns"}),
            "external_detector.service_name",
        ),
        (
            json!({"service_name": " "}),
            "external_detector.service_name",
        ),
        (
            json!({"cluster": PRESIDIO, "entities": {"EMAIL_ADDRESS": {"detector": "mail"}}}),
            "external_detector.entities.EMAIL_ADDRESS.detector",
        ),
        (
            json!({"cluster": PRESIDIO, "entities": {"EMAIL_ADDRESS":
                {"detector": "email", "action": "mask"}}}),
            "external_detector.entities.EMAIL_ADDRESS",
        ),
    ] {
        let c: Config = serde_json::from_value(json!({"external_detector": ext})).unwrap();
        let err = c.compiled().err().expect("rejected").to_string();
        assert!(err.contains(field), "{err} names {field}");
    }
    // Default entities: PERSON and LOCATION with the default action; fail policy inherited.
    let c = cfg(json!({"fail_open": true, "default_action": "mask",
        "external_detector": {"cluster": "presidio.local", "host": "presidio"}}));
    let ext = c.compiled().unwrap().external.as_ref().unwrap();
    assert!(ext.fail_open);
    assert_eq!(ext.authority, "presidio");
    assert_eq!(
        ext.entities.keys().collect::<Vec<_>>(),
        ["LOCATION", "PERSON"]
    );
    // Higress-style service fields build the cluster; the port defaults to Presidio's 3000.
    let c = cfg(json!({"external_detector": {"serviceName": "presidio.dns"}}));
    let ext = c.compiled().unwrap().external.as_ref().unwrap();
    assert_eq!(
        (ext.cluster.as_str(), ext.authority.as_str()),
        ("outbound|3000||presidio.dns", "presidio.dns")
    );
    let c = cfg(
        json!({"external_detector": {"service_name": "p.default.svc.cluster.local",
        "service_port": 5002}}),
    );
    let ext = c.compiled().unwrap().external.as_ref().unwrap();
    assert_eq!(ext.cluster, "outbound|5002||p.default.svc.cluster.local");
    // A disabled built-in cannot take an entity.
    let c: Config = serde_json::from_value(json!({"detectors": {"email": {"enabled": false}},
        "external_detector": {"cluster": PRESIDIO,
            "entities": {"EMAIL_ADDRESS": {"detector": "email"}}}}))
    .unwrap();
    let err = c.compiled().err().expect("rejected").to_string();
    assert!(err.contains("detector email is disabled"), "{err}");
}

/// An entity mapped to a built-in detector takes its rule: the same placeholders and action, so
/// Presidio's `EMAIL_ADDRESS` and the built-in `email` number `[EMAIL_n]` together, and a mask
/// action set on the detector applies to what Presidio found.
#[test]
fn external_entity_mapped_to_a_builtin_shares_its_rule() {
    let c = cfg(json!({
        "detectors": {"cn_mobile": {"action": "mask"}},
        "external_detector": {"cluster": PRESIDIO, "entities": {
            "EMAIL_ADDRESS": {"detector": "email"},
            "PHONE_NUMBER": {"detector": "cn_mobile"}}}
    }));
    let compiled = c.compiled().unwrap();
    let ext = compiled.external.as_ref().unwrap();
    // The analyzer finds an address the built-in cannot (no TLD) and a phone written in words
    // the built-in does not read; both take the built-ins' rules.
    let text = format!("mail {EMAIL} or admin@intranet, phone 138-1234-5678x");
    let body = json!({"messages": [{"role": "user", "content": text}]});
    let mut parsed = pii_redaction::request::parse(&c, body.to_string().as_bytes()).unwrap();
    let texts = parsed.texts(&c, compiled);
    let joined = pii_redaction::external::Joined::new(&texts);
    let span = |needle: &str| {
        let b = joined.text.find(needle).unwrap();
        let s = joined.text[..b].chars().count();
        (s, s + needle.chars().count())
    };
    let (a, b) = span("admin@intranet");
    let (p, q) = span("138-1234-5678");
    let answer = json!([
        {"entity_type": "EMAIL_ADDRESS", "start": a, "end": b, "score": 0.9},
        {"entity_type": "PHONE_NUMBER", "start": p, "end": q, "score": 0.7}]);
    let found = ext
        .findings(&texts, &joined, 200, answer.to_string().as_bytes())
        .unwrap();
    let (v, report) = redact_with_findings(&c, parsed, &texts, &found);
    assert_eq!(
        v["messages"][0]["content"],
        "mail [EMAIL_1] or [EMAIL_2], phone 138-****-5678x"
    );
    assert_eq!(report.counts["email"], 2);
    assert_eq!(report.counts["cn_mobile"], 1);
}

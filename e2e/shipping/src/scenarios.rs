//! End-to-end scenarios against a running gateway, by base URL, so the same checks run against
//! the local gateway (`make run`) and Higress in kind (`e2e/kind/run`). Each scenario sends its
//! requests with its own `Host`, which the deployment routes to a route where the plugin under
//! test is switched on by a `domain` match rule (see e2e/kind/manifests and e2e/kind/values).
//!
//! Checks on what the provider received use the mock LLM's control API (`--mock-url`); a
//! scenario that needs it and has no such URL is skipped with the reason.

use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const HOST_CHAT: &str = "chat.e2e.local";
pub const HOST_CACHE: &str = "cache.e2e.local";
pub const HOST_LIMIT: &str = "limit.e2e.local";
pub const HOST_FALLBACK: &str = "fallback.e2e.local";
/// The header token-rate-limit keys on in the e2e values.
pub const CONSUMER_HEADER: &str = "x-e2e-consumer";
const PHONE: &str = "13812345678";
/// Requests sent at most while waiting for the token limit to trip.
const LIMIT_ATTEMPTS: usize = 40;

pub struct Target {
    pub base_url: String,
    /// Control API of the mock LLM behind the chat/cache/limit routes.
    pub mock_url: Option<String>,
    agent: ureq::Agent,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Skipped(String),
    Failed(String),
}

pub struct Scenario {
    pub name: &'static str,
    pub what: &'static str,
    pub run: fn(&Target) -> Outcome,
}

pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "chat-passes-through",
            what: "a plain and a streamed chat completion come back whole",
            run: chat_passes_through,
        },
        Scenario {
            name: "pii-masked",
            what: "a phone number in the prompt never reaches the provider",
            run: pii_masked,
        },
        Scenario {
            name: "cache-hit-on-repeat",
            what: "the same question twice reaches the provider once",
            run: cache_hit_on_repeat,
        },
        Scenario {
            name: "token-limit-429",
            what: "a consumer over its token budget gets 429 with an OpenAI error",
            run: token_limit_429,
        },
        Scenario {
            name: "fallback-served",
            what: "a failing primary provider is answered by the fallback",
            run: fallback_served,
        },
    ]
}

impl Target {
    pub fn new(base_url: &str, mock_url: Option<&str>) -> Target {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Target {
            base_url: base_url.trim_end_matches('/').to_string(),
            mock_url: mock_url.map(|u| u.trim_end_matches('/').to_string()),
            agent,
        }
    }

    /// POST /v1/chat/completions with `Host: host`; (status, body text).
    fn chat(
        &self,
        host: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Result<(u16, String), String> {
        let mut req = self
            .agent
            .post(format!("{}/v1/chat/completions", self.base_url))
            .header("Host", host)
            .header("Content-Type", "application/json")
            .header("Authorization", "Bearer sk-e2e");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req
            .send(body.to_string())
            .map_err(|e| format!("POST to {}: {e}", self.base_url))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok((status, text))
    }

    fn mock(&self, path: &str) -> Result<Option<Value>, String> {
        let Some(m) = &self.mock_url else {
            return Ok(None);
        };
        let mut resp = self
            .agent
            .get(format!("{m}{path}"))
            .call()
            .map_err(|e| format!("{m}{path}: {e}"))?;
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{m}{path}: {e}"))
    }

    /// Requests the mock received whose last message contains `needle`.
    fn provider_saw(&self, needle: &str) -> Result<Option<Vec<Value>>, String> {
        Ok(self.mock("/mock/requests")?.map(|v| {
            v.as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r["body"].to_string().contains(needle))
                .collect()
        }))
    }
}

fn nonce() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}-{}", t.as_micros(), std::process::id())
}

fn user(content: &str) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]})
}

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Outcome::Failed(format!($($msg)+));
        }
    };
}

macro_rules! attempt {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Outcome::Failed(e),
        }
    };
}

fn chat_passes_through(t: &Target) -> Outcome {
    let (s, body) = attempt!(t.chat(HOST_CHAT, &user("Say hello"), &[]));
    check!(s == 200, "plain chat: HTTP {s}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    check!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "plain chat: no answer in {body}"
    );
    let mut req = user("Say hello, streamed");
    req["stream"] = json!(true);
    let (s, body) = attempt!(t.chat(HOST_CHAT, &req, &[]));
    check!(s == 200, "streamed chat: HTTP {s}: {body}");
    check!(
        body.contains("data: ") && body.trim_end().ends_with("data: [DONE]"),
        "streamed chat: not an SSE stream ending in [DONE]: {body}"
    );
    Outcome::Passed
}

fn pii_masked(t: &Target) -> Outcome {
    let tag = nonce();
    let (s, body) = attempt!(t.chat(
        HOST_CHAT,
        &user(&format!("e2e {tag}: call me at {PHONE}")),
        &[]
    ));
    check!(s == 200, "HTTP {s}: {body}");
    let Some(seen) = attempt!(t.provider_saw(&tag)) else {
        return Outcome::Skipped("needs --mock-url to see what the provider received".into());
    };
    check!(
        seen.len() == 1,
        "the provider got {} requests carrying the tag",
        seen.len()
    );
    let sent = seen[0]["body"].to_string();
    check!(
        !sent.contains(PHONE),
        "the phone number reached the provider: {sent}"
    );
    Outcome::Passed
}

fn cache_hit_on_repeat(t: &Target) -> Outcome {
    let q = user(&format!(
        "e2e cache question {}: what is the capital of France?",
        nonce()
    ));
    let (s1, b1) = attempt!(t.chat(HOST_CACHE, &q, &[]));
    check!(s1 == 200, "first ask: HTTP {s1}: {b1}");
    // The cache stores the answer after the response ends; give the write a moment.
    std::thread::sleep(Duration::from_millis(500));
    let (s2, b2) = attempt!(t.chat(HOST_CACHE, &q, &[]));
    check!(s2 == 200, "repeat: HTTP {s2}: {b2}");
    let a1: Value = serde_json::from_str(&b1).unwrap_or_default();
    let a2: Value = serde_json::from_str(&b2).unwrap_or_default();
    check!(
        a1["choices"][0]["message"]["content"] == a2["choices"][0]["message"]["content"],
        "the repeat answered differently: {b1} vs {b2}"
    );
    let tag = q["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match attempt!(t.provider_saw(&tag)) {
        Some(seen) => check!(
            seen.len() == 1,
            "the provider was asked {} times, the cache should answer the repeat",
            seen.len()
        ),
        None => {
            return Outcome::Skipped(
                "answers match; needs --mock-url to prove the provider was asked once".into(),
            )
        }
    }
    Outcome::Passed
}

fn token_limit_429(t: &Target) -> Outcome {
    let consumer = format!("e2e-limited-{}", nonce());
    for i in 1..=LIMIT_ATTEMPTS {
        let (s, body) = attempt!(t.chat(
            HOST_LIMIT,
            &user("Count from one to ten, please."),
            &[(CONSUMER_HEADER, &consumer)]
        ));
        if s == 429 {
            check!(i > 1, "the first request was already refused: {body}");
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            check!(
                v["error"].is_object(),
                "429 without an OpenAI error body: {body}"
            );
            return Outcome::Passed;
        }
        check!(s == 200, "request {i}: HTTP {s}: {body}");
    }
    Outcome::Failed(format!(
        "no 429 after {LIMIT_ATTEMPTS} requests of one consumer"
    ))
}

fn fallback_served(t: &Target) -> Outcome {
    let (s, body) = attempt!(t.chat(
        HOST_FALLBACK,
        &user(&format!("e2e fallback {}", nonce())),
        &[]
    ));
    check!(
        s == 200,
        "HTTP {s} although a fallback provider is healthy: {body}"
    );
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    check!(
        v["choices"][0]["message"]["content"].is_string(),
        "no answer in {body}"
    );
    Outcome::Passed
}

/// Runs the scenarios named in `only` (all when empty); prints one line each and the closing
/// `N passed, N failed, N skipped`. Returns whether none failed.
pub fn run(t: &Target, only: &[String]) -> bool {
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for s in all()
        .into_iter()
        .filter(|s| only.is_empty() || only.iter().any(|o| o == s.name))
    {
        match (s.run)(t) {
            Outcome::Passed => {
                passed += 1;
                println!("ok      {}: {}", s.name, s.what);
            }
            Outcome::Skipped(why) => {
                skipped += 1;
                println!("skipped {}: {why}", s.name);
            }
            Outcome::Failed(why) => {
                failed += 1;
                println!("FAILED  {}: {why}", s.name);
            }
        }
    }
    println!("scenarios: {passed} passed, {failed} failed, {skipped} skipped");
    failed == 0
}

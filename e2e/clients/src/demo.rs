//! The demo session (`make demo`): a short scripted conversation through the running chain, printed
//! as a table: what pii-redaction masked, cache misses and hits with their similarity, tokens and
//! money saved, a request refused by the token limit with its Retry-After, a request served by the
//! fallback provider.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::http::{self, Reply};
use crate::prometheus;

/// Where the chain is.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Gateway root, e.g. `http://127.0.0.1:10000` (requests go to `<base_url>/v1/...`).
    pub base_url: String,
    /// Gateway admin root (metrics); `None`: masked types are not shown.
    pub admin_url: Option<String>,
    /// Control URL of the primary mock LLM (`/mock/fault`, `/mock/requests`); `None` with a real
    /// provider: the fallback step is skipped, the provider's view of the PII is not shown.
    pub primary_control: Option<String>,
    /// Sent as `Authorization: Bearer` (a real provider's key).
    pub api_key: Option<String>,
}

impl Endpoints {
    /// From the `KEY=value` lines of the `endpoints.env` that `scripts/run-local` writes:
    /// `GATEWAY_URL` (required), `ADMIN_URL`, `MOCK_URL` (empty with a real provider, which turns the
    /// mock-only steps off). `api_key` is `LLM_API_KEY`, sent to a real provider.
    pub fn from_endpoints_env(text: &str, api_key: Option<String>) -> Result<Endpoints, String> {
        let get = |key: &str| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Ok(Endpoints {
            base_url: get("GATEWAY_URL").ok_or("no GATEWAY_URL")?,
            admin_url: get("ADMIN_URL"),
            primary_control: get("MOCK_URL"),
            api_key: api_key.filter(|k| !k.is_empty()),
        })
    }
}

/// Prices in US dollars per million tokens (default: gpt-4o-mini list prices).
#[derive(Debug, Clone, Copy)]
pub struct Prices {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            input_per_mtok: 0.15,
            output_per_mtok: 0.60,
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub step: String,
    pub status: u16,
    pub outcome: String,
    pub detail: String,
    pub ms: u128,
}

/// What the session saw, for the table and for tests.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub rows: Vec<Row>,
    /// Similarity of each cache hit, in order.
    pub hit_similarities: Vec<f64>,
    pub cache_misses: u32,
    pub input_tokens_saved: u64,
    pub output_tokens_saved: u64,
    pub dollars_saved: f64,
    /// Detector → findings, from the gateway's metrics (before/after the session).
    pub masked: BTreeMap<String, u64>,
    /// The user text as the provider received it (PII step), when the mock shows it.
    pub provider_saw: Option<String>,
    /// The 429: its Retry-After (seconds).
    pub retry_after: Option<u64>,
    /// `x-ai-fallback-provider` of the fallback step.
    pub fallback_provider: Option<String>,
}

struct Session<'a> {
    ep: &'a Endpoints,
    tenant: String,
    model: String,
    summary: Summary,
}

fn text_of(reply: &Reply) -> String {
    if reply.body.starts_with("data:") || reply.body.contains("\ndata:") {
        let mut out = String::new();
        for line in reply.body.lines() {
            let Some(data) = line.strip_prefix("data: ") else {
                continue;
            };
            if let Ok(v) = serde_json::from_str::<Value>(data) {
                if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
                    out.push_str(t);
                }
            }
        }
        return out;
    }
    reply.json().ok().map_or_else(String::new, |v| {
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    })
}

fn short(s: &str, n: usize) -> String {
    let s = s.replace('\n', " ");
    if s.chars().count() <= n {
        s
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// `(prompt_tokens, completion_tokens)` of a JSON answer or of a stream's usage chunk.
fn usage_of(reply: &Reply) -> Option<(u64, u64)> {
    let usage = if reply.body.starts_with('{') {
        reply.json().ok()?["usage"].clone()
    } else {
        reply
            .body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .map(|v| v["usage"].clone())
            .rfind(|u| u.is_object())?
    };
    Some((
        usage["prompt_tokens"].as_u64()?,
        usage["completion_tokens"].as_u64()?,
    ))
}

impl Session<'_> {
    fn chat(
        &self,
        tenant: &str,
        body: Value,
        extra: &[(&str, &str)],
    ) -> Result<(Reply, u128), String> {
        let url = format!("{}/v1/chat/completions", self.ep.base_url);
        let auth = self.ep.api_key.as_ref().map(|k| format!("Bearer {k}"));
        let mut headers = vec![("x-tenant", tenant)];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        headers.extend_from_slice(extra);
        let started = Instant::now();
        let reply = http::post(&url, &headers, &body.to_string())?;
        Ok((reply, started.elapsed().as_millis()))
    }

    fn ask(&self, tenant: &str, question: &str, stream: bool) -> Result<(Reply, u128), String> {
        let mut body =
            json!({"model": self.model, "messages": [{"role": "user", "content": question}]});
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        self.chat(tenant, body, &[])
    }

    fn row(&mut self, step: &str, reply: &Reply, ms: u128, outcome: String, detail: String) {
        self.summary.rows.push(Row {
            step: step.to_string(),
            status: reply.status,
            outcome,
            detail,
            ms,
        });
    }

    fn pii(&mut self) -> Result<(), String> {
        let question =
            "My email is alice.smith@example.com and my phone is 13812345678, update my profile";
        let (reply, ms) = self.ask(&self.tenant.clone(), question, false)?;
        let saw = match &self.ep.primary_control {
            Some(c) => http::get(&format!("{c}/mock/requests"))?
                .json()?
                .as_array()
                .and_then(|a| a.last().cloned())
                .and_then(|r| {
                    r["body"]["messages"][0]["content"]
                        .as_str()
                        .map(str::to_string)
                }),
            None => None,
        };
        let detail = match &saw {
            Some(s) => format!("provider saw: {}", short(s, 70)),
            None => "provider view not available (real provider)".into(),
        };
        self.summary.provider_saw = saw;
        let outcome = format!("answer: {}", short(&text_of(&reply), 48));
        self.row(
            "PII masked before the provider",
            &reply,
            ms,
            outcome,
            detail,
        );
        Ok(())
    }

    /// A question, its repeat, a paraphrase and a streamed repeat: one miss, then hits.
    fn cache(&mut self, prices: Prices) -> Result<(), String> {
        let tenant = self.tenant.clone();
        let first = "What is the capital city of France?";
        let ep = self.ep;
        let admin = ep.admin_url.as_deref();
        // Absent until the first store: 0.
        let stores = || metrics(admin).get(STORES).copied().unwrap_or(0.0);
        let stored_before = admin.map(|_| stores());
        let (reply, ms) = self.ask(&tenant, first, false)?;
        // The answer is stored just after its response ended: wait for the plugin's store
        // counter, so the repeats below are asked once each and never reach the provider.
        if let Some(before) = stored_before {
            let deadline = Instant::now() + Duration::from_secs(5);
            while stores() <= before && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let (prompt, completion) = usage_of(&reply).unwrap_or((0, 0));
        self.summary.cache_misses += 1;
        let status = reply.header("x-cache-status").unwrap_or("-").to_string();
        self.row(
            "cache: first question",
            &reply,
            ms,
            format!("{status}: {}", short(&text_of(&reply), 40)),
            format!("{prompt} + {completion} tokens paid"),
        );
        let asks = [
            ("cache: same question again", first, false),
            ("cache: paraphrase", "What's the capital of France?", false),
            ("cache: same question, streamed", first, true),
        ];
        for (step, question, stream) in asks {
            // Without the gateway's metrics (no admin URL) the store cannot be watched: ask
            // again until the cache answers.
            let deadline = Instant::now() + Duration::from_secs(5);
            let (reply, ms) = loop {
                let (r, ms) = self.ask(&tenant, question, stream)?;
                if r.header("x-cache-status") == Some("HIT") || Instant::now() > deadline {
                    break (r, ms);
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            let status = reply.header("x-cache-status").unwrap_or("-").to_string();
            let detail = if status == "HIT" {
                let sim: f64 = reply
                    .header("x-cache-similarity")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0.0);
                self.summary.hit_similarities.push(sim);
                self.summary.input_tokens_saved += prompt;
                self.summary.output_tokens_saved += completion;
                let dollars = (prompt as f64 * prices.input_per_mtok
                    + completion as f64 * prices.output_per_mtok)
                    / 1e6;
                self.summary.dollars_saved += dollars;
                format!(
                    "similarity {sim:.4}; saved {} tokens (${dollars:.6})",
                    prompt + completion
                )
            } else {
                self.summary.cache_misses += 1;
                "not served from the cache".into()
            };
            let outcome = format!("{status}: {}", short(&text_of(&reply), 40));
            self.row(step, &reply, ms, outcome, detail);
        }
        Ok(())
    }

    /// Tenant `tiny` has a small token budget (chain.yaml): long questions until one is refused.
    fn rate_limit(&mut self) -> Result<(), String> {
        let filler = "Please summarise the following meeting notes in detail. ".repeat(20);
        for i in 0..12 {
            let body = json!({"model": self.model, "max_tokens": 50, "messages": [{"role": "user",
                "content": format!("{filler} (note {i} of session {})", self.tenant)}]});
            // Past the cache: a hit is answered before the limiter and never charged.
            let (reply, ms) = self.chat("tiny", body, &[("x-higress-skip-ai-cache", "on")])?;
            if reply.status == 429 {
                let retry = reply.header("retry-after").and_then(|v| v.parse().ok());
                self.summary.retry_after = retry;
                let remaining = reply.header("x-ratelimit-remaining-tokens").unwrap_or("-");
                self.row(
                    "token limit (tenant tiny)",
                    &reply,
                    ms,
                    format!("refused after {i} admitted"),
                    format!(
                        "Retry-After: {}s, remaining tokens {remaining}",
                        retry.map_or("-".into(), |r: u64| r.to_string())
                    ),
                );
                return Ok(());
            }
        }
        Err("tenant tiny was never limited".into())
    }

    fn fallback(&mut self) -> Result<(), String> {
        let Some(control) = self.ep.primary_control.clone() else {
            self.summary.rows.push(Row {
                step: "fallback provider".into(),
                status: 0,
                outcome: "skipped".into(),
                detail: "needs the mock primary (make run without LLM_BASE_URL)".into(),
                ms: 0,
            });
            return Ok(());
        };
        http::put(&format!("{control}/mock/fault"), "status=503")?;
        let asked = self.ask(
            &self.tenant.clone(),
            &format!("Give me a haiku about failover ({})", self.tenant),
            false,
        );
        http::put(&format!("{control}/mock/fault"), "none")?;
        let (reply, ms) = asked?;
        let provider = reply.header("x-ai-fallback-provider").map(str::to_string);
        let model = reply
            .json()
            .ok()
            .and_then(|v| v["model"].as_str().map(str::to_string));
        let detail = format!(
            "primary 503 → served by {} (model {}), attempts {}",
            provider.as_deref().unwrap_or("-"),
            model.as_deref().unwrap_or("-"),
            reply.header("x-ai-fallback-attempts").unwrap_or("-")
        );
        self.summary.fallback_provider = provider;
        let outcome = format!("answer: {}", short(&text_of(&reply), 40));
        self.row("fallback provider", &reply, ms, outcome, detail);
        Ok(())
    }
}

/// semantic-cache's count of answers stored (Prometheus name).
const STORES: &str = "semantic_cache_stores";

/// The gateway's metrics (summed over series, the plugins' under their Higress names); empty
/// without an admin URL or when unreachable.
fn metrics(admin: Option<&str>) -> BTreeMap<String, f64> {
    admin
        .and_then(|a| http::get(&format!("{a}/stats/prometheus")).ok())
        .map(|r| prometheus::samples(&r.body))
        .unwrap_or_default()
}

/// pii-redaction's findings so far, by detector.
fn pii_counts(admin: Option<&str>) -> BTreeMap<String, u64> {
    const PREFIX: &str = "pii_redaction_detected_";
    metrics(admin)
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?.to_string(), v as u64)))
        .collect()
}

/// Runs the session against `ep`; `model` is the model asked for.
pub fn run(ep: &Endpoints, model: &str, prices: Prices) -> Result<Summary, String> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut s = Session {
        ep,
        // A tenant of its own: the cache is scoped by x-tenant, so every run starts cold.
        tenant: format!("demo-{stamp}"),
        model: model.to_string(),
        summary: Summary::default(),
    };
    let before = pii_counts(ep.admin_url.as_deref());
    s.pii()?;
    let after = pii_counts(ep.admin_url.as_deref());
    s.summary.masked = after
        .into_iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.saturating_sub(before.get(&k).copied().unwrap_or(0)),
            )
        })
        .filter(|(_, v)| *v > 0)
        .collect();
    s.cache(prices)?;
    s.rate_limit()?;
    s.fallback()?;
    Ok(s.summary)
}

/// The table and the totals, as printed by `ai-demo`.
pub fn render(summary: &Summary, prices: Prices) -> String {
    let mut rows = vec![[
        "step".to_string(),
        "status".into(),
        "ms".into(),
        "result".into(),
        "detail".into(),
    ]];
    for r in &summary.rows {
        rows.push([
            r.step.clone(),
            if r.status == 0 {
                "-".into()
            } else {
                r.status.to_string()
            },
            r.ms.to_string(),
            r.outcome.clone(),
            r.detail.clone(),
        ]);
    }
    let mut width = [0usize; 5];
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
        if i == 0 {
            let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
            let _ = writeln!(out, "|-{}-|", rule.join("-|-"));
        }
    }
    let masked = if summary.masked.is_empty() {
        "-".to_string()
    } else {
        summary
            .masked
            .iter()
            .map(|(k, v)| format!("{k} ×{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out);
    let _ = writeln!(out, "masked before the provider: {masked}");
    let _ = writeln!(
        out,
        "cache: {} hits ({}), {} misses",
        summary.hit_similarities.len(),
        summary
            .hit_similarities
            .iter()
            .map(|s| format!("similarity {s:.4}"))
            .collect::<Vec<_>>()
            .join(", "),
        summary.cache_misses
    );
    let _ = writeln!(
        out,
        "saved: {} input + {} output tokens = ${:.6} at ${}/M input, ${}/M output",
        summary.input_tokens_saved,
        summary.output_tokens_saved,
        summary.dollars_saved,
        prices.input_per_mtok,
        prices.output_per_mtok
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_env_as_run_local_writes_it_with_the_mock_and_with_a_real_provider() {
        let mock = "GATEWAY_URL=http://127.0.0.1:10000\nADMIN_URL=http://127.0.0.1:15000\n\
                    MOCK_URL=http://127.0.0.1:4001\nFALLBACK_URL=http://127.0.0.1:4002\nREDIS_PORT=6390\n";
        let ep = Endpoints::from_endpoints_env(mock, None).unwrap();
        assert_eq!(ep.base_url, "http://127.0.0.1:10000");
        assert_eq!(ep.admin_url.as_deref(), Some("http://127.0.0.1:15000"));
        assert_eq!(ep.primary_control.as_deref(), Some("http://127.0.0.1:4001"));
        assert_eq!(ep.api_key, None);
        // LLM_BASE_URL=https://host/compatible-mode: the base path is part of GATEWAY_URL, MOCK_URL
        // is empty, and the key from LLM_API_KEY is sent.
        let real = "GATEWAY_URL=http://127.0.0.1:10000/compatible-mode\nADMIN_URL=http://127.0.0.1:15000\n\
                    MOCK_URL=\nFALLBACK_URL=http://127.0.0.1:4002\n";
        let ep = Endpoints::from_endpoints_env(real, Some("sk-real".into())).unwrap();
        assert_eq!(ep.base_url, "http://127.0.0.1:10000/compatible-mode");
        assert_eq!(ep.primary_control, None);
        assert_eq!(ep.api_key.as_deref(), Some("sk-real"));
        assert!(Endpoints::from_endpoints_env("ADMIN_URL=x\n", None).is_err());
        assert_eq!(
            Endpoints::from_endpoints_env("GATEWAY_URL=g\n", Some(String::new()))
                .unwrap()
                .api_key,
            None
        );
    }
}

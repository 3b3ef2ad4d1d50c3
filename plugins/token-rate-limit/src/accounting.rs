//! What a request costs: the estimate reserved before the call (prompt + expected output) and the
//! real usage settled after it, in the unit the config counts (input, output, total, weighted).

use ai_proto::chat::ChatRequest;
use ai_proto::usage::Usage;
use token_estimate::{estimate_with, Encoding};

use crate::config::{Config, CountMode};

/// Tokens a chat format adds per message (role and separators), as OpenAI documents for its
/// models, and once for the assistant reply's priming.
const PER_MESSAGE: u64 = 4;
const REPLY_PRIMING: u64 = 3;
/// A non-text part (image, audio, file): what a low-detail image costs in OpenAI's accounting.
const NON_TEXT_PART: u64 = 85;

/// Estimated tokens of a request before it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tokens {
    pub input: u64,
    pub cached_input: u64,
    pub output: u64,
}

impl Tokens {
    /// The cost in the configured unit.
    pub fn cost(&self, config: &Config) -> u64 {
        match config.count {
            CountMode::Input => self.input,
            CountMode::Output => self.output,
            CountMode::Total => self.input.saturating_add(self.output),
            CountMode::Weighted => {
                let w = config.token_weights;
                let cached = self.cached_input.min(self.input);
                let v = (self.input - cached) as f64 * w.input
                    + cached as f64 * w.cached_input
                    + self.output as f64 * w.output;
                v.ceil().min(u64::MAX as f64) as u64
            }
        }
    }

    /// Real usage as reported; `None` fields are taken from `fallback` (the estimate).
    pub fn from_usage(usage: &Usage, fallback: &Tokens) -> Tokens {
        Tokens {
            input: usage.input_tokens.unwrap_or(fallback.input),
            cached_input: usage.cached_input_tokens.unwrap_or(0),
            output: usage.output_tokens.unwrap_or(fallback.output),
        }
    }
}

/// What the request body says, for the limiter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestEstimate {
    pub model: Option<String>,
    pub stream: bool,
    pub tokens: Tokens,
    /// The body with `stream_options.include_usage` added, when the plugin asked for usage the
    /// client did not (the usage chunk is then removed from the answer).
    pub rewritten: Option<Vec<u8>>,
}

/// Estimates a request body. A body that is not a chat request is estimated as text, with the
/// default output reservation.
pub fn estimate_request(body: &[u8], config: &Config) -> RequestEstimate {
    let encoding = config.encoding();
    let Ok(mut request) = serde_json::from_slice::<ChatRequest>(body) else {
        return RequestEstimate {
            tokens: Tokens {
                input: estimate_with(body, encoding),
                cached_input: 0,
                output: config.default_max_tokens(),
            },
            ..RequestEstimate::default()
        };
    };
    let input = prompt_tokens(&request, encoding);
    let choices = u64::from(request.n.unwrap_or(1).max(1));
    let output = request
        .max_output_tokens()
        .unwrap_or_else(|| config.default_max_tokens())
        .saturating_mul(choices);
    let rewritten = if config.inject_stream_usage() && request.ensure_stream_usage() {
        serde_json::to_vec(&request).ok()
    } else {
        None
    };
    RequestEstimate {
        model: request.model.take(),
        stream: request.is_stream(),
        tokens: Tokens {
            input,
            cached_input: 0,
            output,
        },
        rewritten,
    }
}

fn prompt_tokens(request: &ChatRequest, encoding: Encoding) -> u64 {
    let mut total = REPLY_PRIMING;
    for m in &request.messages {
        total += PER_MESSAGE + estimate_with(m.text().as_bytes(), encoding);
        if let Some(ai_proto::chat::Content::Parts(parts)) = &m.content {
            total += NON_TEXT_PART * parts.iter().filter(|p| p.as_text().is_none()).count() as u64;
        }
        if let Some(r) = m.reasoning_content.as_ref().and_then(Option::as_ref) {
            total += estimate_with(r.as_bytes(), encoding);
        }
        for call in m.tool_calls.iter().flatten() {
            if let Ok(json) = serde_json::to_vec(call) {
                total += estimate_with(&json, encoding);
            }
        }
    }
    if let Some(tools) = &request.tools {
        if let Ok(json) = serde_json::to_vec(tools) {
            total += estimate_with(&json, encoding);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: serde_json::Value) -> Config {
        let mut base = json!({"rule_name": "r", "global_threshold": {"token_per_minute": 100}});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn reserves_prompt_plus_max_tokens_times_n() {
        let c = config(json!({}));
        let body = json!({"model": "m", "max_tokens": 50, "n": 2, "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello to the world."}
        ]});
        let e = estimate_request(body.to_string().as_bytes(), &c);
        assert_eq!(e.model.as_deref(), Some("m"));
        assert_eq!(e.tokens.output, 100);
        // 2 messages × 4 + 3 priming + ~4 + ~6 text tokens.
        assert!((15..=25).contains(&e.tokens.input), "{:?}", e.tokens);
        assert!(e.rewritten.is_none());
    }

    #[test]
    fn streaming_without_usage_gets_include_usage() {
        let c = config(json!({"default_max_tokens": 300}));
        let body = json!({"stream": true, "stream_options": {"other": 1}, "messages": [{"role": "user", "content": "hi"}]});
        let e = estimate_request(body.to_string().as_bytes(), &c);
        assert!(e.stream);
        assert_eq!(e.tokens.output, 300);
        let sent: serde_json::Value = serde_json::from_slice(&e.rewritten.unwrap()).unwrap();
        assert_eq!(
            sent["stream_options"],
            json!({"other": 1, "include_usage": true})
        );
        // A client that asked keeps its body; so does a config that disables injection.
        let asked =
            json!({"stream": true, "stream_options": {"include_usage": true}, "messages": []});
        assert!(estimate_request(asked.to_string().as_bytes(), &c)
            .rewritten
            .is_none());
        let off = config(json!({"inject_stream_usage": false}));
        assert!(estimate_request(body.to_string().as_bytes(), &off)
            .rewritten
            .is_none());
    }

    #[test]
    fn non_chat_bodies_are_estimated_as_text() {
        let c = config(json!({}));
        let e = estimate_request(b"plain words here, not json", &c);
        assert!(e.tokens.input >= 5);
        assert_eq!(e.tokens.output, 1024);
    }

    #[test]
    fn cost_modes() {
        let t = Tokens {
            input: 100,
            cached_input: 40,
            output: 10,
        };
        assert_eq!(t.cost(&config(json!({}))), 110);
        assert_eq!(t.cost(&config(json!({"count": "input"}))), 100);
        assert_eq!(t.cost(&config(json!({"count": "output"}))), 10);
        let w = config(
            json!({"count": "weighted", "token_weights": {"cached_input": 0.1, "output": 4}}),
        );
        assert_eq!(t.cost(&w), 60 + 4 + 40);
    }

    #[test]
    fn real_usage_fills_gaps_from_the_estimate() {
        let est = Tokens {
            input: 10,
            cached_input: 0,
            output: 500,
        };
        let u = Usage {
            input_tokens: Some(12),
            ..Usage::default()
        };
        assert_eq!(
            Tokens::from_usage(&u, &est),
            Tokens {
                input: 12,
                cached_input: 0,
                output: 500
            }
        );
    }
}

//! Token usage from every dialect a gateway sees, normalised into [`Usage`].
//!
//! Normalised meaning (OpenAI's): `input_tokens` counts *all* prompt tokens, cache reads and
//! writes included; `output_tokens` counts all generated tokens, reasoning included. Dialects
//! that report these apart are added up:
//!
//! * OpenAI Chat: `usage.prompt_tokens`, `completion_tokens`, `total_tokens`,
//!   `prompt_tokens_details.cached_tokens`, `completion_tokens_details.reasoning_tokens`.
//! * OpenAI Responses: `usage.input_tokens`/`output_tokens`/`total_tokens`,
//!   `input_tokens_details.cached_tokens`, `output_tokens_details.reasoning_tokens`, at the top
//!   of a response object or under `response` in `response.completed` events.
//! * Anthropic: `usage.input_tokens` excludes cache reads/writes, so
//!   `input = input_tokens + cache_read_input_tokens + cache_creation_input_tokens`; found under
//!   `message` in `message_start` and at the top in `message_delta` and plain messages.
//! * Gemini: `usageMetadata`; `candidatesTokenCount` excludes `thoughtsTokenCount`, so
//!   `output = candidates + thoughts`, and `input = promptTokenCount + toolUsePromptTokenCount`.

mod probe;

use serde::Deserialize;
use serde_json::Value;

use crate::chat::ChatUsage;

use probe::Probe;

/// Dialect-independent token usage. `None` means the source did not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// All prompt tokens, cached included.
    pub input_tokens: Option<u64>,
    /// All generated tokens, reasoning included.
    pub output_tokens: Option<u64>,
    /// Total as reported by the source.
    pub total_tokens: Option<u64>,
    /// Prompt tokens read from a cache.
    pub cached_input_tokens: Option<u64>,
    /// Reasoning/thinking tokens.
    pub reasoning_tokens: Option<u64>,
    /// Prompt tokens written to a cache (Anthropic).
    pub cache_creation_input_tokens: Option<u64>,
}

impl Usage {
    /// Input tokens, 0 if unknown.
    pub fn input(&self) -> u64 {
        self.input_tokens.unwrap_or(0)
    }

    /// Output tokens, 0 if unknown.
    pub fn output(&self) -> u64 {
        self.output_tokens.unwrap_or(0)
    }

    /// The reported total, else input + output.
    pub fn total(&self) -> u64 {
        self.total_tokens
            .unwrap_or_else(|| self.input().saturating_add(self.output()))
    }

    /// Whether no field is known.
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }

    /// Folds in a later report. Every dialect reports running totals (Anthropic's
    /// `message_delta` repeats the output count so far; Gemini repeats all counts), so a field
    /// present in `later` replaces ours and fields it lacks are kept. A reported total that
    /// `later` does not restate is dropped when the counts change, so that [`total`](Self::total)
    /// is recomputed instead of going stale.
    pub fn merge(&mut self, later: &Usage) {
        let counts_changed = later.input_tokens.is_some() || later.output_tokens.is_some();
        if later.total_tokens.is_some() || counts_changed {
            self.total_tokens = later.total_tokens;
        }
        fn take(dst: &mut Option<u64>, src: Option<u64>) {
            if src.is_some() {
                *dst = src;
            }
        }
        take(&mut self.input_tokens, later.input_tokens);
        take(&mut self.output_tokens, later.output_tokens);
        take(&mut self.cached_input_tokens, later.cached_input_tokens);
        take(&mut self.reasoning_tokens, later.reasoning_tokens);
        take(
            &mut self.cache_creation_input_tokens,
            later.cache_creation_input_tokens,
        );
    }
}

impl From<&ChatUsage> for Usage {
    fn from(u: &ChatUsage) -> Self {
        Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
            total_tokens: u.total_tokens,
            cached_input_tokens: u
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens),
            reasoning_tokens: u
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens),
            cache_creation_input_tokens: None,
        }
    }
}

/// Usage from a JSON body or SSE `data:` payload of any supported dialect, detected by shape.
/// A JSON array (Gemini's non-SSE stream) is folded element by element with [`Usage::merge`].
/// `Ok(None)` when the payload carries no usage; `Err` only for malformed JSON.
pub fn extract_usage_from_slice(json: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
    let probe: Probe = serde_json::from_slice(json)?;
    Ok(probe.into_usage())
}

/// Like [`extract_usage_from_slice`] for a value already parsed.
pub fn extract_usage(value: &Value) -> Option<Usage> {
    Probe::deserialize(value).ok()?.into_usage()
}

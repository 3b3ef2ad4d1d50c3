//! Shared protocol layer for the gateway's LLM plugins.
//!
//! Every plugin parses OpenAI-compatible bodies and SSE streams through this crate, so it is
//! built for correctness on hostile input (no panics, bounded memory, clear errors) and for
//! speed on the hot path. It builds for native targets and `wasm32-wasip1` without threads.
//!
//! Modules, one job each:
//!
//! * [`sse`]: incremental `text/event-stream` decoder (WHATWG rules, split-safe, byte-exact
//!   raw frames for pass-through) and encoder.
//! * [`chat`]: Chat Completions request, response and `chat.completion.chunk` types that keep
//!   unknown fields and meaningful `null`s through a parse/serialise round trip, plus helpers
//!   such as [`chat::ChatRequest::last_user_text`] and in-place text editing for redaction.
//! * [`usage`]: token usage from OpenAI Chat, OpenAI Responses, Anthropic and Gemini bodies or
//!   stream events, normalised into one [`usage::Usage`].
//! * [`stream`]: [`stream::StreamAccumulator`] folds a streamed answer into one
//!   `chat.completion` with a memory bound.
//! * [`embeddings`]: `/v1/embeddings` request and response.
//! * [`error`]: the OpenAI error object, to parse upstream errors and build gateway errors.
//! * [`nullable`]: the `Nullable<T>` convention for fields where `null` differs from absent.

#![warn(missing_docs)]

pub mod chat;
mod de;
pub mod embeddings;
pub mod error;
pub mod nullable;
pub mod sse;
pub mod stream;
pub mod usage;

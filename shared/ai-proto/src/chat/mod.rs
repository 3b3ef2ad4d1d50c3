//! OpenAI Chat Completions schema: request, response and streaming chunk.
//!
//! Every object keeps fields it does not model in a flattened `extra` map, so a plugin can
//! parse, edit and re-serialise a body without losing vendor fields. Known fields are written in
//! OpenAI's order, followed by the unknown ones in their original order. Fields absent on input
//! stay absent (except `choices` and a choice's `index`, which are always written); where `null`
//! is meaningful (`content`, `refusal`, `reasoning_content`, `finish_reason`, `logprobs`, chunk
//! `usage`, `system_fingerprint`, `service_tier`) it is kept as well.

mod chunk;
mod content;
mod message;
mod request;
mod response;

pub use chunk::{ChatChunk, ChunkChoice, Delta};
pub use content::{Content, ContentPart, FileInput, ImageUrl, InputAudio};
pub use message::{FunctionCall, Message, Role, TextKind, TextSegment, ToolCall};
pub use request::{
    ChatRequest, FunctionDefinition, ResponseFormat, Stop, StreamOptions, Tool, ToolChoice,
};
pub use response::{ChatResponse, ChatUsage, Choice, CompletionTokensDetails, PromptTokensDetails};

//! The OpenAI error object, `{"error":{"message","type","param","code"}}`.

use serde::de::Error as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::nullable::present_value;

/// The `error` object of an OpenAI-style error body. Also reads Anthropic's
/// `{"type":"error","error":{"type","message"}}` and bodies whose `error` is a bare string.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OpenAiError {
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Error type, e.g. `invalid_request_error`, `rate_limit_exceeded`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Offending parameter; `Some(Value::Null)` for an explicit `null`.
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub param: Option<Value>,
    /// Machine-readable code (string or number); `Some(Value::Null)` for an explicit `null`.
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<Value>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a OpenAiError,
}

impl OpenAiError {
    /// An error with OpenAI's full shape: `param` and `code` present as `null` until set,
    /// because some SDKs expect the keys.
    pub fn new(message: impl Into<String>, kind: impl Into<String>) -> Self {
        OpenAiError {
            message: message.into(),
            kind: Some(kind.into()),
            param: Some(Value::Null),
            code: Some(Value::Null),
            extra: Map::new(),
        }
    }

    /// A 429 body in OpenAI's style (`type` and `code` both `rate_limit_exceeded`).
    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(message, "rate_limit_exceeded").with_code("rate_limit_exceeded")
    }

    /// Sets `code`.
    pub fn with_code(mut self, code: impl Into<Value>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets `param`.
    pub fn with_param(mut self, param: impl Into<Value>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// `code` as a string, if it is one.
    pub fn code_str(&self) -> Option<&str> {
        self.code.as_ref()?.as_str()
    }

    /// The complete body, `{"error":{...}}`.
    pub fn to_body(&self) -> Vec<u8> {
        // Only string-keyed maps and JSON values are serialised, which cannot fail; the
        // fallback exists so there is no panic path at all.
        serde_json::to_vec(&Body { error: self }).unwrap_or_else(|_| {
            br#"{"error":{"message":"internal error","type":"server_error"}}"#.to_vec()
        })
    }

    /// The body as one SSE event (`data: {...}\n\n`), for failing inside a started stream.
    pub fn to_sse_event(&self) -> Vec<u8> {
        let mut out = b"data: ".to_vec();
        out.extend_from_slice(&self.to_body());
        out.extend_from_slice(b"\n\n");
        out
    }

    /// Parses an error body. Fails if it is not JSON or has no `error` member.
    pub fn from_body(body: &[u8]) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Envelope {
            error: Option<Value>,
        }
        let env: Envelope = serde_json::from_slice(body)?;
        env.error
            .as_ref()
            .and_then(Self::from_error_value)
            .ok_or_else(|| serde_json::Error::custom("body has no `error` object or string"))
    }

    /// Interprets the value of an `error` member: an object, or a bare message string.
    pub fn from_error_value(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(OpenAiError {
                message: s.clone(),
                ..OpenAiError::default()
            }),
            Value::Object(_) => OpenAiError::deserialize(v).ok(),
            _ => None,
        }
    }
}

impl std::fmt::Display for OpenAiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Some(k) => write!(f, "{k}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for OpenAiError {}

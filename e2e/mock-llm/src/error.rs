//! OpenAI-shaped errors: every non-2xx answer carries `{"error":{"message","type","param","code"}}`,
//! because gateway plugins parse that body (fallback decisions, error metrics).

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ApiError {
    pub fn invalid_request(message: impl Into<String>, param: Option<&str>) -> Self {
        ApiError {
            status: 400,
            message: message.into(),
            kind: "invalid_request_error",
            param: param.map(str::to_string),
            code: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: 404,
            message: message.into(),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }
    }

    pub fn with_code(mut self, code: &str) -> Self {
        self.code = Some(code.to_string());
        self
    }

    /// The error a real provider would send for `status`; used by `status=CODE` faults.
    pub fn for_status(status: u16) -> Self {
        let (kind, code, message) = match status {
            400 => ("invalid_request_error", None, "Bad request (mock fault)."),
            401 => (
                "invalid_request_error",
                Some("invalid_api_key"),
                "Incorrect API key provided (mock fault).",
            ),
            403 => (
                "permission_error",
                Some("permission_denied"),
                "Permission denied (mock fault).",
            ),
            404 => (
                "invalid_request_error",
                Some("model_not_found"),
                "The model does not exist (mock fault).",
            ),
            408 => (
                "timeout_error",
                Some("timeout"),
                "Request timed out (mock fault).",
            ),
            413 => (
                "invalid_request_error",
                Some("request_too_large"),
                "Request too large (mock fault).",
            ),
            429 => (
                "requests",
                Some("rate_limit_exceeded"),
                "Rate limit reached for requests (mock fault).",
            ),
            500 => (
                "server_error",
                Some("internal_error"),
                "The server had an error while processing your request (mock fault).",
            ),
            502 => (
                "server_error",
                Some("bad_gateway"),
                "Bad gateway (mock fault).",
            ),
            503 => (
                "server_error",
                Some("service_unavailable"),
                "The engine is currently overloaded, please try again later (mock fault).",
            ),
            504 => (
                "server_error",
                Some("gateway_timeout"),
                "Gateway timeout (mock fault).",
            ),
            s if s >= 500 => ("server_error", None, "Server error (mock fault)."),
            _ => (
                "invalid_request_error",
                None,
                "Request failed (mock fault).",
            ),
        };
        ApiError {
            status,
            message: message.to_string(),
            kind,
            param: None,
            code: code.map(str::to_string),
        }
    }

    pub fn body(&self) -> Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

//! Local replies: block (a detector with action block fired) and fail-closed (body could not
//! be inspected). OpenAI-shaped errors, as an SSE event for streaming requests; or
//! ai-data-masking's reply when its deny fields are configured.

use ai_proto::error::OpenAiError;
use serde_json::json;

use crate::config::{Config, COMPAT_DENY_MESSAGE, DEFAULT_BLOCK_MESSAGE};

pub struct Reply {
    pub status: u32,
    pub content_type: String,
    pub body: Vec<u8>,
}

fn error_reply(status: u32, err: OpenAiError, stream: bool) -> Reply {
    if stream {
        let mut body = err.to_sse_event();
        body.extend_from_slice(b"data: [DONE]\n\n");
        Reply {
            status,
            content_type: "text/event-stream".into(),
            body,
        }
    } else {
        Reply {
            status,
            content_type: "application/json".into(),
            body: err.to_body(),
        }
    }
}

pub fn blocked(cfg: &Config, detector: &str, stream: bool) -> Reply {
    if cfg.compat_reply() {
        return compat(cfg, stream);
    }
    let msg = cfg
        .block_message
        .clone()
        .unwrap_or_else(|| DEFAULT_BLOCK_MESSAGE.into());
    let err = OpenAiError::new(msg, "invalid_request_error")
        .with_code("sensitive_data_detected")
        .with_param(detector.to_string());
    error_reply(u32::from(cfg.block_status.unwrap_or(400)), err, stream)
}

/// ai-data-masking: `deny_code` (200) with an assistant message in OpenAI mode, or
/// `deny_raw_message` with `deny_content_type` otherwise.
fn compat(cfg: &Config, stream: bool) -> Reply {
    let status = u32::from(cfg.deny_code.unwrap_or(200));
    let msg = cfg
        .deny_message
        .clone()
        .unwrap_or_else(|| COMPAT_DENY_MESSAGE.into());
    if !cfg.openai() {
        let body = cfg
            .deny_raw_message
            .clone()
            .unwrap_or_else(|| json!({"errmsg": COMPAT_DENY_MESSAGE}).to_string());
        let ct = cfg
            .deny_content_type
            .clone()
            .unwrap_or_else(|| "application/json".into());
        return Reply {
            status,
            content_type: ct,
            body: body.into_bytes(),
        };
    }
    if stream {
        let chunk = json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant", "content": msg}, "finish_reason": "stop"}]});
        let body = format!("data: {chunk}\n\ndata: [DONE]\n\n").into_bytes();
        return Reply {
            status,
            content_type: "text/event-stream".into(),
            body,
        };
    }
    let body = json!({"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": msg}, "finish_reason": "stop"}], "usage": {}});
    Reply {
        status,
        content_type: "application/json".into(),
        body: body.to_string().into_bytes(),
    }
}

/// Fail closed: the request is refused, never forwarded unread.
pub fn uninspectable(reason: &str, status: u32, stream: bool) -> Reply {
    let err = OpenAiError::new(
        format!("the request could not be checked for sensitive data: {reason}"),
        "invalid_request_error",
    )
    .with_code("pii_inspection_failed");
    error_reply(status, err, stream)
}

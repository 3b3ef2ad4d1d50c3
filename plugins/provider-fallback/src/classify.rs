//! What counts as a provider failure, for the route's own upstream (response headers, a held
//! body, the first SSE event) and for fallback callouts.

use higress_sdk::{HttpCallError, HttpResponse};
use serde_json::Value;

use crate::config::RetryOnFailure;
use crate::status::StatusPatterns;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A configured failure status from the provider.
    Status(u16),
    /// Envoy answered for the upstream: connect failure, reset before headers, route timeout
    /// (`response.code_details`, e.g. `upstream_reset_before_response_started{connection_failure}`).
    Gateway { status: u16, details: String },
    /// 200 whose JSON body is an error object.
    ErrorBody,
    /// 200 stream whose first data event is an error.
    StreamErrorEvent,
    /// 200 stream that ended before any data event.
    EmptyStream,
    /// 200 whose body is not a chat answer (callouts only).
    InvalidBody,
    /// The callout got no response (reset, connect failure).
    Reset,
    /// The callout timed out (Envoy's async client 504).
    Timeout,
    /// The primary sent no byte of its answer within `primary.firstByteTimeout`.
    FirstByteTimeout,
    /// After bytes went to the client: an error event, a reset, or an end without completion.
    MidStream(&'static str),
}

impl Failure {
    /// Short label for logs, metrics and `ai_log`.
    pub fn label(&self) -> String {
        match self {
            Failure::Status(s) => format!("status_{s}"),
            Failure::Gateway { status, details } => {
                let kind = details
                    .split_once('{')
                    .and_then(|(_, rest)| rest.strip_suffix('}'))
                    .unwrap_or(details);
                format!("gateway_{status}_{kind}")
            }
            Failure::ErrorBody => "error_body".into(),
            Failure::StreamErrorEvent => "stream_error_event".into(),
            Failure::EmptyStream => "empty_stream".into(),
            Failure::InvalidBody => "invalid_body".into(),
            Failure::Reset => "reset".into(),
            Failure::Timeout => "timeout".into(),
            Failure::FirstByteTimeout => "first_byte_timeout".into(),
            Failure::MidStream(why) => format!("mid_stream_{why}"),
        }
    }

    /// The metric-name kind (no status digits or details).
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Status(_) => "status",
            Failure::Gateway { .. } => "gateway",
            Failure::ErrorBody => "error_body",
            Failure::StreamErrorEvent => "stream_error_event",
            Failure::EmptyStream => "empty_stream",
            Failure::InvalidBody => "invalid_body",
            Failure::Reset => "reset",
            Failure::Timeout => "timeout",
            Failure::FirstByteTimeout => "first_byte_timeout",
            Failure::MidStream(_) => "mid_stream",
        }
    }
}

/// Envoy's own answers for an upstream it could not use (router `onUpstreamReset`,
/// `onResponseTimeout`, no healthy host).
pub fn is_gateway_details(details: &str) -> bool {
    details.starts_with("upstream_") || details == "no_healthy_upstream"
}

/// The route upstream's response headers.
pub fn upstream_headers(
    status: u16,
    details: Option<&str>,
    retry: &RetryOnFailure,
    statuses: &StatusPatterns,
) -> Option<Failure> {
    match details {
        Some(d) if d != "via_upstream" && is_gateway_details(d) => {
            (retry.on_gateway_error && status >= 500).then(|| Failure::Gateway {
                status,
                details: d.to_string(),
            })
        }
        // Local replies of later filters (e.g. ai-proxy's own 4xx) are not provider failures.
        Some(d) if d != "via_upstream" => None,
        _ => statuses.matches(status).then_some(Failure::Status(status)),
    }
}

/// Whether a JSON body is an error object (`{"error": {...}}` or `{"error": "..."}`).
pub fn is_error_body(body: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => o
            .get("error")
            .is_some_and(|e| e.is_object() || e.is_string()),
        _ => false,
    }
}

/// A callout answer: the parsed chat answer, or why it failed (with its `Retry-After`).
pub fn callout(
    result: &Result<HttpResponse, HttpCallError>,
    retry: &RetryOnFailure,
    statuses: &StatusPatterns,
) -> Result<Value, Failure> {
    let r = match result {
        Ok(r) => r,
        Err(_) => return Err(Failure::Reset),
    };
    if r.status == 504
        && r.body == b"upstream request timeout"
        && r.header("x-envoy-upstream-service-time").is_none()
    {
        return Err(Failure::Timeout);
    }
    if statuses.matches(r.status) {
        return Err(Failure::Status(r.status));
    }
    if !(200..300).contains(&r.status) {
        // Not a configured failure, but not an answer either: still try the next provider.
        return Err(Failure::Status(r.status));
    }
    match serde_json::from_slice::<Value>(&r.body) {
        Ok(v) if v.get("error").is_some_and(|e| !e.is_null()) => {
            if retry.on_error_body {
                Err(Failure::ErrorBody)
            } else {
                Err(Failure::InvalidBody)
            }
        }
        Ok(v) if v.get("choices").is_some_and(Value::is_array) => Ok(v),
        _ => Err(Failure::InvalidBody),
    }
}

/// `Retry-After` in delay-seconds, in ms, capped; HTTP-dates are ignored (providers send seconds).
pub fn retry_after_ms(value: Option<&str>, cap_ms: u32) -> Option<u64> {
    let secs: f64 = value?.trim().parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(((secs * 1000.0) as u64).min(u64::from(cap_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry() -> RetryOnFailure {
        RetryOnFailure::default()
    }

    fn statuses() -> StatusPatterns {
        StatusPatterns::compile(&["429".into(), "5..".into()]).unwrap()
    }

    fn resp(status: u16, body: &str) -> Result<HttpResponse, HttpCallError> {
        Ok(HttpResponse {
            status,
            headers: vec![(":status".into(), status.to_string())],
            body: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn upstream_statuses_and_gateway_details() {
        let (r, s) = (retry(), statuses());
        assert_eq!(
            upstream_headers(429, Some("via_upstream"), &r, &s),
            Some(Failure::Status(429))
        );
        assert_eq!(upstream_headers(200, Some("via_upstream"), &r, &s), None);
        assert_eq!(upstream_headers(400, Some("via_upstream"), &r, &s), None);
        let g = upstream_headers(
            503,
            Some("upstream_reset_before_response_started{connection_failure}"),
            &r,
            &s,
        )
        .unwrap();
        assert_eq!(g.label(), "gateway_503_connection_failure");
        let t = upstream_headers(504, Some("upstream_response_timeout"), &r, &s).unwrap();
        assert_eq!(t.label(), "gateway_504_upstream_response_timeout");
        assert_eq!(
            upstream_headers(503, Some("via_wasm::ai-proxy"), &r, &s),
            None
        );
        let mut off = retry();
        off.on_gateway_error = false;
        assert_eq!(
            upstream_headers(504, Some("upstream_response_timeout"), &off, &s),
            None
        );
    }

    #[test]
    fn callout_answers() {
        let (r, s) = (retry(), statuses());
        assert!(callout(&resp(200, r#"{"choices":[]}"#), &r, &s).is_ok());
        assert_eq!(callout(&resp(429, "{}"), &r, &s), Err(Failure::Status(429)));
        assert_eq!(callout(&resp(401, "{}"), &r, &s), Err(Failure::Status(401)));
        assert_eq!(
            callout(&resp(200, r#"{"error":{"message":"x"}}"#), &r, &s),
            Err(Failure::ErrorBody)
        );
        assert_eq!(
            callout(&resp(200, "not json"), &r, &s),
            Err(Failure::InvalidBody)
        );
        assert_eq!(
            callout(&resp(504, "upstream request timeout"), &r, &s),
            Err(Failure::Timeout)
        );
        assert_eq!(
            callout(&Err(HttpCallError::Failed), &r, &s),
            Err(Failure::Reset)
        );
    }

    #[test]
    fn error_bodies_and_retry_after() {
        assert!(is_error_body(br#"{"error":{"message":"quota"}}"#));
        assert!(is_error_body(br#"{"error":"bad"}"#));
        assert!(!is_error_body(br#"{"error":null,"choices":[]}"#));
        assert!(!is_error_body(b"garbage"));
        assert_eq!(retry_after_ms(Some("7"), 60_000), Some(7000));
        assert_eq!(retry_after_ms(Some("0.5"), 60_000), Some(500));
        assert_eq!(retry_after_ms(Some("999"), 10_000), Some(10_000));
        assert_eq!(
            retry_after_ms(Some("Wed, 21 Oct 2015 07:28:00 GMT"), 1),
            None
        );
        assert_eq!(retry_after_ms(None, 1), None);
    }
}

//! One JSON access-log line per request with the keys of Higress' default access log format
//! (`meshConfig.accessLogFormat` in the Higress helm chart), including `ai_log`, which Higress
//! fills from `%FILTER_STATE(wasm.ai_log:PLAIN)%` (written by the ai-statistics plugin).

use serde_json::{json, Value};
use std::io::Write;
use std::sync::Mutex;

/// What one finished request contributes to its log line.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub start_time: String,
    pub method: String,
    pub path: String,
    pub authority: String,
    pub protocol: String,
    pub request_id: String,
    pub user_agent: String,
    pub response_code: u32,
    pub response_code_details: String,
    pub route_name: String,
    pub upstream_cluster: String,
    pub upstream_host: String,
    pub downstream_remote_address: String,
    pub downstream_local_address: String,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub duration_ms: u64,
    pub ai_log: Option<String>,
}

impl Entry {
    pub fn to_json(&self) -> Value {
        let dash = |s: &str| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.to_string()
            }
        };
        json!({
            "start_time": self.start_time,
            "method": dash(&self.method),
            "path": dash(&self.path),
            "authority": dash(&self.authority),
            "protocol": self.protocol,
            "request_id": dash(&self.request_id),
            "user_agent": dash(&self.user_agent),
            "response_code": self.response_code,
            "response_code_details": dash(&self.response_code_details),
            "route_name": dash(&self.route_name),
            "upstream_cluster": dash(&self.upstream_cluster),
            "upstream_host": dash(&self.upstream_host),
            "downstream_remote_address": self.downstream_remote_address,
            "downstream_local_address": self.downstream_local_address,
            "bytes_received": self.bytes_received,
            "bytes_sent": self.bytes_sent,
            "duration": self.duration_ms,
            "ai_log": self.ai_log.clone().unwrap_or_else(|| "-".into()),
        })
    }
}

/// Where lines go; `None` = logging off.
pub struct AccessLog {
    sink: Option<Mutex<Box<dyn Write + Send>>>,
}

impl AccessLog {
    pub fn open(target: Option<&str>) -> std::io::Result<Self> {
        let sink: Option<Box<dyn Write + Send>> = match target {
            None => None,
            Some("stdout") => Some(Box::new(std::io::stdout())),
            Some(path) => Some(Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )),
        };
        Ok(Self {
            sink: sink.map(Mutex::new),
        })
    }

    pub fn write(&self, e: &Entry) {
        if let Some(sink) = &self.sink {
            let line = e.to_json().to_string();
            if let Ok(mut w) = sink.lock() {
                // A full disk or closed stdout must not take the data plane down.
                let _ = writeln!(w, "{line}");
                let _ = w.flush();
            }
        }
    }
}

/// Plugins store `ai_log` string-escaped (the SDKs escape it because Higress pastes it between
/// quotes: `"ai_log":"%FILTER_STATE(wasm.ai_log:PLAIN)%"`). Unescaping it and letting the JSON
/// encoder quote it again gives the same line Higress writes; a value that is not an escaped
/// string is kept as it is.
pub fn ai_log_text(stored: &[u8]) -> String {
    let raw = String::from_utf8_lossy(stored);
    serde_json::from_str::<String>(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.into_owned())
}

/// RFC 3339 UTC timestamp with milliseconds (Envoy `%START_TIME%`).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_and_json_keys() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_767_225_600_123);
        assert_eq!(rfc3339(t), "2026-01-01T00:00:00.123Z");
        let e = Entry {
            response_code: 200,
            ai_log: Some(r#"{"model":"m"}"#.into()),
            ..Entry::default()
        };
        assert_eq!(ai_log_text(br#"{\"a\":1}"#), r#"{"a":1}"#);
        assert_eq!(ai_log_text(br#"{"a":1}"#), r#"{"a":1}"#);
        let v = e.to_json();
        assert_eq!(v["ai_log"], r#"{"model":"m"}"#);
        assert_eq!(v["route_name"], "-");
        assert_eq!(v["response_code"], 200);
    }
}

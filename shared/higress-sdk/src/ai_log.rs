//! The `ai_log` filter-state attribute that Higress's access log prints as
//! `"ai_log":"%FILTER_STATE(wasm.ai_log:PLAIN)%"`.
//!
//! The value is a JSON object stored JSON-string-escaped without the outer quotes (so it sits
//! inside the access log's quoted field), exactly as the Go wrapper stores it. Several plugins
//! write to it on one request, so writes merge into what is already there.

use serde_json::{Map, Value};

use crate::hostcalls;
use crate::types::HostError;

pub const AI_LOG_KEY: &str = "ai_log";

/// Merges `entries` into the `ai_log` property (later writes of a key win).
pub fn write(entries: &[(&str, Value)]) -> Result<(), HostError> {
    write_to(AI_LOG_KEY, entries)
}

/// Same for any log attribute, e.g. `custom_log`.
pub fn write_to(property: &str, entries: &[(&str, Value)]) -> Result<(), HostError> {
    let mut object = read_from(property)?;
    for (k, v) in entries {
        object.insert((*k).to_string(), v.clone());
    }
    hostcalls::set_property(&[property], encode(&object).as_bytes())
}

/// The current `ai_log` object (empty if unset or unreadable).
pub fn read() -> Result<Map<String, Value>, HostError> {
    read_from(AI_LOG_KEY)
}

pub fn read_from(property: &str) -> Result<Map<String, Value>, HostError> {
    Ok(hostcalls::get_property(&[property])?
        .map(|b| decode(&b))
        .unwrap_or_default())
}

/// The stored form: the object's JSON text, string-escaped, without the outer quotes.
pub fn encode(object: &Map<String, Value>) -> String {
    let json = Value::Object(object.clone()).to_string();
    let quoted = Value::String(json).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// Reads either the escaped form or a plain JSON object (written by a plugin that did not escape).
/// Anything else is treated as empty: losing a malformed entry beats failing the request.
pub fn decode(stored: &[u8]) -> Map<String, Value> {
    if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(stored) {
        return object;
    }
    let mut quoted = Vec::with_capacity(stored.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(stored);
    quoted.push(b'"');
    match serde_json::from_slice::<Value>(&quoted) {
        Ok(Value::String(inner)) => match serde_json::from_str::<Value>(&inner) {
            Ok(Value::Object(object)) => object,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_form_is_escaped_without_outer_quotes() {
        let mut m = Map::new();
        m.insert("model".into(), json!("qwen \"max\""));
        assert_eq!(encode(&m), r#"{\"model\":\"qwen \\\"max\\\"\"}"#);
        assert_eq!(decode(encode(&m).as_bytes()), m);
    }

    #[test]
    fn merges_with_what_other_plugins_wrote() {
        let fake = crate::testing::install();
        fake.set_property(&["ai_log"], br#"{\"question\":\"hi\",\"model\":\"a\"}"#);
        write(&[("model", json!("b")), ("input_token", json!(12))]).unwrap();
        let stored = fake.property(&["ai_log"]).unwrap();
        let m = decode(&stored);
        assert_eq!(m.get("question"), Some(&json!("hi")));
        assert_eq!(m.get("model"), Some(&json!("b")));
        assert_eq!(m.get("input_token"), Some(&json!(12)));
        assert!(stored.starts_with(br#"{\""#));
    }

    #[test]
    fn accepts_plain_json_and_ignores_garbage() {
        assert_eq!(decode(br#"{"a":1}"#).get("a"), Some(&json!(1)));
        assert!(decode(b"not json \\").is_empty());
        assert!(decode(b"").is_empty());
    }

    #[test]
    fn first_write_on_empty_property() {
        let fake = crate::testing::install();
        write(&[("k", json!("v"))]).unwrap();
        assert_eq!(fake.property(&["ai_log"]).unwrap(), br#"{\"k\":\"v\"}"#);
        fake.fail("proxy_set_property", crate::types::Status::NotFound);
        assert!(write(&[("k", json!(1))]).is_err());
    }
}

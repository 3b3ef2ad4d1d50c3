//! Named properties Higress plugins use. Getters return `None` when the host has no value.

use crate::hostcalls::{get_property_string, set_property};
use crate::types::HostError;

/// Higress route name (`<ns>/<ingress>` for Ingress routes).
pub fn route_name() -> Result<Option<String>, HostError> {
    get_property_string(&["route_name"])
}

/// Upstream cluster, `outbound|<port>|<subset>|<fqdn>`.
pub fn cluster_name() -> Result<Option<String>, HostError> {
    get_property_string(&["cluster_name"])
}

/// `request.<field>`, e.g. `path`, `url_path`, `host`, `method`, `scheme`, `id`.
pub fn request(field: &str) -> Result<Option<String>, HostError> {
    get_property_string(&["request", field])
}

pub fn plugin_name() -> Result<Option<String>, HostError> {
    get_property_string(&["plugin_name"])
}

/// Raises the request buffering limit of this stream (Higress's default is the listener's 32 KiB;
/// buffering beyond it fails the request with 413).
pub fn set_decoder_buffer_limit(bytes: u32) -> Result<(), HostError> {
    set_property(&["set_decoder_buffer_limit"], bytes.to_string().as_bytes())
}

/// Raises the response buffering limit of this stream (beyond it the response fails with 500).
pub fn set_encoder_buffer_limit(bytes: u32) -> Result<(), HostError> {
    set_property(&["set_encoder_buffer_limit"], bytes.to_string().as_bytes())
}

/// Stops Envoy from re-running route selection when this plugin changes request headers.
pub fn disable_clear_route_cache() -> Result<(), HostError> {
    set_property(&["clear_route_cache"], b"off")
}

/// Adds a tag to the current tracing span (not stored as filter state).
pub fn set_span_tag(key: &str, value: &str) -> Result<(), HostError> {
    set_property(&[&format!("trace_span_tag.{key}")], value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_limits_as_decimal_strings() {
        let fake = crate::testing::install();
        set_decoder_buffer_limit(100 * 1024 * 1024).unwrap();
        set_encoder_buffer_limit(7).unwrap();
        disable_clear_route_cache().unwrap();
        set_span_tag("model", "qwen").unwrap();
        assert_eq!(
            fake.property(&["set_decoder_buffer_limit"]).unwrap(),
            b"104857600"
        );
        assert_eq!(fake.property(&["set_encoder_buffer_limit"]).unwrap(), b"7");
        assert_eq!(fake.property(&["clear_route_cache"]).unwrap(), b"off");
        assert_eq!(fake.property(&["trace_span_tag.model"]).unwrap(), b"qwen");
    }

    #[test]
    fn reads_names_and_absence() {
        let fake = crate::testing::install();
        fake.set_route_name("default/chat");
        fake.set_property(&["request", "path"], b"/v1/chat");
        assert_eq!(route_name().unwrap().as_deref(), Some("default/chat"));
        assert_eq!(request("path").unwrap().as_deref(), Some("/v1/chat"));
        assert_eq!(cluster_name().unwrap(), None);
        fake.fail("proxy_get_property", crate::types::Status::BadArgument);
        assert!(route_name().is_err());
    }
}

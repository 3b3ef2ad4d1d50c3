//! Bad input must come back as an error, never as a panic (a panic traps the whole VM).
#![cfg(not(target_arch = "wasm32"))]

use higress_sdk::codec::{deserialize_map, serialize_map};
use higress_sdk::resp::{decode, decode_prefix, encode_command, RespError, RespValue};
use higress_sdk::{ConfigError, HttpRequest, PluginConfig, RuleMatcher};
use proptest::prelude::*;

#[derive(Default, serde::Deserialize)]
struct Cfg {
    #[serde(default)]
    _n: Option<u32>,
}

impl PluginConfig for Cfg {
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

proptest! {
    #[test]
    fn resp_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn resp_like_input_never_panics(s in "[*$:+\\-0-9\\r\\n a-z]{0,80}") {
        let _ = decode(s.as_bytes());
    }

    #[test]
    fn encoded_commands_decode_back(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..6)) {
        let wire = encode_command(&args);
        let expected = RespValue::Array(args.iter().cloned().map(RespValue::Bulk).collect());
        prop_assert_eq!(decode(&wire), Ok(expected));
        // Any strict prefix is merely incomplete, which is what makes streaming reads safe.
        for cut in 0..wire.len() {
            prop_assert_eq!(decode_prefix(&wire[..cut]), Err(RespError::Incomplete));
        }
    }

    #[test]
    fn map_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = deserialize_map(&bytes);
    }

    #[test]
    fn maps_round_trip(pairs in proptest::collection::vec(("[a-z:-]{0,10}", "[ -~]{0,10}"), 0..8)) {
        let owned: Vec<(Vec<u8>, Vec<u8>)> = pairs.iter().map(|(k, v)| (k.clone().into_bytes(), v.clone().into_bytes())).collect();
        prop_assert_eq!(deserialize_map(&serialize_map(&owned)).unwrap(), owned);
    }

    #[test]
    fn config_parser_never_panics(s in "[{}\\[\\]\",:a-z_0-9 ]{0,60}") {
        let _ = RuleMatcher::<Cfg>::parse(s.as_bytes());
    }

    #[test]
    fn ai_log_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = higress_sdk::ai_log::decode(&bytes);
    }

    #[test]
    fn callout_url_parser_never_panics(url in "[a-z:/?#@\\[\\]0-9.é]{0,40}") {
        let _ = HttpRequest::get(&url).wire_headers();
    }

    #[test]
    fn strip_port_never_panics(host in "[a-z:\\[\\]0-9.é]{0,20}") {
        let _ = higress_sdk::matcher::strip_port(&host);
    }
}

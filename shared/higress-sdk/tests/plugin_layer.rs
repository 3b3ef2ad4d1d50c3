//! The `Plugin` layer through the exported callbacks: config errors, rule matching, body buffering.

use std::cell::RefCell;
use std::rc::Rc;

use higress_sdk::abi::*;
use higress_sdk::testing::{install, FakeHost};
use higress_sdk::types::*;
use higress_sdk::{ConfigError, HttpPlugin, Plugin, PluginConfig, RuleMatcher};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cfg {
    #[serde(default)]
    tag: String,
    #[serde(default)]
    buffer_request: bool,
    #[serde(default)]
    buffer_response: bool,
    #[serde(default)]
    rewrite: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

impl PluginConfig for Cfg {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.tag == "bad" {
            return Err(ConfigError::at("tag", "must not be bad"));
        }
        Ok(())
    }
}

thread_local! {
    static SEEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn seen(e: String) {
    SEEN.with(|s| s.borrow_mut().push(e));
}

fn take_seen() -> Vec<String> {
    SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

#[derive(Default)]
struct Tagger;

struct TaggerHttp {
    config: Rc<Cfg>,
}

impl Plugin for Tagger {
    const NAME: &'static str = "tagger";
    type Config = Cfg;
    type Http = TaggerHttp;

    fn configure(&self, rules: &RuleMatcher<Cfg>) -> bool {
        seen(format!("configure {} rules", rules.rules().len()));
        higress_sdk::hostcalls::set_tick_period_milliseconds(1000).is_ok()
    }

    fn on_tick(&self) {
        seen("tick".to_string());
    }

    fn create_http(&self, config: Rc<Cfg>, context_id: u32) -> TaggerHttp {
        seen(format!("create {context_id} {}", config.tag));
        TaggerHttp { config }
    }
}

impl HttpPlugin for TaggerHttp {
    fn on_request_headers(&mut self, eos: bool) -> HeaderAction {
        seen(format!("headers {eos}"));
        HeaderAction::Continue
    }
    fn buffer_request_body(&self) -> bool {
        self.config.buffer_request
    }
    fn request_body_limit(&self) -> Option<u32> {
        self.config.limit
    }
    fn on_request_body_complete(&mut self, body: &[u8]) -> DataAction {
        seen(format!("request body {}", String::from_utf8_lossy(body)));
        if let Some(new) = &self.config.rewrite {
            higress_sdk::plugin::replace_request_body(new.as_bytes()).unwrap();
        }
        DataAction::Continue
    }
    fn on_request_body(&mut self, size: usize, eos: bool) -> DataAction {
        seen(format!("stream body {size} {eos}"));
        DataAction::Continue
    }
    fn on_response_headers(&mut self, _eos: bool) -> HeaderAction {
        higress_sdk::hostcalls::set_response_header("x-tag", Some(&self.config.tag)).unwrap();
        HeaderAction::Continue
    }
    fn buffer_response_body(&self) -> bool {
        self.config.buffer_response
    }
    fn on_response_body_complete(&mut self, body: &[u8]) -> DataAction {
        seen(format!("response body {}", String::from_utf8_lossy(body)));
        DataAction::Continue
    }
}

higress_sdk::plugin!(Tagger);

fn start(config: &str) -> (Rc<FakeHost>, u32) {
    let fake = install();
    take_seen();
    fake.set_plugin_configuration(config);
    proxy_on_context_create(1, 0);
    let ok = proxy_on_configure(1, config.len());
    let configured = take_seen();
    assert_eq!(
        configured.len(),
        ok as usize,
        "configure hook runs only for a valid config: {configured:?}"
    );
    (fake, ok)
}

#[test]
fn bad_config_is_rejected_with_the_field_path_in_the_log() {
    let (fake, ok) = start(
        r#"{"tag":"g","_rules_":[{"_match_route_":["a"]},{"_match_route_":["b"],"limit":"x"}]}"#,
    );
    assert_eq!(ok, 0);
    assert!(
        fake.logged(
            r#"[tagger] invalid configuration: _rules_[1].limit: invalid type: string "x""#
        ),
        "{:?}",
        fake.logs()
    );
    // An unconfigured plugin passes streams through.
    proxy_on_context_create(2, 1);
    assert_eq!(proxy_on_request_headers(2, 1, 0), 0);
    assert!(take_seen().is_empty());

    let (fake, ok) = start(r#"{"tag":"bad"}"#);
    assert_eq!(ok, 0);
    assert!(fake.logged("[tagger] invalid configuration: tag: must not be bad"));
}

#[test]
fn empty_config_applies_defaults_everywhere() {
    let (fake, ok) = start("");
    assert_eq!(ok, 1);
    fake.set_request_headers(&[(":authority", "x")]);
    fake.set_response_headers(&[]);
    proxy_on_context_create(2, 1);
    assert_eq!(proxy_on_request_headers(2, 1, 1), 0);
    proxy_on_response_headers(2, 1, 1);
    assert_eq!(
        fake.map_value(MapType::HttpResponseHeaders, "x-tag")
            .as_deref(),
        Some("")
    );
}

#[test]
fn rules_pick_the_config_and_unmatched_streams_pass_through() {
    let (fake, ok) = start(
        r#"{"_rules_":[{"_match_route_":["chat"],"tag":"chat"},{"_match_domain_":["*.a.com"],"tag":"dom"}]}"#,
    );
    assert_eq!(ok, 1);

    fake.set_route_name("chat");
    fake.set_request_headers(&[(":authority", "x.a.com")]);
    proxy_on_context_create(2, 1);
    proxy_on_request_headers(2, 1, 1);
    assert_eq!(take_seen(), ["create 2 chat", "headers true"]);

    fake.set_route_name("other");
    proxy_on_context_create(3, 1);
    proxy_on_request_headers(3, 1, 1);
    assert_eq!(take_seen(), ["create 3 dom", "headers true"]);

    fake.set_request_headers(&[(":authority", "x.b.com")]);
    fake.set_response_headers(&[]);
    proxy_on_context_create(4, 1);
    assert_eq!(proxy_on_request_headers(4, 1, 0), 0);
    assert_eq!(proxy_on_request_body(4, 3, 1), 0);
    proxy_on_response_headers(4, 0, 1);
    assert!(take_seen().is_empty());
    assert_eq!(fake.map_value(MapType::HttpResponseHeaders, "x-tag"), None);
}

#[test]
fn rule_inherits_global_fields() {
    let (fake, _) =
        start(r#"{"tag":"g","buffer_request":true,"_rules_":[{"_match_route_":["r"],"tag":"r"}]}"#);
    fake.set_route_name("r");
    fake.set_request_headers(&[]);
    proxy_on_context_create(2, 1);
    // Inherited `buffer_request` makes it hold the headers for the body.
    let expected = if cfg!(feature = "abi-0-2-1") { 0 } else { 1 };
    assert_eq!(proxy_on_request_headers(2, 1, 0), expected);
    assert_eq!(take_seen()[0], "create 2 r");
}

#[test]
fn request_body_is_buffered_and_delivered_whole() {
    let (fake, _) = start(r#"{"buffer_request":true,"limit":1048576}"#);
    fake.set_request_headers(&[("content-length", "11")]);
    proxy_on_context_create(2, 1);
    let code = proxy_on_request_headers(2, 1, 0);
    if cfg!(feature = "abi-0-2-1") {
        assert_eq!(code, 0);
        assert_eq!(
            fake.map_value(MapType::HttpRequestHeaders, "content-length"),
            None
        );
    } else {
        assert_eq!(code, 1);
        assert_eq!(
            fake.map_value(MapType::HttpRequestHeaders, "content-length")
                .as_deref(),
            Some("11")
        );
    }
    assert_eq!(
        fake.property(&["set_decoder_buffer_limit"]).unwrap(),
        b"1048576"
    );
    // Envoy reports the accumulated size while the filter buffers.
    fake.set_buffer(BufferType::HttpRequestBody, b"hello");
    assert_eq!(
        proxy_on_request_body(2, 5, 0),
        DataAction::StopIterationAndBuffer as u32
    );
    fake.set_buffer(BufferType::HttpRequestBody, b"hello world");
    assert_eq!(proxy_on_request_body(2, 11, 1), 0);
    assert_eq!(
        take_seen(),
        ["create 2 ", "headers false", "request body hello world"]
    );
}

#[test]
fn replacing_the_body_fixes_content_length_while_headers_are_held() {
    let (fake, _) = start(r#"{"buffer_request":true,"rewrite":"short"}"#);
    fake.set_request_headers(&[("content-length", "11")]);
    proxy_on_context_create(2, 1);
    proxy_on_request_headers(2, 1, 0);
    fake.set_buffer(BufferType::HttpRequestBody, b"hello world");
    assert_eq!(proxy_on_request_body(2, 11, 1), 0);
    assert_eq!(fake.buffer(BufferType::HttpRequestBody).unwrap(), b"short");
    let cl = fake.map_value(MapType::HttpRequestHeaders, "content-length");
    if cfg!(feature = "abi-0-2-1") {
        assert_eq!(cl, None);
    } else {
        assert_eq!(cl.as_deref(), Some("5"));
    }
}

#[test]
fn no_body_means_no_holding() {
    let (fake, _) = start(r#"{"buffer_request":true}"#);
    fake.set_request_headers(&[]);
    proxy_on_context_create(2, 1);
    assert_eq!(proxy_on_request_headers(2, 1, 1), 0);
    assert_eq!(fake.property(&["set_decoder_buffer_limit"]), None);
}

#[test]
fn streaming_body_when_not_buffering() {
    let (fake, _) = start(r#"{}"#);
    fake.set_request_headers(&[]);
    proxy_on_context_create(2, 1);
    proxy_on_request_headers(2, 1, 0);
    assert_eq!(proxy_on_request_body(2, 3, 0), 0);
    assert_eq!(proxy_on_request_body(2, 0, 1), 0);
    assert_eq!(
        take_seen()[1..],
        ["headers false", "stream body 3 false", "stream body 0 true"]
    );
}

#[test]
fn body_followed_by_trailers_is_delivered_at_the_trailers() {
    let (fake, _) = start(r#"{"buffer_request":true}"#);
    fake.set_request_headers(&[]);
    proxy_on_context_create(2, 1);
    proxy_on_request_headers(2, 1, 0);
    fake.set_buffer(BufferType::HttpRequestBody, b"grpc");
    assert_eq!(proxy_on_request_body(2, 4, 0), 1);
    assert_eq!(proxy_on_request_trailers(2, 1), 0);
    assert_eq!(take_seen().last().unwrap(), "request body grpc");
}

#[test]
fn response_body_buffering_lets_headers_go_without_content_length() {
    let (fake, _) = start(r#"{"buffer_response":true,"tag":"t"}"#);
    fake.set_request_headers(&[]);
    fake.set_response_headers(&[("content-length", "4")]);
    proxy_on_context_create(2, 1);
    proxy_on_request_headers(2, 1, 1);
    assert_eq!(proxy_on_response_headers(2, 1, 0), 0);
    assert_eq!(
        fake.map_value(MapType::HttpResponseHeaders, "content-length"),
        None
    );
    assert_eq!(
        fake.map_value(MapType::HttpResponseHeaders, "x-tag")
            .as_deref(),
        Some("t")
    );
    fake.set_buffer(BufferType::HttpResponseBody, b"da");
    assert_eq!(proxy_on_response_body(2, 2, 0), 1);
    fake.set_buffer(BufferType::HttpResponseBody, b"data");
    assert_eq!(proxy_on_response_body(2, 4, 1), 0);
    assert_eq!(take_seen().last().unwrap(), "response body data");
}

#[test]
fn rule_matching_host_failure_passes_the_request_through() {
    let (fake, _) = start(r#"{"_rules_":[{"_match_route_":["r"]}]}"#);
    fake.fail("proxy_get_property", Status::InternalFailure);
    proxy_on_context_create(2, 1);
    assert_eq!(proxy_on_request_headers(2, 1, 0), 0);
    assert!(fake.logged("[tagger] cannot match rules"));
}

#[test]
fn configure_hook_can_start_a_timer_and_ticks_reach_the_plugin() {
    let (fake, ok) = start("{}");
    assert_eq!(ok, 1);
    assert_eq!(fake.tick_period(), Some(1000));
    proxy_on_tick(1);
    assert_eq!(take_seen(), ["tick"]);
}

#[test]
fn configure_hook_failure_rejects_the_config() {
    let fake = install();
    take_seen();
    fake.set_plugin_configuration("{}");
    fake.fail(
        "proxy_set_tick_period_milliseconds",
        Status::InternalFailure,
    );
    proxy_on_context_create(1, 0);
    assert_eq!(proxy_on_configure(1, 2), 0);
    proxy_on_context_create(2, 1);
    assert_eq!(proxy_on_request_headers(2, 1, 0), 0);
    assert_eq!(take_seen(), ["configure 0 rules"]);
}

//! A request/response body guard: blocks requests whose body contains a denied word, redacts
//! words in the request body, optionally appends a footer to the response, and records what it
//! did in `ai_log`, a metric and a shared counter. It exercises the SDK's rule-matched config,
//! complete-body hooks, body replacement, local replies, properties, ai_log, metrics and shared
//! data (see `tests/in_host.rs`). With `keep_route` it sets Higress's `clear_route_cache`
//! property to `off` before adding its header, so the route picked before the chain stays even if
//! the header would match another one.
//!
//! ```json
//! { "tag": "default", "deny": ["jailbreak"], "redact": ["secret"], "body_limit": 65536,
//!   "response_footer": "\n-- checked", "log_key": "guard", "keep_route": false,
//!   "_rules_": [ { "_match_route_": ["chat"], "tag": "chat" } ] }
//! ```

use std::rc::Rc;

use higress_sdk::hostcalls::{self, Metric, SharedDataError};
use higress_sdk::plugin::{replace_request_body, replace_response_body};
use higress_sdk::{ai_log, properties};
use higress_sdk::{ConfigError, DataAction, HeaderAction, HttpPlugin, Log, Plugin, PluginConfig};
use serde::Deserialize;
use serde_json::json;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Sent upstream as `x-guard-tag` and logged under `log_key` (shows which rule matched).
    #[serde(default)]
    tag: String,
    /// A request body containing any of these is answered with 403.
    #[serde(default)]
    deny: Vec<String>,
    /// Replaced by `[redacted]` in the request body.
    #[serde(default)]
    redact: Vec<String>,
    /// Raises the stream's request buffer limit (Higress default 32 KiB) while buffering.
    #[serde(default)]
    body_limit: Option<u32>,
    /// Appended to the response body (which is then buffered whole).
    #[serde(default)]
    response_footer: Option<String>,
    /// The ai_log key this instance writes its tag under.
    #[serde(default = "default_log_key")]
    log_key: String,
    /// Keeps the route chosen before the chain: Envoy otherwise re-matches routes after a filter
    /// edits request headers, and the `x-guard-tag` header may select a different one.
    #[serde(default)]
    keep_route: bool,
}

fn default_log_key() -> String {
    "guard".to_string()
}

impl PluginConfig for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        for (field, words) in [("deny", &self.deny), ("redact", &self.redact)] {
            if let Some(i) = words.iter().position(String::is_empty) {
                return Err(ConfigError::at(
                    format!("{field}[{i}]"),
                    "must not be empty",
                ));
            }
        }
        Ok(())
    }
}

const LOG: Log = Log::new("request-guard");
const REDACTED: &str = "[redacted]";
/// Shared data (per vm_id) counting answered requests across every worker.
const RESPONSES_KEY: &str = "request-guard/responses";

#[derive(Default)]
struct RequestGuard;

struct GuardHttp {
    config: Rc<Config>,
    /// The shared response counter as read when the request arrived, with its CAS.
    counter: (u64, u32),
    response_bytes: usize,
}

impl Plugin for RequestGuard {
    const NAME: &'static str = "request-guard";
    type Config = Config;
    type Http = GuardHttp;

    /// Creates the shared counter. It must exist before requests read it: a CAS read from a
    /// missing key is 0, and a write with CAS 0 is unconditional, so racing first writers would
    /// overwrite each other.
    fn configure(&self, _rules: &higress_sdk::RuleMatcher<Config>) -> bool {
        match hostcalls::get_shared_data(RESPONSES_KEY) {
            Ok((Some(_), _)) => {}
            Ok((None, _)) => {
                if let Err(e) = hostcalls::set_shared_data(RESPONSES_KEY, Some(b"0"), 0) {
                    LOG.warn(format_args!("cannot create {RESPONSES_KEY}: {e}"));
                }
            }
            Err(e) => LOG.warn(format_args!("cannot read {RESPONSES_KEY}: {e}")),
        }
        true
    }

    fn create_http(&self, config: Rc<Config>, _context_id: u32) -> GuardHttp {
        GuardHttp {
            config,
            counter: (0, 0),
            response_bytes: 0,
        }
    }
}

fn shared_counter() -> (u64, u32) {
    match hostcalls::get_shared_data(RESPONSES_KEY) {
        Ok((value, cas)) => {
            let n = value
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            (n, cas)
        }
        Err(e) => {
            LOG.warn(format_args!("cannot read {RESPONSES_KEY}: {e}"));
            (0, 0)
        }
    }
}

impl GuardHttp {
    /// Increments the shared counter from the snapshot taken at request time. Another request may
    /// have written it since; the CAS then fails and the increment is redone on a fresh read, so no
    /// update is lost.
    fn count_response(&mut self) {
        let (mut n, mut cas) = self.counter;
        for _ in 0..3 {
            match hostcalls::set_shared_data(
                RESPONSES_KEY,
                Some((n + 1).to_string().as_bytes()),
                cas,
            ) {
                Ok(()) => return,
                Err(SharedDataError::CasMismatch) => {
                    LOG.info(format_args!(
                        "{RESPONSES_KEY} changed concurrently, retrying"
                    ));
                    (n, cas) = shared_counter();
                }
                Err(e) => {
                    LOG.warn(format_args!("cannot update {RESPONSES_KEY}: {e}"));
                    return;
                }
            }
        }
    }
}

impl HttpPlugin for GuardHttp {
    fn on_request_headers(&mut self, _end_of_stream: bool) -> HeaderAction {
        // Before the header edit: the host decides whether an edit clears the route cache at the
        // moment of the edit, so setting it afterwards would be too late.
        if self.config.keep_route {
            if let Err(e) = properties::disable_clear_route_cache() {
                LOG.warn(format_args!("cannot keep the route: {e}"));
            }
        }
        if !self.config.tag.is_empty() {
            if let Err(e) = hostcalls::add_request_header("x-guard-tag", &self.config.tag) {
                LOG.warn(format_args!("cannot tag the request: {e}"));
            }
        }
        let route = properties::route_name().ok().flatten().unwrap_or_default();
        let cluster = properties::cluster_name()
            .ok()
            .flatten()
            .unwrap_or_default();
        let entries = [
            (self.config.log_key.as_str(), json!(self.config.tag)),
            ("route", json!(route)),
            ("cluster", json!(cluster)),
        ];
        if let Err(e) = ai_log::write(&entries) {
            LOG.warn(format_args!("cannot write ai_log: {e}"));
        }
        match Metric::counter("request_guard.requests").and_then(|m| m.increment(1)) {
            Ok(()) => {}
            Err(e) => LOG.warn(format_args!("cannot count the request: {e}")),
        }
        self.counter = shared_counter();
        HeaderAction::Continue
    }

    fn buffer_request_body(&self) -> bool {
        !self.config.deny.is_empty() || !self.config.redact.is_empty()
    }

    fn request_body_limit(&self) -> Option<u32> {
        self.config.body_limit
    }

    fn on_request_body_complete(&mut self, body: &[u8]) -> DataAction {
        let text = String::from_utf8_lossy(body);
        if let Some(word) = self.config.deny.iter().find(|w| text.contains(w.as_str())) {
            LOG.info(format_args!("blocked a request containing {word:?}"));
            let _ = ai_log::write(&[("guard_blocked", json!(word))]);
            if let Err(e) = hostcalls::send_local_response(
                403,
                &[("content-type", "text/plain")],
                b"blocked by request-guard",
            ) {
                LOG.error(format_args!("cannot reply 403: {e}"));
            }
            return DataAction::StopIterationNoBuffer;
        }
        let mut redacted = text.to_string();
        let mut count = 0;
        for word in &self.config.redact {
            count += redacted.matches(word.as_str()).count();
            redacted = redacted.replace(word.as_str(), REDACTED);
        }
        if count > 0 {
            if let Err(e) = replace_request_body(redacted.as_bytes()) {
                LOG.error(format_args!("cannot replace the request body: {e}"));
            }
            // Reaches the upstream only while the headers are still held (ABI 0.2.100).
            if let Err(e) =
                hostcalls::set_request_header("x-guard-redacted", Some(&count.to_string()))
            {
                LOG.debug(format_args!("request headers already sent: {e}"));
            }
        }
        DataAction::Continue
    }

    fn on_response_headers(&mut self, _end_of_stream: bool) -> HeaderAction {
        self.count_response();
        HeaderAction::Continue
    }

    fn buffer_response_body(&self) -> bool {
        self.config.response_footer.is_some()
    }

    fn on_response_body_complete(&mut self, body: &[u8]) -> DataAction {
        if let Some(footer) = &self.config.response_footer {
            let mut out = body.to_vec();
            out.extend_from_slice(footer.as_bytes());
            if let Err(e) = replace_response_body(&out) {
                LOG.error(format_args!("cannot replace the response body: {e}"));
            }
        }
        DataAction::Continue
    }

    /// Streaming (no footer): each chunk passes through at once; only its size is recorded.
    fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> DataAction {
        self.response_bytes += body_size;
        if end_of_stream {
            let _ = ai_log::write(&[("response_bytes", json!(self.response_bytes))]);
        }
        DataAction::Continue
    }
}

higress_sdk::plugin!(RequestGuard);

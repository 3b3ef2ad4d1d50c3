//! What our AI plugins do on the hot path of every LLM request: parse the complete chat request,
//! then fold the streamed SSE answer chunk by chunk, without holding it, and write model and token
//! usage into `ai_log` at the end. Used to measure the release profile (`benches/opt_level.rs`).
//!
//! Config: `{}` (no options).

use std::rc::Rc;

use ai_proto::chat::ChatRequest;
use ai_proto::stream::StreamAccumulator;
use higress_sdk::{ai_log, hostcalls, DataAction, HeaderAction, HttpPlugin, Log, Plugin};
use serde_json::json;

const LOG: Log = Log::new("stream-usage");

/// No options; unknown keys are rejected.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {}

impl higress_sdk::PluginConfig for Config {}

#[derive(Default)]
struct StreamUsage;

#[derive(Default)]
struct UsageHttp {
    model: Option<String>,
    /// Set when the response is an SSE stream.
    stream: Option<StreamAccumulator>,
}

impl Plugin for StreamUsage {
    const NAME: &'static str = "stream-usage";
    type Config = Config;
    type Http = UsageHttp;

    fn create_http(&self, _config: Rc<Config>, _context_id: u32) -> UsageHttp {
        UsageHttp::default()
    }
}

impl HttpPlugin for UsageHttp {
    fn buffer_request_body(&self) -> bool {
        true
    }

    fn on_request_body_complete(&mut self, body: &[u8]) -> DataAction {
        match serde_json::from_slice::<ChatRequest>(body) {
            Ok(request) => self.model = request.model,
            Err(e) => LOG.debug(format_args!("not a chat request: {e}")),
        }
        DataAction::Continue
    }

    fn on_response_headers(&mut self, _end_of_stream: bool) -> HeaderAction {
        let is_sse = hostcalls::get_response_header("content-type")
            .ok()
            .flatten()
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if is_sse {
            self.stream = Some(StreamAccumulator::new());
        }
        HeaderAction::Continue
    }

    fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> DataAction {
        let Some(acc) = self.stream.as_mut() else {
            return DataAction::Continue;
        };
        match hostcalls::get_response_body(0, body_size) {
            Ok(Some(chunk)) => {
                if let Err(e) = acc.feed_sse(&chunk) {
                    LOG.debug(format_args!("stream not accumulated: {e}"));
                }
            }
            Ok(None) => {}
            Err(e) => LOG.warn(format_args!("cannot read the response chunk: {e}")),
        }
        if end_of_stream {
            let _ = acc.finish_sse();
            let usage = acc.usage().unwrap_or_default();
            let model = acc.snapshot().model.or_else(|| self.model.clone());
            let entries = [
                ("model", json!(model)),
                ("input_token", json!(usage.input_tokens)),
                ("output_token", json!(usage.output_tokens)),
                ("total_token", json!(usage.total_tokens)),
            ];
            if let Err(e) = ai_log::write(&entries) {
                LOG.warn(format_args!("cannot write ai_log: {e}"));
            }
        }
        DataAction::Continue
    }
}

higress_sdk::plugin!(StreamUsage);

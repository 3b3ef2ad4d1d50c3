//! Proxy-wasm glue: buffer the request, inspect, rewrite / block / fail closed; restore
//! placeholders in the answer (buffered, or streamed through the hold-back window).

use std::rc::Rc;

use higress_sdk::hostcalls::{self, Metric};
use higress_sdk::plugin::{replace_request_body, replace_response_body};
use higress_sdk::{
    ai_log, DataAction, HeaderAction, HttpCallError, HttpPlugin, HttpRequest, HttpResponse, Log,
    Plugin,
};
use serde_json::json;

use crate::actions::Report;
use crate::config::{Compiled, Config};
use crate::external::Joined;
use crate::reply::{self, Reply};
use crate::request::{self, Inspected, Outcome, Parsed};
use crate::response::{restore_body, StreamRestorer};
use crate::vault::{Restorer, Vault};

const LOG: Log = Log::new("pii-redaction");

#[derive(Default)]
pub struct PiiRedaction;

impl Plugin for PiiRedaction {
    const NAME: &'static str = "pii-redaction";
    type Config = Config;
    type Http = PiiHttp;

    fn create_http(&self, config: Rc<Config>, _context_id: u32) -> PiiHttp {
        PiiHttp {
            config,
            vault: Vault::default(),
            wants_stream: false,
            response: Response::Pass,
            waiting: None,
        }
    }
}

enum Response {
    Pass,
    Buffered(Restorer),
    Streaming(Restorer, Box<StreamRestorer>),
}

pub struct PiiHttp {
    config: Rc<Config>,
    /// This request's placeholders; dropped with the context.
    vault: Vault,
    wants_stream: bool,
    response: Response,
    /// The parsed request while the external detector's answer is awaited.
    waiting: Option<Waiting>,
}

struct Waiting {
    parsed: Parsed,
    texts: Vec<String>,
    joined: Joined,
}

fn count(name: &str, n: u64) {
    if let Err(e) = Metric::counter(name).and_then(|m| m.increment(n as i64)) {
        LOG.debug(format_args!("metric {name}: {e}"));
    }
}

fn send(r: Reply) {
    let headers = [("content-type", r.content_type.as_str())];
    if let Err(e) = hostcalls::send_local_response(r.status, &headers, &r.body) {
        LOG.error(format_args!("cannot send the local reply: {e}"));
    }
}

impl PiiHttp {
    fn log(&self, report: &Report, action: &str) {
        if report.total() == 0 && action == "none" {
            return;
        }
        let entry =
            json!({"action": action, "detected": report.counts, "placeholders": self.vault.len()});
        if let Err(e) = ai_log::write(&[("pii_redaction", entry)]) {
            LOG.debug(format_args!("cannot write ai_log: {e}"));
        }
        for (name, n) in &report.counts {
            count(&format!("pii_redaction.detected.{name}"), u64::from(*n));
        }
    }

    /// External detector timeout or error: `None` to go on with the built-in findings (fail
    /// open), or the refusal already sent (fail closed).
    fn external_failed(&self, why: &str) -> Option<DataAction> {
        count("pii_redaction.external_failed", 1);
        let open = self
            .config
            .compiled()
            .ok()
            .and_then(|c: &Compiled| c.external.as_ref())
            .is_none_or(|x| x.fail_open);
        if open {
            LOG.warn(format_args!(
                "external detector failed ({why}); built-in detectors only (fail_open)"
            ));
            return None;
        }
        LOG.info(format_args!(
            "refusing the request: external detector failed ({why})"
        ));
        self.log(&Report::default(), "uninspectable");
        let reason = format!("the external PII detector failed: {why}");
        send(reply::uninspectable(&reason, 503, self.wants_stream));
        Some(DataAction::StopIterationNoBuffer)
    }

    /// Rewrites, blocks or passes the request per the inspection's outcome.
    fn act(&mut self, inspected: Inspected, report: &Report) -> DataAction {
        match inspected.outcome {
            Outcome::Unchanged => {
                self.log(
                    report,
                    if report.total() > 0 {
                        "reported"
                    } else {
                        "none"
                    },
                );
                DataAction::Continue
            }
            Outcome::Rewritten(new) => {
                self.log(report, "redacted");
                if self.config.restore() && !self.vault.is_empty() {
                    // A compressed answer could not be restored; ask for an identity encoding.
                    if let Err(e) = hostcalls::set_request_header("accept-encoding", None) {
                        LOG.debug(format_args!("cannot remove accept-encoding: {e}"));
                    }
                }
                if let Err(e) = replace_request_body(&new) {
                    // The body still holds raw data: never let it through.
                    LOG.error(format_args!("cannot replace the request body: {e}"));
                    send(reply::uninspectable(
                        "rewrite failed",
                        500,
                        self.wants_stream,
                    ));
                    return DataAction::StopIterationNoBuffer;
                }
                DataAction::Continue
            }
            Outcome::Blocked(detector) => {
                self.log(report, "blocked");
                count("pii_redaction.blocked", 1);
                send(reply::blocked(&self.config, &detector, self.wants_stream));
                DataAction::StopIterationNoBuffer
            }
            Outcome::Uninspectable(reason) => self.fail(reason, 400),
        }
    }

    fn fail(&self, reason: &'static str, status: u32) -> DataAction {
        count("pii_redaction.uninspectable", 1);
        self.log(&Report::default(), "uninspectable");
        if self.config.fail_open {
            LOG.warn(format_args!(
                "forwarding an uninspected request (fail_open): {reason}"
            ));
            return DataAction::Continue;
        }
        LOG.info(format_args!(
            "refusing a request that cannot be inspected: {reason}"
        ));
        send(reply::uninspectable(reason, status, self.wants_stream));
        DataAction::StopIterationNoBuffer
    }
}

impl HttpPlugin for PiiHttp {
    fn on_request_headers(&mut self, _end_of_stream: bool) -> HeaderAction {
        self.wants_stream = hostcalls::get_request_header("accept")
            .ok()
            .flatten()
            .is_some_and(|a| a.contains("text/event-stream"));
        HeaderAction::Continue
    }

    fn buffer_request_body(&self) -> bool {
        true
    }

    fn request_body_limit(&self) -> Option<u32> {
        // One byte over the limit so an over-limit body reaches us and gets our error rather
        // than Envoy's bare 413.
        Some(self.config.max_body().saturating_add(1))
    }

    fn on_request_body_complete(&mut self, body: &[u8]) -> DataAction {
        if body.len() > self.config.max_body() as usize {
            return self.fail("body exceeds max_body_bytes", 413);
        }
        let compiled = match self.config.compiled() {
            Ok(c) => c,
            Err(e) => {
                LOG.error(format_args!("config: {e}"));
                return self.fail("plugin configuration error", 500);
            }
        };
        let mut parsed = match request::parse(&self.config, body) {
            Ok(p) => p,
            Err(reason) => return self.fail(reason, 400),
        };
        self.wants_stream |= parsed.stream;
        if let Some(ext) = &compiled.external {
            let texts = parsed.texts(&self.config, compiled);
            if texts.iter().any(|t| !t.trim().is_empty()) {
                let joined = Joined::new(&texts);
                let call = HttpRequest::post(&ext.path, ext.request_body(&joined))
                    .authority(&ext.authority)
                    .header("content-type", "application/json")
                    .timeout_ms(ext.timeout_ms)
                    .dispatch(&ext.cluster);
                match call {
                    Ok(_) => {
                        self.waiting = Some(Waiting {
                            parsed,
                            texts,
                            joined,
                        });
                        // Hold the body until the answer: it is rewritten then.
                        return DataAction::StopIterationAndBuffer;
                    }
                    Err(e) => {
                        if let Some(stop) = self.external_failed(&format!("cannot call: {e}")) {
                            return stop;
                        }
                    }
                }
            }
        }
        let mut report = Report::default();
        let inspected = parsed.redact(&self.config, compiled, &mut self.vault, &mut report, None);
        self.act(inspected, &report)
    }

    fn on_http_call_response(
        &mut self,
        _token: u32,
        response: Result<HttpResponse, HttpCallError>,
    ) {
        let Some(w) = self.waiting.take() else {
            return;
        };
        let Ok(compiled) = self.config.compiled() else {
            return;
        };
        let Some(ext) = &compiled.external else {
            return;
        };
        let found = match response {
            Ok(r) if r.status == 504 => Err(format!("timed out after {} ms", ext.timeout_ms)),
            Ok(r) => ext.findings(&w.texts, &w.joined, r.status, &r.body),
            Err(e) => Err(e.to_string()),
        };
        let mut report = Report::default();
        let inspected = match &found {
            Ok(f) => w.parsed.redact(
                &self.config,
                compiled,
                &mut self.vault,
                &mut report,
                Some((&w.texts, f)),
            ),
            Err(why) => {
                if self.external_failed(why).is_some() {
                    return;
                }
                w.parsed
                    .redact(&self.config, compiled, &mut self.vault, &mut report, None)
            }
        };
        if self.act(inspected, &report) == DataAction::Continue {
            if let Err(e) = hostcalls::resume_http_request() {
                LOG.error(format_args!("cannot resume the request: {e}"));
            }
        }
    }

    fn on_response_headers(&mut self, _end_of_stream: bool) -> HeaderAction {
        if !self.config.restore() {
            return HeaderAction::Continue;
        }
        let Some(r) = self.vault.restorer() else {
            return HeaderAction::Continue;
        };
        let sse = hostcalls::get_response_header("content-type")
            .ok()
            .flatten()
            .is_some_and(|c| c.contains("text/event-stream"));
        // The restored body has another length.
        if let Err(e) = hostcalls::set_response_header("content-length", None) {
            LOG.debug(format_args!("cannot remove content-length: {e}"));
        }
        self.response = if sse {
            Response::Streaming(r, Box::default())
        } else {
            Response::Buffered(r)
        };
        HeaderAction::Continue
    }

    fn buffer_response_body(&self) -> bool {
        matches!(self.response, Response::Buffered(_))
    }

    fn response_body_limit(&self) -> Option<u32> {
        Some(self.config.max_response())
    }

    fn on_response_body_complete(&mut self, body: &[u8]) -> DataAction {
        if let Response::Buffered(r) = &self.response {
            if let Some(new) = restore_body(r, body) {
                if let Err(e) = replace_response_body(&new) {
                    LOG.warn(format_args!("cannot restore the answer: {e}"));
                }
            }
        }
        DataAction::Continue
    }

    fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> DataAction {
        let Response::Streaming(r, s) = &mut self.response else {
            return DataAction::Continue;
        };
        let chunk = match hostcalls::get_response_body(0, body_size) {
            Ok(b) => b.unwrap_or_default(),
            Err(e) => {
                LOG.warn(format_args!("cannot read the response chunk: {e}"));
                return DataAction::Continue;
            }
        };
        let mut out = s.feed(r, &chunk);
        if end_of_stream {
            out.extend(s.finish(r));
        }
        if out != chunk {
            if let Err(e) = hostcalls::replace_response_body(&out) {
                LOG.warn(format_args!("cannot rewrite the response chunk: {e}"));
            }
        }
        DataAction::Continue
    }
}

//! Envoy's HTTP filter manager for a chain of wasm filters (`source/common/http/filter_manager.cc`):
//! decoder filters run in chain order, encoder filters in reverse; iteration states
//! (`StopSingleIteration`, `StopAllBuffer`, `StopAllWatermark`), one buffered body per direction,
//! `commonContinue`, buffer limits (413/500), local replies (prepared during decoding, sent through
//! the encoder chain from its first filter, or directly once the response started), and the wasm
//! `Context` wrappers (`extensions/common/wasm/context.cc` `decodeHeaders`/`decodeData`/...) with
//! cpp-host's CHECK_FAIL handling of failed VMs.

use super::state::{BodyRef, StreamShared};
use crate::abi::{self, DataStatus, HeadersStatus, StreamType, TrailersStatus};
use crate::pairs::HeaderMap;
use crate::vm::{Action, CallOutcome, Callback, VmInstance};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// Details Envoy records when a failed VM fails a stream (`FailStreamResponseDetails`).
pub const WASM_FAIL_STREAM: &str = "wasm_fail_stream";

/// One wasm filter of the chain.
pub struct FilterHandle {
    pub name: String,
    pub vm: Rc<RefCell<VmInstance>>,
    pub fail_open: bool,
    /// Higress ABI 0.2.100 binds request headers with real StopIteration.
    pub real_stop_iteration: bool,
    /// Context id, created lazily on first use like Envoy's `onCreate()`.
    pub ctx: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Iter {
    Continue,
    StopSingle,
    StopAllBuffer,
    StopAllWatermark,
}

#[derive(Debug, Clone)]
struct Entry {
    iter: Iter,
    headers_continued: bool,
    end_stream: bool,
    iterate_from_current: bool,
}

impl Entry {
    fn new() -> Self {
        Self {
            iter: Iter::Continue,
            headers_continued: false,
            end_stream: false,
            iterate_from_current: false,
        }
    }
    fn stopped_all(&self) -> bool {
        matches!(self.iter, Iter::StopAllBuffer | Iter::StopAllWatermark)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Decode,
    Encode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    AlwaysNext,
    CanStartFromCurrent,
}

/// What one side (the upstream, or the client) received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    pub headers: Option<HeaderMap>,
    /// Every data frame as it left the chain, with its end_stream flag.
    pub frames: Vec<(Vec<u8>, bool)>,
    pub trailers: Option<HeaderMap>,
    pub end_stream: bool,
}

impl Received {
    /// All body bytes concatenated.
    pub fn body(&self) -> Vec<u8> {
        self.frames
            .iter()
            .flat_map(|(d, _)| d.iter().copied())
            .collect()
    }

    pub fn body_string(&self) -> String {
        String::from_utf8_lossy(&self.body()).into_owned()
    }

    /// `:status` of the headers, if any.
    pub fn status(&self) -> Option<u32> {
        self.headers.as_ref()?.get(":status")?.parse().ok()
    }
}

/// How a local reply reached the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyPath {
    /// Through the encoder filters from the first one (`sendLocalReplyViaFilterChain`).
    FilterChain,
    /// Straight to the client because the response had started (`sendDirectLocalReply`).
    Direct,
    /// The response was already sent downstream: the stream was reset instead.
    Reset,
}

/// A local reply requested on this stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub code: u32,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub details: String,
    /// Plugin that asked for it (`None` for host-generated replies such as 413).
    pub sender: Option<String>,
    pub path: Option<ReplyPath>,
}

enum Pending {
    Continue(usize, StreamType),
    Inject(usize, Vec<u8>, bool),
    InjectOnHeader(usize, Vec<u8>, bool),
}

/// The filter chain state of one HTTP stream.
pub struct FilterManager {
    pub(crate) filters: Vec<FilterHandle>,
    dec: Vec<Entry>,
    enc: Vec<Entry>,
    pub shared: Rc<RefCell<StreamShared>>,
    pub upstream: Received,
    pub downstream: Received,
    pub local_replies: Vec<LocalReply>,
    /// Why the stream was reset, if it was.
    pub reset: Option<String>,
    /// Flow control engaged because a watermark buffer went over the limit (no error).
    pub watermark_hit: [bool; 2],
    remote_complete: bool,
    local_complete: bool,
    decoder_aborted: bool,
    encoder_aborted: bool,
    prepared: Option<LocalReply>,
    response_started: bool,
    non_100_encoded: bool,
    streaming: [bool; 2],
    too_large_fired: [bool; 2],
    call_state: Option<Dir>,
    pending: VecDeque<Pending>,
    finished: bool,
    /// `inject_encoded_data_to_filter_chain_on_header` data held until the response headers
    /// leave the encoder filter at this position.
    inject_after_headers: Vec<Option<(Vec<u8>, bool)>>,
}

fn local_reply_headers(r: &LocalReply) -> HeaderMap {
    // `Utility::prepareLocalReply`: :status, the plugin's headers (`modify_headers`), then
    // content-length and a text/plain content-type when there is a body.
    let mut h = HeaderMap::new();
    h.add(":status", &r.code.to_string());
    for (k, v) in &r.headers {
        h.add(k, v);
    }
    if !r.body.is_empty() {
        h.replace("content-length", &r.body.len().to_string());
        if h.get("content-type").is_none() {
            h.add("content-type", "text/plain");
        }
    }
    h
}

impl FilterManager {
    pub fn new(filters: Vec<FilterHandle>, shared: Rc<RefCell<StreamShared>>) -> Self {
        let n = filters.len();
        Self {
            filters,
            dec: vec![Entry::new(); n],
            enc: vec![Entry::new(); n],
            shared,
            upstream: Received::default(),
            downstream: Received::default(),
            local_replies: Vec::new(),
            reset: None,
            watermark_hit: [false; 2],
            remote_complete: false,
            local_complete: false,
            decoder_aborted: false,
            encoder_aborted: false,
            prepared: None,
            response_started: false,
            non_100_encoded: false,
            streaming: [false; 2],
            too_large_fired: [false; 2],
            call_state: None,
            pending: VecDeque::new(),
            finished: false,
            inject_after_headers: vec![None; n],
        }
    }

    // ----- public entry points (what the client and the upstream do) -----

    /// Request headers from the client.
    pub fn decode_headers(&mut self, headers: HeaderMap, end_stream: bool) {
        self.shared.borrow_mut().request_headers = headers;
        self.remote_complete = end_stream;
        self.do_headers(Dir::Decode, None, end_stream);
        self.drain_pending();
    }

    /// A request body chunk from the client.
    pub fn decode_data(&mut self, data: Vec<u8>, end_stream: bool) {
        self.shared.borrow_mut().info.bytes_received += data.len() as u64;
        self.remote_complete = end_stream;
        self.do_data(
            Dir::Decode,
            None,
            data,
            end_stream,
            Start::CanStartFromCurrent,
        );
        self.drain_pending();
    }

    /// Request trailers from the client (ends the request).
    pub fn decode_trailers(&mut self, trailers: HeaderMap) {
        self.shared.borrow_mut().request_trailers = Some(trailers);
        self.remote_complete = true;
        self.do_trailers(Dir::Decode, None);
        self.drain_pending();
    }

    /// Whether the upstream may answer: the request got through and no local reply or reset
    /// took over the response.
    pub fn upstream_can_respond(&self) -> bool {
        !self.response_started && self.reset.is_none()
    }

    /// Response headers from the upstream. Ignored once a local reply or reset owns the response
    /// (Envoy resets the upstream request then).
    pub fn encode_headers(&mut self, headers: HeaderMap, end_stream: bool) {
        if !self.upstream_can_respond() {
            return;
        }
        let code = headers.get(":status").and_then(|s| s.parse().ok());
        {
            let mut s = self.shared.borrow_mut();
            s.response_headers = Some(headers);
            s.info.response_code = code;
            if s.info.response_code_details.is_none() {
                s.info.response_code_details = Some("via_upstream".into());
            }
        }
        self.response_started = true;
        self.local_complete = end_stream;
        self.do_headers(Dir::Encode, None, end_stream);
        self.drain_pending();
    }

    pub fn encode_data(&mut self, data: Vec<u8>, end_stream: bool) {
        if self.reset.is_some() || self.local_replies.iter().any(|r| r.path.is_some()) {
            return;
        }
        self.local_complete = end_stream;
        self.do_data(
            Dir::Encode,
            None,
            data,
            end_stream,
            Start::CanStartFromCurrent,
        );
        self.drain_pending();
    }

    pub fn encode_trailers(&mut self, trailers: HeaderMap) {
        if self.reset.is_some() || self.local_replies.iter().any(|r| r.path.is_some()) {
            return;
        }
        self.shared.borrow_mut().response_trailers = Some(trailers);
        self.local_complete = true;
        self.do_trailers(Dir::Encode, None);
        self.drain_pending();
    }

    /// A local reply from the router at the end of the chain (no route 404, upstream connect
    /// failure 503, route timeout 504): Envoy's router calls `sendLocalReply` outside any wasm
    /// filter call, so before the response started the reply travels the encoder filters from the
    /// first one; after headers left it is a direct reply or a reset (same rules as plugin
    /// replies). For an embedding data plane.
    pub fn send_router_local_reply(&mut self, code: u32, body: Vec<u8>, details: &str) {
        self.send_local_reply(LocalReply {
            code,
            body,
            headers: Vec::new(),
            details: details.to_string(),
            sender: None,
            path: None,
        });
        self.drain_pending();
    }

    /// Applies what a VM call outside the chain (callout answer, timer) asked for.
    pub fn apply_outcome(&mut self, vm: &Rc<RefCell<VmInstance>>, outcome: CallOutcome) {
        self.handle_actions(vm, outcome.actions);
        self.drain_pending();
    }

    /// Ends the stream: `proxy_on_log` for every filter (contexts created on demand, as Envoy's
    /// `Context::log` does), then `proxy_on_done` and `proxy_on_delete`.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.shared.borrow_mut().in_log = true;
        for i in 0..self.filters.len() {
            if let Some(ctx) = self.ensure_context(i) {
                let vm = self.filters[i].vm.clone();
                let o = vm.borrow_mut().call(ctx, Callback::Log);
                drop(o);
            }
        }
        self.shared.borrow_mut().in_log = false;
        for i in 0..self.filters.len() {
            if let Some(ctx) = self.filters[i].ctx {
                let vm = self.filters[i].vm.clone();
                let mut vm = vm.borrow_mut();
                vm.call(ctx, Callback::Done);
                vm.call(ctx, Callback::Delete);
                vm.release_stream_context(ctx);
            }
        }
    }

    /// Whether one of this stream's filters is context `ctx` of `vm`.
    pub fn owns(&self, vm: &Rc<RefCell<VmInstance>>, ctx: u32) -> bool {
        self.filter_of(vm, ctx).is_some()
    }

    /// Context id of filter `i`, if created.
    pub fn context_of(&self, i: usize) -> Option<u32> {
        self.filters[i].ctx
    }

    // ----- chain iteration (FilterManager::decodeHeaders/decodeData/... and encode*) -----

    fn n(&self) -> usize {
        self.filters.len()
    }

    fn filter_at(&self, dir: Dir, p: usize) -> usize {
        match dir {
            Dir::Decode => p,
            Dir::Encode => self.n() - 1 - p,
        }
    }

    fn entry(&mut self, dir: Dir, p: usize) -> &mut Entry {
        match dir {
            Dir::Decode => &mut self.dec[p],
            Dir::Encode => &mut self.enc[p],
        }
    }

    fn d(dir: Dir) -> usize {
        match dir {
            Dir::Decode => 0,
            Dir::Encode => 1,
        }
    }

    fn complete(&self, dir: Dir) -> bool {
        match dir {
            Dir::Decode => self.remote_complete,
            Dir::Encode => self.local_complete,
        }
    }

    fn has_trailers(&self, dir: Dir) -> bool {
        let s = self.shared.borrow();
        match dir {
            Dir::Decode => s.request_trailers.is_some(),
            Dir::Encode => s.response_trailers.is_some(),
        }
    }

    fn buffered_is_some(&self, dir: Dir) -> bool {
        let s = self.shared.borrow();
        match dir {
            Dir::Decode => s.buffered_request.is_some(),
            Dir::Encode => s.buffered_response.is_some(),
        }
    }

    fn take_buffered(&mut self, dir: Dir) -> Option<Vec<u8>> {
        let mut s = self.shared.borrow_mut();
        match dir {
            Dir::Decode => s.buffered_request.take(),
            Dir::Encode => s.buffered_response.take(),
        }
    }

    fn aborted(&self, dir: Dir) -> bool {
        match dir {
            Dir::Decode => self.decoder_aborted,
            Dir::Encode => self.encoder_aborted,
        }
    }

    /// `commonDecodePrefix`/`commonEncodePrefix`.
    fn first(&mut self, dir: Dir, from: Option<usize>, start: Start) -> usize {
        match from {
            None => 0,
            Some(p)
                if start == Start::CanStartFromCurrent
                    && self.entry(dir, p).iterate_from_current =>
            {
                p
            }
            Some(p) => p + 1,
        }
    }

    fn decoding_stopped(&self) -> bool {
        // A finished response or an aborted decoder chain drops further request frames.
        self.local_complete || self.decoder_aborted || self.reset.is_some()
    }

    fn do_headers(&mut self, dir: Dir, from: Option<usize>, end_stream: bool) {
        if self.reset.is_some() {
            return;
        }
        let start = from.map_or(0, |p| p + 1);
        for p in start..self.n() {
            self.entry(dir, p).end_stream = end_stream;
            let i = self.filter_at(dir, p);
            self.call_state = Some(dir);
            let mut st = self.wasm_headers(dir, i, end_stream);
            self.call_state = None;
            if self.aborted(dir) {
                if dir == Dir::Decode {
                    self.execute_prepared();
                }
                st = HeadersStatus::StopIteration;
            }
            if !self.after_headers(dir, p, st) {
                return;
            }
        }
        let headers = {
            let s = self.shared.borrow();
            match dir {
                Dir::Decode => s.request_headers.clone(),
                Dir::Encode => s.response_headers.clone().unwrap_or_default(),
            }
        };
        match dir {
            Dir::Decode => {
                self.upstream.headers = Some(headers);
                self.upstream.end_stream |= end_stream;
            }
            Dir::Encode => {
                self.downstream.headers = Some(headers);
                self.downstream.end_stream |= end_stream;
                self.non_100_encoded = true;
            }
        }
    }

    fn do_data(
        &mut self,
        dir: Dir,
        from: Option<usize>,
        mut data: Vec<u8>,
        end_stream: bool,
        start: Start,
    ) {
        if (dir == Dir::Decode && self.decoding_stopped()) || self.reset.is_some() {
            return;
        }
        let first = self.first(dir, from, start);
        let trailers_at_start = self.has_trailers(dir);
        let mut trailers_added_at = None;
        for p in first..self.n() {
            if self.entry(dir, p).stopped_all() {
                // handleDataIfStopAll: buffer for the stopped filter.
                self.streaming[Self::d(dir)] = self.entry(dir, p).iter == Iter::StopAllWatermark;
                self.buffer_data(dir, data);
                return;
            }
            if self.entry(dir, p).end_stream {
                return;
            }
            let eos = end_stream && !self.has_trailers(dir);
            self.entry(dir, p).end_stream = eos;
            let i = self.filter_at(dir, p);
            self.call_state = Some(dir);
            let mut st = self.wasm_data(dir, i, &mut data, eos);
            self.call_state = None;
            if self.aborted(dir) {
                if dir == Dir::Decode {
                    self.execute_prepared();
                }
                st = DataStatus::StopIterationNoBuffer;
            }
            if !trailers_at_start && self.has_trailers(dir) && trailers_added_at.is_none() {
                trailers_added_at = Some(p);
            }
            if !self.after_data(dir, p, st, &mut data) {
                return;
            }
        }
        let eos = end_stream && trailers_added_at.is_none();
        if dir == Dir::Encode {
            self.shared.borrow_mut().info.bytes_sent += data.len() as u64;
        }
        let target = match dir {
            Dir::Decode => &mut self.upstream,
            Dir::Encode => &mut self.downstream,
        };
        target.frames.push((data, eos));
        target.end_stream |= eos;
        if let Some(p) = trailers_added_at {
            self.do_trailers(dir, Some(p));
        }
    }

    fn do_trailers(&mut self, dir: Dir, from: Option<usize>) {
        if (dir == Dir::Decode && self.decoding_stopped()) || self.reset.is_some() {
            return;
        }
        let first = self.first(dir, from, Start::CanStartFromCurrent);
        for p in first..self.n() {
            if self.entry(dir, p).stopped_all() {
                return;
            }
            let i = self.filter_at(dir, p);
            self.call_state = Some(dir);
            let mut st = self.wasm_trailers(dir, i);
            self.call_state = None;
            self.entry(dir, p).end_stream = true;
            if self.aborted(dir) {
                if dir == Dir::Decode {
                    self.execute_prepared();
                }
                st = TrailersStatus::StopIteration;
            }
            if !self.after_trailers(dir, p, st) {
                return;
            }
        }
        let s = self.shared.borrow();
        let (t, target) = match dir {
            Dir::Decode => (s.request_trailers.clone(), &mut self.upstream),
            Dir::Encode => (s.response_trailers.clone(), &mut self.downstream),
        };
        target.trailers = t;
        target.end_stream = true;
    }

    /// `commonHandleAfterHeadersCallback`.
    fn after_headers(&mut self, dir: Dir, p: usize, st: HeadersStatus) -> bool {
        let e = self.entry(dir, p);
        match st {
            HeadersStatus::StopIteration => e.iter = Iter::StopSingle,
            HeadersStatus::StopAllIterationAndBuffer => e.iter = Iter::StopAllBuffer,
            HeadersStatus::StopAllIterationAndWatermark => e.iter = Iter::StopAllWatermark,
            HeadersStatus::Continue => {
                e.headers_continued = true;
                return true;
            }
        }
        false
    }

    /// `commonHandleAfterDataCallback`.
    fn after_data(&mut self, dir: Dir, p: usize, st: DataStatus, data: &mut Vec<u8>) -> bool {
        if st == DataStatus::Continue {
            if self.entry(dir, p).iter == Iter::StopSingle {
                self.buffer_data(dir, std::mem::take(data));
                self.common_continue(dir, p);
                return false;
            }
            return true;
        }
        self.entry(dir, p).iter = Iter::StopSingle;
        match st {
            DataStatus::StopIterationAndBuffer | DataStatus::StopIterationAndWatermark => {
                self.streaming[Self::d(dir)] = st == DataStatus::StopIterationAndWatermark;
                self.buffer_data(dir, std::mem::take(data));
            }
            _ => {
                // NoBuffer on the last frame: keep an empty buffer so that a later continue
                // resumes with an empty end_stream frame.
                if self.complete(dir) && !self.has_trailers(dir) && !self.buffered_is_some(dir) {
                    let mut s = self.shared.borrow_mut();
                    match dir {
                        Dir::Decode => s.buffered_request = Some(Vec::new()),
                        Dir::Encode => s.buffered_response = Some(Vec::new()),
                    }
                }
            }
        }
        false
    }

    /// `commonHandleAfterTrailersCallback`.
    fn after_trailers(&mut self, dir: Dir, p: usize, st: TrailersStatus) -> bool {
        match st {
            TrailersStatus::Continue => {
                if self.entry(dir, p).iter == Iter::StopSingle {
                    self.common_continue(dir, p);
                    return false;
                }
                true
            }
            TrailersStatus::StopIteration => {
                if self.entry(dir, p).iter == Iter::Continue {
                    self.entry(dir, p).iter = Iter::StopSingle;
                }
                false
            }
        }
    }

    /// `commonHandleBufferData` plus the watermark buffer's above-high-watermark callback
    /// (`requestDataTooLarge` → 413, `responseDataTooLarge` → 500, or flow control when streaming).
    fn buffer_data(&mut self, dir: Dir, data: Vec<u8>) {
        let (len, limit) = {
            let mut s = self.shared.borrow_mut();
            let limit = match dir {
                Dir::Decode => s.info.decoder_buffer_limit,
                Dir::Encode => s.info.encoder_buffer_limit,
            };
            let buf = match dir {
                Dir::Decode => s.buffered_request.get_or_insert_with(Vec::new),
                Dir::Encode => s.buffered_response.get_or_insert_with(Vec::new),
            };
            buf.extend_from_slice(&data);
            (buf.len(), limit)
        };
        let d = Self::d(dir);
        if len > limit && !self.too_large_fired[d] {
            self.too_large_fired[d] = true;
            if self.streaming[d] {
                self.watermark_hit[d] = true;
            } else {
                let (code, body, details) = match dir {
                    Dir::Decode => (413, "Payload Too Large", "request_payload_too_large"),
                    Dir::Encode => (500, "Internal Server Error", "response_payload_too_large"),
                };
                self.send_local_reply(LocalReply {
                    code,
                    body: body.as_bytes().to_vec(),
                    headers: Vec::new(),
                    details: details.into(),
                    sender: None,
                    path: None,
                });
            }
        }
    }

    /// `ActiveStreamFilterBase::commonContinue`.
    fn common_continue(&mut self, dir: Dir, p: usize) {
        // `canContinue`: a decoder cannot continue once the response is complete.
        if (dir == Dir::Decode && self.local_complete) || self.reset.is_some() {
            return;
        }
        if self.entry(dir, p).stopped_all() {
            self.entry(dir, p).iterate_from_current = true;
        }
        self.entry(dir, p).iter = Iter::Continue;
        if !self.entry(dir, p).headers_continued {
            self.entry(dir, p).headers_continued = true;
            let held = match dir {
                Dir::Encode => self.inject_after_headers[p].take(),
                Dir::Decode => None,
            };
            let eos = held.is_none()
                && self.complete(dir)
                && !self.buffered_is_some(dir)
                && !self.has_trailers(dir);
            self.do_headers(dir, Some(p), eos);
            if let Some((data, data_eos)) = held {
                self.inject_encoded(p, data, data_eos);
            }
        }
        let had_trailers = self.has_trailers(dir);
        if let Some(data) = self.take_buffered(dir) {
            let eos = self.complete(dir) && !had_trailers;
            self.do_data(dir, Some(p), data, eos, Start::CanStartFromCurrent);
        }
        if had_trailers {
            self.do_trailers(dir, Some(p));
        }
        self.entry(dir, p).iterate_from_current = false;
    }

    // ----- local replies (DownstreamFilterManager::sendLocalReply) -----

    fn send_local_reply(&mut self, mut r: LocalReply) {
        match self.call_state {
            Some(Dir::Decode) => self.decoder_aborted = true,
            Some(Dir::Encode) => self.encoder_aborted = true,
            None => {}
        }
        {
            let mut s = self.shared.borrow_mut();
            s.info.response_code_details = Some(r.details.clone());
        }
        if !self.response_started {
            if self.call_state == Some(Dir::Decode) {
                // prepareLocalReplyViaFilterChain: the first prepared reply wins.
                if self.prepared.is_none() {
                    self.prepared = Some(r);
                }
                return;
            }
            r.path = Some(ReplyPath::FilterChain);
            self.local_replies.push(r.clone());
            self.encode_local_reply(r);
        } else if !self.non_100_encoded {
            r.path = Some(ReplyPath::Direct);
            self.local_replies.push(r.clone());
            self.streaming[1] = true;
            {
                let mut s = self.shared.borrow_mut();
                s.info.response_code = Some(r.code);
                s.info.bytes_sent += r.body.len() as u64;
            }
            self.downstream = Received {
                headers: Some(local_reply_headers(&r)),
                frames: if r.body.is_empty() {
                    Vec::new()
                } else {
                    vec![(r.body.clone(), true)]
                },
                trailers: None,
                end_stream: true,
            };
            self.non_100_encoded = true;
            self.local_complete = true;
        } else {
            r.path = Some(ReplyPath::Reset);
            self.local_replies.push(r);
            self.reset = Some("local reply after response headers were sent".into());
        }
    }

    fn execute_prepared(&mut self) {
        if let Some(mut r) = self.prepared.take() {
            r.path = Some(ReplyPath::FilterChain);
            self.local_replies.push(r.clone());
            self.encode_local_reply(r);
        }
    }

    /// `sendLocalReplyViaFilterChain`: headers then body through `encodeHeaders(nullptr, ...)`,
    /// i.e. starting at the first encoder filter (the last filter of the chain).
    fn encode_local_reply(&mut self, r: LocalReply) {
        let headers = local_reply_headers(&r);
        {
            let mut s = self.shared.borrow_mut();
            s.response_headers = Some(headers);
            s.info.response_code = Some(r.code);
        }
        self.response_started = true;
        let eos = r.body.is_empty();
        self.local_complete = eos;
        self.do_headers(Dir::Encode, None, eos);
        if !eos {
            self.local_complete = true;
            self.do_data(Dir::Encode, None, r.body, true, Start::CanStartFromCurrent);
        }
    }

    // ----- deferred actions -----

    fn filter_of(&self, vm: &Rc<RefCell<VmInstance>>, ctx: u32) -> Option<usize> {
        self.filters
            .iter()
            .position(|f| f.ctx == Some(ctx) && Rc::ptr_eq(&f.vm, vm))
    }

    fn handle_actions(&mut self, vm: &Rc<RefCell<VmInstance>>, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::LocalReply {
                    context,
                    code,
                    body,
                    headers,
                    details,
                    ..
                } => {
                    let sender = self
                        .filter_of(vm, context)
                        .map(|i| self.filters[i].name.clone());
                    self.send_local_reply(LocalReply {
                        code,
                        body,
                        headers,
                        details,
                        sender,
                        path: None,
                    });
                }
                Action::Continue { context, stream } => {
                    if let Some(i) = self.filter_of(vm, context) {
                        self.pending.push_back(Pending::Continue(i, stream));
                    }
                }
                Action::Close { .. } => {
                    let mut s = self.shared.borrow_mut();
                    if s.info.response_code_details.is_none() {
                        s.info.response_code_details = Some(WASM_FAIL_STREAM.into());
                    }
                    drop(s);
                    self.reset = Some("close_stream".into());
                }
                Action::InjectEncoded {
                    context,
                    data,
                    end_stream,
                } => {
                    if let Some(i) = self.filter_of(vm, context) {
                        self.pending.push_back(Pending::Inject(i, data, end_stream));
                    }
                }
                Action::InjectEncodedOnHeader {
                    context,
                    data,
                    end_stream,
                } => {
                    if let Some(i) = self.filter_of(vm, context) {
                        self.pending
                            .push_back(Pending::InjectOnHeader(i, data, end_stream));
                    }
                }
            }
        }
    }

    /// Runs continues and injections after the VM call that asked for them returned.
    fn drain_pending(&mut self) {
        while let Some(p) = self.pending.pop_front() {
            match p {
                Pending::Continue(i, StreamType::Request) => {
                    if self.dec[i].iter != Iter::Continue {
                        self.common_continue(Dir::Decode, i);
                    }
                }
                Pending::Continue(i, _) => {
                    let pos = self.n() - 1 - i;
                    if self.enc[pos].iter != Iter::Continue {
                        self.common_continue(Dir::Encode, pos);
                    }
                }
                Pending::Inject(i, data, eos) => {
                    let pos = self.n() - 1 - i;
                    self.inject_encoded(pos, data, eos);
                }
                Pending::InjectOnHeader(i, data, eos) => {
                    let pos = self.n() - 1 - i;
                    if self.enc[pos].headers_continued {
                        self.inject_encoded(pos, data, eos);
                    } else {
                        // The headers are still held by the caller: the data follows them when
                        // they continue (`commonContinue`).
                        self.inject_after_headers[pos] = Some((data, eos));
                    }
                }
            }
        }
    }

    /// `injectEncodedDataToFilterChain`: data to the encoder filters after position `pos`.
    fn inject_encoded(&mut self, pos: usize, data: Vec<u8>, eos: bool) {
        if eos {
            self.local_complete = true;
        }
        self.do_data(Dir::Encode, Some(pos), data, eos, Start::AlwaysNext);
    }

    // ----- the wasm filter (Envoy Context + cpp-host ContextBase) -----

    fn ensure_context(&mut self, i: usize) -> Option<u32> {
        if let Some(c) = self.filters[i].ctx {
            return Some(c);
        }
        let vm = self.filters[i].vm.clone();
        let ctx = vm
            .borrow_mut()
            .create_stream_context(self.shared.clone(), i);
        self.filters[i].ctx = ctx;
        ctx
    }

    fn call(&mut self, i: usize, cb: Callback) -> (Option<u32>, bool) {
        let Some(ctx) = self.filters[i].ctx else {
            return (None, false);
        };
        let vm = self.filters[i].vm.clone();
        let outcome = vm.borrow_mut().call(ctx, cb);
        let ret = outcome.ret;
        let stop = outcome.stop_next;
        self.handle_actions(&vm, outcome.actions);
        (ret, stop)
    }

    /// CHECK_FAIL: fail-open passes, fail-close sends one 503 `wasm_fail_stream` reply.
    fn check_fail(&mut self, i: usize) -> bool {
        if self.filters[i].fail_open {
            return true;
        }
        let first = {
            let mut s = self.shared.borrow_mut();
            !std::mem::replace(&mut s.slots[i].stream_failed, true)
        };
        if first {
            self.send_local_reply(LocalReply {
                code: 503,
                body: Vec::new(),
                headers: Vec::new(),
                details: WASM_FAIL_STREAM.into(),
                sender: Some(self.filters[i].name.clone()),
                path: None,
            });
        }
        false
    }

    fn vm_failed(&self, i: usize) -> bool {
        self.filters[i].vm.borrow().is_failed()
    }

    fn wasm_headers(&mut self, dir: Dir, i: usize, eos: bool) -> HeadersStatus {
        if dir == Dir::Decode {
            self.ensure_context(i);
            let mut s = self.shared.borrow_mut();
            s.slots[i].started = true;
            s.slots[i].req_headers = true;
            s.slots[i].end_of_stream = eos;
        } else {
            let mut s = self.shared.borrow_mut();
            // Envoy `Context::encodeHeaders`: no VM call without a context or after the
            // failure reply was sent (`failure_local_reply_sent_`), so the 503 gets through.
            if !s.slots[i].started || s.slots[i].stream_failed {
                return HeadersStatus::Continue;
            }
            s.slots[i].resp_headers = true;
            s.slots[i].end_of_stream = eos;
        }
        let fail = |fm: &mut Self| {
            if fm.check_fail(i) {
                HeadersStatus::Continue
            } else {
                HeadersStatus::StopAllIterationAndWatermark
            }
        };
        if self.vm_failed(i) || self.filters[i].ctx.is_none() {
            return fail(self);
        }
        let n = {
            let s = self.shared.borrow();
            match dir {
                Dir::Decode => s.request_headers.len(),
                Dir::Encode => s.response_headers.as_ref().map_or(0, HeaderMap::len),
            }
        } as u32;
        let cb = match dir {
            Dir::Decode => Callback::RequestHeaders(n, eos),
            Dir::Encode => Callback::ResponseHeaders(n, eos),
        };
        let (ret, stop) = self.call(i, cb);
        let Some(raw) = ret else {
            return fail(self);
        };
        let real_stop = dir == Dir::Decode && self.filters[i].real_stop_iteration;
        let st = abi::convert_headers(raw, stop, real_stop);
        if st == HeadersStatus::Continue {
            let mut s = self.shared.borrow_mut();
            match dir {
                Dir::Decode => s.slots[i].req_headers = false,
                Dir::Encode => s.slots[i].resp_headers = false,
            }
        }
        st
    }

    fn wasm_data(&mut self, dir: Dir, i: usize, data: &mut Vec<u8>, eos: bool) -> DataStatus {
        let buffering = {
            let s = self.shared.borrow();
            if !s.slots[i].started || (dir == Dir::Encode && s.slots[i].stream_failed) {
                return DataStatus::Continue;
            }
            match dir {
                Dir::Decode => s.slots[i].buffering_req,
                Dir::Encode => s.slots[i].buffering_resp,
            }
        };
        if buffering {
            // Envoy `Context::decodeData` adds the chunk to the buffered body first
            // (`addDecodedData(data, false)`), so body_size is the total buffered.
            self.streaming[Self::d(dir)] = false;
            let replies = self.local_replies.len();
            self.buffer_data(dir, std::mem::take(data));
            if self.aborted(dir) || self.local_replies.len() != replies || self.prepared.is_some() {
                // The added data triggered the too-large reply: the VM is not called
                // (`if (destroyed_) return StopIterationAndBuffer`).
                return DataStatus::StopIterationAndBuffer;
            }
        }
        let size = {
            let mut s = self.shared.borrow_mut();
            let size = if buffering {
                match dir {
                    Dir::Decode => s.buffered_request.as_ref().map_or(0, Vec::len),
                    Dir::Encode => s.buffered_response.as_ref().map_or(0, Vec::len),
                }
            } else {
                data.len()
            };
            s.slots[i].end_of_stream = eos;
            match dir {
                Dir::Decode => {
                    s.slots[i].req_body = Some(BodyRef::Chunk);
                    s.request_chunk = Some(std::mem::take(data));
                }
                Dir::Encode => {
                    s.slots[i].resp_body = Some(BodyRef::Chunk);
                    s.response_chunk = Some(std::mem::take(data));
                }
            }
            size as u32
        };
        let (ret, stop) = if self.vm_failed(i) {
            (None, false)
        } else {
            let cb = match dir {
                Dir::Decode => Callback::RequestBody(size, eos),
                Dir::Encode => Callback::ResponseBody(size, eos),
            };
            self.call(i, cb)
        };
        {
            let mut s = self.shared.borrow_mut();
            *data = match dir {
                Dir::Decode => s.request_chunk.take(),
                Dir::Encode => s.response_chunk.take(),
            }
            .unwrap_or_default();
        }
        let Some(raw) = ret else {
            return if self.check_fail(i) {
                DataStatus::Continue
            } else {
                DataStatus::StopIterationNoBuffer
            };
        };
        let st = abi::convert_data(raw, stop);
        let mut s = self.shared.borrow_mut();
        let slot = &mut s.slots[i];
        let (buffering, body) = match dir {
            Dir::Decode => (&mut slot.buffering_req, &mut slot.req_body),
            Dir::Encode => (&mut slot.buffering_resp, &mut slot.resp_body),
        };
        *buffering = false;
        match st {
            DataStatus::Continue => *body = None,
            DataStatus::StopIterationAndBuffer => *buffering = true,
            _ => {}
        }
        st
    }

    fn wasm_trailers(&mut self, dir: Dir, i: usize) -> TrailersStatus {
        let n = {
            let mut s = self.shared.borrow_mut();
            if !s.slots[i].started || (dir == Dir::Encode && s.slots[i].stream_failed) {
                return TrailersStatus::Continue;
            }
            let n = match dir {
                Dir::Decode => s.request_trailers.as_ref().map_or(0, HeaderMap::len),
                Dir::Encode => s.response_trailers.as_ref().map_or(0, HeaderMap::len),
            };
            match dir {
                Dir::Decode => s.slots[i].req_trailers = true,
                Dir::Encode => s.slots[i].resp_trailers = true,
            }
            n as u32
        };
        let (ret, stop) = if self.vm_failed(i) {
            (None, false)
        } else {
            let cb = match dir {
                Dir::Decode => Callback::RequestTrailers(n),
                Dir::Encode => Callback::ResponseTrailers(n),
            };
            self.call(i, cb)
        };
        let Some(raw) = ret else {
            return if self.check_fail(i) {
                TrailersStatus::Continue
            } else {
                TrailersStatus::StopIteration
            };
        };
        let st = abi::convert_trailers(raw, stop);
        if st == TrailersStatus::Continue {
            let mut s = self.shared.borrow_mut();
            match dir {
                Dir::Decode => s.slots[i].req_trailers = false,
                Dir::Encode => s.slots[i].resp_trailers = false,
            }
        }
        st
    }
}

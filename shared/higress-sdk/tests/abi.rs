//! Drives the exported `proxy_on_*` functions with the fake host, as Envoy would.

use std::cell::RefCell;

use higress_sdk::abi::*;
use higress_sdk::http_call::{HttpCallError, HttpRequest, HttpResponse};
use higress_sdk::redis::{LuaScript, RedisClient, RedisError};
use higress_sdk::resp::RespValue;
use higress_sdk::testing::install;
use higress_sdk::types::*;
use higress_sdk::{HttpContext, RootContext};

thread_local! {
    static EVENTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static SCRIPT: RefCell<Option<Script>> = const { RefCell::new(None) };
}

/// What the test stream does in its request-headers callback.
#[derive(Clone, Default)]
struct Script {
    header_action: Option<HeaderAction>,
    data_action: Option<DataAction>,
    http_call: Option<HttpRequest>,
    /// Dispatch `http_call` with `dispatcher::as_root` (the answer goes to the root).
    call_as_root: bool,
    redis_eval: bool,
    /// Password for a `GET k` sent from the request headers; `Some("")` means no credentials.
    redis_get: Option<&'static str>,
    refuse_streams: bool,
}

fn event(e: impl Into<String>) {
    EVENTS.with(|v| v.borrow_mut().push(e.into()));
}

fn events() -> Vec<String> {
    EVENTS.with(|v| std::mem::take(&mut *v.borrow_mut()))
}

fn script() -> Script {
    SCRIPT.with(|s| s.borrow().clone().unwrap_or_default())
}

fn set_script(s: Script) {
    SCRIPT.with(|c| *c.borrow_mut() = Some(s));
}

struct Root;

impl RootContext for Root {
    fn on_vm_start(&mut self, size: usize) -> bool {
        event(format!("vm_start {size}"));
        true
    }
    fn on_configure(&mut self, size: usize) -> bool {
        event(format!("configure {size}"));
        size != 999
    }
    fn on_tick(&mut self) {
        event("tick");
    }
    fn on_queue_ready(&mut self, q: u32) {
        event(format!("queue {q}"));
    }
    fn on_foreign_function(&mut self, id: u32, size: usize) {
        event(format!("foreign {id} {size}"));
    }
    fn create_http_context(&mut self, id: u32) -> Option<Box<dyn HttpContext>> {
        if script().refuse_streams {
            return None;
        }
        event(format!("create {id}"));
        Some(Box::new(Stream { id }))
    }
    fn on_http_call_response(&mut self, token: u32, r: Result<HttpResponse, HttpCallError>) {
        event(format!("root http {token} {:?}", r.map(|r| r.status)));
    }
    fn on_done(&mut self) -> bool {
        event("root done");
        true
    }
}

struct Stream {
    id: u32,
}

impl HttpContext for Stream {
    fn on_request_headers(&mut self, n: usize, eos: bool) -> HeaderAction {
        event(format!("{} req_headers {n} {eos}", self.id));
        let s = script();
        if let Some(req) = &s.http_call {
            let send = || req.dispatch("outbound|80||llm.dns").unwrap();
            let token = if s.call_as_root {
                higress_sdk::dispatcher::as_root(send)
            } else {
                send()
            };
            event(format!("{} dispatched {token}", self.id));
        }
        if s.redis_eval {
            let client = RedisClient::new("outbound|6379||redis.dns");
            let token = client
                .eval(&LuaScript::new("return 1"), &["k"], &["a"])
                .unwrap();
            event(format!("{} redis {token}", self.id));
        }
        if let Some(password) = s.redis_get {
            let client = RedisClient::new("outbound|6379||redis.dns").with_auth("", password);
            let token = client.get("k").unwrap();
            event(format!("{} redis {token}", self.id));
        }
        s.header_action.unwrap_or(HeaderAction::Continue)
    }
    fn on_request_body(&mut self, size: usize, eos: bool) -> DataAction {
        event(format!("{} req_body {size} {eos}", self.id));
        script().data_action.unwrap_or(DataAction::Continue)
    }
    fn on_request_trailers(&mut self, n: usize) -> TrailerAction {
        event(format!("{} req_trailers {n}", self.id));
        TrailerAction::Pause
    }
    fn on_response_headers(&mut self, n: usize, eos: bool) -> HeaderAction {
        event(format!("{} resp_headers {n} {eos}", self.id));
        script().header_action.unwrap_or(HeaderAction::Continue)
    }
    fn on_response_body(&mut self, size: usize, eos: bool) -> DataAction {
        event(format!("{} resp_body {size} {eos}", self.id));
        script().data_action.unwrap_or(DataAction::Continue)
    }
    fn on_response_trailers(&mut self, n: usize) -> TrailerAction {
        event(format!("{} resp_trailers {n}", self.id));
        TrailerAction::Continue
    }
    fn on_http_call_response(&mut self, token: u32, r: Result<HttpResponse, HttpCallError>) {
        match r {
            Ok(r) => event(format!(
                "{} http {token} {} {} {}",
                self.id,
                r.status,
                r.header("x-a").unwrap_or("-"),
                String::from_utf8_lossy(&r.body)
            )),
            Err(e) => event(format!("{} http {token} err {e:?}", self.id)),
        }
    }
    fn on_redis_call_response(&mut self, token: u32, r: Result<RespValue, RedisError>) {
        event(format!("{} redis_reply {token} {r:?}", self.id));
    }
    fn on_log(&mut self) {
        event(format!("{} log", self.id));
    }
    fn on_done(&mut self) -> bool {
        event(format!("{} done", self.id));
        true
    }
}

higress_sdk::main!(|_| Box::new(Root));

fn setup(s: Script) -> std::rc::Rc<higress_sdk::testing::FakeHost> {
    let fake = install();
    events();
    set_script(s);
    proxy_on_context_create(1, 0);
    assert_eq!(proxy_on_vm_start(1, 0), 1);
    assert_eq!(proxy_on_configure(1, 2), 1);
    events();
    fake
}

#[test]
fn full_stream_lifecycle_reaches_the_plugin_in_order() {
    let _fake = setup(Script::default());
    proxy_on_context_create(2, 1);
    assert_eq!(proxy_on_request_headers(2, 5, 0), 0);
    assert_eq!(proxy_on_request_body(2, 10, 1), 0);
    assert_eq!(proxy_on_request_trailers(2, 1), 1);
    assert_eq!(proxy_on_response_headers(2, 3, 0), 0);
    assert_eq!(proxy_on_response_body(2, 4, 1), 0);
    assert_eq!(proxy_on_response_trailers(2, 0), 0);
    proxy_on_log(2);
    assert_eq!(proxy_on_done(2), 1);
    proxy_on_delete(2);
    assert_eq!(
        events(),
        [
            "create 2",
            "2 req_headers 5 false",
            "2 req_body 10 true",
            "2 req_trailers 1",
            "2 resp_headers 3 false",
            "2 resp_body 4 true",
            "2 resp_trailers 0",
            "2 log",
            "2 done"
        ]
    );
    // Deleted: later callbacks are harmless no-ops.
    assert_eq!(proxy_on_request_headers(2, 1, 1), 0);
    assert!(events().is_empty());
}

#[test]
fn root_callbacks() {
    let _fake = setup(Script::default());
    assert_eq!(proxy_on_configure(1, 999), 0);
    proxy_on_tick(1);
    proxy_on_queue_ready(1, 7);
    proxy_on_foreign_function(1, 3, 8);
    assert_eq!(proxy_on_done(1), 1);
    assert_eq!(
        events(),
        [
            "configure 999",
            "tick",
            "queue 7",
            "foreign 3 8",
            "root done"
        ]
    );
}

#[test]
fn unknown_ids_get_safe_answers() {
    let _fake = install();
    // No factory registered on this thread's registry yet for id 50's parent.
    assert_eq!(proxy_on_configure(77, 10), 0);
    assert_eq!(proxy_on_request_headers(78, 1, 0), 0);
    assert_eq!(proxy_on_request_body(78, 1, 0), 0);
    assert_eq!(proxy_on_response_trailers(78, 1), 0);
    proxy_on_http_call_response(1, 12345, 1, 1, 0);
    proxy_on_redis_call_response(1, 12345, 0, 3);
    proxy_on_delete(78);
}

#[test]
fn refused_streams_pass_through() {
    let _fake = setup(Script {
        refuse_streams: true,
        header_action: Some(HeaderAction::StopAllIterationAndBuffer),
        ..Default::default()
    });
    proxy_on_context_create(2, 1);
    assert_eq!(proxy_on_request_headers(2, 1, 0), 0);
    assert!(events().is_empty());
}

#[test]
fn richer_actions_reach_the_host_unchanged() {
    for (action, code) in [
        (HeaderAction::StopAllIterationAndBuffer, 3),
        (HeaderAction::StopAllIterationAndWatermark, 4),
        (HeaderAction::Continue, 0),
    ] {
        let _fake = setup(Script {
            header_action: Some(action),
            ..Default::default()
        });
        proxy_on_context_create(2, 1);
        assert_eq!(proxy_on_request_headers(2, 1, 0), code);
        assert_eq!(proxy_on_response_headers(2, 1, 0), code);
    }
    for (action, code) in [
        (DataAction::StopIterationAndBuffer, 1),
        (DataAction::StopIterationAndWatermark, 2),
        (DataAction::StopIterationNoBuffer, 3),
    ] {
        let _fake = setup(Script {
            data_action: Some(action),
            ..Default::default()
        });
        proxy_on_context_create(2, 1);
        assert_eq!(proxy_on_request_body(2, 1, 0), code);
        assert_eq!(proxy_on_response_body(2, 1, 0), code);
    }
}

#[test]
fn request_stop_iteration_depends_on_the_abi() {
    let fake = setup(Script {
        header_action: Some(HeaderAction::StopIteration),
        ..Default::default()
    });
    fake.set_request_headers(&[("content-length", "5")]);
    proxy_on_context_create(2, 1);
    let code = proxy_on_request_headers(2, 1, 0);
    let cl = fake.map_value(MapType::HttpRequestHeaders, "content-length");
    if cfg!(feature = "abi-0-2-1") {
        assert_eq!((code, cl), (0, None));
    } else {
        assert_eq!((code, cl.as_deref()), (1, Some("5")));
    }
}

#[test]
fn request_stop_iteration_without_body_is_kept() {
    let fake = setup(Script {
        header_action: Some(HeaderAction::StopIteration),
        ..Default::default()
    });
    fake.set_request_headers(&[("content-length", "0")]);
    proxy_on_context_create(2, 1);
    assert_eq!(proxy_on_request_headers(2, 1, 1), 1);
    assert!(fake
        .map_value(MapType::HttpRequestHeaders, "content-length")
        .is_some());
}

#[test]
fn response_stop_iteration_becomes_continue_without_content_length() {
    let fake = setup(Script {
        header_action: Some(HeaderAction::StopIteration),
        ..Default::default()
    });
    fake.set_response_headers(&[("content-length", "5"), ("x", "y")]);
    proxy_on_context_create(2, 1);
    assert_eq!(proxy_on_response_headers(2, 1, 0), 0);
    assert_eq!(
        fake.map(MapType::HttpResponseHeaders).unwrap(),
        vec![("x".to_string(), "y".to_string())]
    );
}

#[test]
fn memory_allocate_export_gives_usable_memory() {
    let p = proxy_on_memory_allocate(16);
    assert!(!p.is_null());
    assert!(!proxy_on_memory_allocate(0).is_null());
    higress_sdk::abi::memory::reclaim();
}

fn with_call() -> Script {
    Script {
        header_action: Some(HeaderAction::StopAllIterationAndBuffer),
        http_call: Some(
            HttpRequest::post("http://llm.example.com/v1?x=1", "{}")
                .header("x-k", "v")
                .timeout_ms(300),
        ),
        ..Default::default()
    }
}

#[test]
fn http_callout_is_routed_to_its_stream_with_effective_context() {
    let fake = setup(with_call());
    proxy_on_context_create(2, 1);
    proxy_on_context_create(3, 1);
    assert_eq!(proxy_on_request_headers(2, 1, 0), 3);
    assert_eq!(proxy_on_request_headers(3, 1, 0), 3);
    let calls = fake.http_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].upstream, "outbound|80||llm.dns");
    assert_eq!(calls[0].header(":path"), Some("/v1?x=1"));
    assert_eq!(calls[0].header(":authority"), Some("llm.example.com"));
    assert_eq!(calls[0].header(":method"), Some("POST"));
    assert_eq!(calls[0].header("x-k"), Some("v"));
    assert_eq!(
        (calls[0].body.as_slice(), calls[0].timeout_ms),
        (&b"{}"[..], 300)
    );
    events();

    fake.set_http_call_response_headers(&[(":status", "201"), ("x-a", "b")]);
    fake.set_buffer(BufferType::HttpCallResponseBody, b"hello");
    // Answer the second stream's call first: routing is by token, not order.
    proxy_on_http_call_response(1, calls[1].token, 2, 5, 0);
    proxy_on_http_call_response(1, calls[0].token, 2, 5, 0);
    assert_eq!(
        events(),
        [
            format!("3 http {} 201 b hello", calls[1].token),
            format!("2 http {} 201 b hello", calls[0].token)
        ]
    );
    assert_eq!(fake.effective_contexts(), vec![3, 2]);
    assert_eq!(higress_sdk::dispatcher::pending_callouts(), 0);
}

#[test]
fn callout_sent_as_root_is_answered_on_the_root_after_the_stream_ended() {
    let fake = setup(Script {
        call_as_root: true,
        ..with_call()
    });
    proxy_on_context_create(2, 1);
    proxy_on_request_headers(2, 1, 0);
    let token = fake.http_calls()[0].token;
    // The host saw the call made by the root, then the stream was effective again.
    assert_eq!(fake.effective_contexts(), vec![1, 2]);
    proxy_on_log(2);
    proxy_on_delete(2);
    events();
    fake.set_http_call_response_headers(&[(":status", "201")]);
    proxy_on_http_call_response(1, token, 1, 0, 0);
    assert_eq!(events(), [format!("root http {token} Ok(201)")]);
    assert_eq!(higress_sdk::dispatcher::pending_callouts(), 0);
}

#[test]
fn failed_callout_is_an_error_not_a_response() {
    let fake = setup(with_call());
    proxy_on_context_create(2, 1);
    proxy_on_request_headers(2, 1, 0);
    let token = fake.http_calls()[0].token;
    events();
    proxy_on_http_call_response(1, token, 0, 0, 0);
    assert_eq!(events(), [format!("2 http {token} err Failed")]);
}

#[test]
fn callout_without_status_is_an_error() {
    let fake = setup(with_call());
    proxy_on_context_create(2, 1);
    proxy_on_request_headers(2, 1, 0);
    let token = fake.http_calls()[0].token;
    events();
    fake.set_http_call_response_headers(&[("x-a", "b")]);
    proxy_on_http_call_response(1, token, 1, 0, 0);
    assert_eq!(events(), [format!("2 http {token} err NoStatus")]);
}

#[test]
fn callout_for_a_deleted_stream_is_dropped() {
    let fake = setup(with_call());
    proxy_on_context_create(2, 1);
    proxy_on_request_headers(2, 1, 0);
    let token = fake.http_calls()[0].token;
    proxy_on_delete(2);
    events();
    assert_eq!(higress_sdk::dispatcher::pending_callouts(), 0);
    fake.set_http_call_response_headers(&[(":status", "200")]);
    proxy_on_http_call_response(1, token, 1, 0, 0);
    assert!(events().is_empty());
    assert!(fake.effective_contexts().is_empty());
}

#[test]
fn callout_dispatch_failure_is_a_result() {
    let fake = setup(Script::default());
    fake.fail("proxy_http_call", Status::BadArgument);
    let err = HttpRequest::get("http://x/")
        .dispatch("outbound|1||nope")
        .unwrap_err();
    assert_eq!(
        err,
        HttpCallError::Host(HostError::new("proxy_http_call", Status::BadArgument))
    );
    assert_eq!(higress_sdk::dispatcher::pending_callouts(), 0);
}

#[test]
fn root_context_callouts_come_back_to_the_root() {
    let fake = setup(Script::default());
    // A call made from a root callback belongs to that root context.
    struct Caller;
    impl RootContext for Caller {
        fn on_tick(&mut self) {
            HttpRequest::get("http://a/").dispatch("c").unwrap();
        }
        fn create_http_context(&mut self, _: u32) -> Option<Box<dyn HttpContext>> {
            None
        }
        fn on_http_call_response(&mut self, token: u32, r: Result<HttpResponse, HttpCallError>) {
            event(format!("caller {token} {:?}", r.map(|r| r.status)));
        }
    }
    higress_sdk::dispatcher::reset();
    higress_sdk::abi::on_context_create(|_| Box::new(Caller), 9, 0);
    proxy_on_tick(9);
    let token = fake.http_calls()[0].token;
    fake.set_http_call_response_headers(&[(":status", "204")]);
    proxy_on_http_call_response(9, token, 1, 0, 0);
    assert_eq!(events(), [format!("caller {token} Ok(204)")]);
    assert_eq!(fake.effective_contexts(), vec![9]);
}

#[test]
fn redis_evalsha_falls_back_to_eval_under_the_same_token() {
    let fake = setup(Script {
        redis_eval: true,
        header_action: Some(HeaderAction::StopAllIterationAndBuffer),
        ..Default::default()
    });
    proxy_on_context_create(2, 1);
    proxy_on_request_headers(2, 1, 0);
    let first = fake.redis_calls()[0].clone();
    let sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";
    assert_eq!(first.cluster, "outbound|6379||redis.dns");
    assert_eq!(
        first.query,
        format!("*5\r\n$7\r\nEVALSHA\r\n$40\r\n{sha}\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\na\r\n")
            .into_bytes()
    );
    events();

    let noscript = b"-NOSCRIPT No matching script. Please use EVAL.\r\n";
    fake.set_buffer(BufferType::RedisCallResponse, noscript);
    proxy_on_redis_call_response(1, first.token, 0, noscript.len());
    assert!(events().is_empty(), "NOSCRIPT must not reach the plugin");
    let second = fake.redis_calls()[1].clone();
    assert_eq!(
        second.query,
        b"*5\r\n$4\r\nEVAL\r\n$8\r\nreturn 1\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\na\r\n"
    );

    fake.set_buffer(BufferType::RedisCallResponse, b":1\r\n");
    proxy_on_redis_call_response(1, second.token, 0, 4);
    assert_eq!(
        events(),
        [format!("2 redis_reply {} Ok(Integer(1))", first.token)]
    );
    assert_eq!(fake.effective_contexts(), vec![2, 2]);
}

#[test]
fn redis_failures_are_errors() {
    let fake = setup(Script::default());
    proxy_on_context_create(2, 1);
    // Dispatch from inside the stream so the call belongs to it.
    set_script(Script {
        redis_eval: true,
        ..Default::default()
    });
    proxy_on_request_headers(2, 1, 1);
    set_script(Script {
        redis_eval: true,
        ..Default::default()
    });
    proxy_on_request_headers(2, 1, 1);
    let calls = fake.redis_calls();
    events();
    proxy_on_redis_call_response(1, calls[0].token, 1, 0);
    fake.set_buffer(BufferType::RedisCallResponse, b"?garbage\r\n");
    proxy_on_redis_call_response(1, calls[1].token, 0, 10);
    let ev = events();
    assert_eq!(
        ev[0],
        format!("2 redis_reply {} Err(Network(1))", calls[0].token)
    );
    assert!(
        ev[1].starts_with(&format!(
            "2 redis_reply {} Err(Protocol(Invalid(",
            calls[1].token
        )),
        "{}",
        ev[1]
    );
}

#[test]
fn redis_client_init_and_db_suffix() {
    let fake = setup(Script::default());
    let client = RedisClient::new("outbound|6379||redis.dns")
        .with_auth("u", "p")
        .with_database(2)
        .with_timeout_ms(50);
    assert_eq!(client.upstream(), "outbound|6379||redis.dns?db=2");
    client.init().unwrap();
    assert_eq!(
        fake.redis_inits(),
        vec![(
            "outbound|6379||redis.dns?db=2".into(),
            "u".into(),
            "p".into(),
            50
        )]
    );
    client.incrby("c", -3).unwrap();
    assert_eq!(
        fake.redis_calls()[0].query,
        b"*3\r\n$6\r\nINCRBY\r\n$1\r\nc\r\n$2\r\n-3\r\n"
    );
    fake.fail("proxy_redis_init", Status::BadArgument);
    assert_eq!(client.init().unwrap_err().status, Status::BadArgument);
}

const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";

fn answer_redis(fake: &higress_sdk::testing::FakeHost, token: u32, reply: &[u8]) {
    fake.set_buffer(BufferType::RedisCallResponse, reply);
    proxy_on_redis_call_response(1, token, 0, reply.len());
}

#[test]
fn redis_noauth_reinitializes_and_resends_once() {
    let fake = setup(Script {
        redis_get: Some("pw"),
        ..Default::default()
    });
    proxy_on_context_create(2, 1);
    proxy_on_request_headers(2, 1, 1);
    let first = fake.redis_calls()[0].clone();
    events();
    answer_redis(&fake, first.token, NOAUTH);
    assert!(
        events().is_empty(),
        "NOAUTH with credentials is retried, not delivered"
    );
    assert_eq!(
        fake.redis_inits(),
        vec![(
            "outbound|6379||redis.dns".into(),
            "".into(),
            "pw".into(),
            1000
        )]
    );
    let second = fake.redis_calls()[1].clone();
    assert_eq!(second.query, first.query);
    // Still NOAUTH: delivered as the server's answer, no retry loop.
    answer_redis(&fake, second.token, NOAUTH);
    assert_eq!(
        events(),
        [format!(
            "2 redis_reply {} Ok(Error(\"NOAUTH Authentication required.\"))",
            first.token
        )]
    );
    assert_eq!(fake.redis_calls().len(), 2);
    assert_eq!(higress_sdk::dispatcher::pending_callouts(), 0);
}

#[test]
fn redis_noauth_without_credentials_is_delivered() {
    let fake = setup(Script {
        redis_get: Some(""),
        ..Default::default()
    });
    proxy_on_context_create(2, 1);
    proxy_on_request_headers(2, 1, 1);
    let first = fake.redis_calls()[0].clone();
    events();
    answer_redis(&fake, first.token, NOAUTH);
    assert_eq!(events().len(), 1);
    assert!(fake.redis_inits().is_empty());
}

#[test]
fn redis_retry_that_cannot_be_sent_is_reported() {
    let fake = setup(Script {
        redis_get: Some("pw"),
        ..Default::default()
    });
    proxy_on_context_create(2, 1);
    proxy_on_request_headers(2, 1, 1);
    let first = fake.redis_calls()[0].clone();
    events();
    fake.fail("proxy_redis_init", Status::BadArgument);
    answer_redis(&fake, first.token, NOAUTH);
    assert_eq!(
        events(),
        [format!(
            "2 redis_reply {} Err(Host(HostError {{ call: \"proxy_redis_init\", status: BadArgument }}))",
            first.token
        )]
    );
}

#[test]
fn redis_reply_for_a_deleted_stream_is_dropped() {
    let fake = setup(Script {
        redis_get: Some(""),
        ..Default::default()
    });
    proxy_on_context_create(2, 1);
    proxy_on_request_headers(2, 1, 1);
    let first = fake.redis_calls()[0].clone();
    proxy_on_delete(2);
    events();
    answer_redis(&fake, first.token, b"$1\r\nv\r\n");
    assert!(events().is_empty());
    assert!(fake.effective_contexts().is_empty());
}

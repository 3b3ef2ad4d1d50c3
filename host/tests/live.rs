//! Live backends: a plugin's Redis and HTTP callouts answered by real servers — a real Redis (from
//! the e2e wheels) and a real HTTP/1.1 server on a socket — with replies arriving in pieces.

mod common;
use common::*;
use e2e_services::redis::RedisServer;
use proxy_wasm_host::live::LiveBackends;
use std::io::{Read, Write};
use std::net::TcpListener;

/// Serves one connection: answers with a chunked body split over several writes, after echoing
/// the request line and the request body it read.
fn one_shot_http_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.ends_with(b"body") {
            let n = sock.read(&mut buf).unwrap();
            assert!(n > 0, "client closed before sending its body");
            req.extend_from_slice(&buf[..n]);
        }
        let req = String::from_utf8(req).unwrap();
        let line = req.lines().next().unwrap().to_string();
        let payload = format!("{line}|{}", req.rsplit("\r\n\r\n").next().unwrap());
        sock.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nx-a: 1\r\n\r\n")
            .unwrap();
        for piece in payload.as_bytes().chunks(7) {
            sock.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                .unwrap();
            sock.write_all(piece).unwrap();
            sock.write_all(b"\r\n").unwrap();
            sock.flush().unwrap();
        }
        sock.write_all(b"0\r\n\r\n").unwrap();
    });
    addr
}

#[test]
fn redis_and_http_callouts_answered_by_real_servers() {
    let Some(redis) =
        RedisServer::start_or_skip("redis_and_http_callouts_answered_by_real_servers")
    else {
        return;
    };
    // SET then GET through two chained callouts: the second is made from the first one's answer,
    // so serve_live must keep going until nothing is pending.
    let script = "request_headers: redis_call cache *3%0D%0A$3%0D%0ASET%0D%0A$1%0D%0Ak%0D%0A$5%0D%0Ahello%0D%0A; return 1\n\
                  redis_call_response#1: get_body 9 0; redis_call cache *2%0D%0A$3%0D%0AGET%0D%0A$1%0D%0Ak%0D%0A\n\
                  redis_call_response#2: get_body 9 0; http_call web /echo 0 body\n\
                  http_call_response: get_body 4 0; continue 0";
    let mut h = host(&[("p", script)]);
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    let mut live = LiveBackends::new()
        .redis("cache", ("127.0.0.1", redis.port()))
        .http("web", one_shot_http_server());
    assert_eq!(s.serve_live(&mut live).unwrap(), 3);
    let lines = logs(&h, "p");
    assert!(
        lines.contains(&"redis_call_response: get_body -> 0 +OK\r\n".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"redis_call_response: get_body -> 0 $5\r\nhello\r\n".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"http_call_response: get_body -> 0 GET /echo HTTP/1.1|body".to_string()),
        "{lines:?}"
    );
    assert!(
        s.upstream().headers.is_some(),
        "the request continued after the last answer"
    );
}

#[test]
fn unknown_cluster_is_an_error_naming_it() {
    let mut h = host(&[("p", "request_headers: http_call nowhere /x 0; return 1")]);
    let mut s = h.stream();
    s.send_request_headers(GET, true);
    let err = s.serve_live(&mut LiveBackends::new()).unwrap_err();
    assert!(err.to_string().contains("\"nowhere\""), "{err}");
}

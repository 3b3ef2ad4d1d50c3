use super::*;

fn stop_only(r: &str) -> bool {
    r == "stop"
}

const POLICY: StorePolicy = StorePolicy {
    finish_reason_ok: &stop_only,
    allow_tool_calls: false,
};

/// A Hunyuan-style stream: role-only first chunk, content, finish, usage, [DONE].
const STREAM: &str = concat!(
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\u4e16界\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"total_tokens\":8}}\n\n",
    "data: [DONE]\n\n"
);

fn capture_split(parts: &[&[u8]]) -> Result<ChatResponse, NotStored> {
    let mut c = Capture::sse(1 << 20);
    for p in parts {
        c.feed(p);
    }
    c.finish(&POLICY)
}

#[test]
fn every_split_point_of_the_stream_gives_the_same_answer() {
    let bytes = STREAM.as_bytes();
    let whole = capture_split(&[bytes]).unwrap();
    assert_eq!(whole.first_text().unwrap(), "Hello 世界");
    assert_eq!(whole.usage.as_ref().unwrap().total_tokens, Some(8));
    for i in 0..=bytes.len() {
        let split = capture_split(&[&bytes[..i], &bytes[i..]]).unwrap();
        assert_eq!(split, whole, "split at {i}");
    }
}

#[test]
fn every_pair_of_split_points_gives_the_same_answer() {
    let bytes = STREAM.as_bytes();
    let whole = capture_split(&[bytes]).unwrap();
    for i in (0..bytes.len()).step_by(7) {
        for j in (i..bytes.len()).step_by(11) {
            let split = capture_split(&[&bytes[..i], &bytes[i..j], &bytes[j..]]).unwrap();
            assert_eq!(split, whole, "split at {i}, {j}");
        }
    }
}

#[test]
fn done_in_the_last_chunk_with_the_last_deltas_keeps_everything() {
    // Everything after the first event arrives in one final chunk with [DONE].
    let cut = STREAM.find("\n\n").unwrap() + 2;
    let answer = capture_split(&[&STREAM.as_bytes()[..cut], &STREAM.as_bytes()[cut..]]).unwrap();
    assert_eq!(answer.first_text().unwrap(), "Hello 世界");
}

#[test]
fn crlf_framing_is_understood() {
    let crlf = STREAM.replace('\n', "\r\n");
    let answer = capture_split(&[crlf.as_bytes()]).unwrap();
    assert_eq!(answer.first_text().unwrap(), "Hello 世界");
}

#[test]
fn a_cut_off_stream_is_not_stored() {
    let finish = STREAM
        .find("{\"index\":0,\"delta\":{},\"finish_reason\"")
        .unwrap();
    let event_start = STREAM[..finish].rfind("data: ").unwrap();
    let err = capture_split(&[&STREAM.as_bytes()[..event_start]]).unwrap_err();
    assert_eq!(err, NotStored::Incomplete);
    // Cut inside an event: the half event is malformed, still not stored.
    assert!(capture_split(&[&STREAM.as_bytes()[..finish]]).is_err());
}

#[test]
fn the_size_bound_drops_caching_only() {
    let mut c = Capture::sse(40);
    c.feed(STREAM.as_bytes());
    assert!(c.failed());
    assert!(c.held_bytes() <= 40);
    assert_eq!(c.finish(&POLICY).unwrap_err(), NotStored::TooLarge);

    let mut j = Capture::json(10);
    j.feed(b"{\"choices\":");
    assert!(j.failed());
    assert_eq!(j.held_bytes(), 0);
    assert_eq!(j.finish(&POLICY).unwrap_err(), NotStored::TooLarge);
}

#[test]
fn length_and_tool_call_answers_are_not_stored() {
    let length = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"trunc"},"finish_reason":"length"}]}"#;
    let mut c = Capture::json(1 << 20);
    c.feed(length.as_bytes());
    assert_eq!(
        c.finish(&POLICY).unwrap_err(),
        NotStored::FinishReason("length".into())
    );

    let tools = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}]}"#;
    let mut c = Capture::json(1 << 20);
    c.feed(tools.as_bytes());
    assert_eq!(c.finish(&POLICY).unwrap_err(), NotStored::ToolCalls);

    let allow = StorePolicy {
        finish_reason_ok: &|r: &str| r == "stop" || r == "tool_calls",
        allow_tool_calls: true,
    };
    let mut c = Capture::json(1 << 20);
    c.feed(tools.as_bytes());
    assert!(c.finish(&allow).is_ok());
}

#[test]
fn empty_or_malformed_answers_are_not_stored() {
    let empty = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"stop"}]}"#;
    let mut c = Capture::json(1 << 20);
    c.feed(empty.as_bytes());
    assert_eq!(c.finish(&POLICY).unwrap_err(), NotStored::Empty);
    let mut c = Capture::json(1 << 20);
    c.feed(b"{\"choices\": [");
    assert!(matches!(c.finish(&POLICY), Err(NotStored::Malformed(_))));
    let mut c = Capture::sse(1 << 20);
    c.feed(b"data: {not json}\n\n");
    assert!(matches!(c.finish(&POLICY), Err(NotStored::Malformed(_))));
}

#[test]
fn reasoning_is_kept() {
    let s = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"think\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"
    );
    let r = capture_split(&[s.as_bytes()]).unwrap();
    assert_eq!(
        r.choices[0].message.reasoning_content,
        Some(Some("think".to_string()))
    );
}

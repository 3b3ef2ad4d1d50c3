//! Response bodies. A streamed body is fed from a channel by a pacing task; sending `Err` through it
//! makes hyper abort the connection (HTTP/1: no terminating chunk; h2: RST_STREAM), which is exactly
//! the upstream reset a gateway must survive.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use tokio::sync::mpsc;

/// Why a response was cut short on purpose.
#[derive(Debug)]
pub struct Aborted(pub &'static str);

impl fmt::Display for Aborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mock-llm aborted the response: {}", self.0)
    }
}

impl std::error::Error for Aborted {}

pub type MockBody = BoxBody<Bytes, Aborted>;

pub fn full(bytes: impl Into<Bytes>) -> MockBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

pub struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, Aborted>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Aborted;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }
}

/// A body plus the sender that feeds it; dropping the sender ends the body normally.
pub fn channel() -> (mpsc::Sender<Result<Bytes, Aborted>>, MockBody) {
    let (tx, rx) = mpsc::channel(16);
    (tx, ChannelBody { rx }.boxed())
}

//! The one body type of the data plane: frames arrive over a bounded channel, so the producer
//! waits when the consumer (a socket) is slow. That wait is the backpressure Envoy gets from its
//! watermark buffers: a slow client stops reads from the upstream and vice versa.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Frames in flight per direction before the producer waits.
pub const CHANNEL_FRAMES: usize = 4;

pub type FrameResult = Result<Frame<Bytes>, std::io::Error>;

/// A body fed by a channel, or a fixed buffer (callout requests), or nothing.
pub struct ChanBody {
    rx: Option<mpsc::Receiver<FrameResult>>,
    full: Option<Bytes>,
    /// Exact length when known (no body, or a fixed buffer): hyper then sends
    /// `content-length` instead of chunked encoding.
    exact: Option<u64>,
}

impl ChanBody {
    pub fn empty() -> Self {
        Self {
            rx: None,
            full: None,
            exact: Some(0),
        }
    }

    pub fn full(data: Bytes) -> Self {
        Self {
            exact: Some(data.len() as u64),
            full: (!data.is_empty()).then_some(data),
            rx: None,
        }
    }

    /// A streamed body and the sender that feeds it.
    pub fn channel() -> (mpsc::Sender<FrameResult>, Self) {
        let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
        (
            tx,
            Self {
                rx: Some(rx),
                full: None,
                exact: None,
            },
        )
    }
}

impl Body for ChanBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(d) = self.full.take() {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        match self.rx.as_mut() {
            None => Poll::Ready(None),
            Some(rx) => rx.poll_recv(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rx.is_none() && self.full.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn channel_body_yields_frames_then_ends() {
        let (tx, body) = ChanBody::channel();
        tokio::spawn(async move {
            tx.send(Ok(Frame::data(Bytes::from_static(b"ab"))))
                .await
                .unwrap();
            tx.send(Ok(Frame::data(Bytes::from_static(b"c"))))
                .await
                .unwrap();
        });
        let all = body.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"abc");
        assert!(ChanBody::empty().is_end_stream());
        assert_eq!(
            ChanBody::full(Bytes::from_static(b"xy"))
                .size_hint()
                .exact(),
            Some(2)
        );
    }
}

//! Downstream connections: HTTP/1.1 and HTTP/2 with prior knowledge (h2c), detected per
//! connection by hyper-util's auto builder. Services and HTTP/2 stream tasks run on the worker's
//! `LocalSet`, so they may hold the worker's `!Send` VMs.

use crate::stream;
use crate::worker::{Accepted, Worker};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use std::future::Future;
use std::rc::Rc;

/// Spawns hyper's HTTP/2 stream tasks on the current thread's `LocalSet`.
#[derive(Clone, Copy)]
pub struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

pub async fn serve_connection(w: Rc<Worker>, a: Accepted) {
    if a.stream.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(sock) = tokio::net::TcpStream::from_std(a.stream) else {
        return;
    };
    let _ = sock.set_nodelay(true);
    let (peer, local) = (a.peer, a.local);
    let svc = service_fn(move |req| stream::serve(w.clone(), req, peer, local));
    let builder = auto::Builder::new(LocalExec);
    // Connection errors (client went away, malformed request answered by hyper) end only this
    // connection.
    let _ = builder.serve_connection(TokioIo::new(sock), svc).await;
}

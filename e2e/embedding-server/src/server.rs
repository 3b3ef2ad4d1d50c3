//! Accept loop: HTTP/1.1 and h2c (prior knowledge) on one port via hyper-util's auto builder.

use std::future::Future;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::queue::Queue;
use crate::routes;

/// Serves until `shutdown` resolves, then drops every open connection.
pub async fn serve(listener: TcpListener, queue: Queue, shutdown: impl Future<Output = ()>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Usually EMFILE; back off instead of spinning.
                        eprintln!("embedding-server: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let queue = queue.clone();
                let builder = builder.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| routes::handle(queue.clone(), req));
                    // Errors here are clients going away.
                    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

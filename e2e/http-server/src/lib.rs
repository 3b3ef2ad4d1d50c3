//! The HTTP plumbing our e2e servers share, so the mock LLM and the embedding server differ only
//! in their routes:
//! - [`serve`]: the accept loop, HTTP/1.1 and h2c (prior knowledge) on one port;
//! - [`ServerThread`]: a server run in-process on its own thread and runtime, so sync tests and
//!   tokio tests of any flavour can embed it without runtime nesting problems;
//! - [`run_main`]: a binary's main loop, announcing its address for scripts.

use std::error::Error as StdError;
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

type BoxError = Box<dyn StdError + Send + Sync>;

/// What a server answers requests with: a route table over its own state, as a closure. An `Err`
/// aborts the connection (the mock LLM's injected faults use this).
pub trait Handler<B, E, Fut>: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static
where
    Fut: Future<Output = Result<Response<B>, E>> + Send + 'static,
    B: Body<Data: Send, Error: Into<BoxError>> + Send + 'static,
    E: Into<BoxError>,
{
}

impl<F, B, E, Fut> Handler<B, E, Fut> for F
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<B>, E>> + Send + 'static,
    B: Body<Data: Send, Error: Into<BoxError>> + Send + 'static,
    E: Into<BoxError>,
{
}

/// Serves until `shutdown` resolves, then drops every open connection.
pub async fn serve<B, E, Fut>(
    name: &'static str,
    listener: TcpListener,
    handler: impl Handler<B, E, Fut>,
    shutdown: impl Future<Output = ()>,
) where
    Fut: Future<Output = Result<Response<B>, E>> + Send + 'static,
    B: Body<Data: Send, Error: Into<BoxError>> + Send + 'static,
    E: Into<BoxError>,
{
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
                        eprintln!("{name}: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                let builder = builder.clone();
                conns.spawn(async move {
                    let svc = service_fn(handler);
                    // Errors here are clients going away or the handler's deliberate aborts.
                    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

/// A server running in-process until [`ServerThread::shutdown`] or drop.
pub struct ServerThread {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Binds `listen` (port 0 picks a free port) and serves `handler` on a new thread.
    pub fn spawn<B, E, Fut>(
        name: &'static str,
        listen: SocketAddr,
        handler: impl Handler<B, E, Fut>,
    ) -> io::Result<Self>
    where
        Fut: Future<Output = Result<Response<B>, E>> + Send + 'static,
        B: Body<Data: Send, Error: Into<BoxError>> + Send + 'static,
        E: Into<BoxError>,
    {
        let listener = std::net::TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .enable_all()
            .build()?;
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("{name}-main"))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => {
                            serve(name, listener, handler, async { _ = rx.await }).await
                        }
                        Err(e) => eprintln!("{name}: cannot register listener: {e}"),
                    }
                });
            })?;
        Ok(ServerThread {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, drops open connections and waits for the server thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A server binary's main: binds `listen`, prints `listening on http://ADDR` on stdout (scripts
/// start servers on port 0 and read that one line) and serves forever.
pub fn run_main<B, E, Fut>(
    name: &'static str,
    listen: SocketAddr,
    handler: impl Handler<B, E, Fut>,
) -> ExitCode
where
    Fut: Future<Output = Result<Response<B>, E>> + Send + 'static,
    B: Body<Data: Send, Error: Into<BoxError>> + Send + 'static,
    E: Into<BoxError>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let bound = TcpListener::bind(listen)
            .await
            .and_then(|l| Ok((l.local_addr()?, l)));
        let (addr, listener) = match bound {
            Ok(bound) => bound,
            Err(e) => {
                eprintln!("{name}: cannot bind {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("listening on http://{addr}");
        let _ = io::stdout().flush();
        serve(name, listener, handler, std::future::pending()).await;
        ExitCode::SUCCESS
    })
}

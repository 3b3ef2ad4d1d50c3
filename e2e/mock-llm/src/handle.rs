//! Running the mock in-process: on its own thread and runtime, so sync tests and tokio tests (of any
//! flavour) can embed it without runtime nesting problems.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::config::Config;
use crate::fault::FaultSpec;
use crate::server::serve;
use crate::state::{RecordedRequest, State, Stats};

pub struct MockHandle {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Binds `config.listen` (port 0 picks a free port) and serves until the handle is shut down or dropped.
pub fn spawn(config: Config) -> io::Result<MockHandle> {
    let listener = std::net::TcpListener::bind(config.listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("mock-llm")
        .enable_all()
        .build()?;
    let state = Arc::new(State::new(config));
    let (tx, rx) = oneshot::channel::<()>();
    let served = state.clone();
    let thread = std::thread::Builder::new()
        .name("mock-llm-main".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => serve(listener, served, async { _ = rx.await }).await,
                    Err(e) => eprintln!("mock-llm: cannot register listener: {e}"),
                }
            });
        })?;
    Ok(MockHandle {
        addr,
        state,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

impl MockHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, to which `/v1/chat/completions` etc. are appended.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    pub fn reset(&self) {
        self.state.reset()
    }

    /// Makes every request without an `x-mock-fault` header fail (subject to `fail_ratio`), or heals
    /// the instance with `None`.
    pub fn set_fault(&self, fault: Option<FaultSpec>) {
        self.state.set_fault(fault)
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

impl Drop for MockHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

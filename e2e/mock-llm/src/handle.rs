//! Running the mock in-process: on its own thread and runtime, so sync tests and tokio tests (of any
//! flavour) can embed it without runtime nesting problems.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use e2e_http_server::ServerThread;

use crate::config::Config;
use crate::fault::FaultSpec;
use crate::routes;
use crate::state::{RecordedRequest, State, Stats};

pub struct MockHandle {
    server: ServerThread,
    state: Arc<State>,
}

/// Binds `config.listen` (port 0 picks a free port) and serves until the handle is shut down or dropped.
pub fn spawn(config: Config) -> io::Result<MockHandle> {
    let listen = config.listen;
    let state = Arc::new(State::new(config));
    let served = state.clone();
    let server = ServerThread::spawn("mock-llm", listen, move |req| {
        routes::handle(served.clone(), req)
    })?;
    Ok(MockHandle { server, state })
}

impl MockHandle {
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT`, to which `/v1/chat/completions` etc. are appended.
    pub fn base_url(&self) -> String {
        self.server.base_url()
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
    pub fn shutdown(self) {
        self.server.shutdown();
    }
}

//! Running the server in-process, on its own thread and runtime, so sync tests and tokio tests (of any
//! flavour) can embed it without runtime nesting problems.

use std::net::SocketAddr;
use std::path::Path;

use e2e_http_server::ServerThread;

use crate::error::Error;
use crate::model::Model;
use crate::model_dir;
use crate::queue::{Queue, Stats};
use crate::routes;

/// Inputs merged into one batch at most (a batch runs as several padded forward passes).
pub const DEFAULT_MAX_BATCH: usize = 256;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Port 0 picks a free port.
    pub listen: SocketAddr,
    pub max_batch: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            max_batch: DEFAULT_MAX_BATCH,
        }
    }
}

pub struct Handle {
    server: ServerThread,
    queue: Queue,
}

/// Loads the model from `model_dir`, binds `options.listen` and serves until the handle is dropped.
pub fn spawn(model_dir: &Path, options: Options) -> Result<Handle, Error> {
    let queue = Queue::start(Model::load(model_dir)?, options.max_batch)?;
    let served = queue.clone();
    let server = ServerThread::spawn("embedding-server", options.listen, move |req| {
        routes::handle(served.clone(), req)
    })?;
    Ok(Handle { server, queue })
}

/// Finds the model (installing the wheel into the repo's `.cache/` if needed, see
/// `e2e/services/embedding-model.sh`) and serves it on a free port of 127.0.0.1.
pub fn spawn_default() -> Result<Handle, Error> {
    spawn(&model_dir::locate()?, Options::default())
}

/// [`spawn_default`] for tests: `None` after a loud skip when the model cannot be had on this
/// machine; with `E2E_REQUIRE_EMBEDDINGS=1` (CI) that is a failure instead, so a broken setup cannot
/// pass as a skip. Any other error panics.
pub fn spawn_or_skip(test: &str) -> Option<Handle> {
    skip_if_unavailable(test, spawn_default())
}

/// `Some(value)`, or `None` after a loud skip if `result` says the model is unavailable (and
/// `E2E_REQUIRE_EMBEDDINGS` is not `1`); panics on any other error.
pub fn skip_if_unavailable<T>(test: &str, result: Result<T, Error>) -> Option<T> {
    use std::io::Write;
    match result {
        Ok(value) => Some(value),
        Err(Error::Unavailable(why))
            if std::env::var("E2E_REQUIRE_EMBEDDINGS").as_deref() != Ok("1") =>
        {
            // The stderr handle, not eprintln!: libtest captures eprintln! for passing tests, and a
            // skip must show in a plain `cargo test` log.
            let _ = writeln!(
                std::io::stderr(),
                "\n==================== SKIPPED ====================\n\
                 {test}: SKIPPED, the embedding model is unavailable on this machine:\n{why}\n\
                 (set E2E_REQUIRE_EMBEDDINGS=1 to make this a failure)\n\
                 =================================================\n"
            );
            None
        }
        Err(e) => panic!("{test}: {e}"),
    }
}

impl Handle {
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT`, to which `/v1/embeddings`, `/embed` or `/api/embed` is appended.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Requests, merged batches and inputs so far.
    pub fn stats(&self) -> Stats {
        self.queue.stats()
    }

    /// Stops accepting, drops open connections and waits for the server thread.
    pub fn shutdown(self) {
        self.server.shutdown();
    }
}

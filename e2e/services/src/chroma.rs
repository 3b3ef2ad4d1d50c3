//! A Chroma server for tests, started and stopped through `chroma.sh` (chromadb from PyPI in a
//! venv under `.cache/`). Each `ChromaServer` has its own state directory and port.

use crate::script::{ScriptService, StartError};

pub struct ChromaServer(ScriptService);

const SCRIPT: &str = "chroma.sh";
const STATE_VAR: &str = "CHROMA_E2E_STATE";

impl ChromaServer {
    /// Runs `chroma.sh start` with a fresh state directory; the server is stopped on drop.
    pub fn start() -> Result<Self, StartError> {
        ScriptService::start(SCRIPT, STATE_VAR).map(Self)
    }

    /// [`ChromaServer::start`], or `None` after a loud skip when chromadb cannot be installed on
    /// this machine (a failure instead with `E2E_REQUIRE_CHROMA=1`).
    pub fn start_or_skip(test: &str) -> Option<Self> {
        ScriptService::start_or_skip(SCRIPT, STATE_VAR, "E2E_REQUIRE_CHROMA", test).map(Self)
    }

    pub fn port(&self) -> u16 {
        self.0.port()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// Whether `chroma.sh status` reports this server as running.
    pub fn is_running(&self) -> bool {
        self.0.is_running()
    }
}

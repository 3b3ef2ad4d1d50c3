//! A Presidio analyzer for tests, started and stopped through `presidio.sh` (presidio-analyzer and
//! a spaCy NER model from PyPI in a venv under `.cache/`, served over Presidio's REST shape by
//! `presidio_server.py`). Each `PresidioServer` has its own state directory and port.

use crate::script::{ScriptService, StartError};

pub struct PresidioServer(ScriptService);

const SCRIPT: &str = "presidio.sh";
const STATE_VAR: &str = "PRESIDIO_E2E_STATE";

impl PresidioServer {
    /// Runs `presidio.sh start` with a fresh state directory; the server is stopped on drop.
    pub fn start() -> Result<Self, StartError> {
        ScriptService::start(SCRIPT, STATE_VAR).map(Self)
    }

    /// [`PresidioServer::start`], or `None` after a loud skip when presidio-analyzer cannot be
    /// installed on this machine (a failure instead with `E2E_REQUIRE_PRESIDIO=1`).
    pub fn start_or_skip(test: &str) -> Option<Self> {
        ScriptService::start_or_skip(SCRIPT, STATE_VAR, "E2E_REQUIRE_PRESIDIO", test).map(Self)
    }

    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// `127.0.0.1:<port>`, the address `LiveBackends::http` takes.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// Whether `presidio.sh status` reports this server as running.
    pub fn is_running(&self) -> bool {
        self.0.is_running()
    }
}

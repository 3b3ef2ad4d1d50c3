//! A Chroma server for tests, started and stopped through `chroma.sh` (chromadb from PyPI in a
//! venv under `.cache/`) so tests and humans use the same setup. Each `ChromaServer` has its own
//! state directory and port.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

// Same script contract as `redis.sh`: exit 3 = unavailable (skip), other non-zero = failure.
use crate::redis::{StartError, EXIT_UNAVAILABLE};

pub struct ChromaServer {
    port: u16,
    state: PathBuf,
}

pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("chroma.sh")
}

impl ChromaServer {
    /// Runs `chroma.sh start` with a fresh state directory; the server is stopped on drop.
    pub fn start() -> Result<Self, StartError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let state = std::env::temp_dir().join(format!(
            "e2e-chroma-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .env("CHROMA_E2E_STATE", &state)
            .output()
            .map_err(|e| StartError::Unavailable(format!("cannot run bash: {e}")))?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        match out.status.code() {
            Some(0) => {}
            Some(EXIT_UNAVAILABLE) => return Err(StartError::Unavailable(stderr)),
            _ => return Err(StartError::Failed(stderr)),
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let port = stdout.trim().parse().map_err(|_| {
            StartError::Failed(format!(
                "expected a port on stdout, got {stdout:?}; stderr: {stderr}"
            ))
        })?;
        Ok(ChromaServer { port, state })
    }

    /// [`ChromaServer::start`], or `None` after a loud skip when chromadb cannot be installed on
    /// this machine. With `E2E_REQUIRE_CHROMA=1` that is a failure instead, so a broken setup
    /// cannot pass as a skip. `test` names the caller in the skip banner.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        use std::io::Write;
        match Self::start() {
            Ok(server) => Some(server),
            Err(StartError::Unavailable(why))
                if std::env::var("E2E_REQUIRE_CHROMA").as_deref() != Ok("1") =>
            {
                // The stderr handle, not eprintln!: libtest captures eprintln! for passing tests.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n==================== SKIPPED ====================\n\
                     {test}: SKIPPED, chromadb unavailable on this machine:\n{why}\n\
                     (set E2E_REQUIRE_CHROMA=1 to make this a failure)\n\
                     =================================================\n"
                );
                None
            }
            Err(StartError::Unavailable(m) | StartError::Failed(m)) => {
                panic!("chroma.sh start failed: {m}")
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Whether `chroma.sh status` reports this server as running.
    pub fn is_running(&self) -> bool {
        self.script_cmd("status").is_ok_and(|s| s.success())
    }

    fn script_cmd(&self, what: &str) -> std::io::Result<std::process::ExitStatus> {
        Command::new("bash")
            .arg(script())
            .arg(what)
            .env("CHROMA_E2E_STATE", &self.state)
            .stdout(std::process::Stdio::null())
            .status()
    }
}

impl Drop for ChromaServer {
    fn drop(&mut self) {
        let _ = self.script_cmd("stop");
    }
}

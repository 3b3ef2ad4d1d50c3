//! A Redis with vector search for tests, started and stopped through `redis.sh` so tests and humans
//! use the same setup. Each `RedisServer` has its own state directory and port.

use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Exit code of `redis.sh` when the wheels (or python/pip) cannot be had: callers may skip.
pub const EXIT_UNAVAILABLE: i32 = 3;

#[derive(Debug)]
pub enum StartError {
    /// The wheels could not be installed on this machine; the message says why.
    Unavailable(String),
    Failed(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Unavailable(m) => write!(f, "redis with vector search is unavailable: {m}"),
            StartError::Failed(m) => write!(f, "redis.sh start failed: {m}"),
        }
    }
}

impl std::error::Error for StartError {}

pub struct RedisServer {
    port: u16,
    state: PathBuf,
}

pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("redis.sh")
}

impl RedisServer {
    /// Runs `redis.sh start` with a fresh state directory; the server is stopped on drop.
    pub fn start() -> Result<Self, StartError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let state = std::env::temp_dir().join(format!(
            "e2e-redis-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .env("REDIS_E2E_STATE", &state)
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
        Ok(RedisServer { port, state })
    }

    /// [`RedisServer::start`], or `None` after a loud skip when the wheels cannot be installed on
    /// this machine. With `E2E_REQUIRE_REDIS=1` (CI) that is a failure instead, so a broken setup
    /// cannot pass as a skip. `test` names the caller in the skip banner.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        use std::io::Write;
        match Self::start() {
            Ok(server) => Some(server),
            Err(StartError::Unavailable(why))
                if std::env::var("E2E_REQUIRE_REDIS").as_deref() != Ok("1") =>
            {
                // The stderr handle, not eprintln!: libtest captures eprintln! for passing tests,
                // and a skip must show in a plain `cargo test` log.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n==================== SKIPPED ====================\n\
                     {test}: SKIPPED, Redis wheels unavailable on this machine:\n{why}\n\
                     (set E2E_REQUIRE_REDIS=1 to make this a failure)\n\
                     =================================================\n"
                );
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether `redis.sh status` reports this server as running.
    pub fn is_running(&self) -> bool {
        self.script_cmd("status").is_ok_and(|s| s.success())
    }

    fn script_cmd(&self, what: &str) -> std::io::Result<std::process::ExitStatus> {
        Command::new("bash")
            .arg(script())
            .arg(what)
            .env("REDIS_E2E_STATE", &self.state)
            .stdout(std::process::Stdio::null())
            .status()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.script_cmd("stop");
    }
}

//! A service started and stopped through one of this directory's scripts (`<name>.sh start|stop|status`)
//! so tests and humans use the same setup. The contract every script keeps: `start` prints the port on
//! stdout; exit code 3 means the service cannot be had on this machine (callers may skip); the state
//! directory comes from an environment variable, so each server has its own directory and port.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Exit code of a start script when its wheels (or python/pip) cannot be had: callers may skip.
pub const EXIT_UNAVAILABLE: i32 = 3;

#[derive(Debug)]
pub enum StartError {
    /// The service cannot be installed on this machine; the message says why.
    Unavailable(String),
    Failed(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Unavailable(m) => write!(f, "unavailable on this machine: {m}"),
            StartError::Failed(m) => write!(f, "start failed: {m}"),
        }
    }
}

impl std::error::Error for StartError {}

/// One running service; stopped on drop.
pub(crate) struct ScriptService {
    script: &'static str,
    state_var: &'static str,
    state: PathBuf,
    port: u16,
}

impl ScriptService {
    /// Runs `<script> start` with a fresh state directory.
    pub(crate) fn start(script: &'static str, state_var: &'static str) -> Result<Self, StartError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let state = std::env::temp_dir().join(format!(
            "e2e-{}-{}-{}",
            script.trim_end_matches(".sh"),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let out = Command::new("bash")
            .arg(path(script))
            .arg("start")
            .env(state_var, &state)
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
        Ok(Self {
            script,
            state_var,
            state,
            port,
        })
    }

    /// [`ScriptService::start`], or `None` after a loud skip when the service cannot be had on this
    /// machine. With `<require_var>=1` (CI) that is a failure instead, so a broken setup cannot pass
    /// as a skip. `test` names the caller in the skip banner.
    pub(crate) fn start_or_skip(
        script: &'static str,
        state_var: &'static str,
        require_var: &str,
        test: &str,
    ) -> Option<Self> {
        use std::io::Write;
        match Self::start(script, state_var) {
            Ok(service) => Some(service),
            Err(StartError::Unavailable(why))
                if std::env::var(require_var).as_deref() != Ok("1") =>
            {
                // The stderr handle, not eprintln!: libtest captures eprintln! for passing tests,
                // and a skip must show in a plain `cargo test` log.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n==================== SKIPPED ====================\n\
                     {test}: SKIPPED, {script} cannot start its service on this machine:\n{why}\n\
                     (set {require_var}=1 to make this a failure)\n\
                     =================================================\n"
                );
                None
            }
            Err(e) => panic!("{script}: {e}"),
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Whether `<script> status` reports this service as running.
    pub(crate) fn is_running(&self) -> bool {
        self.run("status").is_ok_and(|s| s.success())
    }

    fn run(&self, what: &str) -> std::io::Result<ExitStatus> {
        Command::new("bash")
            .arg(path(self.script))
            .arg(what)
            .env(self.state_var, &self.state)
            .stdout(Stdio::null())
            .status()
    }
}

impl Drop for ScriptService {
    fn drop(&mut self) {
        let _ = self.run("stop");
    }
}

fn path(script: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(script)
}

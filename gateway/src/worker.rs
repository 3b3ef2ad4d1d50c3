//! Worker threads (Envoy's model): each runs a current-thread tokio runtime with its own VMs of
//! every plugin, its own upstream pools and Redis connections, and serves the connections the
//! acceptor hands it. Nothing wasm crosses threads; only `Arc` process state is shared.

use crate::accesslog::AccessLog;
use crate::callout::{self, GatewayUpstreams, Outgoing};
use crate::redis::RedisPool;
use crate::registry::Registry;
use crate::snapshot::Snapshot;
use crate::stats::Stats;
use crate::upstream::ClusterClient;
use proxy_wasm_host::pool::PluginVm;
use proxy_wasm_host::stream::manager::FilterHandle;
use proxy_wasm_host::stream::state::FilterSlot;
use proxy_wasm_host::HostEnv;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often ticks and queue notifications are checked (Envoy's timers are event-driven; a
/// 10 ms poll keeps plugin tick periods, which are ≥ 1 ms, accurate enough).
const PUMP_INTERVAL: Duration = Duration::from_millis(10);

/// Process-wide state shared by workers, the acceptor and the admin listener.
pub struct Process {
    pub env: Arc<HostEnv>,
    pub upstreams: Arc<GatewayUpstreams>,
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    pub stats: Arc<Stats>,
    pub access_log: AccessLog,
    /// Workers that built their VMs (the admin `/ready` check).
    pub ready_workers: AtomicUsize,
    pub workers: usize,
}

/// A connection accepted by the acceptor, for a worker.
pub struct Accepted {
    pub stream: std::net::TcpStream,
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

/// What one configuration generation looks like on one worker.
pub struct Generation {
    pub snap: Arc<Snapshot>,
    vms: RefCell<Vec<PluginVm>>,
    pub clients: HashMap<String, Rc<ClusterClient>>,
}

pub struct Worker {
    pub id: usize,
    pub process: Arc<Process>,
    snap_rx: RefCell<watch::Receiver<Arc<Snapshot>>>,
    generation: RefCell<Rc<Generation>>,
    /// A generation this worker could not start: not retried for every stream.
    rejected: RefCell<Option<Arc<Snapshot>>>,
    pub registry: Registry,
    pub redis: RedisPool,
}

fn log_json(v: serde_json::Value) {
    eprintln!("{v}");
}

impl Worker {
    fn build_generation(&self, snap: Arc<Snapshot>) -> Result<Generation, String> {
        let mut vms = Vec::new();
        for p in &snap.plugins {
            let vm = PluginVm::new(p.clone(), self.process.env.clone())
                .map_err(|e| format!("plugin {}: {e}", p.config.name))?;
            self.registry.add_vm(&vm.current());
            vms.push(vm);
        }
        for c in snap.config.clusters.values() {
            self.redis.set_addresses(&c.name, c.addresses.clone());
        }
        let mut clients = HashMap::new();
        for c in snap.config.clusters.values() {
            let client = ClusterClient::new(c).map_err(|e| format!("cluster {}: {e}", c.name))?;
            clients.insert(c.name.clone(), Rc::new(client));
        }
        Ok(Generation {
            snap,
            vms: RefCell::new(vms),
            clients,
        })
    }

    /// The generation new streams use: rebuilt on this thread when the config changed. A
    /// generation that fails to start keeps the previous one (Envoy keeps the old listener
    /// config when a new one is rejected).
    pub fn current(&self) -> Rc<Generation> {
        let latest = self.snap_rx.borrow_mut().borrow_and_update().clone();
        let cur = self.generation.borrow().clone();
        if Arc::ptr_eq(&latest, &cur.snap)
            || self
                .rejected
                .borrow()
                .as_ref()
                .is_some_and(|r| Arc::ptr_eq(r, &latest))
        {
            return cur;
        }
        match self.build_generation(latest.clone()) {
            Ok(g) => {
                let g = Rc::new(g);
                *self.generation.borrow_mut() = g.clone();
                log_json(
                    serde_json::json!({"level": "info", "msg": "worker switched configuration", "worker": self.id, "generation": latest.generation}),
                );
                g
            }
            Err(e) => {
                log_json(
                    serde_json::json!({"level": "error", "msg": "worker could not start new configuration; keeping the old one", "worker": self.id, "error": e}),
                );
                cur
            }
        }
    }

    /// Filters for one stream over this generation's VMs (a failed VM is rebuilt first).
    pub fn chain(&self, g: &Generation) -> (Vec<FilterHandle>, Vec<FilterSlot>) {
        let mut filters = Vec::new();
        let mut slots = Vec::new();
        for p in g.vms.borrow_mut().iter_mut() {
            let (filter, slot, vm) = p.filter_for_stream();
            self.registry.add_vm(&vm);
            filters.push(filter);
            slots.push(slot);
        }
        (filters, slots)
    }
}

/// Starts worker `id` on its own thread.
pub fn spawn(
    id: usize,
    process: Arc<Process>,
    conns: mpsc::UnboundedReceiver<Accepted>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("worker-{id}"))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    log_json(serde_json::json!({"level": "error", "msg": "worker runtime", "error": e.to_string()}));
                    return;
                }
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, run(id, process, conns));
        })
}

async fn run(id: usize, process: Arc<Process>, mut conns: mpsc::UnboundedReceiver<Accepted>) {
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Outgoing>();
    callout::install_outbox(out_tx);
    let snap_rx = process.snapshot.clone();
    let first = snap_rx.borrow().clone();
    let mut w = Worker {
        id,
        process: process.clone(),
        snap_rx: RefCell::new(snap_rx),
        generation: RefCell::new(Rc::new(Generation {
            snap: first.clone(),
            vms: RefCell::new(Vec::new()),
            clients: HashMap::new(),
        })),
        rejected: RefCell::new(None),
        registry: Registry::default(),
        redis: RedisPool::default(),
    };
    match w.build_generation(first) {
        Ok(g) => w.generation = RefCell::new(Rc::new(g)),
        Err(e) => {
            log_json(
                serde_json::json!({"level": "error", "msg": "worker could not start plugins", "worker": id, "error": e}),
            );
            return;
        }
    }
    let w = Rc::new(w);
    process.ready_workers.fetch_add(1, Ordering::SeqCst);

    // Callouts made by this worker's VMs.
    let cw = w.clone();
    tokio::task::spawn_local(async move {
        while let Some(out) = out_rx.recv().await {
            crate::dispatch::dispatch(cw.clone(), out);
        }
    });
    // Ticks and queue notifications.
    let pw = w.clone();
    tokio::task::spawn_local(async move {
        let mut iv = tokio::time::interval(PUMP_INTERVAL);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            iv.tick().await;
            pw.registry.pump();
        }
    });
    while let Some(a) = conns.recv().await {
        let w = w.clone();
        tokio::task::spawn_local(async move {
            crate::server::serve_connection(w, a).await;
        });
    }
}

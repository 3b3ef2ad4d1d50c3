//! The host's [`Upstreams`] for a network data plane. VM calls run on worker threads, and a
//! callout is dispatched from inside one; the callout is handed to that same worker through a
//! thread-local outbox, so its answer is delivered to the VM on the thread that owns it (Envoy:
//! the async client of the worker's thread-local cluster).

use proxy_wasm_host::callout::RedisInit;
use proxy_wasm_host::{HttpCallout, RedisCallout, Upstreams};
use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::RwLock;
use tokio::sync::mpsc::UnboundedSender;

/// A callout leaving a VM.
#[derive(Debug)]
pub enum Outgoing {
    Http(HttpCallout),
    RedisInit(RedisInit),
    Redis(RedisCallout),
}

thread_local! {
    static OUTBOX: RefCell<Option<UnboundedSender<Outgoing>>> = const { RefCell::new(None) };
}

/// Makes callouts made on this thread go to `tx` (called once per worker thread).
pub fn install_outbox(tx: UnboundedSender<Outgoing>) {
    OUTBOX.with(|o| *o.borrow_mut() = Some(tx));
}

fn post(out: Outgoing) {
    OUTBOX.with(|o| match &*o.borrow() {
        Some(tx) => {
            // A closed outbox means the worker is shutting down; the callout is dropped.
            let _ = tx.send(out);
        }
        // Validation VMs on the main thread run `proxy_on_configure`, where `redis_init` is
        // normal; the worker VMs repeat it on their own threads.
        None if matches!(out, Outgoing::RedisInit(_)) => {}
        None => eprintln!(
            "{}",
            serde_json::json!({"level": "warn", "msg": "callout made outside a worker thread (e.g. while validating config) is not sent", "callout": format!("{out:?}")})
        ),
    });
}

/// Cluster names known to the current configuration (swapped on reload).
#[derive(Default)]
pub struct GatewayUpstreams {
    clusters: RwLock<HashSet<String>>,
}

impl GatewayUpstreams {
    pub fn set_clusters(&self, names: impl IntoIterator<Item = String>) {
        if let Ok(mut c) = self.clusters.write() {
            *c = names.into_iter().collect();
        }
    }
}

impl Upstreams for GatewayUpstreams {
    fn has_cluster(&self, cluster: &str) -> bool {
        self.clusters.read().is_ok_and(|c| c.contains(cluster))
    }

    fn http_call(&self, call: HttpCallout) {
        post(Outgoing::Http(call));
    }

    fn redis_init(&self, init: RedisInit) {
        post(Outgoing::RedisInit(init));
    }

    fn redis_call(&self, call: RedisCallout) {
        post(Outgoing::Redis(call));
    }
}

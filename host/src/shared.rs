//! Process-wide state shared by every VM on every thread: shared data with CAS and shared queues
//! (cpp-host `src/shared_data.cc`, `src/shared_queue.cc`), and metrics (Envoy `context.cc`
//! `defineMetric`/`incrementMetric`/`recordMetric`/`getMetric`).

use crate::abi::Status;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// Key-value store per vm_id with compare-and-swap versions.
#[derive(Default)]
pub struct SharedData {
    inner: Mutex<SharedDataInner>,
}

#[derive(Default)]
struct SharedDataInner {
    next_cas: u32,
    data: HashMap<String, HashMap<String, (Vec<u8>, u32)>>,
}

impl SharedData {
    /// `SharedData::get`: NotFound for an unknown vm_id or key.
    pub fn get(&self, vm_id: &str, key: &str) -> Result<(Vec<u8>, u32), Status> {
        let g = self.inner.lock().unwrap();
        g.data
            .get(vm_id)
            .and_then(|m| m.get(key))
            .cloned()
            .ok_or(Status::NotFound)
    }

    /// `SharedData::set`: a non-zero `cas` must equal the stored one (else CasMismatch); every
    /// write gets a fresh cas (`nextCas` skips 0).
    pub fn set(&self, vm_id: &str, key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
        let mut g = self.inner.lock().unwrap();
        g.next_cas = g.next_cas.wrapping_add(1);
        if g.next_cas == 0 {
            g.next_cas = 1;
        }
        let next = g.next_cas;
        let map = g.data.entry(vm_id.to_string()).or_default();
        match map.get_mut(key) {
            Some(entry) => {
                if cas != 0 && cas != entry.1 {
                    return Err(Status::CasMismatch);
                }
                *entry = (value.to_vec(), next);
            }
            None => {
                map.insert(key.to_string(), (value.to_vec(), next));
            }
        }
        Ok(())
    }
}

/// Shared queues keyed by (vm_id, name). Tokens are process-wide and never 0.
#[derive(Default)]
pub struct SharedQueues {
    inner: Mutex<QueuesInner>,
}

#[derive(Default)]
struct QueuesInner {
    next_token: u32,
    tokens: HashMap<(String, String), u32>,
    queues: HashMap<u32, Queue>,
}

struct Queue {
    items: VecDeque<Vec<u8>>,
    /// VM instance (`VmInstance` id) and root context that registered it; told on enqueue.
    owner: (u64, u32),
}

impl SharedQueues {
    /// `registerSharedQueue`: returns the existing token or creates one owned by `owner`.
    pub fn register(&self, vm_id: &str, name: &str, owner: (u64, u32)) -> u32 {
        let mut g = self.inner.lock().unwrap();
        if let Some(t) = g.tokens.get(&(vm_id.to_string(), name.to_string())) {
            let t = *t;
            if let Some(q) = g.queues.get_mut(&t) {
                q.owner = owner;
            }
            return t;
        }
        g.next_token += 1;
        let t = g.next_token;
        g.tokens.insert((vm_id.to_string(), name.to_string()), t);
        g.queues.insert(
            t,
            Queue {
                items: VecDeque::new(),
                owner,
            },
        );
        t
    }

    /// `resolveSharedQueue`: NotFound when nobody registered it.
    pub fn resolve(&self, vm_id: &str, name: &str) -> Result<u32, Status> {
        let g = self.inner.lock().unwrap();
        g.tokens
            .get(&(vm_id.to_string(), name.to_string()))
            .copied()
            .ok_or(Status::NotFound)
    }

    /// `SharedQueue::enqueue`: NotFound for an unknown token; returns the owner to notify.
    pub fn enqueue(&self, token: u32, value: &[u8]) -> Result<(u64, u32), Status> {
        let mut g = self.inner.lock().unwrap();
        let q = g.queues.get_mut(&token).ok_or(Status::NotFound)?;
        q.items.push_back(value.to_vec());
        Ok(q.owner)
    }

    /// `SharedQueue::dequeue`: NotFound for an unknown token, Empty when nothing is queued.
    pub fn dequeue(&self, token: u32) -> Result<Vec<u8>, Status> {
        let mut g = self.inner.lock().unwrap();
        let q = g.queues.get_mut(&token).ok_or(Status::NotFound)?;
        q.items.pop_front().ok_or(Status::Empty)
    }
}

/// Kind of a metric (`proxy_metric_type_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// A metric's current value (histograms keep every recorded sample).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricValue {
    Counter(u64),
    Gauge(i64),
    Histogram(Vec<u64>),
}

/// Process-wide metric store by name (Envoy stats scope).
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<BTreeMap<String, MetricValue>>,
}

impl Metrics {
    pub(crate) fn define(&self, name: &str, kind: MetricKind) {
        let mut g = self.inner.lock().unwrap();
        g.entry(name.to_string()).or_insert(match kind {
            MetricKind::Counter => MetricValue::Counter(0),
            MetricKind::Gauge => MetricValue::Gauge(0),
            MetricKind::Histogram => MetricValue::Histogram(Vec::new()),
        });
    }

    pub(crate) fn update(&self, name: &str, f: impl FnOnce(&mut MetricValue)) {
        if let Some(v) = self.inner.lock().unwrap().get_mut(name) {
            f(v);
        }
    }

    pub fn get(&self, name: &str) -> Option<MetricValue> {
        self.inner.lock().unwrap().get(name).cloned()
    }

    pub fn snapshot(&self) -> BTreeMap<String, MetricValue> {
        self.inner.lock().unwrap().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_data_cas_rules() {
        let d = SharedData::default();
        assert_eq!(d.get("vm", "k"), Err(Status::NotFound));
        d.set("vm", "k", b"a", 0).unwrap();
        let (v, cas) = d.get("vm", "k").unwrap();
        assert_eq!(v, b"a");
        assert_eq!(d.set("vm", "k", b"b", cas + 1), Err(Status::CasMismatch));
        d.set("vm", "k", b"b", cas).unwrap();
        assert_eq!(d.set("vm", "k", b"c", cas), Err(Status::CasMismatch));
        assert_eq!(d.get("other", "k"), Err(Status::NotFound));
    }

    #[test]
    fn queue_statuses() {
        let q = SharedQueues::default();
        assert_eq!(q.resolve("vm", "q"), Err(Status::NotFound));
        let t = q.register("vm", "q", (1, 1));
        assert_eq!(q.register("vm", "q", (1, 1)), t);
        assert_eq!(q.resolve("vm", "q"), Ok(t));
        assert_eq!(q.dequeue(t), Err(Status::Empty));
        assert_eq!(q.enqueue(t, b"x"), Ok((1, 1)));
        assert_eq!(q.dequeue(t), Ok(b"x".to_vec()));
        assert_eq!(q.dequeue(t + 7), Err(Status::NotFound));
        assert_eq!(q.enqueue(t + 7, b"x"), Err(Status::NotFound));
    }
}

//! Shared, observable server state: request counters and the recent-request log that tests read over
//! `/mock/stats` and `/mock/requests` (or through `MockHandle`), and the instance fault.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Config;
use crate::fault::{FailSequence, FaultSpec};

/// Counts of served requests; `/mock/*` control requests are not counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub total: u64,
    /// Request path without query.
    pub by_path: BTreeMap<String, u64>,
    /// How each request was answered: `stream`, `non_stream`, `tool_calls` (in addition to one of the
    /// former), `models`, `bad_request`, `unauthorized`, `not_found`, `method_not_allowed`,
    /// `fault:<name>` (e.g. `fault:status=503`, `fault:reset-mid-stream`).
    pub by_kind: BTreeMap<String, u64>,
    /// Model of each chat request that got past validation.
    pub by_model: BTreeMap<String, u64>,
}

/// A request as the mock received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// 1-based arrival number since start or the last reset.
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    /// Parsed JSON when the body is JSON, else the body as (lossy UTF-8) string; null when empty.
    pub body: Value,
}

#[derive(Debug)]
struct Inner {
    stats: Stats,
    history: VecDeque<RecordedRequest>,
    seq: u64,
    fault: Option<FaultSpec>,
    fail: FailSequence,
}

#[derive(Debug)]
pub struct State {
    pub config: Config,
    inner: Mutex<Inner>,
}

impl State {
    pub fn new(config: Config) -> Self {
        let inner = Inner {
            stats: Stats::default(),
            history: VecDeque::new(),
            seq: 0,
            fault: config.fault.clone(),
            fail: FailSequence::new(config.seed, config.fail_ratio),
        };
        State {
            config,
            inner: Mutex::new(inner),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not turn every later request into a panic too.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs an arriving request and returns its sequence number.
    pub fn record(&self, mut req: RecordedRequest) -> u64 {
        let mut inner = self.lock();
        inner.seq += 1;
        req.seq = inner.seq;
        inner.stats.total += 1;
        *inner.stats.by_path.entry(req.path.clone()).or_default() += 1;
        if self.config.history > 0 {
            if inner.history.len() == self.config.history {
                inner.history.pop_front();
            }
            inner.history.push_back(req);
        }
        inner.seq
    }

    pub fn count_kind(&self, kind: &str) {
        *self
            .lock()
            .stats
            .by_kind
            .entry(kind.to_string())
            .or_default() += 1;
    }

    pub fn count_model(&self, model: &str) {
        *self
            .lock()
            .stats
            .by_model
            .entry(model.to_string())
            .or_default() += 1;
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().history.iter().cloned().collect()
    }

    /// Clears counters and history, restores the configured fault and restarts the fail sequence.
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.stats = Stats::default();
        inner.history.clear();
        inner.seq = 0;
        inner.fault = self.config.fault.clone();
        inner.fail.reset();
    }

    /// Replaces the instance fault at run time (`None` heals the instance).
    pub fn set_fault(&self, fault: Option<FaultSpec>) {
        self.lock().fault = fault;
    }

    /// The instance fault for the next request without a fault header, drawn from the fail sequence.
    pub fn draw_instance_fault(&self) -> Option<FaultSpec> {
        let mut inner = self.lock();
        let fault = inner.fault.clone()?;
        inner.fail.next_fails().then_some(fault)
    }
}

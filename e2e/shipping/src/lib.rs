//! Release tooling for the plugins of this workspace:
//! - [`spec`]: each plugin's `spec.yaml` and README examples, the single source of a plugin's
//!   identity (name, version, phase, priority, console metadata) and config schema;
//! - [`charts`]: the Helm charts under `helm/`, generated from those specs (`gen-charts`), so a
//!   plugin that lands with a `spec.yaml` gets a chart and joins the umbrella chart with no
//!   hand-written chart code;
//! - [`scenarios`]: the end-to-end scenarios (`e2e-scenarios --base-url URL`) that run the same
//!   way against the local gateway and a kind cluster running Higress.

pub mod charts;
pub mod scenarios;
pub mod spec;

use std::path::{Path, PathBuf};

/// The workspace root (holds `plugins/` and `helm/`).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("e2e/shipping sits two levels below the workspace")
        .to_path_buf()
}

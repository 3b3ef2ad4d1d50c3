//! The Go tools `scripts/install-tools` puts into `<repo>/.cache/bin` (helm, kubeconform, oras,
//! crane), for tests that drive them.

use std::path::{Path, PathBuf};

/// The tool's path, or `None` after a printed skip when it is not installed; with
/// `E2E_REQUIRE_TOOLS=1` (CI) a missing tool is a failure instead.
pub fn installed(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.cache/bin")
        .join(name);
    if p.is_file() {
        return Some(p);
    }
    assert!(
        std::env::var("E2E_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{} missing: run scripts/install-tools",
        p.display()
    );
    eprintln!(
        "skipped: {} missing (run scripts/install-tools)",
        p.display()
    );
    None
}

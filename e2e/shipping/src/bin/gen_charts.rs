//! Writes the Helm charts under `helm/` from every `plugins/*/spec.yaml`.
//! `gen-charts --check` only reports charts that are out of date (exit 1).

use shipping::{charts, spec::PluginSpec, workspace_dir};

fn main() {
    let ws = workspace_dir();
    let specs = PluginSpec::load_all(&ws).unwrap_or_else(|e| {
        eprintln!("gen-charts: {e}");
        std::process::exit(2)
    });
    let files = charts::all(&specs);
    let helm = ws.join("helm");
    let stale = charts::stale(&helm, &files);
    if std::env::args().any(|a| a == "--check") {
        for p in &stale {
            eprintln!("gen-charts: helm/{} is out of date", p.display());
        }
        std::process::exit(i32::from(!stale.is_empty()));
    }
    charts::write(&helm, &files).unwrap_or_else(|e| {
        eprintln!("gen-charts: {e}");
        std::process::exit(2)
    });
    for p in &stale {
        println!("wrote helm/{}", p.display());
    }
}

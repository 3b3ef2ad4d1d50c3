//! A configuration generation: validated config plus compiled plugins in chain order. Workers
//! build their own VMs from it (a wasmtime Store never leaves its thread); streams keep the
//! generation they started on, so a reload never changes a stream in flight.

use crate::config::Config;
use proxy_wasm_host::plugin::chain_order;
use proxy_wasm_host::pool::PluginVm;
use proxy_wasm_host::{HostEnv, Plugin, Runtime};
use std::sync::Arc;

pub struct Snapshot {
    pub generation: u64,
    pub config: Config,
    /// Plugins in Higress chain order (phase, priority descending, name).
    pub plugins: Vec<Arc<Plugin>>,
}

/// Compiles every plugin and starts one VM of each on this thread to run `proxy_on_vm_start`
/// and `proxy_on_configure` (Envoy rejects a config whose plugin fails to configure).
pub fn build(
    config: Config,
    runtime: &Arc<Runtime>,
    env: &Arc<HostEnv>,
    generation: u64,
) -> Result<Snapshot, String> {
    let mut plugins = Vec::new();
    for p in &config.plugins {
        let wasm = std::fs::read(&p.wasm).map_err(|e| {
            format!(
                "plugin {} ({}): {}: {e}",
                p.config.name,
                p.origin,
                p.wasm.display()
            )
        })?;
        let plugin = Plugin::new(runtime.clone(), &wasm, p.config.clone())
            .map_err(|e| format!("plugin {} ({}): {e}", p.config.name, p.origin))?;
        PluginVm::new(plugin.clone(), env.clone())
            .map_err(|e| format!("plugin {} ({}): {e}", p.config.name, p.origin))?;
        plugins.push(plugin);
    }
    chain_order(&mut plugins);
    Ok(Snapshot {
        generation,
        config,
        plugins,
    })
}

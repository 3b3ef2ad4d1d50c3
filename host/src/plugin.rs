//! A configured plugin: compiled module plus what Envoy's `PluginBase` carries (name, root_id,
//! vm_id, configuration) and the Higress `WasmPlugin` chain settings (phase, priority, fail strategy).

use crate::runtime::{CompiledModule, LoadError, Runtime};
use std::sync::Arc;

/// What a failed VM does to streams (Envoy `fail_open`; Higress `failStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailStrategy {
    /// Streams on a failed VM get a 503 local reply with details `wasm_fail_stream`.
    #[default]
    FailClose,
    /// Streams on a failed VM pass through as if the plugin were absent.
    FailOpen,
}

/// Higress plugin phase, in chain order (`wasmplugin.proto` `PluginPhase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Phase {
    Authn,
    Authz,
    Stats,
    /// "End of chain, before Router".
    #[default]
    Unspecified,
}

/// Static plugin settings.
#[derive(Debug, Clone, Default)]
pub struct PluginConfig {
    pub name: String,
    pub root_id: String,
    pub vm_id: String,
    /// Plugin configuration, read by the plugin from buffer 7 in `proxy_on_configure`.
    pub configuration: Vec<u8>,
    /// VM configuration, buffer 6 in `proxy_on_vm_start`.
    pub vm_configuration: Vec<u8>,
    pub fail_strategy: FailStrategy,
    pub phase: Phase,
    pub priority: i64,
    /// `vm_config.environment_variables` already resolved (Higress `vmConfig.env`): WASI
    /// `environ_get` sees these after the host environment, later keys overriding earlier ones.
    pub environment: Vec<(String, String)>,
}

impl PluginConfig {
    pub fn new(name: &str, configuration: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.to_string(),
            configuration: configuration.into(),
            ..Self::default()
        }
    }
}

/// A loaded plugin (process-wide, shared by the per-thread VMs built from it).
pub struct Plugin {
    pub config: PluginConfig,
    pub(crate) module: CompiledModule,
    pub(crate) runtime: Arc<Runtime>,
}

impl Plugin {
    pub fn new(
        runtime: Arc<Runtime>,
        wasm: &[u8],
        config: PluginConfig,
    ) -> Result<Arc<Self>, LoadError> {
        let module = runtime.compile(wasm)?;
        Ok(Arc::new(Self {
            config,
            module,
            runtime,
        }))
    }

    pub fn abi(&self) -> crate::abi::AbiVersion {
        self.module.abi
    }
}

/// Sorts plugins into Higress chain order: phase (AUTHN, AUTHZ, STATS, UNSPECIFIED), then priority
/// descending, then name (the Istio/Higress controller orders WasmPlugins this way).
pub fn chain_order(plugins: &mut [Arc<Plugin>]) {
    plugins.sort_by(|a, b| {
        a.config
            .phase
            .cmp(&b.config.phase)
            .then(b.config.priority.cmp(&a.config.priority))
            .then(a.config.name.cmp(&b.config.name))
    });
}

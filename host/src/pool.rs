//! Per-thread VM ownership: one VM per plugin per worker thread (Envoy's thread-local Wasm),
//! rebuilt for later streams after it fails (Higress rebuilds failed VMs, newer `wasm.cc`).

use crate::env::HostEnv;
use crate::plugin::Plugin;
use crate::vm::{VmError, VmInstance};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// The VM of one plugin on the current thread.
pub struct PluginVm {
    pub plugin: Arc<Plugin>,
    env: Arc<HostEnv>,
    current: Rc<RefCell<VmInstance>>,
    /// Failed VMs replaced so far.
    pub rebuilds: u32,
    /// Why the last rebuild failed, if it did (streams then stay on the failed VM).
    pub last_rebuild_error: Option<VmError>,
}

impl PluginVm {
    /// Starts the VM; a start or configure failure is returned (Envoy rejects the config).
    pub fn new(plugin: Arc<Plugin>, env: Arc<HostEnv>) -> Result<Self, VmError> {
        let vm = VmInstance::start(plugin.clone(), env.clone())?;
        Ok(Self {
            plugin,
            env,
            current: Rc::new(RefCell::new(vm)),
            rebuilds: 0,
            last_rebuild_error: None,
        })
    }

    /// The VM new streams should use, rebuilding it first if it failed.
    pub fn instance(&mut self) -> Rc<RefCell<VmInstance>> {
        if self.current.borrow().is_failed() {
            match VmInstance::start(self.plugin.clone(), self.env.clone()) {
                Ok(vm) => {
                    self.current = Rc::new(RefCell::new(vm));
                    self.rebuilds += 1;
                    self.last_rebuild_error = None;
                }
                Err(e) => self.last_rebuild_error = Some(e),
            }
        }
        self.current.clone()
    }

    /// The current VM without rebuilding.
    pub fn current(&self) -> Rc<RefCell<VmInstance>> {
        self.current.clone()
    }
}

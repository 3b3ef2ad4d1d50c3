//! Per-thread VM ownership: one VM per plugin per worker thread (Envoy's thread-local Wasm),
//! rebuilt for later streams after it fails (Higress rebuilds failed VMs, newer `wasm.cc`).

use crate::abi::AbiVersion;
use crate::env::HostEnv;
use crate::plugin::{FailStrategy, Plugin};
use crate::stream::manager::FilterHandle;
use crate::stream::state::FilterSlot;
use crate::vm::{Shutdown, VmError, VmInstance};
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
    /// Replaced VMs not shut down yet (streams still on them) or whose root context waits for
    /// `proxy_done`.
    retired: Vec<Rc<RefCell<VmInstance>>>,
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
            retired: Vec::new(),
        })
    }

    /// The VM new streams should use, rebuilding it first if it failed or the plugin asked for a
    /// rebuild (Higress `wasm_need_rebuild`). The replaced VM is retired: streams already on it keep
    /// it, and it is shut down once none is left.
    /// What this plugin contributes to a new stream: its filter on the current VM (a failed VM is
    /// rebuilt first), the stream's slot for it, and the VM, which the embedder registers so callout
    /// answers find their way back.
    pub fn filter_for_stream(&mut self) -> (FilterHandle, FilterSlot, Rc<RefCell<VmInstance>>) {
        let vm = self.instance();
        let cfg = &self.plugin.config;
        let filter = FilterHandle {
            name: cfg.name.clone(),
            fail_open: cfg.fail_strategy == FailStrategy::FailOpen,
            real_stop_iteration: vm.borrow().abi() == AbiVersion::V0_2_100,
            vm: vm.clone(),
            ctx: None,
        };
        let slot = FilterSlot {
            plugin_name: cfg.name.clone(),
            root_id: cfg.root_id.clone(),
            ..FilterSlot::default()
        };
        (filter, slot, vm)
    }

    pub fn instance(&mut self) -> Rc<RefCell<VmInstance>> {
        let stale = {
            let vm = self.current.borrow();
            vm.is_failed() || vm.needs_rebuild()
        };
        if stale {
            match VmInstance::start(self.plugin.clone(), self.env.clone()) {
                Ok(vm) => {
                    let old = std::mem::replace(&mut self.current, Rc::new(RefCell::new(vm)));
                    self.retired.push(old);
                    self.rebuilds += 1;
                    self.last_rebuild_error = None;
                }
                Err(e) => self.last_rebuild_error = Some(e),
            }
        }
        self.reap();
        self.current.clone()
    }

    /// Retires the current VM without a replacement (plugin removed or reloaded): it is shut down
    /// once no stream uses it.
    pub fn retire(&mut self) {
        self.retired.push(self.current.clone());
        self.reap();
    }

    /// Shuts down retired VMs no stream uses any more (cpp-host `startShutdown` when the last
    /// handle goes) and forgets those whose root context was deleted.
    pub fn reap(&mut self) {
        for vm in &self.retired {
            // The current VM may sit here too after `retire`; it is ours alone only when no
            // stream holds it (one reference here, one in `current` if it is still current).
            let ours = 1 + usize::from(Rc::ptr_eq(vm, &self.current));
            if Rc::strong_count(vm) == ours {
                vm.borrow_mut().shutdown();
            }
        }
        self.retired
            .retain(|vm| vm.borrow().shutdown_state() != Shutdown::Deleted);
    }

    /// Retired VMs kept alive (streams on them, or root contexts pending `proxy_done`).
    pub fn retired(&self) -> &[Rc<RefCell<VmInstance>>] {
        &self.retired
    }

    /// The current VM without rebuilding.
    pub fn current(&self) -> Rc<RefCell<VmInstance>> {
        self.current.clone()
    }
}

impl Drop for PluginVm {
    /// Host teardown: every VM no stream holds is shut down (`proxy_on_done`, then
    /// `proxy_on_delete` when it returns true). Root contexts still pending `proxy_done` are
    /// dropped with the VM, as `~WasmBase` clears `pending_done_` without calling `onDelete`.
    fn drop(&mut self) {
        if !self.retired.iter().any(|vm| Rc::ptr_eq(vm, &self.current)) {
            self.retired.push(self.current.clone());
        }
        self.reap();
    }
}

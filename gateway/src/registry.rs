//! Per-worker bookkeeping of live streams and VMs. Callout answers and timer callbacks run on a
//! VM's root context and may act on any stream of that VM (continue it, reply locally); what they
//! ask for is routed to the stream whose filter owns the effective context, and that stream's
//! task is woken (Envoy: the SDK's `set_effective_context`, actions on the owning `Context`).

use proxy_wasm_host::stream::FilterManager;
use proxy_wasm_host::vm::{CallOutcome, VmInstance};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use tokio::sync::Notify;

type StreamRef = (Weak<RefCell<FilterManager>>, Weak<Notify>);
type LiveStream = (Rc<RefCell<FilterManager>>, Option<Rc<Notify>>);

#[derive(Default)]
pub struct Registry {
    streams: RefCell<Vec<StreamRef>>,
    vms: RefCell<Vec<Weak<RefCell<VmInstance>>>>,
}

impl Registry {
    pub fn add_stream(&self, fm: &Rc<RefCell<FilterManager>>, notify: &Rc<Notify>) {
        let mut s = self.streams.borrow_mut();
        s.retain(|(f, _)| f.strong_count() > 0);
        s.push((Rc::downgrade(fm), Rc::downgrade(notify)));
    }

    pub fn add_vm(&self, vm: &Rc<RefCell<VmInstance>>) {
        let mut vms = self.vms.borrow_mut();
        vms.retain(|w| w.strong_count() > 0);
        if !vms.iter().any(|w| w.as_ptr() == Rc::as_ptr(vm)) {
            vms.push(Rc::downgrade(vm));
        }
    }

    pub fn live_vms(&self) -> Vec<Rc<RefCell<VmInstance>>> {
        self.vms.borrow().iter().filter_map(Weak::upgrade).collect()
    }

    pub fn live_streams(&self) -> usize {
        self.streams
            .borrow()
            .iter()
            .filter(|(f, _)| f.strong_count() > 0)
            .count()
    }

    pub fn vm(&self, uid: u64) -> Option<Rc<RefCell<VmInstance>>> {
        self.live_vms()
            .into_iter()
            .find(|vm| vm.borrow().uid() == uid)
    }

    /// Sends each action of a root-context call to the stream owning its context.
    pub fn route(&self, vm: &Rc<RefCell<VmInstance>>, outcome: CallOutcome) {
        let streams: Vec<LiveStream> = self
            .streams
            .borrow()
            .iter()
            .filter_map(|(f, n)| Some((f.upgrade()?, n.upgrade())))
            .collect();
        for action in outcome.actions {
            let ctx = action.context();
            if let Some((fm, notify)) = streams.iter().find(|(fm, _)| fm.borrow().owns(vm, ctx)) {
                fm.borrow_mut().apply_outcome(
                    vm,
                    CallOutcome {
                        ret: None,
                        actions: vec![action],
                        stop_next: false,
                    },
                );
                if let Some(n) = notify {
                    n.notify_one();
                }
            }
        }
    }

    /// Runs a root-context call on VM `uid` (if it still exists), routes what it asked for, then
    /// delivers queue notifications it caused.
    pub fn deliver(&self, uid: u64, f: impl FnOnce(&mut VmInstance) -> CallOutcome) {
        if let Some(vm) = self.vm(uid) {
            let o = f(&mut vm.borrow_mut());
            self.route(&vm, o);
        }
        self.pump();
    }

    /// Due ticks and pending `proxy_on_queue_ready` on every live VM.
    pub fn pump(&self) {
        for vm in self.live_vms() {
            let mut outcomes = vm.borrow_mut().fire_due_ticks();
            outcomes.extend(vm.borrow_mut().deliver_queue_ready());
            for o in outcomes {
                self.route(&vm, o);
            }
        }
    }
}

//! The context registry: which plugin object answers which context id, and which callout token
//! belongs to which context.
//!
//! Contexts are taken out of the registry while their code runs, so plugin code may freely call
//! back into the SDK (e.g. dispatch a callout) without a `RefCell` double borrow.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use crate::traits::{HttpContext, RootContext};

pub type RootFactory = fn(u32) -> Box<dyn RootContext>;

/// What to do when a callout answers; kept per host token.
#[derive(Clone, Debug)]
pub(crate) enum CalloutKind {
    Http,
    /// Boxed: it carries the query for a possible resend.
    Redis(Box<crate::redis::RedisCall>),
}

#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub context_id: u32,
    /// The token the plugin was given; survives an EVALSHA→EVAL retry under a new host token.
    pub user_token: u32,
    pub kind: CalloutKind,
}

struct HttpSlot {
    root_id: u32,
    ctx: Option<Box<dyn HttpContext>>,
}

#[derive(Default)]
struct Registry {
    factory: Option<RootFactory>,
    roots: HashMap<u32, Option<Box<dyn RootContext>>>,
    streams: HashMap<u32, HttpSlot>,
    /// Streams the root refused: callbacks for them pass through.
    refused: HashMap<u32, u32>,
    callouts: HashMap<u32, Pending>,
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
    static ACTIVE: Cell<u32> = const { Cell::new(0) };
}

/// Registers the root factory once; later calls keep the first (the `main!` export calls this on
/// every context creation so nothing depends on `_initialize` having run).
pub fn ensure_factory(factory: RootFactory) {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        if r.factory.is_none() {
            r.factory = Some(factory);
        }
    });
}

/// The context whose plugin code is running now (0 outside any callback).
pub fn active_context_id() -> u32 {
    ACTIVE.with(|a| a.get())
}

struct ActiveGuard(u32);

impl ActiveGuard {
    fn enter(id: u32) -> ActiveGuard {
        ActiveGuard(ACTIVE.with(|a| a.replace(id)))
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(self.0));
    }
}

pub(crate) fn create_context(context_id: u32, parent_id: u32) {
    if parent_id == 0 {
        let factory = REGISTRY.with(|r| r.borrow().factory);
        let Some(factory) = factory else { return };
        let root = {
            let _active = ActiveGuard::enter(context_id);
            factory(context_id)
        };
        REGISTRY.with(|r| r.borrow_mut().roots.insert(context_id, Some(root)));
        return;
    }
    let created = with_root(parent_id, |root| root.create_http_context(context_id)).flatten();
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        match created {
            Some(ctx) => {
                r.streams.insert(
                    context_id,
                    HttpSlot {
                        root_id: parent_id,
                        ctx: Some(ctx),
                    },
                );
            }
            None => {
                r.refused.insert(context_id, parent_id);
            }
        }
    });
}

/// Runs `f` on the root context `id`; `None` if there is none (or it is already running).
pub(crate) fn with_root<R>(id: u32, f: impl FnOnce(&mut dyn RootContext) -> R) -> Option<R> {
    let mut root = REGISTRY.with(|r| r.borrow_mut().roots.get_mut(&id).and_then(Option::take))?;
    let out = {
        let _active = ActiveGuard::enter(id);
        f(root.as_mut())
    };
    REGISTRY.with(|r| {
        if let Some(slot) = r.borrow_mut().roots.get_mut(&id) {
            *slot = Some(root);
        }
    });
    Some(out)
}

/// Runs `f` on the HTTP context `id`; `None` if it does not exist (refused, deleted, unknown).
pub(crate) fn with_stream<R>(id: u32, f: impl FnOnce(&mut dyn HttpContext) -> R) -> Option<R> {
    let mut ctx = REGISTRY.with(|r| {
        r.borrow_mut()
            .streams
            .get_mut(&id)
            .and_then(|s| s.ctx.take())
    })?;
    let out = {
        let _active = ActiveGuard::enter(id);
        f(ctx.as_mut())
    };
    REGISTRY.with(|r| {
        if let Some(slot) = r.borrow_mut().streams.get_mut(&id) {
            slot.ctx = Some(ctx);
        }
    });
    Some(out)
}

pub(crate) fn is_root(id: u32) -> bool {
    REGISTRY.with(|r| r.borrow().roots.contains_key(&id))
}

pub(crate) fn is_stream(id: u32) -> bool {
    REGISTRY.with(|r| r.borrow().streams.contains_key(&id))
}

/// The root a stream belongs to.
pub fn root_of(stream_id: u32) -> Option<u32> {
    REGISTRY.with(|r| {
        let r = r.borrow();
        r.streams
            .get(&stream_id)
            .map(|s| s.root_id)
            .or_else(|| r.refused.get(&stream_id).copied())
    })
}

pub(crate) fn delete_context(id: u32) {
    // Dropped outside the borrow: a plugin's Drop may call into the SDK.
    let removed = REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        r.refused.remove(&id);
        r.callouts.retain(|_, p| p.context_id != id);
        let stream = r.streams.remove(&id).and_then(|s| s.ctx);
        let root = r.roots.remove(&id).flatten();
        (stream, root)
    });
    drop(removed);
}

pub(crate) fn register_callout(token: u32, pending: Pending) {
    REGISTRY.with(|r| r.borrow_mut().callouts.insert(token, pending));
}

pub(crate) fn take_callout(token: u32) -> Option<Pending> {
    REGISTRY.with(|r| r.borrow_mut().callouts.remove(&token))
}

/// Number of callouts still waiting for an answer (for tests and leak checks).
pub fn pending_callouts() -> usize {
    REGISTRY.with(|r| r.borrow().callouts.len())
}

/// Runs `f` with the root of the running stream as the active context, in the SDK and in the
/// host, so callouts dispatched in `f` belong to the root: their answers go to the root's
/// `on_http_call_response` / `on_redis_call_response` and outlive the stream (a stream's own
/// callouts are dropped when it ends). Outside a stream (root code, no context) it just runs `f`.
pub fn as_root<R>(f: impl FnOnce() -> R) -> R {
    let active = active_context_id();
    let root = REGISTRY.with(|r| r.borrow().streams.get(&active).map(|s| s.root_id));
    let Some(root) = root else {
        return f();
    };
    let _ = crate::host::host().set_effective_context(root);
    let out = {
        let _active = ActiveGuard::enter(root);
        f()
    };
    let _ = crate::host::host().set_effective_context(active);
    out
}

/// Forgets every context, callout and the factory on this thread. For tests.
pub fn reset() {
    let old = REGISTRY.with(|r| std::mem::take(&mut *r.borrow_mut()));
    drop(old);
    ACTIVE.with(|a| a.set(0));
}

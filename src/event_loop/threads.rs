//! Which loops a thread runs: the thread-locals that list the loops this thread owns
//! or drives (a loop's own thread, a caller-driven loop's owner), and the take of a
//! `call_soon_threadsafe` handle's cancel. No list of every loop in the process: a
//! handle reaches its loop directly, and a loop's drop touches no other loop.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::schedule::Scheduler;

use super::driver::{LocalLoop, LoopShared};
use super::locals::Slots;
use super::queue::{Task, LOCAL_SEQ, OWNER_SEQ};

thread_local! {
    /// The loops this thread runs or owns (a thread loop's own, or the caller-driven
    /// loops built here), by id: ids grow with each loop built, so the last entry is
    /// the loop built last, and finding one costs O(log n) in the loops this thread
    /// owns, never a scan. Destroyed when the thread exits, which closes the
    /// caller-driven loops left open (see `LocalLoop`'s `Drop`).
    pub(super) static OWNED: RefCell<BTreeMap<u64, Rc<LocalLoop>>> = const { RefCell::new(BTreeMap::new()) };
    /// The loop running on this thread right now, if any.
    pub(super) static RUNNING: RefCell<Option<Rc<LocalLoop>>> = const { RefCell::new(None) };
    /// How many loops `OWNED` lists: a thread that owns none (most threads that call
    /// into loops) learns it without looking at the list.
    pub(super) static OWNED_COUNT: Cell<usize> = const { Cell::new(0) };
}

/// `true` when this thread owns a loop (a loop's own thread, or one that built a
/// caller-driven loop): the only threads whose calls may go to a local queue.
#[inline]
pub(super) fn owns_loops() -> bool {
    OWNED_COUNT.try_with(Cell::get).unwrap_or(0) != 0
}

/// The local state of loop `id`, if this thread owns it.
pub(super) fn local_loop(id: u64) -> Option<Rc<LocalLoop>> {
    if !owns_loops() {
        return None;
    }
    OWNED
        .try_with(|owned| {
            let owned = owned.try_borrow().ok()?;
            owned.get(&id).cloned()
        })
        .ok()
        .flatten()
}

/// The loop of the current thread: the one running here, else the open
/// caller-driven loop most recently built here.
pub(super) fn current_local() -> Option<Rc<LocalLoop>> {
    let running = RUNNING.try_with(|r| r.borrow().clone()).ok().flatten();
    running.or_else(|| {
        OWNED
            .try_with(|owned| {
                owned
                    .borrow()
                    .values()
                    .rev()
                    .find(|l| !l.shared.life.is_closing())
                    .cloned()
            })
            .ok()
            .flatten()
    })
}

/// Runs `f` with the loop-local values of loop `id`, if this thread owns it.
#[inline]
pub(crate) fn with_locals<R>(id: u64, f: impl FnOnce(&Slots) -> R) -> Option<R> {
    let running = RUNNING
        .try_with(|r| r.borrow().as_ref().filter(|l| l.shared.id == id).cloned())
        .ok()
        .flatten();
    let local = running.or_else(|| local_loop(id))?;
    Some(f(&local.locals))
}

/// `true` when this thread is driving loop `id` right now.
pub(super) fn is_driving(id: u64) -> bool {
    RUNNING
        .try_with(|r| r.borrow().as_ref().is_some_and(|l| l.shared.id == id))
        .unwrap_or(false)
}

/// Takes the task `seq` of `shared`'s loop out of the queue where it waits (leaving
/// a no-op in its place): the injector, or, on this thread when it owns the loop, the
/// local queue or the owner queue. The handle holds its loop, so nothing here looks
/// at any other loop.
pub(super) fn take_queued(shared: &LoopShared, seq: u64) -> Option<Task> {
    if seq & OWNER_SEQ != 0 {
        // Only the owner queued it; only the owner may take it.
        local_loop(shared.id)?;
        return shared
            .owner_queue
            .take_queued(seq & !(LOCAL_SEQ | OWNER_SEQ));
    }
    if seq & LOCAL_SEQ != 0 {
        return local_loop(shared.id)?.take_local(seq & !LOCAL_SEQ);
    }
    shared.injector.take_queued(seq)
}

/// The scheduler of the current thread's loop while it takes work; registered as
/// [`crate::schedule::current`].
pub(super) fn current_scheduler() -> Option<Scheduler> {
    let local = current_local()?;
    local
        .shared
        .takes_local_work()
        .then(|| local.shared.scheduler())
}

//! The per-thread work list (a trampoline): work that can nest runs from a list, not
//! by recursion, so that depth costs heap, never stack.
//!
//! Settling a promise runs its done-callbacks and wakes its internal consumers; those
//! may settle more promises, whose callbacks settle more... A promise bound to no loop
//! runs that work on the settling thread. Instead of calling it at once (one stack
//! frame per link of a chain), [`run`] queues it when the thread is already draining
//! its list; the outermost call drains the list, one job after the other. The same
//! goes for drops: a core whose waiters hold the next link of a chain hands them to
//! [`defer_drop`] instead of dropping them inside its own `drop`.
//!
//! Every job and every deferred drop runs inside the one panic guard, so a panic in
//! user code never unwinds through the list and never stops the jobs after it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use crate::panic::run_guarded;
use crate::schedule::Job;

struct Work {
    /// A drain is running on this thread (lower in the stack).
    draining: Cell<bool>,
    jobs: RefCell<VecDeque<Job>>,
    drops: RefCell<Vec<Box<dyn Send>>>,
}

crate::loom::thread_local! {
    static WORK: Work = Work {
        draining: Cell::new(false),
        jobs: RefCell::new(VecDeque::new()),
        drops: RefCell::new(Vec::new()),
    };
}

/// One item handed to the list.
enum Item {
    Job(Job),
    Drop(Box<dyn Send>),
}

impl Item {
    fn run(self) {
        match self {
            Item::Job(job) => run_guarded(job, "a promise job"),
            Item::Drop(value) => run_guarded(move || drop(value), "dropping a promise's waiters"),
        }
    }
}

/// Runs `job` now, or, when this thread is already draining its work list, queues it
/// to run after the jobs queued before it.
pub(crate) fn run(job: Job) {
    enter(Item::Job(job));
}

/// Drops `value` now, or, when this thread is already draining its work list, queues
/// the drop (it may drop the next link of a chain, and so on).
pub(crate) fn defer_drop(value: Box<dyn Send>) {
    enter(Item::Drop(value));
}

fn enter(item: Item) {
    let mut item = Some(item);
    let first = WORK.try_with(|work| {
        if work.draining.get() {
            match item.take() {
                Some(Item::Job(job)) => work.jobs.borrow_mut().push_back(job),
                Some(Item::Drop(value)) => work.drops.borrow_mut().push(value),
                None => {}
            }
            false
        } else {
            work.draining.set(true);
            true
        }
    });
    match first {
        Ok(true) => {
            let _reset = Reset;
            if let Some(item) = item.take() {
                item.run();
            }
            drain();
        }
        Ok(false) => {}
        // The thread's locals are being destroyed: no list any more, run it here.
        Err(_) => {
            if let Some(item) = item.take() {
                item.run();
            }
        }
    }
}

/// Clears the draining flag, even if the drain unwinds (it cannot: every item is
/// guarded; this is belt and braces).
struct Reset;

impl Drop for Reset {
    fn drop(&mut self) {
        let _ = WORK.try_with(|work| work.draining.set(false));
    }
}

/// Runs queued items until the list is empty. Drops go first, to free memory early.
fn drain() {
    while let Some(item) = next() {
        item.run();
    }
}

fn next() -> Option<Item> {
    WORK.try_with(|work| {
        if let Some(value) = work.drops.borrow_mut().pop() {
            return Some(Item::Drop(value));
        }
        work.jobs.borrow_mut().pop_front().map(Item::Job)
    })
    .ok()
    .flatten()
}

/// For a blocking wait inside a job of this thread's list: runs what is queued now
/// (the settle being waited for may be among it). No-op outside a drain.
pub(crate) fn help() {
    let draining = WORK.try_with(|work| work.draining.get()).unwrap_or(false);
    if draining {
        drain();
    }
}

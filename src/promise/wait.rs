//! Blocking waits for plain threads, and the two places where a blocking wait is
//! certain to hang and fails at once instead.
//!
//! # When a blocking wait refuses
//!
//! 1. On the thread of the loop the promise is bound to: that loop must settle it
//!    (or run the callbacks its last reader waits for), and it cannot while its
//!    thread is blocked here.
//! 2. Inside a tokio runtime context where tokio itself forbids blocking: a task, or
//!    the future of a `block_on`, being polled — a `#[tokio::test]` body, a worker of
//!    the multi-thread runtime, a loop's own task set. Inside
//!    `tokio::task::block_in_place` and `spawn_blocking` tokio allows blocking, and so
//!    do we.
//!
//! tokio keeps "is this thread driving a runtime?" in a private flag
//! (`context::runtime::EnterRuntime`), which only panicking calls read
//! (`Handle::block_on`, `blocking_recv`). [`tokio::runtime::Handle::try_current`]
//! is no help on its own: it is `Ok` wherever a handle is entered — in
//! `block_in_place`, in `spawn_blocking` threads, and on a plain thread that merely
//! holds an `enter()` guard (a caller-driven loop that is idle) — all places where
//! blocking is fine. What tokio does change, exactly where the private flag changes,
//! is the task's cooperative budget: it is *constrained* while tokio polls a task or a
//! `block_on` future, and tokio sets it *unconstrained* on entering `block_in_place`
//! (`coop::stop()` in `worker.rs`) and for `spawn_blocking` work (`BlockingTask::poll`);
//! outside any poll it is unconstrained. The public
//! [`tokio::task::coop::poll_proceed`] reveals which: a constrained budget runs out
//! within 255 calls (it is a `u8`), an unconstrained one never does. The probe holds
//! each call's `RestoreOnPending` and drops them last-first, which puts the budget
//! back exactly as it was. It only runs for a pending promise on a thread where
//! `Handle::try_current` is `Ok`, and costs about a microsecond there.
//!
//! Limit: a future wrapped in `tokio::task::unconstrained` runs with an unconstrained
//! budget and is not recognised; a blocking wait there blocks its worker, as it would
//! with any blocking call.

use std::task::Waker;
use std::time::Instant;

use super::core::Core;
use super::waiters::{register, release_slot};
use super::work;
use crate::error::{Error, ErrorKind};
use crate::loom;

/// Blocks until a read by this handle would not wait (the promise is complete, and,
/// for the value's last reader, no done-callback holds it), or `deadline` passes.
///
/// `slot` is the handle's waker slot (a temporary one for shared waits).
pub(crate) fn block_until<T>(
    core: &Core<T>,
    slot: &mut usize,
    consuming: bool,
    deadline: Option<Instant>,
) -> Result<(), Error> {
    if !core.snapshot().read_would_wait(consuming) {
        return Ok(());
    }
    refuse_certain_hang(core)?;
    // Inside a job of this thread's work list, what settles the promise may be queued
    // behind this very job: run it first.
    work::help();
    if !core.snapshot().read_would_wait(consuming) {
        return Ok(());
    }
    #[cfg(not(loom))]
    {
        if spin(core, consuming) {
            return Ok(());
        }
    }
    let waker = Waker::from(std::sync::Arc::new(ThreadWaker(loom::current_thread())));
    loop {
        if !register(core, slot, &waker, consuming) {
            return Ok(());
        }
        match deadline {
            None => loom::park(),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(Error::new(ErrorKind::Timeout, "wait_timeout elapsed"));
                }
                park_timeout(deadline - now);
            }
        }
    }
}

/// As [`block_until`], with a slot of its own that is given back afterwards: for
/// waits through a shared reference.
pub(crate) fn block_until_shared<T>(
    core: &Core<T>,
    deadline: Option<Instant>,
) -> Result<(), Error> {
    let mut slot = 0;
    let result = block_until(core, &mut slot, false, deadline);
    release_slot(core, &mut slot);
    result
}

fn refuse_certain_hang<T>(core: &Core<T>) -> Result<(), Error> {
    if core
        .scheduler
        .as_ref()
        .is_some_and(|scheduler| scheduler.is_loop_thread())
    {
        return Err(Error::new(
            ErrorKind::WouldDeadlock,
            "blocking wait on the thread of the loop that must complete the promise; \
             `.await` it instead",
        ));
    }
    if blocking_forbidden() {
        return Err(Error::new(
            ErrorKind::WouldDeadlock,
            "blocking wait inside a tokio runtime, where blocking stalls the tasks that \
             would complete the promise; `.await` it instead (or wait inside \
             `tokio::task::block_in_place` / `spawn_blocking`)",
        ));
    }
    Ok(())
}

/// `true` inside a tokio task or `block_on` future being polled, outside
/// `block_in_place` and `spawn_blocking` (see the module docs).
#[cfg(not(loom))]
pub(crate) fn blocking_forbidden() -> bool {
    if tokio::runtime::Handle::try_current().is_err() {
        return false;
    }
    budget_is_constrained()
}

#[cfg(loom)]
pub(crate) fn blocking_forbidden() -> bool {
    false
}

#[cfg(not(loom))]
fn budget_is_constrained() -> bool {
    use std::task::{Context, Poll};
    use tokio::task::coop;

    let mut cx = Context::from_waker(Waker::noop());
    let mut held = Vec::new();
    let mut constrained = false;
    // A budget is a `u8`: 256 calls exhaust any constrained one.
    for _ in 0..=u8::MAX as usize {
        match coop::poll_proceed(&mut cx) {
            Poll::Ready(restore) => held.push(restore),
            Poll::Pending => {
                constrained = true;
                break;
            }
        }
    }
    // Each guard restores the budget it found; the first one made is dropped last.
    while let Some(restore) = held.pop() {
        drop(restore);
    }
    constrained
}

/// A short spin catches a settle that is happening right now without the cost of
/// parking this thread and waking it again; it yields the CPU between rounds, so that
/// on a busy machine it does not keep the settling thread from running.
#[cfg(not(loom))]
fn spin<T>(core: &Core<T>, consuming: bool) -> bool {
    const SPIN_BEFORE_PARK: std::time::Duration = std::time::Duration::from_micros(20);
    const SPIN_CHECKS: u32 = 32;
    let spin_until = Instant::now() + SPIN_BEFORE_PARK;
    loop {
        for _ in 0..SPIN_CHECKS {
            if !core.snapshot().read_would_wait(consuming) {
                return true;
            }
            std::hint::spin_loop();
        }
        if Instant::now() >= spin_until {
            return false;
        }
        std::thread::yield_now();
    }
}

struct ThreadWaker(loom::Thread);

impl std::task::Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(not(loom))]
fn park_timeout(d: std::time::Duration) {
    std::thread::park_timeout(d);
}

#[cfg(loom)]
fn park_timeout(_: std::time::Duration) {
    loom::park();
}

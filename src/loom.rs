//! The synchronisation primitives the crate uses, switched to `loom`'s model-checked
//! versions under `--cfg loom` so that the same code is what the model checker explores.

#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard,
};

#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard,
};

/// Locks a mutex; a poisoned lock is taken over, since every critical section in this
/// crate leaves its data consistent before anything that can panic runs.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(not(loom))]
    {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    #[cfg(loom)]
    {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(not(loom))]
pub(crate) use std::thread::{current as current_thread, park, yield_now, Thread};

#[cfg(loom)]
pub(crate) use loom::thread::{current as current_thread, park, yield_now, Thread};

#[cfg(not(loom))]
pub(crate) use std::thread_local;

#[cfg(loom)]
pub(crate) use loom::thread_local;

/// `UnsafeCell` with loom's closure-based API, so that loom checks every access to a
/// promise's outcome cell for data races; without loom it is `std`'s cell (as tokio's
/// `loom/std/unsafe_cell.rs`). Only `promise/core.rs` uses it.
#[cfg(not(loom))]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a pointer for reading.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a pointer for writing.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Runs a loom model of a composite, a piece whose model runs the promise core inside
/// it (the loop's lifecycle, the bench driver), with at most two preemptions: the
/// promise core's own models explore its races with three (`LOOM_MAX_PREEMPTIONS=3`
/// in `.ci/run`), and two keep a composite's state space to seconds rather than the
/// tens of minutes three would take.
#[cfg(all(test, loom))]
pub(crate) fn model_composite<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut model = ::loom::model::Builder::new();
    model.preemption_bound = Some(model.preemption_bound.map_or(2, |b| b.min(2)));
    model.check(f);
}

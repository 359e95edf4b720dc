//! The synchronisation primitives the crate uses, switched to `loom`'s model-checked
//! versions under `--cfg loom` so that the same code is what the model checker explores.

#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard,
};

#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
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
pub(crate) use std::thread::{current as current_thread, park, Thread};

#[cfg(loom)]
pub(crate) use loom::thread::{current as current_thread, park, Thread};

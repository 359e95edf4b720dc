//! Where a loop keeps the values of its loop-local state
//! ([`LoopLocal`](crate::LoopLocal)): [`Slots`], in the part of the loop that only its
//! own thread touches, by the id of the state. A value is put there by its init (run on
//! the loop's thread), taken out by the release of its last handle, and every value left
//! is dropped when the loop is torn down: all on the loop's thread.
//!
//! # The order of a release
//!
//! The last handle's release is queued on the loop's *injector*, even from the loop's
//! own thread (see [`EventLoop::submit_remote`](super::EventLoop)). An iteration runs
//! the local queue before the injector's batch, so every call queued before the
//! release, from any thread and to either queue, runs before it.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

use crate::error::Error;
use crate::panic::run_guarded;

/// One value: built (a `RefCell<T>` behind `dyn Any`), or the error of its init.
pub(crate) enum Slot {
    Ready(Rc<dyn Any>),
    Failed(Error),
}

/// The values of a loop's loop-local state, by id.
#[derive(Default)]
pub(crate) struct Slots(RefCell<HashMap<u64, Slot, BuildHasherDefault<IdHasher>>>);

impl Slots {
    /// Stores the value of state `id`.
    pub(crate) fn insert(&self, id: u64, slot: Slot) {
        let old = self.0.borrow_mut().insert(id, slot);
        run_guarded(move || drop(old), "dropping loop-local state");
    }

    /// The value of state `id`: `None` when there is none (not built yet, or gone).
    #[inline]
    pub(crate) fn get(&self, id: u64) -> Option<Result<Rc<dyn Any>, Error>> {
        match self.0.borrow().get(&id)? {
            Slot::Ready(value) => Some(Ok(value.clone())),
            Slot::Failed(error) => Some(Err(error.clone())),
        }
    }

    /// Drops the value of state `id`, with nothing borrowed (its `Drop` may use other
    /// loop-local state), under a guard.
    pub(crate) fn remove(&self, id: u64) {
        let slot = self.0.borrow_mut().remove(&id);
        run_guarded(move || drop(slot), "dropping loop-local state");
    }

    /// Drops every value, each under a guard (the loop is torn down). Values whose
    /// `Drop` makes new state are dropped too, until none is left.
    pub(crate) fn clear(&self) {
        loop {
            let slots = std::mem::take(&mut *self.0.borrow_mut());
            if slots.is_empty() {
                return;
            }
            for (_, slot) in slots {
                run_guarded(move || drop(slot), "dropping loop-local state");
            }
        }
    }
}

/// The ids are unique numbers: a multiply spreads them over the hash's bits.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

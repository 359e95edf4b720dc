//! The slots that hold loop-local state ([`LoopLocal`](crate::LoopLocal)): reserved
//! from any thread ([`SlotTable`], in the loop's shared state), filled on the loop's
//! thread by the slot's init at first use and read there ([`LocalSlots`], in the
//! state only that thread touches), emptied there when the state's last handle goes
//! or the loop is torn down.
//!
//! # Ordering of a release
//!
//! A slot is released by a job pushed to the loop's *injector*, even from the loop's
//! own thread. An iteration runs the local queue before the injector's batch, so
//! every call pushed before the release (from any thread, to either queue) runs
//! before it; then the slot's number may be given to new state.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use crate::error::{Error, ErrorKind};
use crate::panic::{self, run_guarded};

/// What builds a slot's value, on the loop's thread.
pub(crate) type Init = Box<dyn FnOnce() -> Rc<dyn Any> + Send>;

/// The shared half: which slots are taken, and the inits that have not run yet.
#[derive(Default)]
pub(crate) struct SlotTable {
    inits: Vec<Option<Init>>,
    free: Vec<usize>,
}

impl SlotTable {
    /// Takes a free slot for state that `init` builds.
    pub(crate) fn reserve(&mut self, init: Init) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.inits[slot] = Some(init);
                slot
            }
            None => {
                self.inits.push(Some(init));
                self.inits.len() - 1
            }
        }
    }

    /// The init of `slot`, to run; `None` once it ran (or the slot was released).
    fn take_init(&mut self, slot: usize) -> Option<Init> {
        self.inits.get_mut(slot).and_then(Option::take)
    }

    /// Gives `slot` back; the init it still holds, if any, to drop.
    fn release(&mut self, slot: usize) -> Option<Init> {
        let init = self.take_init(slot);
        self.free.push(slot);
        init
    }

    /// Every init not run yet, to drop (the loop is torn down).
    pub(crate) fn clear(&mut self) -> Vec<Init> {
        self.inits.iter_mut().filter_map(Option::take).collect()
    }
}

/// A slot's value on the loop's thread.
enum Value {
    /// Not built yet (or released).
    Empty,
    Ready(Rc<dyn Any>),
    /// Its init panicked: every use fails with this error.
    Failed(Error),
}

/// The loop-thread half: the values.
#[derive(Default)]
pub(crate) struct LocalSlots {
    values: RefCell<Vec<Value>>,
}

impl LocalSlots {
    /// The value of `slot`, built now by its init (taken from `table`) if needed.
    /// Neither the values nor the table are borrowed while the init runs, so it may
    /// use other loop-local state, or make some.
    pub(crate) fn get(
        &self,
        slot: usize,
        table: &std::sync::Mutex<SlotTable>,
    ) -> Result<Rc<dyn Any>, Error> {
        if let Some(value) = self.values.borrow().get(slot) {
            match value {
                Value::Ready(value) => return Ok(value.clone()),
                Value::Failed(error) => return Err(error.clone()),
                Value::Empty => {}
            }
        }
        let init = crate::loom::lock(table).take_init(slot);
        let Some(init) = init else {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "this loop-local state is gone (its loop is closing)",
            ));
        };
        let value = match panic::catch(init) {
            Ok(value) => Value::Ready(value),
            Err(error) => Value::Failed(Error::caused_by(
                ErrorKind::Panicked,
                "the init of this loop-local state panicked",
                error,
            )),
        };
        let out = match &value {
            Value::Ready(v) => Ok(v.clone()),
            Value::Failed(e) => Err(e.clone()),
            Value::Empty => unreachable!("just built"),
        };
        let mut values = self.values.borrow_mut();
        if values.len() <= slot {
            values.resize_with(slot + 1, || Value::Empty);
        }
        values[slot] = value;
        out
    }

    /// Empties `slot` and gives its number back to `table`; the value and the
    /// unrun init are dropped here, each under a guard, with nothing borrowed.
    pub(crate) fn release(&self, slot: usize, table: &std::sync::Mutex<SlotTable>) {
        let value = self
            .values
            .borrow_mut()
            .get_mut(slot)
            .map(|v| std::mem::replace(v, Value::Empty));
        run_guarded(move || drop(value), "dropping loop-local state");
        let init = crate::loom::lock(table).release(slot);
        run_guarded(move || drop(init), "dropping the init of loop-local state");
    }

    /// Drops every value, each under a guard (the loop is torn down).
    pub(crate) fn clear(&self) {
        let values = std::mem::take(&mut *self.values.borrow_mut());
        for value in values {
            run_guarded(move || drop(value), "dropping loop-local state");
        }
    }
}

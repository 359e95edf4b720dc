//! The state a promise's handles share: the outcome slot, the state word, the waiters
//! (wakers, done-callbacks, cancel hook) and the transitions between the states.
//!
//! # States
//!
//! A promise is in one of these states; the state word holds the bits, the outcome
//! slot and the waiters' `done` flag follow them as the table says.
//!
//! | state            | word               | outcome | `waiters.done` | who may touch the waiters      |
//! |------------------|--------------------|---------|----------------|--------------------------------|
//! | pending          | [`PENDING`]        | empty   | `false`        | nobody has yet                 |
//! | pending, waited  | [`WAITING`]        | empty   | `false`        | adders, under the lock         |
//! | settled, quiet   | [`DONE`]           | set     | `false`        | nobody: adders see `DONE`      |
//! | settling         | `DONE \| WAITING`  | set     | `false`        | the settler, taking them       |
//! | settled          | `DONE \| WAITING`  | set     | `true`         | nobody: adders see `done`      |
//! | born done        | [`DONE`]           | set     | `true`         | nobody                         |
//!
//! # Transitions
//!
//! - **wait** ([`Shared::may_wait`]), with the waiters locked, before adding to them:
//!   sets [`WAITING`] unless the promise is done; an adder that finds it done adds
//!   nothing and acts as on a done promise.
//! - **settle** ([`Shared::settle`]): stores the outcome (only the first settler
//!   can), then sets [`DONE`]; if [`WAITING`] was set before, it locks the waiters,
//!   marks them `done` and takes what they hold, to wake and run once the lock is
//!   released ([`Settled::finish`]). A promise nobody waited on is settled without
//!   taking the lock.
//! - **take** (`Promise::take_if_unique`): the only handle moves the outcome out.
//!
//! The state only moves down the table, except for take, which empties the outcome
//! slot of a promise no other handle can see.

use std::panic::Location;
use std::sync::OnceLock;
use std::task::Waker;

use crate::error::Error;
use crate::loom::{lock, Arc, AtomicUsize, Mutex, Ordering};
use crate::panic::run_guarded;
use crate::schedule::{Job, Scheduler};

/// A done-callback, as stored.
pub(super) type Callback<T> = Box<dyn FnOnce(&Result<T, Error>) + Send + 'static>;
/// Turns stored callbacks into the job that runs them (the only place that knows
/// the bounds `T` needs for that).
pub(super) type Dispatch<T> = fn(Arc<Shared<T>>, Vec<Callback<T>>) -> Job;

/// No bit set: pending, and nobody has waited.
pub(super) const PENDING: usize = 0;
/// Set once the outcome is stored; the settler then looks at the waiters only if
/// [`WAITING`] was set before.
pub(super) const DONE: usize = 1;
/// Set (under the waiters' lock) before anything is added to the waiters; an adder
/// that finds [`DONE`] already set adds nothing and treats the promise as done.
pub(super) const WAITING: usize = 2;

/// A promise's state. `call` is the call that will settle it, kept in the same
/// allocation for [`run_in_loop`](crate::run_in_loop) (one allocation per call, freed
/// by the thread that drops the last handle); `()` for other promises. Handles see it
/// as the `dyn CallSlot` default.
pub(crate) struct Shared<T, C: ?Sized = dyn CallSlot> {
    pub(super) outcome: OnceLock<Result<T, Error>>,
    /// [`DONE`] and [`WAITING`]: lets a promise nobody waits on be settled without
    /// taking the waiters' lock.
    state: AtomicUsize,
    pub(super) waiters: Mutex<Waiters<T>>,
    pub(super) scheduler: Option<Scheduler>,
    /// Where the promise was made, for debug reports.
    created_at: &'static Location<'static>,
    /// Set when anything reads the outcome; a failure nobody read is reported in
    /// debug mode when the promise goes away.
    retrieved: std::sync::atomic::AtomicBool,
    // Under loom the call lives in a separate allocation (see `call::SeparateCall`).
    #[cfg_attr(loom, allow(dead_code))]
    pub(super) call: C,
}

impl<T, C> Shared<T, C> {
    /// The state of a promise made here: pending, or born done with `outcome`.
    #[track_caller]
    pub(super) fn new(
        outcome: Option<Result<T, Error>>,
        scheduler: Option<Scheduler>,
        call: C,
    ) -> Self {
        let done = outcome.is_some();
        Shared {
            outcome: outcome.map_or_else(OnceLock::new, OnceLock::from),
            state: AtomicUsize::new(if done { DONE } else { PENDING }),
            waiters: Mutex::new(Waiters {
                done,
                ..Waiters::pending()
            }),
            scheduler,
            created_at: Location::caller(),
            retrieved: std::sync::atomic::AtomicBool::new(false),
            call,
        }
    }
}

/// What a [`Shared`] may carry besides the promise: nothing, or a pending call.
pub(crate) trait CallSlot: Send + Sync {}

impl CallSlot for () {}

/// Builds the shared state of a new promise, erasing its call's type.
pub(super) fn new_shared<T, C: CallSlot + 'static>(shared: Shared<T, C>) -> Arc<Shared<T>> {
    erase(std::sync::Arc::new(shared))
}

/// The handle view of a promise's state.
#[cfg(not(loom))]
pub(super) fn erase<T, C: CallSlot + 'static>(
    shared: std::sync::Arc<Shared<T, C>>,
) -> Arc<Shared<T>> {
    shared
}

#[cfg(loom)]
pub(super) fn erase<T, C: CallSlot + 'static>(
    shared: std::sync::Arc<Shared<T, C>>,
) -> Arc<Shared<T>> {
    let shared: std::sync::Arc<Shared<T>> = shared;
    Arc::from_std(shared)
}

/// Who waits for the outcome: the handles' wakers (one slot per handle that awaits),
/// and the done-callbacks and cancel hook.
pub(super) struct Waiters<T> {
    pub(super) done: bool,
    pub(super) wakers: Vec<Option<Waker>>,
    /// Boxed, since most promises have neither callbacks nor a cancel hook: it keeps
    /// a promise's allocation small (a fast-bin size of the common allocators).
    extras: Option<Box<Extras<T>>>,
}

/// The done-callbacks and the cancel hook of a promise.
pub(super) struct Extras<T> {
    pub(super) callbacks: Vec<Callback<T>>,
    pub(super) dispatch: Option<Dispatch<T>>,
    pub(super) on_cancel: Option<Job>,
}

impl<T> Waiters<T> {
    fn pending() -> Self {
        Waiters {
            done: false,
            wakers: Vec::new(),
            extras: None,
        }
    }

    pub(super) fn extras(&mut self) -> &mut Extras<T> {
        self.extras.get_or_insert_with(|| {
            Box::new(Extras {
                callbacks: Vec::new(),
                dispatch: None,
                on_cancel: None,
            })
        })
    }
}

/// What settling took out of the waiters, to act on once the lock is released.
pub(super) struct Settled<T> {
    wakers: Vec<Option<Waker>>,
    callbacks: Option<Job>,
    on_cancel: Option<Job>,
    _marker: std::marker::PhantomData<T>,
}

impl<T> Settled<T> {
    /// Runs the cancel hook (if the promise was `cancelled`), wakes the wakers, then
    /// runs (or schedules) the done-callbacks.
    pub(super) fn finish(self, cancelled: bool) {
        if cancelled {
            if let Some(hook) = self.on_cancel {
                run_guarded(hook, "cancel hook");
            }
        }
        if !self.wakers.is_empty() {
            for waker in self.wakers.into_iter().flatten() {
                waker.wake();
            }
        }
        if let Some(job) = self.callbacks {
            job();
        }
    }
}

/// The [`Dispatch`] of a promise: runs the callbacks in order with the outcome, each
/// guarded so that a panicking one is logged and does not stop the others.
pub(super) fn dispatch_callbacks<T: Send + Sync + 'static>(
    shared: Arc<Shared<T>>,
    callbacks: Vec<Callback<T>>,
) -> Job {
    Box::new(move || {
        if let Some(outcome) = shared.read() {
            for callback in callbacks {
                run_guarded(|| callback(outcome), "done-callback");
            }
        }
    })
}

impl<T> Shared<T> {
    /// The wait transition. With the waiters locked, before adding to them: `true`
    /// when the promise is pending, so that whoever settles it will look at what is
    /// added; `false` when it is done (add nothing, act as on a done promise).
    pub(super) fn may_wait(&self, w: &Waiters<T>) -> bool {
        !w.done && self.state.fetch_or(WAITING, Ordering::AcqRel) & DONE == 0
    }

    /// The settle transition: stores `outcome` if the promise is pending; gives it
    /// back otherwise.
    pub(super) fn settle(
        this: &Arc<Self>,
        outcome: Result<T, Error>,
    ) -> Result<Settled<T>, Result<T, Error>> {
        this.outcome.set(outcome)?;
        if this.state.fetch_or(DONE, Ordering::AcqRel) & WAITING == 0 {
            // Nobody has waited, nor can any more: no lock to take.
            return Ok(Settled {
                wakers: Vec::new(),
                callbacks: None,
                on_cancel: None,
                _marker: std::marker::PhantomData,
            });
        }
        let mut w = lock(&this.waiters);
        w.done = true;
        let wakers = std::mem::take(&mut w.wakers);
        let extras = w.extras.take();
        drop(w);
        let (callbacks, on_cancel) = match extras {
            Some(extras) => {
                let Extras {
                    callbacks,
                    dispatch,
                    on_cancel,
                } = *extras;
                let callbacks = match dispatch {
                    Some(dispatch) if !callbacks.is_empty() => {
                        Some(Shared::callback_job(this, callbacks, dispatch))
                    }
                    _ => None,
                };
                (callbacks, on_cancel)
            }
            None => (None, None),
        };
        Ok(Settled {
            wakers,
            callbacks,
            on_cancel,
            _marker: std::marker::PhantomData,
        })
    }

    /// The job that runs `callbacks`: on the promise's loop when it has an open one,
    /// else inline.
    pub(super) fn callback_job(
        this: &Arc<Self>,
        callbacks: Vec<Callback<T>>,
        dispatch: Dispatch<T>,
    ) -> Job {
        let job = dispatch(this.clone(), callbacks);
        match &this.scheduler {
            Some(scheduler) => {
                let scheduler = scheduler.clone();
                Box::new(move || {
                    if let Err(job) = scheduler.schedule(job) {
                        job();
                    }
                })
            }
            None => job,
        }
    }

    /// The outcome, marked as read.
    pub(super) fn read(&self) -> Option<&Result<T, Error>> {
        let outcome = self.outcome.get();
        if outcome.is_some() {
            self.retrieved
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        outcome
    }
}

impl<T, C: ?Sized> Drop for Shared<T, C> {
    fn drop(&mut self) {
        if let Some(Err(error)) = self.outcome.get() {
            let debug = match &self.scheduler {
                Some(scheduler) => scheduler.is_debug(),
                None => crate::debug::env_debug(),
            };
            if debug && !error.is_cancelled() && !*self.retrieved.get_mut() {
                crate::debug::report_unretrieved(error, self.created_at);
            }
        }
    }
}

//! Work that settles a promise: a call sharing its promise's allocation
//! ([`CallTask`], made by `Promise::for_call`), and the [`Completer`] a boxed job, a
//! task, a chain or a gather keeps. Both are the one loop-closed guard: dropped before
//! the work ran (its loop closed), they fail the promise with
//! [`ErrorKind::LoopClosed`] (or the completer's own drop error).
//!
//! Neither is a reading handle: the reader that awaits a `run_in_loop` promise is its
//! last reader even while the call's task still holds the allocation, so it moves the
//! value out.

pub(crate) use super::core::CallTask;
use super::core::{Call, Reader, Shared};
use super::waiters::settle;
use super::{Promise, Setter};
use crate::error::{Error, ErrorKind};
use crate::panic::run_guarded;
use crate::schedule::Scheduler;

/// A call to run on a loop, settling the promise it shares an allocation with.
struct LoopCall<F>(F);

impl<T, F> Call<T> for LoopCall<F>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    fn run(self, core: &Shared<T>) {
        finish_call(self.0, core);
    }

    fn abandon(self, core: &Shared<T>) {
        run_guarded(move || drop(self), "dropping an abandoned call");
        let _ = settle(core, Err(never_ran()));
    }
}

impl<T> Promise<T> {
    /// A promise bound to `scheduler` that `f` settles, and the task that runs `f`:
    /// both in one allocation. Dropped unrun (its loop closed), the task fails the
    /// promise with [`ErrorKind::LoopClosed`].
    #[track_caller]
    pub(crate) fn for_call<F>(scheduler: Scheduler, f: F) -> (Self, CallTask)
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, Error> + Send + 'static,
    {
        let created_at = std::panic::Location::caller();
        let (task, reader) = Reader::with_call(Some(scheduler), LoopCall(f), created_at);
        (Promise::from_reader(reader), task)
    }
}

/// Runs `call` and settles the promise with its outcome, unless the promise is
/// already done (cancelled): then the call is dropped unrun. A panic, in the call or
/// in its panic payload's `Drop`, becomes the promise's `Panicked` error.
fn finish_call<T, F>(call: F, core: &Shared<T>)
where
    F: FnOnce() -> Result<T, Error>,
{
    if core.snapshot().is_done() {
        run_guarded(move || drop(call), "dropping a cancelled call");
        return;
    }
    let outcome = crate::panic::catch(call).and_then(|outcome| outcome);
    if let Err(refused) = settle(core, outcome) {
        run_guarded(move || drop(refused), "dropping a refused outcome");
    }
}

/// The error of a call its loop dropped unrun: it never started.
fn never_ran() -> Error {
    Error::new(
        ErrorKind::LoopClosed,
        "the loop was closed (or stopping) before the call started: it never ran",
    )
}

fn loop_closed() -> Error {
    Error::new(
        ErrorKind::LoopClosed,
        "the loop closed before the work finished",
    )
}

/// The setter half kept by a job, a task or an internal consumer: if it is dropped
/// before completing (the job never ran because its loop closed; the promise a chain
/// waited on was dropped unsettled), the promise fails with its drop error
/// ([`ErrorKind::LoopClosed`] unless told otherwise).
pub(crate) struct Completer<T> {
    setter: Option<Setter<T>>,
    on_drop: fn() -> Error,
}

impl<T> Completer<T> {
    /// A completer whose drop fails the promise with [`ErrorKind::LoopClosed`] (what
    /// loop jobs and tasks keep).
    pub(crate) fn new(setter: Setter<T>) -> Self {
        Completer {
            setter: Some(setter),
            on_drop: loop_closed,
        }
    }

    /// A completer whose drop fails the promise with `on_drop()`.
    pub(crate) fn with_drop_error(setter: Setter<T>, on_drop: fn() -> Error) -> Self {
        Completer {
            setter: Some(setter),
            on_drop,
        }
    }

    /// The promise's setter, until the completer completes.
    pub(crate) fn setter(&self) -> Option<&Setter<T>> {
        self.setter.as_ref()
    }

    /// `true` when the promise was settled elsewhere (cancelled): the work can be
    /// skipped.
    pub(crate) fn is_done(&self) -> bool {
        self.setter.as_ref().is_none_or(Setter::is_done)
    }

    /// Settles the promise (a refused outcome is dropped, guarded).
    pub(crate) fn complete(mut self, outcome: Result<T, Error>) {
        if let Some(setter) = self.setter.take() {
            if let Err(refused) = settle(setter.core(), outcome) {
                run_guarded(move || drop(refused), "dropping a refused outcome");
            }
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(setter) = self.setter.take() {
            if !setter.is_done() {
                let _ = settle(setter.core(), Err((self.on_drop)()));
            }
        }
    }
}

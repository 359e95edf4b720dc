//! Work that settles a promise: a call sharing its promise's allocation
//! ([`CallTask`], made by `Promise::for_call`), and the [`Completer`] a boxed job or
//! a task keeps. Both are the one loop-closed guard: dropped before the work ran
//! (its loop closed), they fail the promise with [`ErrorKind::LoopClosed`].

use crate::error::{Error, ErrorKind};
use crate::loom::{lock, Mutex};
use crate::panic;
use crate::schedule::Scheduler;

use super::state::CallSlot;
#[cfg(not(loom))]
use super::state::Shared;
use super::Promise;

/// A call waiting to run on a loop; taken out once, when it runs or is abandoned.
pub(crate) struct CallCell<F>(Mutex<Option<F>>);

impl<F: Send> CallSlot for CallCell<F> {}

/// A call queued on a loop whose outcome settles the promise it shares an allocation
/// with. Dropped without running (its loop closed), it fails that promise with
/// [`ErrorKind::LoopClosed`].
pub(crate) struct CallTask(Option<std::sync::Arc<dyn RunCall>>);

trait RunCall: Send + Sync {
    fn run(self: std::sync::Arc<Self>);
    fn abandon(self: std::sync::Arc<Self>);
}

impl CallTask {
    /// Runs the call, unless its promise is already done (cancelled): then the call
    /// is dropped unrun.
    pub(crate) fn run(mut self) {
        if let Some(call) = self.0.take() {
            call.run();
        }
    }
}

impl Drop for CallTask {
    fn drop(&mut self) {
        if let Some(call) = self.0.take() {
            call.abandon();
        }
    }
}

impl<T> Promise<T> {
    /// A promise bound to `scheduler` that `f` settles, and the task that runs `f`:
    /// both in one allocation.
    #[track_caller]
    pub(crate) fn for_call<F>(scheduler: Scheduler, f: F) -> (Self, CallTask)
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Result<T, Error> + Send + 'static,
    {
        #[cfg(not(loom))]
        {
            let shared = std::sync::Arc::new(Shared::new(
                None,
                Some(scheduler),
                CallCell(Mutex::new(Some(f))),
            ));
            let task = CallTask(Some(shared.clone()));
            let promise = Promise::from_shared(super::state::erase(shared));
            (promise, task)
        }
        #[cfg(loom)]
        {
            let promise = Promise::with_scheduler(Some(scheduler));
            let task = CallTask(Some(std::sync::Arc::new(SeparateCall {
                promise: promise.clone(),
                call: CallCell(Mutex::new(Some(f))),
            })));
            (promise, task)
        }
    }
}

#[cfg(not(loom))]
impl<T, F> RunCall for Shared<T, CallCell<F>>
where
    T: Send + Sync + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    fn run(self: std::sync::Arc<Self>) {
        let call = lock(&self.call.0).take();
        finish_call(call, Promise::from_shared(super::state::erase(self)));
    }

    fn abandon(self: std::sync::Arc<Self>) {
        let call = lock(&self.call.0).take();
        // The guard first: it fails the promise even if dropping the call panics.
        let _guard = Completer::new(Promise::from_shared(super::state::erase(self)));
        drop(call);
    }
}

/// Under loom, whose `Arc` cannot share one allocation between two views, the call
/// and its promise are two allocations; the protocol is the same.
#[cfg(loom)]
struct SeparateCall<T, F> {
    promise: Promise<T>,
    call: CallCell<F>,
}

#[cfg(loom)]
impl<T, F> RunCall for SeparateCall<T, F>
where
    T: Send + Sync + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    fn run(self: std::sync::Arc<Self>) {
        let call = lock(&self.call.0).take();
        finish_call(call, self.promise.clone());
    }

    fn abandon(self: std::sync::Arc<Self>) {
        let call = lock(&self.call.0).take();
        let _guard = Completer::new(self.promise.clone());
        drop(call);
    }
}

/// Runs `call` (once: `None` when it already ran) and settles `promise` with its
/// outcome, unless the promise is already done (cancelled): then the call is
/// dropped unrun.
fn finish_call<T, F>(call: Option<F>, promise: Promise<T>)
where
    F: FnOnce() -> Result<T, Error>,
{
    let Some(call) = call else { return };
    let completer = Completer::new(promise);
    if completer.is_done() {
        return;
    }
    completer.complete(panic::catch(call).and_then(|outcome| outcome));
}

/// The setter half kept by a job or task: if it is dropped before completing (the job
/// never ran because its loop closed), the promise fails with
/// [`ErrorKind::LoopClosed`].
pub(crate) struct Completer<T> {
    promise: Option<Promise<T>>,
}

impl<T> Completer<T> {
    pub(crate) fn new(promise: Promise<T>) -> Self {
        Completer {
            promise: Some(promise),
        }
    }

    /// `true` when the promise was settled elsewhere (cancelled): the work can be skipped.
    pub(crate) fn is_done(&self) -> bool {
        self.promise.as_ref().is_none_or(Promise::is_done)
    }

    pub(crate) fn promise(&self) -> Option<&Promise<T>> {
        self.promise.as_ref()
    }

    pub(crate) fn complete(mut self, outcome: Result<T, Error>) {
        if let Some(promise) = self.promise.take() {
            promise.complete(outcome);
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(promise) = self.promise.take().filter(|p| !p.is_done()) {
            promise.complete(Err(Error::new(
                ErrorKind::LoopClosed,
                "the loop closed before the work finished",
            )));
        }
    }
}

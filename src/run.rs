//! [`run_in_loop`] and its fallible and async forms: run a callable on a loop's thread,
//! from any thread, and get a [`Promise`] of its outcome at once.

use std::error::Error as StdError;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::Error;
use crate::event_loop::EventLoop;
use crate::promise::{Completer, Job, Promise};

/// Runs `f` on the thread of `lp` and returns at once a promise of its value.
///
/// Thread safe: call it from any thread, including the loop's own (the call is then
/// queued behind the ones before it). A panic in `f` becomes the promise's
/// [`ErrorKind::Panicked`](crate::ErrorKind::Panicked) error and the loop goes on;
/// a closed loop gives [`ErrorKind::LoopClosed`](crate::ErrorKind::LoopClosed) at
/// once. Cancelling the promise before `f` starts skips it.
///
/// For a callable that returns a `Result`, see [`try_run_in_loop`]; for one that
/// returns a future, [`run_in_loop_async`].
///
/// # Examples
///
/// ```
/// use pulsar_async::{run_in_loop, EventLoop};
///
/// let lp = EventLoop::new().unwrap();
/// let name = run_in_loop(&lp, || std::thread::current().name().map(String::from));
/// assert_eq!(name.wait().unwrap().as_deref(), Some(lp.name()));
/// ```
#[track_caller]
pub fn run_in_loop<T, F>(lp: &EventLoop, f: F) -> Promise<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + Sync + 'static,
{
    submit_call(lp, std::any::type_name::<F>(), move || Ok(f()))
}

/// Like [`run_in_loop`], for a callable that returns a `Result`: an `Err` becomes the
/// promise's error (kind [`User`](crate::ErrorKind::User), the error kept as its
/// source; an [`Error`] of this crate keeps its own kind).
///
/// # Examples
///
/// ```
/// use pulsar_async::{try_run_in_loop, ErrorKind, EventLoop};
///
/// let lp = EventLoop::new().unwrap();
/// let p = try_run_in_loop(&lp, || "x1".parse::<u32>());
/// let err = p.wait().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::User);
/// assert!(err.downcast_ref::<std::num::ParseIntError>().is_some());
/// ```
#[track_caller]
pub fn try_run_in_loop<T, E, F>(lp: &EventLoop, f: F) -> Promise<T>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    E: Into<Box<dyn StdError + Send + Sync + 'static>>,
    T: Send + Sync + 'static,
{
    submit_call(lp, std::any::type_name::<F>(), move || {
        f().map_err(Error::user)
    })
}

/// Like [`run_in_loop`], for a callable that returns a future: `f` runs on the loop's
/// thread (so the future need not be `Send`), and the future runs there as a task
/// whose output settles the promise. Cancelling the promise aborts the task.
///
/// # Examples
///
/// ```
/// use pulsar_async::{run_in_loop_async, EventLoop};
/// use std::rc::Rc;
///
/// let lp = EventLoop::new().unwrap();
/// let p = run_in_loop_async(&lp, || {
///     let local = Rc::new(20); // !Send is fine: it never leaves the loop
///     async move {
///         tokio::task::yield_now().await;
///         *local + 1
///     }
/// });
/// assert_eq!(p.wait().unwrap(), 21);
/// ```
#[track_caller]
pub fn run_in_loop_async<T, F, Fut>(lp: &EventLoop, f: F) -> Promise<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + Sync + 'static,
{
    lp.spawn_with(f)
}

/// Like [`run_in_loop_async`], for a future whose output is a `Result`: an `Err`
/// becomes the promise's error, as in [`try_run_in_loop`].
///
/// # Examples
///
/// ```
/// use pulsar_async::{try_run_in_loop_async, EventLoop};
///
/// let lp = EventLoop::new().unwrap();
/// let p = try_run_in_loop_async(&lp, || async { "7".parse::<u8>() });
/// assert_eq!(p.wait().unwrap(), 7);
/// ```
#[track_caller]
pub fn try_run_in_loop_async<T, E, F, Fut>(lp: &EventLoop, f: F) -> Promise<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, E>> + 'static,
    E: Into<Box<dyn StdError + Send + Sync + 'static>>,
    T: Send + Sync + 'static,
{
    lp.spawn_settling(std::any::type_name::<Fut>(), move || {
        let future = f();
        async move { future.await.map_err(Error::user) }
    })
}

/// Queues a call that settles a loop-bound promise with `f`'s outcome.
#[track_caller]
fn submit_call<T, F>(lp: &EventLoop, what: &'static str, f: F) -> Promise<T>
where
    F: FnOnce() -> Result<T, Error> + Send + 'static,
    T: Send + Sync + 'static,
{
    if lp.is_debug() {
        // Debug mode times each call and reports where it came from: a boxed job.
        let promise = lp.create_promise();
        let completer = Completer::new(promise.clone());
        let job: Job = Box::new(move || {
            if completer.is_done() {
                return;
            }
            let outcome =
                catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(Error::from_panic(p)));
            completer.complete(outcome);
        });
        // A refused job is dropped here, failing the promise with loop-closed.
        let _ = lp.submit(job, what);
        return promise;
    }
    // The call and its promise in one allocation.
    let (promise, call) = Promise::for_call(lp.scheduler(), f);
    // A refused call is dropped here, failing the promise with loop-closed.
    let _ = lp.submit_call(call);
    promise
}

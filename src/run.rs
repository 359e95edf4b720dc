//! The functions that hand work to a loop from any thread: [`run_in_loop`] and its
//! fallible and async forms, which run a callable on a loop's thread and give a
//! [`Promise`] of its outcome at once; and [`maybe_async`] / [`maybe_async_in`], which
//! finish a pending future as a task on a loop.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, ErrorKind};
use crate::event_loop::EventLoop;
use crate::maybe::MaybeAsync;
use crate::panic;
use crate::promise::{Completer, Promise};

/// Runs `f` on the thread of `lp` and returns at once a promise of its value.
///
/// Thread safe: call it from any thread, including the loop's own (the call is then
/// queued behind the ones before it). A panic in `f` becomes the promise's
/// [`ErrorKind::Panicked`](crate::ErrorKind::Panicked) error and the loop goes on;
/// a closed loop gives [`ErrorKind::LoopClosed`](crate::ErrorKind::LoopClosed) at
/// once. Cancelling the promise before `f` starts skips it.
///
/// This is the raw form: whatever `f` returns is the value, a `Result` included. For
/// a callable that returns a `Result`, [`try_run_in_loop`] follows the crate's [one
/// rule for `Result`](crate#one-rule-for-result) (an `Err` fails the promise, one `?`
/// for the caller); for one that returns a future, [`run_in_loop_async`].
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
    T: Send + 'static,
{
    lp.call_settling(std::any::type_name::<F>(), move || Ok(f()))
}

/// Like [`run_in_loop`], for a callable that returns a `Result`: an `Err` becomes the
/// promise's error ([`Error::user`]: kind [`User`](crate::ErrorKind::User), the error
/// reachable with [`Error::downcast_ref`]; an [`Error`] of this crate keeps its own
/// kind). This is the crate's [one rule for `Result`](crate#one-rule-for-result); the
/// plain [`run_in_loop`] is the raw form.
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
    T: Send + 'static,
{
    lp.call_settling(std::any::type_name::<F>(), move || f().map_err(Error::user))
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
    T: Send + 'static,
{
    lp.spawn_settling(std::any::type_name::<Fut>(), move || {
        let future = f();
        async move { Ok(future.await) }
    })
}

/// Like [`run_in_loop_async`], for a future whose output is a `Result`: an `Err`
/// becomes the promise's error, as in [`try_run_in_loop`] (the crate's [one rule for
/// `Result`](crate#one-rule-for-result); [`run_in_loop_async`] is the raw form).
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
    T: Send + 'static,
{
    lp.spawn_settling(std::any::type_name::<Fut>(), move || {
        let future = f();
        async move { future.await.map_err(Error::user) }
    })
}

/// Handles a possibly asynchronous value: a future ready at once gives a ready
/// [`MaybeAsync`] with no task; otherwise it is finished as a task and a promise of
/// it comes back (asyncio's `ensure_future`).
///
/// Where it runs: with a current [`EventLoop`] (see [`EventLoop::current`]), on that
/// loop, as [`maybe_async_in`] does. Without one, it is polled once here, now, and a
/// pending future is finished as a task of the current tokio runtime; with no runtime
/// either, the outcome is an [`ErrorKind::WrongThread`] error.
///
/// A panic in the future becomes the error of the outcome. This is the raw form: a
/// future of a `Result` gives the `Result` as the value;
/// [`.flatten_result()`](MaybeAsync::flatten_result) fails the outcome on an `Err`
/// instead (the crate's [one rule for `Result`](crate#one-rule-for-result)).
///
/// # Examples
///
/// ```
/// use pulsar_async::maybe_async;
///
/// let ready = maybe_async(async { 40 + 2 });
/// assert!(ready.is_ready()); // no task was spawned
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let later = maybe_async(async {
///     tokio::task::yield_now().await;
///     "after a yield"
/// });
/// assert!(!later.is_ready());
/// assert_eq!(later.await.unwrap(), "after a yield");
/// # });
/// ```
pub fn maybe_async<F>(future: F) -> MaybeAsync<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if let Some(lp) = EventLoop::current() {
        return maybe_async_in(&lp, future);
    }
    let future = match poll_once(future) {
        Ok(outcome) => return MaybeAsync::from(outcome),
        Err(future) => future,
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            let promise = Promise::new();
            let completer = Completer::new(promise.setter());
            let task = runtime.spawn(async move { completer.complete(future.await) });
            let abort = task.abort_handle();
            promise.on_cancel(Box::new(move || abort.abort()));
            MaybeAsync::from(promise)
        }
        Err(_) => MaybeAsync::failed(Error::new(
            ErrorKind::WrongThread,
            "maybe_async: the future is pending and this thread has no loop or runtime to finish it",
        )),
    }
}

/// Like [`maybe_async`], on `lp`: every step of `future` runs on the loop's thread,
/// inside its runtime, from the first poll (so it may use tokio's timers and I/O and
/// the loop's thread-local state from the start). Called on that loop while it runs,
/// the future is polled once at once, and a ready one gives a ready value with no
/// task; from anywhere else it is handed to the loop unpolled.
///
/// # Examples
///
/// ```
/// use pulsar_async::{maybe_async_in, EventLoop};
/// let lp = EventLoop::builder().name("here").spawn().unwrap();
/// let m = maybe_async_in(&lp, async {
///     tokio::time::sleep(std::time::Duration::from_millis(1)).await;
///     std::thread::current().name().map(String::from)
/// });
/// assert_eq!(m.into_promise().wait().unwrap().as_deref(), Some("here"));
/// ```
pub fn maybe_async_in<F>(lp: &EventLoop, future: F) -> MaybeAsync<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let what = std::any::type_name::<F>();
    if !lp.runs_here() {
        return MaybeAsync::from(lp.spawn_settling(what, move || async move { Ok(future.await) }));
    }
    match poll_once(future) {
        Ok(outcome) => MaybeAsync::from(outcome),
        Err(future) => MaybeAsync::from(lp.spawn_settling(what, move || future)),
    }
}

/// A future, boxed, that gives its output or the error of its panic.
type Caught<F> = Pin<Box<panic::CatchUnwind<F>>>;

/// Polls `future` once, here: its outcome if it is ready, else the future, boxed once
/// so that it can move on to a task.
fn poll_once<F: Future>(future: F) -> Result<Result<F::Output, Error>, Caught<F>> {
    let mut future = Box::pin(panic::catch_unwind(future));
    let mut cx = Context::from_waker(Waker::noop());
    // Outside tokio's cooperative budget: a resource that is ready must not look
    // pending because the calling task has used up its budget.
    let mut first_poll = tokio::task::unconstrained(&mut future);
    match Pin::new(&mut first_poll).poll(&mut cx) {
        Poll::Ready(outcome) => Ok(outcome),
        Poll::Pending => Err(future),
    }
}

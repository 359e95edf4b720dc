//! [`Promise`]: the asyncio future as a Rust type, settable and awaitable from any
//! thread, and [`Take`], the future that moves its outcome out.
//!
//! The handle and its public API live here; the rest of the concept has a file each:
//! `state.rs` (the shared state and its transitions, with the table of states),
//! `call.rs` (a call and its promise in one allocation, and the loop-closed guard),
//! `wait.rs` (the blocking wait of plain threads).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, ErrorKind, SetError};
use crate::loom::{lock, Arc};
use crate::panic::run_guarded;
use crate::schedule::{Job, Scheduler};

mod call;
mod state;
mod wait;

pub(crate) use call::{CallTask, Completer};
use state::{dispatch_callbacks, new_shared, Shared};

/// A one-shot result slot with the states and rules of asyncio's `Future`:
/// pending, then exactly one of a value, an [`Error`], or cancelled.
///
/// A `Promise` is a cheap handle: clones share one slot, any clone can settle it, and
/// every clone reads the same outcome. It can be settled from any thread, awaited from
/// any thread on any executor (tokio or not), and waited for from a plain thread with
/// [`wait`](Promise::wait). Done-callbacks run in registration order, on the promise's
/// loop when it has one.
///
/// Awaiting a promise gives `Result<T, Error>`. Since every clone reads the outcome,
/// awaiting needs `T: Clone` (the value is moved, not cloned, when the awaited handle
/// is the only one); for a `T` that is not `Clone`, use [`take`](Promise::take) or
/// [`peek`](Promise::peek).
///
/// # Cancel safety
///
/// Awaiting a promise is cancel safe: dropping the future before it completes (a
/// `tokio::select!` branch that lost) changes nothing; the promise is not cancelled,
/// and the outcome, once there, is still there for every clone.
///
/// # Examples
///
/// ```
/// use pulsar_async::{ErrorKind, Promise};
///
/// # futures::executor::block_on(async {
/// let p = Promise::new();
/// let reader = p.clone();
/// std::thread::spawn(move || p.set_result(42).unwrap());
/// assert_eq!(reader.await.unwrap(), 42);
///
/// let q = Promise::<u8>::new();
/// q.set_result(1).unwrap();
/// // Settling twice is an invalid-state error, and the value comes back.
/// let again = q.set_result(2).unwrap_err();
/// assert_eq!(again.kind(), ErrorKind::InvalidState);
/// assert_eq!(again.into_inner().unwrap(), 2);
/// # });
/// ```
#[doc(alias = "Future")]
pub struct Promise<T> {
    shared: Arc<Shared<T>>,
    /// This handle's waker slot, plus one; 0 while it has none.
    slot: usize,
}

impl<T> Default for Promise<T> {
    fn default() -> Self {
        Promise::new()
    }
}

impl<T> Promise<T> {
    /// A pending promise bound to no loop: its done-callbacks run on the thread that
    /// settles it (or at once, when added to a done promise).
    ///
    /// Use [`EventLoop::create_promise`](crate::EventLoop::create_promise) for one
    /// whose callbacks run on a loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Promise;
    /// let p = Promise::<String>::new();
    /// assert!(!p.is_done());
    /// ```
    #[track_caller]
    pub fn new() -> Self {
        Promise::with_scheduler(None)
    }

    #[track_caller]
    pub(crate) fn with_scheduler(scheduler: Option<Scheduler>) -> Self {
        Promise::from_shared(new_shared(Shared::new(None, scheduler, ())))
    }

    /// A new handle on `shared`.
    fn from_shared(shared: Arc<Shared<T>>) -> Self {
        Promise { shared, slot: 0 }
    }

    /// A promise that is already done with `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Promise;
    /// assert_eq!(Promise::resolved(3).try_result().unwrap(), 3);
    /// ```
    #[track_caller]
    pub fn resolved(value: T) -> Self {
        Promise::settled(Ok(value))
    }

    /// A promise that is already done with `error`.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Error, ErrorKind, Promise};
    /// let p = Promise::<u8>::failed(Error::from(ErrorKind::Timeout));
    /// assert_eq!(p.try_result().unwrap_err().kind(), ErrorKind::Timeout);
    /// ```
    #[track_caller]
    pub fn failed(error: Error) -> Self {
        Promise::settled(Err(error))
    }

    #[track_caller]
    pub(crate) fn settled(outcome: Result<T, Error>) -> Self {
        Promise::settled_in(outcome, None)
    }

    /// A promise born done with `outcome`, bound to `scheduler`: nobody can be
    /// waiting on it yet, so it is built done instead of settled.
    #[track_caller]
    pub(crate) fn settled_in(outcome: Result<T, Error>, scheduler: Option<Scheduler>) -> Self {
        Promise::from_shared(new_shared(Shared::new(Some(outcome), scheduler, ())))
    }

    /// `true` once the promise has a value, an error, or was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Promise;
    /// let p = Promise::new();
    /// p.set_result(()).unwrap();
    /// assert!(p.is_done());
    /// ```
    pub fn is_done(&self) -> bool {
        self.shared.outcome.get().is_some()
    }

    /// `true` when the promise was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Promise;
    /// let p = Promise::<()>::new();
    /// assert!(p.cancel());
    /// assert!(p.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.shared.outcome.get(), Some(Err(e)) if e.is_cancelled())
    }

    /// The outcome by reference, once done; `None` while pending.
    ///
    /// Works for any `T`, `Clone` or not.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Promise;
    /// let p = Promise::new();
    /// assert!(p.peek().is_none());
    /// p.set_result(vec![1, 2]).unwrap();
    /// assert_eq!(p.peek().unwrap().as_ref().unwrap(), &vec![1, 2]);
    /// ```
    pub fn peek(&self) -> Option<&Result<T, Error>> {
        self.shared.read()
    }

    /// Settles the promise with `value`.
    ///
    /// # Errors
    ///
    /// [`SetError`] (kind [`ErrorKind::InvalidState`]) holding `value` when the promise
    /// is already done or cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Promise;
    /// let p = Promise::new();
    /// p.set_result("hi").unwrap();
    /// assert!(p.set_result("again").is_err());
    /// ```
    pub fn set_result(&self, value: T) -> Result<(), SetError<T>> {
        self.set(Ok(value))
    }

    /// Settles the promise with `error`.
    ///
    /// # Errors
    ///
    /// [`SetError`] when the promise is already done or cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Error, Promise};
    /// let p = Promise::<()>::new();
    /// p.set_error(Error::user("no route")).unwrap();
    /// assert_eq!(p.try_result().unwrap_err().to_string(), "no route");
    /// ```
    pub fn set_error(&self, error: Error) -> Result<(), SetError<T>> {
        self.set(Err(error))
    }

    /// Settles the promise with an outcome, value or error.
    ///
    /// # Errors
    ///
    /// [`SetError`] when the promise is already done or cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Promise;
    /// let p = Promise::new();
    /// p.set(Ok(5)).unwrap();
    /// assert_eq!(p.try_result().unwrap(), 5);
    /// ```
    pub fn set(&self, outcome: Result<T, Error>) -> Result<(), SetError<T>> {
        match Shared::settle(&self.shared, outcome) {
            Ok(settled) => {
                settled.finish(false);
                Ok(())
            }
            Err(outcome) => Err(SetError::new(outcome)),
        }
    }

    /// Cancels the promise: if it was pending it becomes done with an
    /// [`ErrorKind::Cancelled`] error, and the work behind it (a call or task on a loop)
    /// is stopped if it has not finished. Returns `false`, changing nothing, when the
    /// promise was already done.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Promise;
    /// let p = Promise::<u8>::new();
    /// assert!(p.cancel());
    /// assert!(!p.cancel());
    /// ```
    pub fn cancel(&self) -> bool {
        match Shared::settle(&self.shared, Err(Error::from(ErrorKind::Cancelled))) {
            Ok(settled) => {
                settled.finish(true);
                true
            }
            Err(_) => false,
        }
    }

    /// Settles the promise and releases this handle before waking anyone, so that a
    /// woken reader that holds the last user handle can move the value out.
    pub(crate) fn complete(self, outcome: Result<T, Error>) {
        let settled = Shared::settle(&self.shared, outcome);
        drop(self);
        if let Ok(settled) = settled {
            settled.finish(false);
        }
    }

    /// The loop the promise is bound to, if any.
    pub(crate) fn scheduler(&self) -> Option<Scheduler> {
        self.shared.scheduler.clone()
    }

    /// Registers `hook` to run if the promise is cancelled; runs it at once if it
    /// already was.
    pub(crate) fn on_cancel(&self, hook: Job) {
        let mut w = lock(&self.shared.waiters);
        if self.shared.may_wait(&w) {
            w.extras().on_cancel = Some(hook);
            return;
        }
        drop(w);
        if self.is_cancelled() {
            run_guarded(hook, "cancel hook");
        }
    }

    /// A future that resolves to the outcome, moved out of the promise; for a `T` that
    /// is not `Clone`.
    ///
    /// # Errors
    ///
    /// The promise's own error; or [`ErrorKind::InvalidState`] when, once the promise is
    /// done, other clones of it (or done-callbacks not yet run) still hold it, since
    /// they too must be able to read the outcome.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Promise;
    /// struct NotClone(u8);
    ///
    /// # futures::executor::block_on(async {
    /// let p = Promise::new();
    /// p.set_result(NotClone(7)).unwrap();
    /// assert_eq!(p.take().await.unwrap().0, 7);
    /// # });
    /// ```
    pub fn take(self) -> Take<T> {
        Take { promise: self }
    }

    /// Moves the outcome out if the promise is done and this handle is the only one;
    /// `None` otherwise.
    pub(crate) fn take_if_unique(&mut self) -> Option<Result<T, Error>> {
        Arc::get_mut(&mut self.shared)?.outcome.take()
    }

    /// Registers `waker` in this handle's slot; `false` if the promise is already done.
    fn register(&mut self, waker: &Waker) -> bool {
        let mut w = lock(&self.shared.waiters);
        if !self.shared.may_wait(&w) {
            return false;
        }
        if self.slot == 0 {
            let free = w.wakers.iter().position(Option::is_none);
            let index = free.unwrap_or_else(|| {
                w.wakers.push(None);
                w.wakers.len() - 1
            });
            self.slot = index + 1;
        }
        let entry = &mut w.wakers[self.slot - 1];
        if !entry.as_ref().is_some_and(|old| old.will_wake(waker)) {
            *entry = Some(waker.clone());
        }
        true
    }

    /// Frees this handle's waker slot.
    fn release_slot(&mut self) {
        if self.slot != 0 {
            let mut w = lock(&self.shared.waiters);
            if let Some(entry) = w.wakers.get_mut(self.slot - 1) {
                *entry = None;
            }
            self.slot = 0;
        }
    }
}

impl<T: Clone> Promise<T> {
    /// The outcome now, without waiting.
    ///
    /// # Errors
    ///
    /// The promise's error once it failed or was cancelled;
    /// [`ErrorKind::InvalidState`] while it is pending.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{ErrorKind, Promise};
    /// let p = Promise::new();
    /// assert_eq!(p.try_result().unwrap_err().kind(), ErrorKind::InvalidState);
    /// p.set_result(1).unwrap();
    /// assert_eq!(p.try_result().unwrap(), 1);
    /// ```
    pub fn try_result(&self) -> Result<T, Error> {
        match self.shared.read() {
            Some(outcome) => outcome.clone(),
            None => Err(Error::new(
                ErrorKind::InvalidState,
                "the promise is still pending",
            )),
        }
    }
}

impl<T: Send + Sync + 'static> Promise<T> {
    /// Adds a callback to run once with the outcome, after the ones added before it.
    ///
    /// On a promise bound to a loop, callbacks run on that loop's thread; otherwise on
    /// the thread that settles the promise. Added to a done promise, it is scheduled at
    /// once. A panicking callback is logged and does not stop the others.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Promise;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let p = Promise::new();
    /// for tag in ["first", "second"] {
    ///     let seen = seen.clone();
    ///     p.add_done_callback(move |r: &Result<u8, _>| {
    ///         seen.lock().unwrap().push((tag, *r.as_ref().unwrap()))
    ///     });
    /// }
    /// p.set_result(9).unwrap();
    /// assert_eq!(*seen.lock().unwrap(), [("first", 9), ("second", 9)]);
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(&Result<T, Error>) + Send + 'static) {
        let mut w = lock(&self.shared.waiters);
        if self.shared.may_wait(&w) {
            let extras = w.extras();
            extras.callbacks.push(Box::new(callback));
            extras.dispatch = Some(dispatch_callbacks::<T>);
            return;
        }
        drop(w);
        let job = Shared::callback_job(
            &self.shared,
            vec![Box::new(callback)],
            dispatch_callbacks::<T>,
        );
        job();
    }
}

impl<T> Clone for Promise<T> {
    fn clone(&self) -> Self {
        Promise {
            shared: self.shared.clone(),
            slot: 0,
        }
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        if self.slot != 0 && !self.is_done() {
            self.release_slot();
        }
    }
}

impl<T: Clone> Future for Promise<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if !this.is_done() && this.register(cx.waker()) {
            return Poll::Pending;
        }
        if let Some(outcome) = this.take_if_unique() {
            return Poll::Ready(outcome);
        }
        Poll::Ready(match this.shared.read() {
            Some(outcome) => outcome.clone(),
            None => Err(Error::new(
                ErrorKind::InvalidState,
                "the promise was polled after it completed",
            )),
        })
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.shared.outcome.get() {
            None => "pending",
            Some(Ok(_)) => "done",
            Some(Err(e)) if e.is_cancelled() => "cancelled",
            Some(Err(_)) => "failed",
        };
        f.debug_struct("Promise").field("state", &state).finish()
    }
}

/// The future returned by [`Promise::take`].
///
/// # Cancel safety
///
/// Cancel safe: dropping a `Take` before it completes drops the handle it owns and
/// nothing else; the promise is not cancelled, and other clones still read its
/// outcome.
///
/// # Examples
///
/// ```
/// use pulsar_async::{promise::Take, Promise};
/// # futures::executor::block_on(async {
/// let p = Promise::new();
/// p.set_result(String::from("moved")).unwrap();
/// let take: Take<String> = p.take();
/// assert_eq!(take.await.unwrap(), "moved");
/// # });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Take<T> {
    promise: Promise<T>,
}

impl<T> Future for Take<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let promise = &mut self.get_mut().promise;
        if !promise.is_done() && promise.register(cx.waker()) {
            return Poll::Pending;
        }
        Poll::Ready(promise.take_if_unique().unwrap_or_else(|| {
            Err(Error::new(
                ErrorKind::InvalidState,
                "take() needs the only handle: other clones still hold the promise",
            ))
        }))
    }
}

impl<T> fmt::Debug for Take<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Take").field(&self.promise).finish()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use ::loom::thread;

    #[test]
    fn set_and_cancel_race_leaves_exactly_one_outcome_for_every_clone() {
        ::loom::model(|| {
            let p = Promise::<u32>::new();
            let (a, b) = (p.clone(), p.clone());
            let setter = thread::spawn(move || a.set_result(7).is_ok());
            let canceller = thread::spawn(move || b.cancel());
            let set = setter.join().unwrap();
            let cancelled = canceller.join().unwrap();
            assert!(set ^ cancelled, "exactly one settler wins");
            match p.try_result() {
                Ok(v) => assert!(set && v == 7),
                Err(e) => assert!(cancelled && e.is_cancelled()),
            }
        });
    }

    #[test]
    fn await_on_one_thread_sees_the_value_set_on_another() {
        ::loom::model(|| {
            let p = Promise::<u32>::new();
            let setter = p.clone();
            let t = thread::spawn(move || setter.set_result(3).unwrap());
            let got = ::loom::future::block_on(p.clone());
            t.join().unwrap();
            assert_eq!(got.unwrap(), 3);
            assert_eq!(p.try_result().unwrap(), 3);
        });
    }

    #[test]
    fn blocking_wait_wakes_when_the_promise_is_cancelled() {
        ::loom::model(|| {
            let p = Promise::<u32>::new();
            let c = p.clone();
            let t = thread::spawn(move || c.cancel());
            let got = p.wait();
            assert!(t.join().unwrap());
            assert!(got.unwrap_err().is_cancelled());
        });
    }

    #[test]
    fn callback_added_while_settling_runs_exactly_once() {
        ::loom::model(|| {
            let count = Arc::new(AtomicUsize::new(0));
            let p = Promise::<u32>::new();
            let s = p.clone();
            let t = thread::spawn(move || s.set_result(1).unwrap());
            let c = count.clone();
            p.add_done_callback(move |r| {
                assert_eq!(*r.as_ref().unwrap(), 1);
                c.fetch_add(1, Ordering::SeqCst);
            });
            t.join().unwrap();
            assert_eq!(count.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn set_cancel_await_and_add_callback_racing_all_observe_one_outcome() {
        ::loom::model(|| {
            let p = Promise::<u32>::new();
            let seen_by_callback = Arc::new(Mutex::new(None));
            let (a, b, c) = (p.clone(), p.clone(), p.clone());
            let setter = thread::spawn(move || a.set_result(5).is_ok());
            let canceller = thread::spawn(move || b.cancel());
            let slot = seen_by_callback.clone();
            c.add_done_callback(move |r| *lock(&slot) = Some(r.clone().map_err(|e| e.kind())));
            let awaited = ::loom::future::block_on(p.clone()).map_err(|e| e.kind());
            let (set, cancelled) = (setter.join().unwrap(), canceller.join().unwrap());
            assert!(set ^ cancelled);
            let expected = if set {
                Ok(5)
            } else {
                Err(ErrorKind::Cancelled)
            };
            assert_eq!(awaited, expected);
            assert_eq!(p.try_result().map_err(|e| e.kind()), expected);
            assert_eq!(*lock(&seen_by_callback), Some(expected));
        });
    }

    use crate::loom::{AtomicUsize, Mutex, Ordering};
}

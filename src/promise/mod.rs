//! [`Promise`]: the asyncio future as a Rust type, settable and awaitable from any
//! thread; [`Take`], the future that moves its outcome out; [`Setter`], its
//! write-only half; [`WeakPromise`], a handle that does not keep it alive;
//! [`CallbackKey`], what removes a done-callback; [`SharedValue`], the bound of the
//! reads that clone; [`AbortOnDrop`] (`abort.rs`), a promise that cancels its work
//! when dropped before it is done.
//!
//! The reading handle and its public API live here, the write half in `setter.rs`
//! and the weak handle in `weak.rs`; the rest of the concept has a file each, lowest
//! first: `state.rs` (the state word's bits and the table of
//! transitions), `core.rs` (the state word and the write-once outcome cell: the
//! crate's only `unsafe`), `work.rs` (the per-thread work list that keeps nesting off
//! the stack), `waiters.rs` (wakers, internal consumers, done-callbacks), `wait.rs`
//! (blocking waits, and where they refuse), `call.rs` (a call and its promise in one
//! allocation, and the loop-closed guard).

mod abort;
pub(crate) mod call;
pub(crate) mod core;
mod setter;
pub(crate) mod state;
pub(crate) mod wait;
pub(crate) mod waiters;
mod weak;
pub(crate) mod work;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub use self::abort::AbortOnDrop;
pub(crate) use self::call::{CallTask, Completer, Recycled};
use self::core::{Core, Read, Reader, Shared};
pub use self::setter::Setter;
use self::state::Kind;
pub use self::waiters::CallbackKey;
use self::waiters::{register, settle, Callback};
pub use self::weak::WeakPromise;
use crate::error::{Error, ErrorKind, SetError};
use crate::schedule::{Job, Scheduler};

/// A one-shot result slot with the states and rules of asyncio's `Future`:
/// pending, then exactly one of a value, an [`Error`], or cancelled.
///
/// A `Promise` is a *reading handle*. It can be settled from any thread, awaited from
/// any thread on any executor (tokio or not), and waited for from a plain thread with
/// [`wait`](Promise::wait). Done-callbacks run in the order they were added, whoever
/// added them and whenever, on the promise's loop when it has one.
///
/// # States
///
/// A promise is pending, then settled (a value, an error, or cancelled) for ever:
/// from then on [`is_done`](Promise::is_done) is `true`, [`cancel`](Promise::cancel)
/// is `false`, a second `set*` is refused, and a done-callback added later runs. The
/// one further state is *taken*: the value was moved out by the last reading handle
/// (see below); every view then reads [`ErrorKind::Taken`].
///
/// # Reading: one reader moves, many readers clone
///
/// - `impl<T> Future for Promise<T>` has no bound: `p.await` gives `Result<T, Error>`
///   for any `T`, such as `Result<Vec<u8>, std::io::Error>`.
/// - A second reading handle exists only for a `Clone` value: `Promise<T>: Clone`
///   needs `T: Clone`. While other readers exist, a read clones the value; the last
///   reader of a value that was never shared moves it out, once no done-callback still
///   reads it in place (it waits for them). An error is always cloned (it is cheap).
/// - A write-only handle for any `T` is a [`Setter`] ([`Promise::setter`]); the work
///   that settles a promise (a call, a task, a chain, a gather) holds setters, not
///   readers, so the one reader left moves the value out.
/// - [`take`](Promise::take) and its blocking forms move the value out of the only
///   reading handle, and refuse while other readers could still read it.
/// - The one case where a live handle is left without its value: a poll through
///   `&mut p` (for example `tokio::select! { r = &mut p => .. }`) that completes on the
///   last handle of a promise that was never cloned moves the value out, since the
///   value may not be `Clone` at all. The promise is then *taken*, and every view says
///   so: `is_done()` is `true`, `cancel()` is `false`, `set*` is refused, `wait`,
///   `try_result`, `peek` and further polls give [`ErrorKind::Taken`], and a
///   done-callback added later runs once with that error. Once a promise was cloned,
///   a poll through `&mut` clones the value instead and never takes it.
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
/// // A value that is not `Clone`: one reader, which moves it out.
/// let q = Promise::<Result<Vec<u8>, std::io::Error>>::new();
/// let setter = q.setter();
/// std::thread::spawn(move || setter.set_result(Ok(vec![1])).unwrap());
/// assert_eq!(q.await.unwrap().unwrap(), [1]);
///
/// let r = Promise::<u8>::new();
/// r.set_result(1).unwrap();
/// // Settling twice is an invalid-state error, and the value comes back.
/// let again = r.set_result(2).unwrap_err();
/// assert_eq!(again.kind(), ErrorKind::InvalidState);
/// assert_eq!(again.into_inner().unwrap(), 2);
/// # });
/// ```
// Methods of `Promise` in other rooms: `get_loop` (event_loop/mod.rs: it needs
// `EventLoop`); `for_call` (promise/call.rs: a call and its promise in one allocation).
#[doc(alias = "Future")]
pub struct Promise<T> {
    reader: Reader<T>,
}

/// The bound of the reads that clone the value out of a shared promise
/// ([`try_result`](Promise::try_result), [`wait`](Promise::wait),
/// [`wait_timeout`](Promise::wait_timeout)).
///
/// Implemented for every `Clone` type; for a value that is not `Clone`, the compiler
/// error names the reads that move it out instead.
///
/// # Examples
///
/// ```
/// fn shared<T: pulsar_async::promise::SharedValue>() {}
/// shared::<String>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Clone`, so a `Promise<{Self}>` is read by moving its value out: use `.await`, `take()`, `take_blocking()`, `try_take()` or `take_timeout()`; for a `Result`, call the `try_*` form (`try_run_in_loop`, `try_call`, `try_call_keyed`, `try_run_keyed`, ...), whose promise is of the `Ok` value",
    label = "this read clones the value out of a shared promise",
    note = "read a promise of a value that is not `Clone` with `.await`, `take().await`, `try_take()`, `take_blocking()` (on a plain thread) or `take_timeout()`",
    note = "for a `Promise<Result<T, E>>` (a closure or future that returns a `Result`), use the `try_*` form of the call: its promise is of the `Ok` value and fails with the `Err`"
)]
pub trait SharedValue: Clone {}

// `do_not_recommend`: rustc then reports `SharedValue`'s message for a `Result` (or
// any type whose `Clone` impl has bounds) too, not the `Clone` bound of a field. (On a
// method call rustc shows the message only, not the label and notes: the message
// says it all.)
#[diagnostic::do_not_recommend]
impl<T: Clone> SharedValue for T {}

impl<T> Default for Promise<T> {
    #[track_caller]
    fn default() -> Self {
        Promise::new()
    }
}

impl<T> Promise<T> {
    /// A pending promise bound to no loop: its done-callbacks run on the thread that
    /// settles it (or at once, when added to a done promise), through that thread's
    /// work list, so that callbacks settling promises never nest on the stack.
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
    #[inline]
    pub fn new() -> Self {
        Promise::from_reader(Reader::new(None, None, Location::caller()))
    }

    /// A pending promise bound to `scheduler`.
    #[track_caller]
    pub(crate) fn with_scheduler(scheduler: Option<Scheduler>) -> Self {
        Promise::from_reader(Reader::new(None, scheduler, Location::caller()))
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
        Promise::settled_in(Ok(value), None)
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
        Promise::settled_in(Err(error), None)
    }

    /// A promise born done with `outcome`, bound to no loop.
    #[track_caller]
    pub(crate) fn settled(outcome: Result<T, Error>) -> Self {
        Promise::settled_in(outcome, None)
    }

    /// A promise born done with `outcome`, bound to `scheduler`: nobody can be
    /// waiting on it yet, so it is built done instead of settled.
    #[track_caller]
    #[inline]
    pub(crate) fn settled_in(outcome: Result<T, Error>, scheduler: Option<Scheduler>) -> Self {
        Promise::from_reader(Reader::new(Some(outcome), scheduler, Location::caller()))
    }

    pub(crate) fn from_reader(reader: Reader<T>) -> Self {
        Promise { reader }
    }

    pub(crate) fn core(&self) -> &Shared<T> {
        self.reader.core()
    }

    /// `true` once the promise has a value, an error, or was cancelled, and for ever
    /// after (taken included).
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
        self.core().snapshot().is_done()
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
        self.core().snapshot().is_cancelled()
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
    /// use std::error::Error as _;
    /// let p = Promise::<()>::new();
    /// p.set_error(Error::user("no route")).unwrap();
    /// assert_eq!(p.try_result().unwrap_err().source().unwrap().to_string(), "no route");
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
    #[inline]
    pub fn set(&self, outcome: Result<T, Error>) -> Result<(), SetError<T>> {
        settle(self.core(), outcome).map_err(SetError::new)
    }

    /// Cancels the promise: if it was pending it becomes done with an
    /// [`ErrorKind::Cancelled`] error, and the work behind it (a call or task on a loop)
    /// is stopped if it has not finished. Returns `false`, changing nothing, when the
    /// promise was already done; on a failed promise that also marks its error as
    /// read (no debug report), as asyncio does.
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
        waiters::cancel(self.core(), None)
    }

    /// Cancels the promise like [`cancel`](Promise::cancel), keeping `message` in its
    /// error (asyncio's `cancel(msg)`).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::Promise::<u8>::new();
    /// assert!(p.cancel_with("shutting down"));
    /// assert_eq!(p.error().unwrap().unwrap().message(), Some("shutting down"));
    /// ```
    pub fn cancel_with(&self, message: impl Into<String>) -> bool {
        waiters::cancel(self.core(), Some(message.into()))
    }

    /// The error of a done promise, for any `T` (asyncio's `exception()`): `Ok(None)`
    /// for a value (taken or not), `Ok(Some(error))` for a failure or a cancellation.
    /// Reading it marks it as retrieved.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidState`] while the promise is pending.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{Error, ErrorKind, Promise};
    /// struct NotClone;
    /// let p = Promise::<NotClone>::failed(Error::user("refused"));
    /// assert_eq!(p.error().unwrap().unwrap().kind(), ErrorKind::User);
    /// assert!(Promise::resolved(NotClone).error().unwrap().is_none());
    /// ```
    #[doc(alias = "exception")]
    pub fn error(&self) -> Result<Option<Error>, Error> {
        let s = self.core().wait_complete();
        match s.kind() {
            Kind::Pending => Err(pending()),
            Kind::Value => Ok(None),
            Kind::Error | Kind::Cancelled => Ok(self.core().error(true)),
        }
    }

    /// The loop the promise is bound to, if any.
    pub(crate) fn scheduler(&self) -> Option<&Scheduler> {
        self.core().scheduler.as_ref()
    }

    /// A write-only handle to this promise, for any `T`; it is not a reader.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::Promise::<u8>::new();
    /// p.setter().set_result(1).unwrap();
    /// assert_eq!(p.try_result().unwrap(), 1);
    /// ```
    pub fn setter(&self) -> Setter<T> {
        Setter {
            core: self.core().clone(),
        }
    }

    /// A handle that does not keep the promise alive: the way out of a done-callback
    /// that needs its own promise (a strong handle captured there keeps the promise
    /// alive until it settles; see [`add_done_callback`](Promise::add_done_callback)).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::Promise::<u8>::new();
    /// let weak = p.downgrade();
    /// assert!(weak.setter().is_some());
    /// drop(p);
    /// assert!(weak.setter().is_none());
    /// ```
    pub fn downgrade(&self) -> WeakPromise<T> {
        WeakPromise {
            core: self.core().downgrade(),
        }
    }

    /// A future that resolves to the outcome, moved out of the promise; for a `T` that
    /// is not `Clone`, or to move a value out without a clone.
    ///
    /// # Errors
    ///
    /// The promise's own error; or [`ErrorKind::InvalidState`] when, once the promise is
    /// done, other reading handles (clones) of it still exist, since they too must be
    /// able to read the outcome.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Promise;
    /// struct NotClone(u8);
    ///
    /// # futures::executor::block_on(async {
    /// let p = Promise::new();
    /// p.set_result(NotClone(7)).ok().unwrap();
    /// assert_eq!(p.take().await.unwrap().0, 7);
    /// # });
    /// ```
    pub fn take(self) -> Take<T> {
        Take { promise: self }
    }

    /// This promise as a future that **cancels it when dropped before it is done**:
    /// a queued call never runs, a task is aborted at its next await (tokio-util's
    /// `AbortOnDropHandle`). Awaiting it gives the promise's outcome; one that
    /// completed, or a promise already settled, is left as it is. See
    /// [`AbortOnDrop`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, EventLoop};
    /// use std::sync::{atomic::{AtomicBool, Ordering}, Arc};
    ///
    /// let lp = EventLoop::builder().build_driven().unwrap();
    /// let ran = Arc::new(AtomicBool::new(false));
    /// let flag = ran.clone();
    /// let call = run_in_loop(&lp, move || flag.store(true, Ordering::SeqCst)).abort_on_drop();
    /// drop(call); // before the loop ran it: the call never runs
    /// let after = run_in_loop(&lp, || "the next call ran");
    /// assert_eq!(lp.run_until_complete(after).unwrap().unwrap(), "the next call ran");
    /// assert!(!ran.load(Ordering::SeqCst));
    /// ```
    pub fn abort_on_drop(self) -> AbortOnDrop<T> {
        AbortOnDrop::new(self)
    }

    /// The outcome now, moved out as by [`take`](Promise::take), or the handle back while
    /// the promise is pending (or its last reader must still wait for done-callbacks).
    ///
    /// # Errors
    ///
    /// `Err(self)` when the outcome is not there yet; `Ok(Err(..))` as
    /// [`take`](Promise::take).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::Promise::<String>::new();
    /// let p = p.try_take().unwrap_err(); // pending: the handle comes back
    /// p.set_result("moved".into()).unwrap();
    /// assert_eq!(p.try_take().ok().unwrap().unwrap(), "moved");
    /// ```
    pub fn try_take(mut self) -> Result<Result<T, Error>, Self> {
        match self.read_exclusive() {
            Read::Ready(outcome) => Ok(outcome),
            Read::Pending | Read::Held => Err(self),
        }
    }

    /// Blocks the current thread until the promise is done, and moves its outcome out
    /// as [`take`](Promise::take) does: the plain-thread form of `take`, for any `T`.
    ///
    /// # Errors
    ///
    /// As [`take`](Promise::take); and [`ErrorKind::WouldDeadlock`] at once where
    /// waiting is certain to hang (see [`wait`](Promise::wait)).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Promise;
    /// struct NotClone(u8);
    /// let p = Promise::new();
    /// let setter = p.setter();
    /// std::thread::spawn(move || setter.set_result(NotClone(3)).ok());
    /// assert_eq!(p.take_blocking().unwrap().0, 3);
    /// ```
    pub fn take_blocking(mut self) -> Result<T, Error> {
        self.block_exclusive(None)
    }

    /// Like [`take_blocking`](Promise::take_blocking), through `&mut` and giving up
    /// after `timeout` (the promise stays pending, and this handle keeps it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when `timeout` passes first; otherwise as
    /// [`take_blocking`](Promise::take_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{ErrorKind, Promise};
    /// use std::time::Duration;
    /// let mut p = Promise::<Vec<u8>>::new();
    /// let err = p.take_timeout(Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Timeout);
    /// p.set_result(vec![1]).unwrap();
    /// assert_eq!(p.take_timeout(Duration::ZERO).unwrap(), [1]);
    /// ```
    pub fn take_timeout(&mut self, timeout: Duration) -> Result<T, Error> {
        self.block_exclusive(Instant::now().checked_add(timeout))
    }

    /// Blocks until the exclusive read is ready, or `deadline` passes.
    fn block_exclusive(&mut self, deadline: Option<Instant>) -> Result<T, Error> {
        loop {
            match self.read_exclusive() {
                Read::Ready(outcome) => return outcome,
                Read::Pending | Read::Held => {
                    let (core, slot) = self.reader.parts();
                    wait::block_until(core, slot, true, deadline)?;
                }
            }
        }
    }

    /// The read of [`take`](Promise::take) and its forms: a move of the outcome out of
    /// the only reading handle; refused (an `InvalidState` error) once the promise is
    /// done while other readers exist.
    fn read_exclusive(&mut self) -> Read<T> {
        let s = self.core().wait_complete();
        if s.is_complete() && s.readers() > 1 {
            return Read::Ready(Err(Error::new(
                ErrorKind::InvalidState,
                "take() needs the only reading handle: other clones still hold the promise",
            )));
        }
        self.reader.read(true)
    }

    /// The outcome now, consuming this handle: moved out when it is the last reader,
    /// cloned otherwise; the handle back while the outcome is not there. How chains and
    /// gathers take a done input.
    #[inline]
    pub(crate) fn try_consume(mut self) -> Result<Result<T, Error>, Self> {
        match self.reader.read(true) {
            Read::Ready(outcome) => Ok(outcome),
            Read::Pending | Read::Held => Err(self),
        }
    }

    /// The value and this promise's allocation, when this is the only handle of a done
    /// promise nobody else could reach (see `Reader::recycle`): how a chain on a done
    /// source makes its next in the same allocation. The handle back otherwise.
    #[inline]
    pub(crate) fn try_recycle(self) -> Result<(T, Recycled), Self> {
        self.reader.recycle().map_err(Promise::from_reader)
    }

    /// A promise born done with `outcome`, in `recycled`'s allocation when it fits,
    /// bound to the loop the recycled promise was bound to.
    #[track_caller]
    #[inline]
    pub(crate) fn settled_recycling(outcome: Result<T, Error>, recycled: Recycled) -> Self {
        Promise::from_reader(recycled.into_reader(outcome, Location::caller()))
    }

    /// Hands this reading handle to `consume`, which gets the outcome by value when
    /// the promise is done (at once if it is; else on its loop, or on the settling
    /// thread's work list): moved when it is the last reader, cloned otherwise. How
    /// chains and gathers wait.
    pub(crate) fn consume(self, consume: impl FnOnce(Result<T, Error>) + Send + 'static)
    where
        T: Send + 'static,
    {
        waiters::consume(self.reader, Box::new(consume));
    }

    /// Removes a done-callback that has not run yet (asyncio's
    /// `remove_done_callback`); `false` when it already ran, is running, or was removed.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = pulsar_async::Promise::<u8>::new();
    /// let key = p.add_done_callback(|_| unreachable!("removed"));
    /// assert!(p.remove_done_callback(key));
    /// assert!(!p.remove_done_callback(key));
    /// p.set_result(1).unwrap();
    /// ```
    pub fn remove_done_callback(&self, key: CallbackKey) -> bool {
        waiters::remove_callback(self.core(), key)
    }

    /// Registers `hook` to run if the promise is cancelled; runs it at once if it
    /// already was.
    pub(crate) fn on_cancel(&self, hook: Job) {
        waiters::on_cancel(self.core(), hook);
    }
}

impl<T: Sync> Promise<T> {
    /// The outcome by reference, once done; `None` while pending. Once the value was
    /// moved out (the taken state), it is `Err` of kind [`ErrorKind::Taken`].
    ///
    /// Works for any `T` that is `Sync` (other clones may read the same value on other
    /// threads at the same time), `Clone` or not.
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
        self.reader.peek()
    }
}

// The bound sits on each method, not on the impl block: rustc then reports a missing
// bound as E0277 with `SharedValue`'s own message (naming the reads that move the
// value out), where a bound on the impl block gives E0599, which ignores it.
impl<T> Promise<T> {
    /// The outcome now, without waiting: a clone of the value.
    ///
    /// # Errors
    ///
    /// The promise's error once it failed or was cancelled; [`ErrorKind::InvalidState`]
    /// while it is pending; [`ErrorKind::Taken`] once its value was moved out; a
    /// `Panicked` error if the value's `Clone` panicked (the promise is unchanged).
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
    pub fn try_result(&self) -> Result<T, Error>
    where
        T: SharedValue,
    {
        self.read_shared()
    }

    /// A shared read of a complete promise: clones the value, never moves it.
    fn read_shared(&self) -> Result<T, Error>
    where
        T: SharedValue,
    {
        match self.reader.read_shared() {
            Read::Ready(outcome) => outcome,
            Read::Pending | Read::Held => Err(pending()),
        }
    }

    /// Blocks the current thread until the promise is done, and returns a clone of its
    /// outcome. For plain threads; in async code, `.await` the promise instead.
    ///
    /// # Errors
    ///
    /// The promise's error; [`ErrorKind::WouldDeadlock`] at once, while the promise is
    /// pending, on the thread of the loop that must complete it, or inside a tokio
    /// runtime where blocking is not allowed (a task, a `#[tokio::test]` body); inside
    /// `tokio::task::block_in_place` or `spawn_blocking` it waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, EventLoop};
    /// let lp = EventLoop::new().unwrap();
    /// assert_eq!(run_in_loop(&lp, || 6 * 7).wait().unwrap(), 42);
    /// ```
    pub fn wait(&self) -> Result<T, Error>
    where
        T: SharedValue,
    {
        wait::block_until_shared(self.core(), None)?;
        self.read_shared()
    }

    /// Like [`wait`](Promise::wait), giving up after `timeout`; the promise itself stays
    /// pending.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when `timeout` passes first; otherwise as
    /// [`wait`](Promise::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{ErrorKind, Promise};
    /// use std::time::Duration;
    /// let p = Promise::<u8>::new();
    /// let err = p.wait_timeout(Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Timeout);
    /// assert!(!p.is_done());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<T, Error>
    where
        T: SharedValue,
    {
        let deadline = Instant::now().checked_add(timeout);
        wait::block_until_shared(self.core(), deadline)?;
        self.read_shared()
    }
}

impl<T: Send + Sync + 'static> Promise<T> {
    /// Adds a callback to run once with the outcome, after the ones added before it
    /// (whoever added them, whenever); returns its key for
    /// [`remove_done_callback`](Promise::remove_done_callback).
    ///
    /// On a promise bound to a loop, callbacks run on that loop's thread (on the
    /// thread at hand if the loop is closed); otherwise on the thread that settles the
    /// promise, or, added to a done promise, at once. A panicking callback is logged
    /// and does not stop the others. The value's last reader waits until the
    /// callbacks ran before it moves the value out.
    ///
    /// A callback that captures a strong handle (a `Promise` or a [`Setter`]) of its
    /// own promise keeps that promise alive until it settles: capture a
    /// [`downgrade`](Promise::downgrade)d handle instead, or make sure the promise is
    /// settled or cancelled.
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
    pub fn add_done_callback(
        &self,
        callback: impl FnOnce(&Result<T, Error>) + Send + 'static,
    ) -> CallbackKey {
        let callback: Callback<T> = Box::new(callback);
        waiters::add_callback(self.core(), callback)
    }
}

impl<T: Clone> Clone for Promise<T> {
    /// A second reading handle; the first clone records `T::clone` in the promise.
    fn clone(&self) -> Self {
        Promise::from_reader(self.reader.clone_reader())
    }
}

/// Polls a read by a handle: ready, or registered to be woken.
#[inline]
fn poll_read<T>(
    reader: &mut Reader<T>,
    cx: &mut Context<'_>,
    consuming: bool,
) -> Poll<Result<T, Error>> {
    loop {
        match reader.read(consuming) {
            Read::Ready(outcome) => return Poll::Ready(outcome),
            Read::Pending | Read::Held => {
                let (core, slot) = reader.parts();
                if register(core, slot, cx.waker(), consuming) {
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<T> Future for Promise<T> {
    type Output = Result<T, Error>;

    /// Clones the value while it is shared; moves it out on the last reader of a value
    /// that was never shared (see the type docs for `&mut p`).
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        poll_read(&mut self.get_mut().reader, cx, false)
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("state", &describe(self.core()))
            .finish()
    }
}

fn describe<T>(core: &Core<T>) -> &'static str {
    let s = core.snapshot();
    match s.kind() {
        Kind::Pending => "pending",
        Kind::Value if s.is_taken() => "taken",
        Kind::Value => "done",
        Kind::Error => "failed",
        Kind::Cancelled => "cancelled",
    }
}

fn pending() -> Error {
    Error::new(ErrorKind::InvalidState, "the promise is still pending")
}

/// The future returned by [`Promise::take`]: the outcome, moved out of the only
/// reading handle.
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
        loop {
            match promise.read_exclusive() {
                Read::Ready(outcome) => return Poll::Ready(outcome),
                Read::Pending | Read::Held => {
                    let (core, slot) = promise.reader.parts();
                    if register(core, slot, cx.waker(), true) {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

impl<T> fmt::Debug for Take<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Take").field(&self.promise).finish()
    }
}

//! [`Promise`]: the asyncio future as a Rust type, settable and awaitable from any thread.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::loom::{self, lock, Arc, AtomicUsize, Mutex, Ordering};

/// A unit of work handed to a loop: runs once, on the loop's thread.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// What a promise bound to a loop needs from that loop.
pub(crate) trait Schedule: Send + Sync + 'static {
    /// Queues `job` on the loop; gives it back if the loop is closed.
    fn schedule(&self, job: Job) -> Result<(), Job>;
    /// `true` when the current thread is the one that runs the loop.
    fn is_loop_thread(&self) -> bool;
    /// The loop's debug flag.
    fn is_debug(&self) -> bool;
}

pub(crate) type Scheduler = std::sync::Arc<dyn Schedule>;

type Callback<T> = Box<dyn FnOnce(&Result<T, Error>) + Send + 'static>;
type Dispatch<T> = fn(Arc<Shared<T>>, Vec<Callback<T>>) -> Job;

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

/// A promise's state. `call` is the call that will settle it, kept in the same
/// allocation for [`run_in_loop`](crate::run_in_loop) (one allocation per call, freed
/// by the thread that drops the last handle); `()` for other promises. Handles see it
/// as the `dyn CallSlot` default.
pub(crate) struct Shared<T, C: ?Sized = dyn CallSlot> {
    outcome: OnceLock<Result<T, Error>>,
    /// [`DONE`] and [`WAITING`]: lets a promise nobody waits on be settled without
    /// taking the waiters' lock.
    state: AtomicUsize,
    waiters: Mutex<Waiters<T>>,
    scheduler: Option<Scheduler>,
    /// Where the promise was made, for debug reports.
    created_at: &'static Location<'static>,
    /// Set when anything reads the outcome; a failure nobody read is reported in
    /// debug mode when the promise goes away.
    retrieved: std::sync::atomic::AtomicBool,
    // Under loom the call lives in a separate allocation (see `SeparateCall`).
    #[cfg_attr(loom, allow(dead_code))]
    call: C,
}

impl<T, C> Shared<T, C> {
    /// The state of a promise made here: pending, or born done with `outcome`.
    #[track_caller]
    fn new(outcome: Option<Result<T, Error>>, scheduler: Option<Scheduler>, call: C) -> Self {
        let done = outcome.is_some();
        Shared {
            outcome: outcome.map_or_else(OnceLock::new, OnceLock::from),
            state: AtomicUsize::new(if done { DONE } else { 0 }),
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

impl<F: Send> CallSlot for CallCell<F> {}

/// A call waiting to run on a loop; taken out once, when it runs or is abandoned.
pub(crate) struct CallCell<F>(Mutex<Option<F>>);

/// Builds the shared state of a new promise, erasing its call's type.
fn new_shared<T, C: CallSlot + 'static>(shared: Shared<T, C>) -> Arc<Shared<T>> {
    erase(std::sync::Arc::new(shared))
}

/// The handle view of a promise's state.
#[cfg(not(loom))]
fn erase<T, C: CallSlot + 'static>(shared: std::sync::Arc<Shared<T, C>>) -> Arc<Shared<T>> {
    shared
}

#[cfg(loom)]
fn erase<T, C: CallSlot + 'static>(shared: std::sync::Arc<Shared<T, C>>) -> Arc<Shared<T>> {
    let shared: std::sync::Arc<Shared<T>> = shared;
    Arc::from_std(shared)
}

impl<T> Waiters<T> {
    fn pending() -> Self {
        Waiters {
            done: false,
            wakers: Vec::new(),
            extras: None,
        }
    }
}

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

#[cfg(not(loom))]
impl<T, F> RunCall for Shared<T, CallCell<F>>
where
    T: Send + Sync + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    fn run(self: std::sync::Arc<Self>) {
        let call = lock(&self.call.0).take();
        let promise = Promise {
            shared: erase(self),
            slot: 0,
        };
        finish_call(call, promise);
    }

    fn abandon(self: std::sync::Arc<Self>) {
        let call = lock(&self.call.0).take();
        drop(call);
        let promise = Promise {
            shared: erase(self),
            slot: 0,
        };
        promise.complete(Err(loop_closed()));
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
        drop(call);
        self.promise.clone().complete(Err(loop_closed()));
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
    if promise.is_done() {
        return;
    }
    let outcome =
        catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|p| Err(Error::from_panic(p)));
    promise.complete(outcome);
}

fn loop_closed() -> Error {
    Error::new(
        ErrorKind::LoopClosed,
        "the loop closed before the work finished",
    )
}

/// Set once the outcome is stored; the settler then looks at the waiters only if
/// [`WAITING`] was set before.
const DONE: usize = 1;
/// Set (under the waiters' lock) before anything is added to the waiters; an adder
/// that finds [`DONE`] already set adds nothing and treats the promise as done.
const WAITING: usize = 2;

struct Waiters<T> {
    done: bool,
    wakers: Vec<Option<Waker>>,
    /// Boxed, since most promises have neither callbacks nor a cancel hook: it keeps
    /// a promise's allocation small (a fast-bin size of the common allocators).
    extras: Option<Box<Extras<T>>>,
}

/// The done-callbacks and the cancel hook of a promise.
struct Extras<T> {
    callbacks: Vec<Callback<T>>,
    dispatch: Option<Dispatch<T>>,
    on_cancel: Option<Job>,
}

impl<T> Waiters<T> {
    fn extras(&mut self) -> &mut Extras<T> {
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
struct Settled<T> {
    wakers: Vec<Option<Waker>>,
    callbacks: Option<Job>,
    on_cancel: Option<Job>,
    _marker: std::marker::PhantomData<T>,
}

impl<T> Settled<T> {
    fn finish(self, cancelled: bool) {
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

/// Runs `f`, turning a panic into an error log line instead of unwinding further.
pub(crate) fn run_guarded(f: impl FnOnce(), what: &str) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        let err = Error::from_panic(payload);
        tracing::error!(target: "pulsar_async", error = %err, "{what} panicked");
    }
}

/// The error returned when a promise could not be settled; it gives the outcome back.
///
/// # Examples
///
/// ```
/// use pulsar_async::{ErrorKind, Promise};
///
/// let p = Promise::new();
/// p.cancel();
/// let err = p.set_result("late").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidState);
/// assert_eq!(err.into_inner().unwrap(), "late");
/// ```
pub struct SetError<T> {
    outcome: Result<T, Error>,
}

impl<T> SetError<T> {
    /// Always [`ErrorKind::InvalidState`]: the promise was already done.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{ErrorKind, Promise};
    /// let p = Promise::resolved(1);
    /// assert_eq!(p.set_result(2).unwrap_err().kind(), ErrorKind::InvalidState);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidState
    }

    /// The outcome that could not be stored.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::Promise;
    /// let p = Promise::resolved("first");
    /// let refused = p.set_result("second").unwrap_err();
    /// assert_eq!(refused.into_inner().unwrap(), "second");
    /// ```
    pub fn into_inner(self) -> Result<T, Error> {
        self.outcome
    }
}

impl<T> fmt::Debug for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid state: the promise is already done")
    }
}

impl<T> std::error::Error for SetError<T> {}

impl<T> From<SetError<T>> for Error {
    fn from(_: SetError<T>) -> Error {
        Error::new(ErrorKind::InvalidState, "the promise is already done")
    }
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
        Promise {
            shared: new_shared(Shared::new(None, scheduler, ())),
            slot: 0,
        }
    }

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
            let promise = Promise {
                shared: erase(shared),
                slot: 0,
            };
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
        Promise {
            shared: new_shared(Shared::new(Some(outcome), scheduler, ())),
            slot: 0,
        }
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
            Err(outcome) => Err(SetError { outcome }),
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

    fn release_slot(&mut self) {
        if self.slot != 0 {
            let mut w = lock(&self.shared.waiters);
            if let Some(entry) = w.wakers.get_mut(self.slot - 1) {
                *entry = None;
            }
            self.slot = 0;
        }
    }

    /// Blocks the current thread until the promise is done or `deadline` passes.
    fn block_until_done(&mut self, deadline: Option<Instant>) -> Result<(), Error> {
        if self.is_done() {
            return Ok(());
        }
        if self
            .shared
            .scheduler
            .as_ref()
            .is_some_and(|s| s.is_loop_thread())
        {
            return Err(Error::new(
                ErrorKind::WouldDeadlock,
                "blocking wait on the thread of the loop that must complete the promise",
            ));
        }
        #[cfg(not(loom))]
        {
            // A short spin catches a loop that is answering right now without the
            // cost of parking this thread and waking it again. It yields the CPU
            // between rounds, so that on a busy machine it does not keep the loop's
            // thread from running.
            let spin_until = Instant::now() + SPIN_BEFORE_PARK;
            loop {
                for _ in 0..SPIN_CHECKS {
                    if self.is_done() {
                        return Ok(());
                    }
                    std::hint::spin_loop();
                }
                if Instant::now() >= spin_until {
                    break;
                }
                std::thread::yield_now();
            }
        }
        let waker = Waker::from(std::sync::Arc::new(ThreadWaker(loom::current_thread())));
        let result = loop {
            if !self.register(&waker) {
                break Ok(());
            }
            match deadline {
                None => loom::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break Err(Error::new(ErrorKind::Timeout, "wait_timeout elapsed"));
                    }
                    park_timeout(deadline - now);
                }
            }
        };
        self.release_slot();
        result
    }
}

#[cfg(not(loom))]
fn park_timeout(d: Duration) {
    std::thread::park_timeout(d);
}

#[cfg(loom)]
fn park_timeout(_: Duration) {
    loom::park();
}

/// How long a blocking wait spins before it parks the thread.
#[cfg(not(loom))]
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(20);

/// How many times a spinning wait looks at the promise between two yields.
#[cfg(not(loom))]
const SPIN_CHECKS: u32 = 32;

struct ThreadWaker(loom::Thread);

impl Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
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

    /// Blocks the current thread until the promise is done, and returns its outcome.
    /// For plain threads; in async code, `.await` the promise instead.
    ///
    /// # Errors
    ///
    /// The promise's error; [`ErrorKind::WouldDeadlock`] at once when called, while the
    /// promise is pending, on the thread of the loop that must complete it.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, EventLoop};
    /// let lp = EventLoop::new().unwrap();
    /// assert_eq!(run_in_loop(&lp, || 6 * 7).wait().unwrap(), 42);
    /// ```
    pub fn wait(&self) -> Result<T, Error> {
        if let Some(outcome) = self.peek() {
            return outcome.clone();
        }
        self.clone().block_until_done(None)?;
        self.try_result()
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
    pub fn wait_timeout(&self, timeout: Duration) -> Result<T, Error> {
        let deadline = Instant::now().checked_add(timeout);
        self.clone().block_until_done(deadline)?;
        self.try_result()
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

fn dispatch_callbacks<T: Send + Sync + 'static>(
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
    /// With the waiters locked, before adding to them: `true` when the promise is
    /// pending, so that whoever settles it will look at what is added; `false` when
    /// it is done (add nothing, act as on a done promise).
    fn may_wait(&self, w: &Waiters<T>) -> bool {
        !w.done && self.state.fetch_or(WAITING, Ordering::AcqRel) & DONE == 0
    }

    /// Stores `outcome` if the promise is pending; gives it back otherwise.
    fn settle(this: &Arc<Self>, outcome: Result<T, Error>) -> Result<Settled<T>, Result<T, Error>> {
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
    fn callback_job(this: &Arc<Self>, callbacks: Vec<Callback<T>>, dispatch: Dispatch<T>) -> Job {
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
}

impl<T> Shared<T> {
    /// The outcome, marked as read.
    fn read(&self) -> Option<&Result<T, Error>> {
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
/// # Examples
///
/// ```
/// use pulsar_async::Promise;
/// # futures::executor::block_on(async {
/// let p = Promise::new();
/// p.set_result(String::from("moved")).unwrap();
/// let take: pulsar_async::Take<String> = p.take();
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
        if let Some(promise) = self.promise.take() {
            promise.complete(Err(Error::new(
                ErrorKind::LoopClosed,
                "the loop closed before the work finished",
            )));
        }
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

    use crate::loom::{AtomicUsize, Ordering};
}

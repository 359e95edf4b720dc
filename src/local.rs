//! Loop-local state: [`LoopLocal`], a value that lives on one loop's thread (so it may
//! be `!Send`) and is reached from any thread through a `Clone + Send + Sync` handle;
//! and [`LocalRef`], the `!Send` handle to it that a [`call_async`](LoopLocal::call_async)
//! future borrows between awaits.
//!
//! The state is the whole "actor": where a tokio program writes an `mpsc` channel, a
//! message enum, a `oneshot` per reply and a task owning the state, a `LoopLocal` is
//! the state and a closure per call.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, ErrorKind};
use crate::event_loop::{EventLoop, Slot};
use crate::panic;
use crate::promise::Promise;

/// State of type `T` that lives on one loop's thread: built there by its init, used
/// there by every call, dropped there. `T` may be `!Send` (`Rc`, `RefCell`, a
/// connection bound to the thread); the handle is `Clone + Send + Sync`, the same
/// state through every clone.
///
/// - [`call`](LoopLocal::call) runs a closure on the state, from any thread or task,
///   and gives a [`Promise`] of its result at once;
/// - [`call_async`](LoopLocal::call_async) runs a future on the loop that may await
///   and use the state between awaits;
/// - [`with`](LoopLocal::with) reaches the state at once from code already running
///   on the loop's thread (a call, a task, a `#[task]` body), with no round trip.
///
/// # Rules
///
/// - **Built and dropped on the loop's thread.** `init` runs there, queued like a
///   call when the handle is made (at once when the handle is made on that thread).
///   The state is dropped there when the last handle goes (after every call queued
///   before that), or when the loop is torn down, whichever comes first.
/// - **Order.** Calls issued from one thread run in the order issued, `call` and
///   `call_async` alike (a `call_async` future runs up to its first await in its
///   turn, like a `call`).
/// - **Panics.** A panic in a call fails that call's promise with
///   [`ErrorKind::Panicked`] and leaves the state as the call left it when it
///   panicked: what it changed before the panic stays changed, nothing is rolled back,
///   and the next call works on it. A panic in `init` fails every call with that
///   error.
/// - **Closed loop.** Once the loop takes no more work, calls fail with
///   [`ErrorKind::LoopClosed`] at once.
/// - **The handle keeps the loop open**, as an [`EventLoop`] handle does: the loop
///   closes when its last handle of either kind goes (or when it is closed).
///
/// # Examples
///
/// ```
/// use pulsar_async::{EventLoop, LoopLocal};
/// use std::{cell::RefCell, collections::HashMap, rc::Rc};
///
/// let lp = EventLoop::new().unwrap();
/// // A `!Send` cache: it never leaves the loop's thread.
/// let cache = LoopLocal::new(&lp, || Rc::new(RefCell::new(HashMap::<u32, String>::new())));
/// let workers: Vec<_> = (0..4)
///     .map(|i| {
///         let cache = cache.clone();
///         std::thread::spawn(move || {
///             cache.call(move |c| c.borrow_mut().insert(i, format!("v{i}"))).wait()
///         })
///     })
///     .collect();
/// for w in workers {
///     w.join().unwrap().unwrap();
/// }
/// assert_eq!(cache.call(|c| c.borrow().len()).wait().unwrap(), 4);
/// ```
pub struct LoopLocal<T: 'static> {
    inner: Arc<Inner>,
    /// `T` lives on the loop, never in the handle: the handle is `Send + Sync`
    /// whatever `T` is.
    _state: PhantomData<fn() -> T>,
}

/// What the handles share: the loop, and the id of the state on it. The last handle
/// to go releases the state.
struct Inner {
    lp: EventLoop,
    id: u64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let (lp, id) = (self.lp.uncounted(), self.id);
        // On the injector, so that every call queued before runs before the release.
        self.lp.submit_remote(Box::new(move || {
            let _ = lp.with_locals(|slots| slots.remove(id));
        }));
    }
}

/// A unique id per state, in the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl<T: 'static> LoopLocal<T> {
    /// State built by `init` on the thread of `lp`: queued like a call, or run at once
    /// when this is the loop's thread. Same as [`EventLoop::local`].
    ///
    /// On a loop that is closed, the handle is made and every call fails with
    /// [`ErrorKind::LoopClosed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{EventLoop, LoopLocal};
    /// let lp = EventLoop::new().unwrap();
    /// let counter = LoopLocal::new(&lp, || 0u64);
    /// counter.call(|n| *n += 5);
    /// assert_eq!(counter.call(|n| *n).wait().unwrap(), 5);
    /// ```
    #[track_caller]
    pub fn new<F>(lp: &EventLoop, init: F) -> Self
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let build = move || match panic::catch(init) {
            Ok(value) => Slot::Ready(Rc::new(RefCell::new(value))),
            Err(error) => Slot::Failed(Error::new(
                ErrorKind::Panicked,
                format!(
                    "{} (in the init of this loop-local state: every call on it fails)",
                    error
                        .message()
                        .unwrap_or("a panic with a non-string payload")
                ),
            )),
        };
        // Built now on the loop's thread; queued like a call from anywhere else.
        let mut build = Some(build);
        let _ = lp.with_locals(|slots| {
            if let Some(build) = build.take() {
                slots.insert(id, build());
            }
        });
        if let Some(build) = build {
            let here = lp.uncounted();
            let put = move || {
                let slot = build();
                let _ = here.with_locals(move |slots| slots.insert(id, slot));
            };
            // The loop's own work: never refused for room. A refused job (the loop is
            // closed) is dropped: calls fail with loop-closed.
            let _ = lp.submit_own(Box::new(put), std::any::type_name::<F>());
        }
        LoopLocal {
            inner: Arc::new(Inner { lp: lp.clone(), id }),
            _state: PhantomData,
        }
    }

    /// The loop the state lives on.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let local = lp.local(|| ());
    /// assert_eq!(local.event_loop(), &lp);
    /// ```
    pub fn event_loop(&self) -> &EventLoop {
        &self.inner.lp
    }

    /// Runs `f` on the state, on the loop's thread; callable from any thread or task.
    /// Returns at once a promise of what `f` returns. See [the rules](LoopLocal#rules)
    /// for order, panics and a closed loop.
    ///
    /// # Errors
    ///
    /// The promise fails with [`ErrorKind::Panicked`] when `f` (or the state's init)
    /// panicked, [`ErrorKind::LoopClosed`] when the loop takes no more work, and
    /// [`ErrorKind::InvalidState`] when a [`call_async`](LoopLocal::call_async) future
    /// holds a borrow of the state across an await while `f` would run.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let names = lp.local(Vec::<String>::new);
    /// names.call(|v| v.push("ada".into()));
    /// let len = names.call(|v| v.len());
    /// assert_eq!(len.wait().unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn call<R, F>(&self, f: F) -> Promise<R>
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.submit(std::any::type_name::<F>(), move |state| Ok(f(state)))
    }

    /// As [`call`](LoopLocal::call), for a call that returns a `Result`: an `Err` fails
    /// the promise with that error (the crate's [one rule for
    /// `Result`](crate#one-rule-for-result), as [`try_run_in_loop`](crate::try_run_in_loop)):
    /// kind [`ErrorKind::User`], the error reachable with [`Error::downcast_ref`]; the
    /// promise is of the `Ok` value.
    ///
    /// # Errors
    ///
    /// As [`call`](LoopLocal::call), and the promise fails with `f`'s error.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let ports = lp.local(Vec::<u16>::new);
    /// let ok = ports.try_call(|v| "8080".parse::<u16>().map(|p| { v.push(p); p }));
    /// assert_eq!(ok.wait().unwrap(), 8080); // one unwrap, no Result inside
    /// let bad = ports.try_call(|v| "port".parse::<u16>().map(|p| v.push(p)));
    /// let err = bad.wait().unwrap_err();
    /// assert!(err.downcast_ref::<std::num::ParseIntError>().is_some());
    /// ```
    #[track_caller]
    pub fn try_call<R, E, F>(&self, f: F) -> Promise<R>
    where
        F: FnOnce(&mut T) -> Result<R, E> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        R: Send + 'static,
    {
        self.submit(std::any::type_name::<F>(), move |state| {
            f(state).map_err(Error::user)
        })
    }

    /// Queues `f` on the state, on the loop's thread: the one route of `call` and
    /// `try_call`.
    #[track_caller]
    fn submit<R, F>(&self, what: &'static str, f: F) -> Promise<R>
    where
        F: FnOnce(&mut T) -> Result<R, Error> + Send + 'static,
        R: Send + 'static,
    {
        let (lp, id) = (&self.inner.lp, self.inner.id);
        let loop_id = lp.id();
        lp.call_settling(what, move || {
            let cell = state_here::<T>(loop_id, id)?;
            let mut state = cell.try_borrow_mut().map_err(|_| borrowed())?;
            f(&mut state)
        })
    }

    /// Runs the future that `f` makes from a [`LocalRef`] to the state, as a task on
    /// the loop's thread, and returns at once a promise of its output. The future may
    /// be `!Send` and may await; it borrows the state between awaits
    /// (`state.borrow_mut()`), never across one.
    ///
    /// **Interleaving.** Two `call_async` futures (and the calls in between) run
    /// interleaved at their awaits, as asyncio coroutines on one loop do: each sees, after
    /// an await, what the others changed meanwhile. Whatever runs between two awaits
    /// runs alone. A future that keeps a borrow across an await makes the calls that
    /// come meanwhile fail with [`ErrorKind::InvalidState`] (a `call`) or panic at their
    /// own `borrow_mut` (another future, whose promise fails with `Panicked`); clippy's
    /// `await_holding_refcell_ref` lint catches it.
    ///
    /// The future runs up to its first await in the call's turn, so calls issued from
    /// one thread start in the order issued.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let hits = lp.local(|| 0u32);
    /// let slow = hits.call_async(|state| async move {
    ///     *state.borrow_mut() += 1;
    ///     tokio::time::sleep(Duration::from_millis(5)).await;
    ///     *state.borrow() // sees the call below, which ran during the sleep
    /// });
    /// hits.call(|n| *n += 10);
    /// assert_eq!(slow.wait().unwrap(), 11);
    /// ```
    #[track_caller]
    pub fn call_async<R, F, Fut>(&self, f: F) -> Promise<R>
    where
        F: FnOnce(LocalRef<T>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        let (lp, id) = (&self.inner.lp, self.inner.id);
        let loop_id = lp.id();
        lp.spawn_settling(std::any::type_name::<Fut>(), move || {
            let started = state_here::<T>(loop_id, id).map(|cell| first_poll(f(LocalRef(cell))));
            async move { Ok(started?.await) }
        })
    }

    /// As [`call_async`](LoopLocal::call_async), for a future whose output is a
    /// `Result`: an `Err` fails the promise with that error (the crate's [one rule for
    /// `Result`](crate#one-rule-for-result): kind [`ErrorKind::User`], the error the
    /// promise error's `source()`); the promise is of the `Ok` value.
    ///
    /// # Errors
    ///
    /// As [`call_async`](LoopLocal::call_async), and the promise fails with the
    /// future's error.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let ports = lp.local(|| vec![8080u16]);
    /// let first = ports.try_call_async(|state| async move {
    ///     tokio::task::yield_now().await;
    ///     state.borrow().first().copied().ok_or("no port")
    /// });
    /// assert_eq!(first.wait().unwrap(), 8080); // one unwrap, no Result inside
    /// ```
    #[track_caller]
    pub fn try_call_async<R, E, F, Fut>(&self, f: F) -> Promise<R>
    where
        F: FnOnce(LocalRef<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, E>> + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        R: Send + 'static,
    {
        let (lp, id) = (&self.inner.lp, self.inner.id);
        let loop_id = lp.id();
        lp.spawn_settling(std::any::type_name::<Fut>(), move || {
            let started = state_here::<T>(loop_id, id).map(|cell| first_poll(f(LocalRef(cell))));
            async move { started?.await.map_err(Error::user) }
        })
    }

    /// Runs `f` on the state at once, from code already running on the loop's thread
    /// (a call, a task, a `#[task]` body): no round trip, no promise.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WrongThread`] off the loop's thread; [`ErrorKind::InvalidState`]
    /// when the state is borrowed (`with` inside a call on the same state, or a
    /// `call_async` future holding a borrow across an await) or not built yet (a
    /// caller-driven loop that has not run since the handle was made);
    /// [`ErrorKind::Panicked`] when its init panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, EventLoop};
    /// let lp = EventLoop::new().unwrap();
    /// let total = lp.local(|| 0u64);
    /// let t = total.clone();
    /// let added = run_in_loop(&lp, move || t.with(|n| { *n += 2; *n }));
    /// assert_eq!(added.wait().unwrap().unwrap(), 2);
    /// assert!(total.with(|n| *n).is_err()); // not the loop's thread
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, Error> {
        let cell = self.local_ref()?;
        let mut state = cell.0.try_borrow_mut().map_err(|_| borrowed())?;
        Ok(f(&mut state))
    }

    /// A [`LocalRef`] to the state, from code running on the loop's thread.
    ///
    /// # Errors
    ///
    /// As [`with`](LoopLocal::with), but for the borrow (a `LocalRef` borrows later).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// let cache = lp.local(|| vec![1, 2]);
    /// let state = cache.local_ref().unwrap(); // built at once: this is the loop's thread
    /// assert_eq!(state.borrow().len(), 2);
    /// ```
    pub fn local_ref(&self) -> Result<LocalRef<T>, Error> {
        let lp = &self.inner.lp;
        if !lp.is_current_thread() {
            return Err(Error::new(
                ErrorKind::WrongThread,
                "loop-local state is reached at once only on its loop's thread: use call",
            ));
        }
        state_here::<T>(lp.id(), self.inner.id).map(LocalRef)
    }
}

/// The state `id` of loop `loop_id`, from its thread.
#[inline]
fn state_here<T: 'static>(loop_id: u64, id: u64) -> Result<Rc<RefCell<T>>, Error> {
    let found = crate::event_loop::with_locals(loop_id, |slots| slots.get(id)).flatten();
    match found {
        Some(Ok(value)) => value.downcast::<RefCell<T>>().map_err(|_| {
            Error::new(
                ErrorKind::InvalidState,
                "loop-local state of another type under this id",
            )
        }),
        Some(Err(error)) => Err(error),
        None => Err(Error::new(
            ErrorKind::InvalidState,
            "this loop-local state is not on this loop now (not built yet, or gone)",
        )),
    }
}

fn borrowed() -> Error {
    Error::new(
        ErrorKind::InvalidState,
        "the loop-local state is borrowed (by a call_async future across an await, or by the caller)",
    )
}

/// Polls `future` once now (in the call's turn), then gives it to the task.
fn first_poll<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let mut future = Box::pin(future);
    // Outside tokio's budget: the call's turn is not the task's.
    let mut now = tokio::task::unconstrained(future.as_mut());
    let mut first = Some(Pin::new(&mut now).poll(&mut Context::from_waker(Waker::noop())));
    std::future::poll_fn(move |cx| match first.take() {
        Some(Poll::Ready(out)) => Poll::Ready(out),
        _ => Pin::new(&mut future).poll(cx),
    })
}

impl<T: 'static> Clone for LoopLocal<T> {
    fn clone(&self) -> Self {
        LoopLocal {
            inner: self.inner.clone(),
            _state: PhantomData,
        }
    }
}

impl<T: 'static> fmt::Debug for LoopLocal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopLocal")
            .field("type", &std::any::type_name::<T>())
            .field("event_loop", &self.inner.lp.name())
            .finish()
    }
}

/// A handle to loop-local state on its loop's thread (`!Send`): what a
/// [`call_async`](LoopLocal::call_async) future gets. It derefs to the state's
/// [`RefCell`]: borrow it between awaits, never across one (see
/// [interleaving](LoopLocal::call_async)).
///
/// # Examples
///
/// ```
/// let lp = pulsar_async::EventLoop::new().unwrap();
/// let log = lp.local(Vec::<&str>::new);
/// let p = log.call_async(|state| async move {
///     state.borrow_mut().push("a");
///     tokio::task::yield_now().await;
///     state.borrow_mut().push("b");
///     state.borrow().len()
/// });
/// assert_eq!(p.wait().unwrap(), 2);
/// ```
pub struct LocalRef<T>(Rc<RefCell<T>>);

impl<T> std::ops::Deref for LocalRef<T> {
    type Target = RefCell<T>;

    fn deref(&self) -> &RefCell<T> {
        &self.0
    }
}

impl<T> Clone for LocalRef<T> {
    fn clone(&self) -> Self {
        LocalRef(self.0.clone())
    }
}

impl<T> fmt::Debug for LocalRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LocalRef")
            .field(&std::any::type_name::<T>())
            .finish()
    }
}

impl EventLoop {
    /// State that lives on this loop's thread, built there by `init`: see
    /// [`LoopLocal`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let seen = lp.local(|| std::rc::Rc::new(std::cell::Cell::new(0)));
    /// seen.call(|c| c.set(c.get() + 1));
    /// assert_eq!(seen.call(|c| c.get()).wait().unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn local<T, F>(&self, init: F) -> LoopLocal<T>
    where
        T: 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        LoopLocal::new(self, init)
    }
}

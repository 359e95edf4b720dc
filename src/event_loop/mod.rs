//! [`EventLoop`]: a tokio current-thread runtime with a local task set, on a thread of
//! its own or driven by its caller, reachable from any thread through a cheap handle;
//! and what comes with it: [`Builder`], the handles of scheduled calls
//! ([`CallHandle`], [`LocalCallHandle`]), its [`LoopState`], and what closing it gives
//! back ([`ShutdownReport`], [`Closed`], [`Deadline`]).
//!
//! The handle and its methods live here; the rest of the concept has a file each:
//! `builder.rs` (how a loop is made), `state.rs` (the lifecycle word),
//! `driver.rs` (the shared state, the local queue, the fair iteration, the loop's
//! thread, teardown, the thread-locals), `close.rs` (the close protocol and what it
//! reports), `queue.rs` (the cross-thread injector and what a loop runs),
//! `handle.rs` (handles of scheduled calls), `spawn.rs` (tasks that settle a promise).

use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::loom::Ordering;
use crate::panic;
use crate::promise::{CallTask, Completer, Promise};
use crate::schedule::{Job, Schedule, Scheduler};
use crate::time::deadline_from;

mod builder;
mod capacity;
mod close;
mod driver;
mod handle;
mod link;
mod locals;
#[cfg(all(test, loom))]
mod loom_tests;
mod metrics;
mod permit;
mod queue;
mod spawn;
mod spin;
mod state;
mod threads;

pub use builder::Builder;
pub(crate) use close::blocking_allowed;
pub use close::{Closed, Deadline, ShutdownAsync};
pub(crate) use driver::with_locals;
use driver::{LocalLoop, LoopShared};
pub use handle::{CallHandle, LocalCallHandle};
pub(crate) use locals::Slot;
pub use metrics::LoopMetrics;
pub use permit::{Permit, Reserve};
use queue::{Task, Timed};
use spawn::{abort_hook, run_task, spawn_listed};
pub use state::{LoopState, ShutdownReport};

/// A handle to an event loop: a tokio current-thread runtime plus a
/// [`LocalSet`](tokio::task::LocalSet), so work on the loop may be `!Send` and keep
/// `Rc`/`RefCell` state.
///
/// The handle is cheap to clone, `Send` and `Sync`; it is how any thread reaches the
/// loop ([`call_soon_threadsafe`](EventLoop::call_soon_threadsafe),
/// [`spawn`](EventLoop::spawn), [`run_in_loop`](crate::run_in_loop)). Tokio's timers,
/// I/O and tasks all work inside the loop.
///
/// A loop comes two ways:
/// - on a thread of its own ([`EventLoop::new`], [`Builder::spawn`]): it runs until it
///   is closed;
/// - driven by its caller ([`Builder::build_driven`]): it runs only inside
///   [`run_until_complete`](EventLoop::run_until_complete) or
///   [`run_forever`](EventLoop::run_forever), on the thread that built it (its
///   owning thread).
///
/// # A fair loop
///
/// The loop runs in iterations, as asyncio's: an iteration runs the calls that were
/// queued when it began, in order; a call queued meanwhile (by those calls or by
/// another thread) waits for the next iteration, after the loop's tasks, timers and
/// I/O had their turn. So a callback that reschedules itself for ever does not starve
/// anything. Calls issued from one thread run in the order issued, whichever entry
/// point ([`call_soon`](EventLoop::call_soon),
/// [`call_soon_threadsafe`](EventLoop::call_soon_threadsafe),
/// [`run_in_loop`](crate::run_in_loop), the `spawn` family).
///
/// # Lifecycle
///
/// Every loop, with a thread of its own or caller-driven, goes through the states of
/// [`LoopState`], in order, and every way of ending it follows them:
///
/// | state | new work | queued calls | tasks and timers |
/// |---|---|---|---|
/// | **running** | taken | run (a caller-driven loop: while driven) | run |
/// | **stopping** | refused with `LoopClosed` (taken from the loop's own tasks and calls) | run until the deadline | run until they end or the deadline |
/// | **closing** | refused | cut: each fails with `LoopClosed`, unstarted | dropped: their promises fail with `LoopClosed` |
/// | **closed** | refused | none | none; the runtime is shut down |
///
/// - [`close`](EventLoop::close), or the last handle dropped: closing at once. A call
///   that has not started never runs, even one queued in the same iteration as the
///   call that closes the loop; the call running when the close begins finishes.
/// - [`shutdown`](EventLoop::shutdown)`(deadline)`: stopping, until nothing is left
///   (no call queued, no task alive: the tasks alive at its start, what they wake or
///   spawn, timers due before the deadline) or the deadline passes; then closing. It
///   reports how many calls ran and were cut, and how many tasks finished and were
///   cut ([`ShutdownReport`]).
/// - The loop's thread tears it down: it cuts the calls still queued, drops the
///   tasks (their promises fail), shuts tokio's runtime down (waiting at most
///   [`Builder::shutdown_timeout`] for tokio's blocking pool: `spawn_blocking`,
///   `tokio::fs`, stdin), then the loop is closed and [`closed`](EventLoop::closed)
///   resolves. A loop thread that dies any other way (a panic that escaped every
///   guard) goes through the same teardown.
/// - A caller-driven loop is torn down by its owning thread: when it closes it while
///   idle, when a drive sees the close, or when the thread exits (a caller-driven loop
///   left open is closed then). Closed from another thread while not driven, it is
///   closed at once: its queued calls and tasks fail there and then, and the owning
///   thread drops the runtime (and `!Send` work made by
///   [`spawn_local`](EventLoop::spawn_local) or `call_soon`) when it next touches the
///   loop or exits.
///
/// Who waits for the end:
/// - [`close`](EventLoop::close) returns once the loop is closed and its thread has
///   exited, for every caller, concurrent ones too (like joining a thread: a call on
///   the loop must not be waiting for the closing thread). It does not wait where
///   waiting could hang: on the loop's own thread (a call that closes its loop: the
///   close completes when the call returns), and inside a tokio runtime (it would
///   block that runtime's thread; await [`closed`](EventLoop::closed) there, or use
///   [`close_background`](EventLoop::close_background)).
/// - The last handle's `Drop` closes the loop and, the std `JoinHandle` way, never
///   waits for a call: while a call runs on the loop (it may be waiting for the
///   dropping thread) it returns at once, and the loop closes, and its thread exits,
///   when that call returns. Otherwise it waits for the teardown as `close` does, at
///   most [`Builder::shutdown_timeout`] and a grace of 200 ms; past that it returns,
///   and the loop finishes closing on its own thread. `close()` is the wait.
///
/// **What keeps a loop alive**: its user handles. A handle from
/// [`EventLoop::current`] does not count, so code on the loop that captures it (a
/// timer, a task) does not keep the loop alive once the user's handles are gone. A
/// handle made by cloning a user handle counts, wherever it is kept.
///
/// # Examples
///
/// ```
/// use pulsar_async::{run_in_loop, EventLoop};
/// use std::{cell::RefCell, rc::Rc};
///
/// let lp = EventLoop::new().unwrap();
/// // `!Send` state lives on the loop; other threads reach it through calls.
/// let counter = run_in_loop(&lp, || {
///     thread_local!(static HITS: Rc<RefCell<u32>> = Rc::new(RefCell::new(0)));
///     HITS.with(|h| { *h.borrow_mut() += 1; *h.borrow() })
/// });
/// assert_eq!(counter.wait().unwrap(), 1);
/// ```
// Methods of `EventLoop` in other rooms: `new`, `builder` (builder.rs); `reserve`,
// `try_reserve` (permit.rs); `local` (local.rs: `LoopLocal` sits above the loop).
pub struct EventLoop {
    shared: Arc<LoopShared>,
    /// Whether this handle counts: the last counted handle to go closes the loop.
    counted: bool,
}

impl EventLoop {
    /// The loop of the current thread: the one running here, else the caller-driven
    /// loop most recently built here; `None` if there is none (or it is closing).
    ///
    /// The handle does not keep the loop alive, nor do its clones: the loop closes when
    /// its user handles are gone, even if code on the loop (a timer, a task) keeps the
    /// handle `current` gave it. Calls through it fail with
    /// [`ErrorKind::LoopClosed`] once the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, EventLoop};
    /// assert!(EventLoop::current().is_none());
    /// let lp = EventLoop::new().unwrap();
    /// let same = run_in_loop(&lp, || EventLoop::current().map(|l| l.name().to_owned()));
    /// assert_eq!(same.wait().unwrap().as_deref(), Some(lp.name()));
    /// ```
    pub fn current() -> Option<EventLoop> {
        let local = driver::current_local()?;
        (!local.shared.life.is_closing()).then(|| EventLoop {
            shared: local.shared.clone(),
            counted: false,
        })
    }

    pub(crate) fn scheduler(&self) -> Scheduler {
        self.shared.scheduler()
    }

    /// The loop's id, unique in the process.
    pub(crate) fn id(&self) -> u64 {
        self.shared.id
    }

    /// Another handle to the loop that does not keep it open (as those of
    /// [`current`](EventLoop::current)).
    pub(crate) fn uncounted(&self) -> EventLoop {
        EventLoop {
            shared: self.shared.clone(),
            counted: false,
        }
    }

    /// The handle of the loop's tokio runtime, for tokio APIs that want one
    /// (`Handle::spawn`, `Handle::block_on` from a plain thread, `tokio::net` types built
    /// with `Handle::enter`). A task spawned through it runs on the loop's thread, among
    /// the loop's tasks; once the loop is closed its runtime is shut down and such
    /// tasks fail (tokio's `JoinError::is_cancelled`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().name("rt").spawn().unwrap();
    /// let handle = lp.tokio_handle();
    /// let task = handle.spawn(async { std::thread::current().name().map(String::from) });
    /// let name = futures::executor::block_on(task).unwrap();
    /// assert_eq!(name.as_deref(), Some("rt"));
    /// ```
    pub fn tokio_handle(&self) -> tokio::runtime::Handle {
        let handle = self.shared.tokio.get();
        handle.expect("only the loom models make loops without a runtime")
    }

    /// What the loop is doing now: calls served, queue depth, tasks alive, time busy
    /// and idle, slow calls (see [`LoopMetrics`]). Always on; reading it costs a few
    /// atomic loads.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, EventLoop};
    /// let lp = EventLoop::builder().name("m").spawn().unwrap();
    /// for i in 0..10 {
    ///     run_in_loop(&lp, move || i).wait().unwrap();
    /// }
    /// lp.close(); // the counts are published as the loop goes, final once it closed
    /// let m = lp.metrics();
    /// assert_eq!((m.calls_served, m.queue_depth), (10, 0));
    /// ```
    pub fn metrics(&self) -> LoopMetrics {
        let shared = &self.shared;
        let depth = match shared.life.is_closing() {
            true => 0,
            false => self.queue_depth(),
        };
        let runtime_tasks = shared.tokio.alive_tasks();
        let refused = shared.injector.capacity().refused();
        shared
            .metrics
            .snapshot(&shared.name, depth, runtime_tasks, refused)
    }

    /// Calls queued on the loop now, not yet run: a cheap read (a few relaxed loads),
    /// for routing work to the least busy loop.
    #[inline]
    pub(crate) fn queue_depth(&self) -> usize {
        let shared = &self.shared;
        shared.metrics.depth(shared.injector.pushed())
    }

    /// Runs `f` with the loop-local values of this loop; `None` off the loop's thread
    /// (or once its local part is gone).
    #[inline]
    pub(crate) fn with_locals<R>(&self, f: impl FnOnce(&locals::Slots) -> R) -> Option<R> {
        driver::with_locals(self.shared.id, f)
    }

    /// Queues `job` on the injector, even from the loop's own thread: it runs after
    /// every call queued before it, from any thread (see `locals.rs`). A refused job
    /// (the loop is closing) is dropped.
    pub(crate) fn submit_remote(&self, job: Job) {
        let refused = self
            .shared
            .injector
            .push_task(&self.shared.life, job, |job, _| Task::Own(job));
        if let Err(job) = refused {
            panic::run_guarded(
                move || drop(job),
                "dropping a call refused by a closed loop",
            );
        }
    }

    /// The loop's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().name("n").spawn().unwrap();
    /// assert_eq!(lp.name(), "n");
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The id of the thread that runs the loop.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// assert_eq!(lp.thread_id(), std::thread::current().id());
    /// ```
    pub fn thread_id(&self) -> ThreadId {
        *self
            .shared
            .thread
            .get_or_init(|| std::thread::current().id())
    }

    /// `true` when the current thread is the loop's thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, EventLoop};
    /// let lp = EventLoop::new().unwrap();
    /// assert!(!lp.is_current_thread());
    /// let inside = { let lp2 = lp.clone(); run_in_loop(&lp, move || lp2.is_current_thread()) };
    /// assert!(inside.wait().unwrap());
    /// ```
    pub fn is_current_thread(&self) -> bool {
        self.shared.is_loop_thread()
    }

    /// `true` when this thread is running the loop right now (inside a call or task
    /// of it, or the future of `run_until_complete`).
    pub(crate) fn runs_here(&self) -> bool {
        driver::is_driving(self.shared.id)
    }

    /// `true` for a loop on a thread of its own, `false` for a caller-driven one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(pulsar_async::EventLoop::new().unwrap().owns_thread());
    /// ```
    pub fn owns_thread(&self) -> bool {
        self.shared.owns_thread
    }

    /// `true` while the loop is running (a thread loop from start to close; a
    /// caller-driven loop inside `run_until_complete`/`run_forever`).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// assert!(!lp.is_running());
    /// let inside = lp.run_until_complete({
    ///     let lp = lp.clone();
    ///     async move { lp.is_running() }
    /// });
    /// assert!(inside.unwrap());
    /// ```
    pub fn is_running(&self) -> bool {
        self.shared.life.is_driven()
    }

    /// `true` once the loop is closing or closed (see [`state`](EventLoop::state)):
    /// it takes no more work, and no queued call will start.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// lp.close();
    /// assert!(lp.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.life.is_closing()
    }

    /// Where the loop is in its lifecycle (see [the lifecycle](EventLoop#lifecycle)).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::event_loop::LoopState;
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// assert_eq!(lp.state(), LoopState::Running);
    /// lp.close();
    /// assert_eq!(lp.state(), LoopState::Closed);
    /// ```
    pub fn state(&self) -> LoopState {
        self.shared.life.state()
    }

    /// The loop's debug flag.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// lp.set_debug(true);
    /// assert!(lp.is_debug());
    /// ```
    pub fn is_debug(&self) -> bool {
        self.shared.debug.load(Ordering::Relaxed)
    }

    /// The slow-callback threshold of debug mode (see [`Builder::slow_callback`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// assert_eq!(lp.slow_callback(), std::time::Duration::from_millis(100));
    /// ```
    pub fn slow_callback(&self) -> Duration {
        self.shared.slow_callback
    }

    /// Sets the loop's debug flag.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// lp.set_debug(false);
    /// assert!(!lp.is_debug());
    /// ```
    pub fn set_debug(&self, on: bool) {
        self.shared.debug.store(on, Ordering::Relaxed);
    }

    /// The loop's clock: tokio's [`Instant::now`](tokio::time::Instant::now), so a
    /// paused test clock is honoured: with the `test-util` feature, the loop's own
    /// clock from any thread (a loop built with
    /// `Builder::start_paused`, of the `test-util` feature, reads its paused time
    /// everywhere).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let (a, b) = (lp.time(), lp.time());
    /// assert!(b >= a);
    /// ```
    pub fn time(&self) -> tokio::time::Instant {
        #[cfg(feature = "test-util")]
        #[cfg(feature = "test-util")]
        if let Some(rt) = self.shared.tokio.get() {
            let _clock = rt.enter();
            return tokio::time::Instant::now();
        }
        tokio::time::Instant::now()
    }

    /// A pending promise bound to this loop: its done-callbacks run on the loop's
    /// thread, and a blocking [`wait`](Promise::wait) on that thread fails instead of
    /// deadlocking.
    ///
    /// The loop runs no work for it, so closing the loop does not settle it: whoever
    /// holds it does (its callbacks then run on the settling thread).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let p = lp.create_promise::<u8>();
    /// p.set_result(1).unwrap();
    /// assert_eq!(p.wait().unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn create_promise<T>(&self) -> Promise<T> {
        Promise::with_scheduler(Some(self.scheduler()))
    }

    /// Queues `f` to run on the loop's thread; callable from any thread. Returns the
    /// call's [`CallHandle`], to cancel it while it waits in the queue (dropping the
    /// handle costs nothing and cancels nothing).
    ///
    /// A panic in `f` is logged and the loop goes on.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LoopClosed`] when the loop takes no more work (stopping, closing or
    /// closed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// lp.call_soon_threadsafe(move || tx.send(std::thread::current().name().map(String::from)).unwrap())
    ///     .unwrap();
    /// assert_eq!(rx.recv().unwrap().as_deref(), Some(lp.name()));
    /// ```
    #[track_caller]
    #[inline]
    pub fn call_soon_threadsafe(
        &self,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<CallHandle, Error> {
        let what = std::any::type_name_of_val(&f);
        self.admit()?;
        // Inside the caller's span, as every other entry point (no capture outside one).
        let span = tracing::Span::current();
        let job: Job = match span.is_none() {
            true => Box::new(f),
            false => Box::new(move || span.in_scope(f)),
        };
        let seq = self
            .submit(job, |job, _| Task::Job(job), what)
            .inspect_err(|_| self.give_place_back())?;
        Ok(CallHandle::new(&self.shared, seq))
    }

    /// Takes a place on the loop for a call from user code, before the call is made
    /// (see `capacity.rs`): [`ErrorKind::Full`] on a full loop (counted in the
    /// metrics), [`ErrorKind::LoopClosed`] if it takes no work. Every
    /// [`submit`](EventLoop::submit) but the loop's own work
    /// ([`submit_own`](EventLoop::submit_own)) follows an `admit`.
    #[inline]
    pub(crate) fn admit(&self) -> Result<(), Error> {
        match self.shared.injector.capacity().try_take() {
            true => Ok(()),
            false => Err(self.refusal()),
        }
    }

    /// Gives back the place of a call the loop refused (it takes no more work).
    fn give_place_back(&self) {
        self.shared.injector.capacity().give_back();
    }

    /// Why a call found no place: the loop takes no work, or it is full.
    #[cold]
    fn refusal(&self) -> Error {
        if !self.shared.takes_local_work() {
            return ErrorKind::LoopClosed.into();
        }
        let capacity = self.shared.injector.capacity();
        capacity.count_refusal();
        Error::new(
            ErrorKind::Full,
            format!(
                "loop {:?} is full: it holds {} calls not yet started (its queue_capacity); the call was refused and will not run (EventLoop::reserve waits for room)",
                self.name(),
                capacity.limit().unwrap_or(usize::MAX),
            ),
        )
    }

    /// Queues a job of the loop's own work (a loop-local state's init: user code,
    /// timed in debug mode), which holds no place and is never refused for room (see
    /// [`submit`](EventLoop::submit)).
    #[track_caller]
    pub(crate) fn submit_own(&self, job: Job, what: &'static str) -> Result<(), Error> {
        self.submit(job, |job, _| Task::Own(job), what).map(drop)
    }

    /// Queues a boxed job (see [`submit`](EventLoop::submit)).
    #[track_caller]
    pub(crate) fn submit_job(&self, job: Job, what: &'static str) -> Result<(), Error> {
        self.submit(job, |job, _| Task::Job(job), what)
            .map(drop)
            .inspect_err(|_| self.give_place_back())
    }

    /// Queues a call that shares its promise's allocation (see
    /// [`submit`](EventLoop::submit)).
    #[track_caller]
    pub(crate) fn submit_call(&self, call: CallTask, what: &'static str) -> Result<(), Error> {
        self.submit(call, |call, _| Task::Call(call), what)
            .map(drop)
            .inspect_err(|_| self.give_place_back())
    }

    /// The one route of work into the loop from any thread: queues `item` as
    /// `wrap(item, seq)`, wrapped in debug mode so that it is timed where it runs and
    /// reported, with the caller's location and `what`, if it is slow; gives its
    /// sequence number.
    #[track_caller]
    #[inline]
    fn submit<I>(
        &self,
        item: I,
        wrap: impl FnOnce(I, u64) -> Task,
        what: &'static str,
    ) -> Result<u64, Error> {
        match self.shared.origin(what) {
            None => self.submit_task(item, wrap),
            Some(origin) => self.submit_task(item, |item, seq| {
                Task::Timed(Box::new(Timed {
                    origin,
                    task: wrap(item, seq),
                }))
            }),
        }
    }

    /// Queues `wrap(item, seq)` on the loop's local queue from its own thread, else on
    /// its injector. When the loop takes no work the item is dropped here, under a
    /// guard (which fails its promise with [`ErrorKind::LoopClosed`]), and so is the
    /// result.
    #[inline]
    fn submit_task<I>(&self, item: I, wrap: impl FnOnce(I, u64) -> Task) -> Result<u64, Error> {
        self.shared.push(item, wrap).map_err(|refused| {
            panic::run_guarded(
                move || drop(refused),
                "dropping a call refused by a closed loop",
            );
            Error::from(ErrorKind::LoopClosed)
        })
    }

    /// Queues `f` to run on the loop's thread; must be called on that thread, so `f`
    /// may be `!Send`. Calls issued on the loop's thread run in the order issued,
    /// whichever entry point. Returns the call's [`LocalCallHandle`], to cancel it
    /// before it starts.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WrongThread`] off the loop's thread, [`ErrorKind::LoopClosed`] when
    /// the loop takes no more work.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// let hits = Rc::new(Cell::new(0));
    /// let h = hits.clone();
    /// lp.call_soon(move || h.set(h.get() + 1)).unwrap();
    /// lp.run_until_complete(tokio::task::yield_now()).unwrap();
    /// assert_eq!(hits.get(), 1);
    /// ```
    #[track_caller]
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> Result<LocalCallHandle, Error> {
        let local = self.local_loop()?;
        if !self.shared.takes_local_work() {
            return Err(ErrorKind::LoopClosed.into());
        }
        self.admit()?;
        let (call, handle) = match self.shared.origin(std::any::type_name_of_val(&f)) {
            None => handle::LocalCall::with_handle(f),
            Some(origin) => handle::LocalCall::with_handle(move || origin.time(f)),
        };
        local.push(queue::Ready::Local(call));
        Ok(handle)
    }

    /// This loop's thread-local state; errors off its thread or once closing.
    fn local_loop(&self) -> Result<Rc<LocalLoop>, Error> {
        if self.shared.life.is_closing() {
            if let Some(local) = driver::local_loop(self.shared.id) {
                // Closed from another thread: the owning thread drops what is left.
                if !self.shared.life.is_driven() {
                    local.teardown(&mut Default::default());
                }
            }
            return Err(ErrorKind::LoopClosed.into());
        }
        driver::local_loop(self.shared.id).ok_or_else(|| {
            Error::new(
                ErrorKind::WrongThread,
                format!(
                    "this call must be made on the thread of loop {:?}",
                    self.name()
                ),
            )
        })
    }

    /// Runs `f` on the loop after `delay`; callable from any thread. Cancelling the
    /// returned promise cancels the call if it has not run yet.
    ///
    /// A zero delay runs `f` on the next turn of the loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let later = lp.call_later(Duration::from_millis(1), || "rang");
    /// assert_eq!(later.wait().unwrap(), "rang");
    /// let never = lp.call_later(Duration::from_secs(3600), || "nope");
    /// assert!(never.cancel());
    /// ```
    #[track_caller]
    pub fn call_later<T, F>(&self, delay: Duration, f: F) -> Promise<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.call_at(deadline_from(self.time(), delay), f)
    }

    /// Runs `f` on the loop at `when` (on tokio's clock); callable from any thread.
    /// A time in the past runs `f` on the next turn of the loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let at = lp.time() + Duration::from_millis(1);
    /// assert_eq!(lp.call_at(at, || 5).wait().unwrap(), 5);
    /// ```
    #[track_caller]
    pub fn call_at<T, F>(&self, when: tokio::time::Instant, f: F) -> Promise<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn(async move {
            tokio::time::sleep_until(when).await;
            f()
        })
    }

    /// Runs `future` as a task on the loop; callable from any thread. Cancelling the
    /// returned promise aborts the task; a panic in it becomes the promise's error.
    ///
    /// For a future that is not `Send`, make it on the loop with
    /// [`run_in_loop_async`](crate::run_in_loop_async).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let p = lp.spawn(async { tokio::task::yield_now().await; "done" });
    /// assert_eq!(p.wait().unwrap(), "done");
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Promise<F::Output>
    where
        F: Future + 'static,
        F: Send, // a `!Send` future? make it on the loop: `run_in_loop_async(&lp, || async { .. })`
        F::Output: Send + 'static,
    {
        self.spawn_settling(std::any::type_name::<F>(), move || async move {
            Ok(future.await)
        })
    }

    /// Queues a call that settles a loop-bound promise with `f`'s outcome: the call
    /// and its promise in one allocation, timed by the loop in debug mode. A full loop
    /// refuses it at once (`f` dropped here, the promise failed with `Full`).
    #[track_caller]
    pub(crate) fn call_settling<T, F>(&self, what: &'static str, f: F) -> Promise<T>
    where
        F: FnOnce() -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        match self.admit() {
            Ok(()) => self.call_admitted(what, f),
            Err(refused) => self.refuse(refused, f),
        }
    }

    /// [`call_settling`](EventLoop::call_settling) once the call has its place on the
    /// loop (a [`Permit`]'s, or one just taken).
    #[track_caller]
    pub(crate) fn call_admitted<T, F>(&self, what: &'static str, f: F) -> Promise<T>
    where
        F: FnOnce() -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        // The call runs inside the caller's span, if it is in one that a subscriber
        // records (no capture otherwise: one thread-local read).
        let span = tracing::Span::current();
        let (promise, call) = match span.is_none() {
            true => Promise::for_call(self.scheduler(), f),
            false => Promise::for_call(self.scheduler(), move || span.in_scope(f)),
        };
        // A refused call is dropped, failing the promise with loop-closed.
        let _ = self.submit_call(call, what);
        promise
    }

    /// The promise of work a full loop refused before anything was made of it: the
    /// work is dropped here, on the caller's thread, under a panic guard.
    fn refuse<T, W>(&self, refused: Error, work: W) -> Promise<T> {
        panic::run_guarded(move || drop(work), "dropping a call refused by a full loop");
        Promise::settled_in(Err(refused), Some(self.scheduler()))
    }

    /// Runs the future made by `make` on the loop; its `Result` settles the promise.
    /// `make` and the future run inside the caller's span, if it is in one that a
    /// subscriber records.
    #[track_caller]
    pub(crate) fn spawn_settling<M, F, T>(&self, what: &'static str, make: M) -> Promise<T>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = Result<T, Error>> + 'static,
        T: Send + 'static,
    {
        match self.admit() {
            Ok(()) => self.spawn_admitted(what, make),
            Err(refused) => self.refuse(refused, make),
        }
    }

    /// [`spawn_settling`](EventLoop::spawn_settling) once the task has its place on
    /// the loop (a [`Permit`]'s, or one just taken).
    #[track_caller]
    pub(crate) fn spawn_admitted<M, F, T>(&self, what: &'static str, make: M) -> Promise<T>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = Result<T, Error>> + 'static,
        T: Send + 'static,
    {
        let span = tracing::Span::current();
        if span.is_none() {
            return self.spawn_made(what, make);
        }
        self.spawn_made(what, move || {
            let future = span.in_scope(make);
            tracing::Instrument::instrument(future, span)
        })
    }

    /// [`spawn_admitted`](EventLoop::spawn_admitted), without a span.
    #[track_caller]
    fn spawn_made<M, F, T>(&self, what: &'static str, make: M) -> Promise<T>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = Result<T, Error>> + 'static,
        T: Send + 'static,
    {
        let promise = self.create_promise();
        let completer = Completer::new(promise.setter());
        let origin = self.shared.origin(what);
        // A caller-driven loop lists its tasks, so that a close from another thread
        // fails them at once.
        let listed = (!self.shared.owns_thread).then(|| self.shared.tasks.clone());
        let metrics = self.shared.metrics.clone();
        let job: Job = Box::new(move || {
            if completer.is_done() {
                return;
            }
            match panic::catch(make) {
                Ok(future) => match origin {
                    None => spawn_listed(listed, metrics.count(future), completer),
                    Some(origin) => spawn_listed(
                        listed,
                        metrics.count(crate::debug::timed(origin, future)),
                        completer,
                    ),
                },
                Err(error) => completer.complete(Err(error)),
            }
        });
        // A refused job is dropped, failing the promise with loop-closed.
        let _ = self.submit_job(job, what);
        promise
    }

    /// Runs a `!Send` future as a task on the loop; must be called on the loop's
    /// thread.
    ///
    /// The returned promise fails at once with [`ErrorKind::WrongThread`] off the
    /// loop's thread, or [`ErrorKind::LoopClosed`] once the loop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// let shared = Rc::new(10);
    /// let p = lp.spawn_local({ let s = shared.clone(); async move { *s + 1 } });
    /// assert_eq!(lp.run_until_complete(p).unwrap().unwrap(), 11);
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> Promise<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let promise = self.create_promise();
        let origin = self.shared.origin(std::any::type_name::<F>());
        let future = self.shared.metrics.count(async move {
            Ok(match origin {
                None => future.await,
                Some(origin) => crate::debug::timed(origin, future).await,
            })
        });
        match self.local_loop() {
            Ok(local) => {
                let completer = Completer::new(promise.setter());
                match &*local.parts.borrow() {
                    // A caller-driven loop that is not running: queue on its task set.
                    Some((_, set)) => {
                        let task = set.spawn_local(run_task(future, completer));
                        promise.on_cancel(abort_hook(&task));
                    }
                    None => spawn::spawn_task(future, completer),
                }
            }
            Err(e) => {
                let _ = promise.set_error(e);
            }
        }
        promise
    }

    /// Drives a caller-driven loop until `future` completes, and returns its output.
    /// Queued calls and the loop's tasks run meanwhile.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::WrongThread`]: not the thread that built the loop, or a loop
    ///   with a thread of its own;
    /// - [`ErrorKind::InvalidState`]: the loop is already running, or was stopped
    ///   before `future` completed;
    /// - [`ErrorKind::WouldDeadlock`]: called from inside another tokio runtime;
    /// - [`ErrorKind::LoopClosed`]: the loop is (or got) closed;
    /// - [`ErrorKind::Panicked`]: `future` panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// let out = lp.run_until_complete(async {
    ///     tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    ///     "slept"
    /// });
    /// assert_eq!(out.unwrap(), "slept");
    /// ```
    pub fn run_until_complete<F: Future>(&self, future: F) -> Result<F::Output, Error> {
        self.drive(Some(future)).and_then(|out| {
            out.ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidState,
                    "the loop stopped before the future completed",
                )
            })
        })
    }

    /// Drives a caller-driven loop until [`stop`](EventLoop::stop) is called.
    ///
    /// # Errors
    ///
    /// As [`run_until_complete`](EventLoop::run_until_complete).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::builder().build_driven().unwrap();
    /// let stopper = lp.clone();
    /// lp.call_soon(move || stopper.stop()).unwrap();
    /// lp.run_forever().unwrap();
    /// ```
    pub fn run_forever(&self) -> Result<(), Error> {
        self.drive(None::<std::future::Pending<()>>).map(|_| ())
    }

    fn drive<F: Future>(&self, future: Option<F>) -> Result<Option<F::Output>, Error> {
        if self.owns_thread() {
            return Err(Error::new(
                ErrorKind::WrongThread,
                "a loop with a thread of its own runs there; use run_in_loop or spawn",
            ));
        }
        self.local_loop()?.drive(future)
    }

    /// Stops the loop. A caller-driven loop returns from `run_forever` (or
    /// `run_until_complete`, with an [`ErrorKind::InvalidState`] error) at the end of
    /// the iteration running now, and can be run again; stopped while not running,
    /// its next run returns after one iteration. A loop with a thread of its own is
    /// closed, since nothing could run it again: see [`close`](EventLoop::close).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// lp.stop();
    /// let after = pulsar_async::run_in_loop(&lp, || 1);
    /// assert!(after.wait().is_err());
    /// ```
    pub fn stop(&self) {
        if self.owns_thread() {
            self.close();
            return;
        }
        self.shared.life.request_stop();
        self.shared.injector.wake();
    }

    /// Closes the loop and returns once it is closed (see
    /// [the lifecycle](EventLoop#lifecycle)): the call running now finishes; every
    /// call that has not started, even one queued behind the call that closes the
    /// loop, fails with [`ErrorKind::LoopClosed`]; so do its tasks and timers, and
    /// later calls, at once. Every caller returns once the loop is closed and its
    /// thread has exited, concurrent callers too; except on the loop's own thread and
    /// inside a tokio runtime, where it returns once the close has begun (await
    /// [`closed`](EventLoop::closed) for the end).
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, ErrorKind, EventLoop};
    /// let lp = EventLoop::new().unwrap();
    /// lp.close();
    /// let err = run_in_loop(&lp, || 1).wait().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::LoopClosed);
    /// ```
    pub fn close(&self) {
        self.shared.begin_close();
        if self.shared.settle_close() {
            self.shared.wait_closed();
        }
    }

    /// Closes the loop without waiting for the end: as [`close`](EventLoop::close),
    /// for async code, which awaits [`closed`](EventLoop::closed) instead of blocking
    /// its thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// lp.close_background();
    /// assert!(lp.is_closed());
    /// lp.closed().await;
    /// # });
    /// ```
    pub fn close_background(&self) {
        self.shared.begin_close();
        self.shared.settle_close();
    }

    /// A future that resolves, with its [`ShutdownReport`], once the loop has
    /// finished closing: every call cut, every task dropped, the runtime shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let inner = lp.clone();
    /// let _ = pulsar_async::run_in_loop(&lp, move || inner.close());
    /// let report = lp.closed().await;
    /// assert_eq!(report.ran, 0);
    /// assert_eq!(lp.state(), pulsar_async::event_loop::LoopState::Closed);
    /// # });
    /// ```
    pub fn closed(&self) -> Closed {
        Closed(self.shared.closed.clone())
    }

    /// Shuts the loop down gracefully, and returns once it is closed: from now on it
    /// takes no new work from other threads (calls fail with
    /// [`ErrorKind::LoopClosed`]), and runs until `deadline` (a [`Duration`] from now,
    /// or an instant, on the loop's clock) what it already holds: the calls queued,
    /// the tasks alive and what they wake, spawn or queue, timers due before the
    /// deadline. It closes as soon as nothing is left, or at the deadline, cutting
    /// what is left (a call running then finishes; the tasks left fail with
    /// `LoopClosed`). The report counts the calls that ran and were cut, the tasks
    /// that finished and were cut.
    ///
    /// A caller-driven loop shut down from its owning thread is driven here until it
    /// has drained; from another thread, it drains if its owning thread drives it
    /// before the deadline, and is closed at the deadline otherwise.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldDeadlock`], with nothing done, where waiting would hang: on
    /// the loop's own thread (the loop would wait for itself: use
    /// [`shutdown_background`](EventLoop::shutdown_background) there), and where a
    /// blocking wait is refused, inside a tokio task or `block_on` future (await
    /// [`shutdown_async`](EventLoop::shutdown_async) there). Inside `spawn_blocking`
    /// and `block_in_place` it blocks, as [`Promise::wait`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{run_in_loop, ErrorKind, EventLoop};
    /// use std::time::Duration;
    ///
    /// let lp = EventLoop::new().unwrap();
    /// let queued: Vec<_> = (0..100).map(|i| run_in_loop(&lp, move || i)).collect();
    /// // Calls the loop ran before the shutdown began are not in the report.
    /// let report = lp.shutdown(Duration::from_secs(10)).unwrap();
    /// assert!(report.ran + report.cut <= 100 && lp.is_closed());
    /// // Each queued call either ran or was cut.
    /// for p in queued {
    ///     assert!(p.wait().map_or_else(|e| e.kind() == ErrorKind::LoopClosed, |_| true));
    /// }
    /// ```
    pub fn shutdown(&self, deadline: impl Into<Deadline>) -> Result<ShutdownReport, Error> {
        let deadline = deadline.into();
        let shared = &self.shared;
        if !close::blocking_allowed() {
            return Err(Error::new(
                ErrorKind::WouldDeadlock,
                "shutdown would block this tokio runtime's thread: await shutdown_async(deadline) \
                 instead (or call shutdown inside spawn_blocking or block_in_place)",
            ));
        }
        if let (false, Some(local)) = (shared.owns_thread, driver::local_loop(shared.id)) {
            if !driver::is_driving(shared.id) {
                // The owning thread: drive the loop through its drain.
                shared.begin_shutdown(deadline);
                while !shared.life.is_closed() {
                    let _ = local.drive(None::<std::future::Pending<()>>);
                }
                return Ok(shared.closed.try_result().unwrap_or_default());
            }
        }
        shared.shutdown_waitable(deadline)?;
        shared.wait_closed();
        Ok(shared.closed.try_result().unwrap_or_default())
    }

    /// The async form of [`shutdown`](EventLoop::shutdown): a future that begins the
    /// shutdown when first polled and resolves with the report once the loop is
    /// closed. Awaitable from any executor (a tokio app's handlers, `#[tokio::main]`,
    /// futures' `block_on`); the loop enforces the deadline itself.
    ///
    /// # Errors
    ///
    /// The future gives [`ErrorKind::WouldDeadlock`], with nothing done, when awaited
    /// on the loop's own thread (the loop would wait for itself: use
    /// [`shutdown_background`](EventLoop::shutdown_background) there).
    ///
    /// # Cancel safety
    ///
    /// See [`ShutdownAsync`]: once polled, dropping it does not stop the shutdown.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let p = pulsar_async::run_in_loop(&lp, || 7);
    /// let report = lp.shutdown_async(Duration::from_secs(10)).await.unwrap();
    /// assert_eq!(report.cut, 0);
    /// assert_eq!(p.await.unwrap(), 7);
    /// # }
    /// ```
    pub fn shutdown_async(&self, deadline: impl Into<Deadline>) -> ShutdownAsync {
        ShutdownAsync::new(self.shared.clone(), deadline.into())
    }

    /// Begins a [`shutdown`](EventLoop::shutdown) and returns at once: the loop takes
    /// no new work, drains what is queued until `deadline`, then closes; await
    /// [`closed`](EventLoop::closed) for the report.
    ///
    /// A caller-driven loop drains only while its owning thread drives it.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use std::time::Duration;
    /// let lp = pulsar_async::EventLoop::new().unwrap();
    /// let p = pulsar_async::run_in_loop(&lp, || 7);
    /// lp.shutdown_background(Duration::from_secs(10));
    /// let report = lp.closed().await;
    /// assert_eq!(report.cut, 0, "the call ran, before or during the drain");
    /// assert_eq!(p.await.unwrap(), 7);
    /// # });
    /// ```
    pub fn shutdown_background(&self, deadline: impl Into<Deadline>) {
        self.shared.begin_shutdown(deadline.into());
    }
}

impl Clone for EventLoop {
    /// Another handle to the same loop; a clone of a counted handle counts, a clone
    /// of one from [`EventLoop::current`] does not.
    fn clone(&self) -> Self {
        if self.counted {
            self.shared.add_handle();
        }
        EventLoop {
            shared: self.shared.clone(),
            counted: self.counted,
        }
    }
}

impl EventLoop {
    /// Gives up this handle's count without waiting (a pool's drop): when it was the
    /// last counted handle, begins the close; `true` when the caller should then wait
    /// for the loop's end with [`wait_released`](EventLoop::wait_released), as the
    /// last drop does. The handle counts no more; its own drop does nothing.
    pub(crate) fn release_count(&mut self) -> bool {
        if !std::mem::replace(&mut self.counted, false) || !self.shared.drop_handle() {
            return false;
        }
        self.shared.begin_close();
        self.shared.settle_close()
    }

    /// The last drop's bounded wait, after [`release_count`](EventLoop::release_count).
    pub(crate) fn wait_released(&self) {
        self.shared.wait_closed_bounded();
    }
}

impl Drop for EventLoop {
    /// The last counted handle closes the loop and waits for it, bounded (see
    /// [the lifecycle](EventLoop#lifecycle)).
    fn drop(&mut self) {
        if self.counted && self.shared.drop_handle() {
            self.shared.begin_close();
            if self.shared.settle_close() {
                self.shared.wait_closed_bounded();
            }
        }
    }
}

impl PartialEq for EventLoop {
    fn eq(&self, other: &Self) -> bool {
        self.shared.id == other.shared.id
    }
}

impl Eq for EventLoop {}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("name", &self.shared.name)
            .field("owns_thread", &self.shared.owns_thread)
            .field("running", &self.is_running())
            .field("state", &self.state())
            .field("debug", &self.is_debug())
            .finish()
    }
}

impl<T> Promise<T> {
    /// The loop the promise is bound to (asyncio's `get_loop()`): the loop of
    /// [`EventLoop::create_promise`], of a [`run_in_loop`](crate::run_in_loop) call or
    /// of a spawned task, and what chains and gathers inherit. `None` for a promise
    /// bound to no loop, or once its loop is closing. Like [`EventLoop::current`]'s, the
    /// handle does not keep the loop alive: the loop closes when its user handles are
    /// gone, and calls through this one then fail with [`ErrorKind::LoopClosed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pulsar_async::{EventLoop, Promise};
    /// let lp = EventLoop::new().unwrap();
    /// assert_eq!(lp.create_promise::<u8>().get_loop(), Some(lp.clone()));
    /// assert!(Promise::<u8>::new().get_loop().is_none());
    /// ```
    pub fn get_loop(&self) -> Option<EventLoop> {
        let any = self.scheduler()?.clone().as_any()?;
        let shared = any.downcast::<LoopShared>().ok()?;
        (!shared.life.is_closing()).then(|| EventLoop {
            shared,
            counted: false,
        })
    }
}
